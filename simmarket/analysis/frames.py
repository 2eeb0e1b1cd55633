"""Post-hoc analysis in Python: the views of a run database as pandas DataFrames.

A notebook needs no SQL to start::

    from simmarket import analysis as sa
    curve = sa.connection_value_curve("results/baseline.db", min_items=30)
    sa.value_encounter("results/baseline.db").plot(x="t_end", y="value_encountered")

Every function takes a database path (opened read-only, checked like the CLI checks it) or
an open ``sqlite3.Connection``, and returns the rows of the matching view of
:mod:`simmarket.views` unchanged, so a figure computed here is the figure the SQL gives.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simmarket.analysis.query import AnalysisError, RunInfo, open_run
from simmarket.analysis.summary import HEADLINES, headline_figures
from simmarket.store.views import VIEWS

Source = str | Path | sqlite3.Connection

__all__ = [
    "AnalysisError", "CurveTrend", "closeness_correlation", "community_sizes",
    "connection_value_curve", "connection_value_trend", "firm_closeness", "headlines",
    "inequality", "read_view", "run_info", "value_encounter", "value_production",
    "value_spillover", "value_transmission", "within_item_changes",
]


@contextmanager
def connect(db: Source) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a run database (an open connection is passed through)."""
    if isinstance(db, sqlite3.Connection):
        yield db
        return
    conn, _ = open_run(db)
    try:
        yield conn
    finally:
        conn.close()


def read_view(db: Source, name: str, where: str | None = None,
              params: tuple | dict = ()) -> pd.DataFrame:
    """All rows of view ``name`` (optionally filtered by an SQL ``where`` clause)."""
    if name not in VIEWS:
        raise AnalysisError(f"no view {name!r}; the views are: {', '.join(VIEWS)}")
    sql = f"SELECT * FROM {name}" + (f" WHERE {where}" if where else "")
    with connect(db) as conn:
        try:
            return pd.read_sql_query(sql, conn, params=params or None)
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            raise AnalysisError(f"cannot read {name}: {exc}") from None


def run_info(db: str | Path) -> RunInfo:
    """How the run of a database was made and how it ended."""
    conn, info = open_run(db)
    conn.close()
    return info


def value_production(db: Source) -> pd.DataFrame:
    """Value production per period, with the knowledge stock S and the sharing rate."""
    return read_view(db, "v_value_production")


def value_encounter(db: Source) -> pd.DataFrame:
    """Value encounter per period: impressions, connections, their value, communities."""
    return read_view(db, "v_value_encounter")


def value_transmission(db: Source) -> pd.DataFrame:
    """Value transmission per period: derivatives, licence fees, firms' captured value."""
    return read_view(db, "v_value_transmission")


def value_spillover(db: Source) -> pd.DataFrame:
    """Value spillover per economy step: D, Y, K and the data exported."""
    return read_view(db, "v_value_spillover")


def connection_value_curve(db: Source, min_items: int = 1) -> pd.DataFrame:
    """Mean value of the c-th connection of an item, by c, where >= ``min_items`` items."""
    return read_view(db, "v_connection_value_curve", "items >= ?", (min_items,))


def community_sizes(db: Source) -> pd.DataFrame:
    """Community size per creator (users who created, and firms), with rank and CCDF."""
    return read_view(db, "v_community_sizes")


def inequality(db: Source) -> pd.DataFrame:
    """Gini of creator income and HHI of firm revenue, per period."""
    return read_view(db, "v_inequality")


def firm_closeness(db: Source, alpha: float | None = None) -> pd.DataFrame:
    """Each firm's closeness beside its captured value, per snapshot (one alpha or all)."""
    if alpha is None:
        return read_view(db, "v_firm_closeness")
    return read_view(db, "v_firm_closeness", "alpha = ?", (alpha,))


def closeness_correlation(db: Source) -> pd.DataFrame:
    """Correlation of firm closeness and captured value, per snapshot and alpha."""
    return read_view(db, "v_closeness_correlation")


def headlines(db: Source) -> pd.DataFrame:
    """The run's headline figures (``simmarket.summary``) as rows: layer, figure, label, value.

    Computed afresh from the tables, so an interrupted run's figures cover what it simulated.
    """
    with connect(db) as conn:
        figures = headline_figures(conn)
    rows = [{"layer": layer, "figure": name, "label": HEADLINES[layer][1][name], "value": v}
            for layer, values in figures.items() for name, v in values.items()]
    return pd.DataFrame(rows, columns=["layer", "figure", "label", "value"])


