"""Headline figures of a run, per layer, computed by SQL over the run's database.

Every figure the terminal shows comes from one of these queries, so a user can reproduce it
in the ``sqlite3`` client (they are listed in ``docs/schema.md``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

#: layer -> (SQL returning one row, {column: label})
HEADLINES: dict[str, tuple[str, dict[str, str]]] = {
    "value production": ("""
        SELECT SUM(value_produced) AS value_produced,
               SUM(items_created) AS items_created,
               SUM(mean_quality * items_created) / NULLIF(SUM(items_created), 0) AS mean_quality,
               (SELECT knowledge_stock FROM period_production
                 ORDER BY period DESC LIMIT 1) AS knowledge_stock,
               SUM(shares) * 1.0 / NULLIF(SUM(shares) + SUM(hides), 0) AS sharing_rate,
               (SELECT sharing_rate FROM period_production WHERE sharing_rate IS NOT NULL
                 ORDER BY period DESC LIMIT 1) AS sharing_rate_last
        FROM period_production""", {
        "value_produced": "value produced (sum of quality x value_scale)",
        "items_created": "items created by users",
        "mean_quality": "mean quality",
        "knowledge_stock": "knowledge stock S at the end",
        "sharing_rate": "sharing rate over the run",
        "sharing_rate_last": "sharing rate in the last period",
    }),
    "value encounter": ("""
        SELECT SUM(connection_value) AS value_encountered,
               SUM(connections) AS connections,
               SUM(creator_income) AS creator_income,
               SUM(platform_revenue) AS platform_revenue,
               SUM(consumer_surplus) AS consumer_surplus,
               (SELECT gini_creator_income FROM period_encounter
                 ORDER BY period DESC LIMIT 1) AS gini_creator_income,
               (SELECT communities FROM period_encounter
                 ORDER BY period DESC LIMIT 1) AS communities,
               (SELECT largest_community FROM period_encounter
                 ORDER BY period DESC LIMIT 1) AS largest_community
        FROM period_encounter""", {
        "value_encountered": "value encountered (connection value)",
        "connections": "connections",
        "creator_income": "paid to creators (user-owned items)",
        "platform_revenue": "platform fees",
        "consumer_surplus": "consumer surplus (0 in metaverse mode)",
        "gini_creator_income": "Gini of creator income (all users; connections, licences, "
                               "rewards − fines)",
        "communities": "communities",
        "largest_community": "largest community",
    }),
    "value transmission": ("""
        SELECT SUM(value_transmitted) AS value_transmitted,
               SUM(derivatives) AS derivatives,
               SUM(license_fees) AS license_fees,
               SUM(firm_revenue) AS firm_revenue,
               (SELECT hhi_firm_revenue FROM period_transmission
                 ORDER BY period DESC LIMIT 1) AS hhi_firm_revenue,
               (SELECT firms_active FROM period_transmission
                 ORDER BY period DESC LIMIT 1) AS firms_active,
               SUM(entries) AS entries, SUM(exits) AS exits,
               (SELECT MIN(t) FROM events WHERE kind = 'government_withdrew')
                 AS government_withdrew_day
        FROM period_transmission""", {
        "value_transmitted": "value transmitted (firm revenue + licence fees)",
        "derivatives": "derivatives created by firms",
        "license_fees": "licence fees paid to creators",
        "firm_revenue": "firms' revenue from derivatives",
        "hhi_firm_revenue": "HHI of firm revenue, last period (0-10,000)",
        "firms_active": "firms active at the end",
        "entries": "firm entries (incl. the initial firms)",
        "exits": "firm exits",
        "government_withdrew_day": "day the government withdrew (none: stayed)",
    }),
    "value spillover": ("""
        SELECT SUM(data_exported) AS data_exported,
               (SELECT D FROM macro ORDER BY period DESC LIMIT 1) AS D,
               (SELECT Y FROM macro ORDER BY period DESC LIMIT 1) AS Y,
               (SELECT K FROM macro ORDER BY period DESC LIMIT 1) AS K,
               (SELECT output_growth FROM macro ORDER BY period DESC LIMIT 1)
                 AS output_growth,
               (SELECT POWER(MAX(CASE WHEN period = (SELECT MAX(period) FROM macro) THEN Y END)
                       / MAX(CASE WHEN period = 0 THEN Y END), 1.0 / MAX(period)) - 1
                  FROM macro) AS mean_output_growth
        FROM macro""", {
        "data_exported": "data exported to the economy",
        "D": "data stock D at the end",
        "Y": "output Y in the last step",
        "K": "capital K at the end",
        "output_growth": "output growth in the last step",
        "mean_output_growth": "mean output growth per step",
    }),
}


def fmt(value: Any) -> str:
    """A figure for the terminal: integers with separators, floats to 4 significant digits
    (large ones rounded), missing ones as an em dash. Used by run, report and compare."""
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer() and 1 <= abs(value) < 1e12:
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def headline_figures(conn: sqlite3.Connection) -> dict[str, dict[str, float | None]]:
    """{layer: {figure: value}} for a run database."""
    out: dict[str, dict[str, float | None]] = {}
    for layer, (sql, labels) in HEADLINES.items():
        cur = conn.execute(sql)
        names = [d[0] for d in cur.description]
        row = cur.fetchone() or (None,) * len(names)
        out[layer] = {n: row[i] for i, n in enumerate(names) if n in labels}
    return out
