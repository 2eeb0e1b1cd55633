"""Headline figures of a run, per layer: defined in SQL, computed from the period rows.

Every figure the terminal shows is defined by one of the queries in :data:`HEADLINES`, so a
user can reproduce it in the ``sqlite3`` client (they are listed in ``docs/schema.md``). They
read only the per-period tables, never the event log, so they hold at every event detail.
A run computes the same figures from the period rows it recorded
(:func:`headlines_from_rows`), with or without a database; a test holds the two to each
other.
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
               (SELECT MIN(t_end) FROM period_transmission WHERE government_withdrawals > 0)
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


def headlines_from_rows(tables: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The figures of :data:`HEADLINES`, from a run's per-period rows (no SQL needed)."""
    prod, enc = tables.get("period_production", []), tables.get("period_encounter", [])
    trans, macro = tables.get("period_transmission", []), tables.get("macro", [])
    return {
        "value production": _production(prod),
        "value encounter": _encounter(enc),
        "value transmission": _transmission(trans),
        "value spillover": _spillover(macro),
    }


def _sum(rows: list[dict], key: str) -> Any:
    """SQL's SUM: None over no rows or only NULLs."""
    values = [r[key] for r in rows if r[key] is not None]
    return sum(values) if values else None


def _last(rows: list[dict], key: str, order: str = "period") -> Any:
    """The value in the row with the highest `order` (SQL ``ORDER BY .. DESC LIMIT 1``)."""
    return max(rows, key=lambda r: r[order])[key] if rows else None


def _ratio(num: Any, den: Any) -> Any:
    return num / den if num is not None and den else None


def _production(rows: list[dict]) -> dict[str, Any]:
    items, shares, hides = _sum(rows, "items_created"), _sum(rows, "shares"), _sum(rows, "hides")
    weighted = _sum([{"q": r["mean_quality"] * r["items_created"]} for r in rows
                     if r["mean_quality"] is not None], "q")
    decided = [r for r in rows if r["sharing_rate"] is not None]
    return {
        "value_produced": _sum(rows, "value_produced"), "items_created": items,
        "mean_quality": _ratio(weighted, items),
        "knowledge_stock": _last(rows, "knowledge_stock"),
        "sharing_rate": _ratio(shares * 1.0 if shares is not None else None,
                               shares + hides if shares is not None else None),
        "sharing_rate_last": _last(decided, "sharing_rate"),
    }


def _encounter(rows: list[dict]) -> dict[str, Any]:
    return {
        "value_encountered": _sum(rows, "connection_value"),
        "connections": _sum(rows, "connections"),
        "creator_income": _sum(rows, "creator_income"),
        "platform_revenue": _sum(rows, "platform_revenue"),
        "consumer_surplus": _sum(rows, "consumer_surplus"),
        "gini_creator_income": _last(rows, "gini_creator_income"),
        "communities": _last(rows, "communities"),
        "largest_community": _last(rows, "largest_community"),
    }


def _transmission(rows: list[dict]) -> dict[str, Any]:
    withdrew = [r["t_end"] for r in rows if (r["government_withdrawals"] or 0) > 0]
    return {
        "value_transmitted": _sum(rows, "value_transmitted"),
        "derivatives": _sum(rows, "derivatives"),
        "license_fees": _sum(rows, "license_fees"),
        "firm_revenue": _sum(rows, "firm_revenue"),
        "hhi_firm_revenue": _last(rows, "hhi_firm_revenue"),
        "firms_active": _last(rows, "firms_active"),
        "entries": _sum(rows, "entries"), "exits": _sum(rows, "exits"),
        "government_withdrew_day": min(withdrew) if withdrew else None,
    }


def _spillover(rows: list[dict]) -> dict[str, Any]:
    last = max(rows, key=lambda r: r["period"]) if rows else None
    first = [r for r in rows if r["period"] == 0]
    growth = None
    if last and first and last["period"] > 0 and first[0]["Y"]:
        growth = (last["Y"] / first[0]["Y"]) ** (1.0 / last["period"]) - 1
    return {
        "data_exported": _sum(rows, "data_exported"),
        "D": last["D"] if last else None, "Y": last["Y"] if last else None,
        "K": last["K"] if last else None,
        "output_growth": last["output_growth"] if last else None,
        "mean_output_growth": growth,
    }