# -- the shape of the connection value curve -------------------------------------------------

#: By c: the mean change of value from an item's (c-1)-th to its c-th connection, recorded
#: during the run in connection_curve (the event log gives the same, item by item).
WITHIN_ITEM_SQL = """
SELECT c, connections AS pairs, within_item_change_sum / connections AS mean_change
FROM connection_curve WHERE c > 1 AND connections > 0 ORDER BY c"""

#: The mean of those changes over all pairs.
WITHIN_ITEM_MEAN_SQL = """
SELECT SUM(connections) AS pairs, SUM(within_item_change_sum) / SUM(connections) AS mean_change
FROM connection_curve WHERE c > 1"""


def within_item_changes(db: Source) -> pd.DataFrame:
    """Mean change of value from an item's (c-1)-th to its c-th connection, by c.

    Item by item, so it is free of the selection that shapes the mean curve (items that
    reach many connections are the better items). Recorded during the run in
    ``connection_curve``, so it costs nothing however long the log.
    """
    with connect(db) as conn:
        return pd.read_sql_query(WITHIN_ITEM_SQL, conn)


@dataclass
class CurveTrend:
    """Which way the value of the c-th connection moves with c, measured three ways.

    ``slope``: connection-weighted least-squares slope of a connection's value on ln c
    (value units per e-fold of c) over the mean curve of ``v_connection_value_curve``.
    Better items reach higher c, so this raw curve rises by selection alone.
    ``slope_per_quality``: the same with each value divided by its item's quality, which
    takes that selection out. ``within_change``: the mean change of value from one
    connection of an item to its next, item by item (None when not computed). A
    direction is "rises" or "falls" when the figure's sign says so beyond
    ``tolerance`` x the mean figure, else "flat".
    """

    connections: int
    total_value: float
    mean_value: float
    first_value: float | None
    slope: float | None
    direction: str
    slope_per_quality: float | None
    direction_per_quality: str
    within_pairs: int | None = None
    within_change: float | None = None
    within_direction: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def connection_value_trend(db: Source, *, within_item: bool = True,
                           tolerance: float = 0.001) -> CurveTrend:
    """Measure the shape of the connection value curve of a run (Proposition 2)."""
    with connect(db) as conn:
        n, sx, sxx, sv, sxv, sq, sxq, first = conn.execute("""
            SELECT SUM(connections), SUM(connections * LN(c)),
                   SUM(connections * LN(c) * LN(c)), SUM(value_sum), SUM(value_sum * LN(c)),
                   SUM(value_per_quality_sum), SUM(value_per_quality_sum * LN(c)),
                   MAX(CASE WHEN c = 1 THEN value_sum / connections END)
            FROM connection_curve WHERE connections > 0""").fetchone()
        pairs = change = None
        if within_item:
            pairs, change = conn.execute(WITHIN_ITEM_MEAN_SQL).fetchone()
    n = int(n or 0)
    total = float(sv or 0.0)
    mean = total / n if n else 0.0
    slope = _ln_slope(n, sx, sxx, sv, sxv)
    slope_q = _ln_slope(n, sx, sxx, sq, sxq)
    mean_q = (sq or 0.0) / n if n else 0.0
    trend = CurveTrend(
        connections=n, total_value=total, mean_value=mean, first_value=first,
        slope=slope, direction=_direction(slope, tolerance * mean),
        slope_per_quality=slope_q, direction_per_quality=_direction(slope_q, tolerance * mean_q))
    if within_item:
        trend.within_pairs = int(pairs or 0)
        trend.within_change = change
        trend.within_direction = _direction(change, tolerance * mean)
    return trend


def _ln_slope(n: int, sx: float | None, sxx: float | None, sy: float | None,
              sxy: float | None) -> float | None:
    """Least-squares slope of y on x = ln c over n connections, from the sums."""
    if not n or sx is None or sxx is None or sy is None or sxy is None:
        return None
    var = sxx / n - (sx / n) ** 2
    if var <= 1e-12:
        return None
    return (sxy / n - (sx / n) * (sy / n)) / var


def _direction(x: float | None, scale: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "undetermined"
    if x > scale:
        return "rises"
    if x < -scale:
        return "falls"
    return "flat"
