"""Post-hoc analysis in Python: the views of a run database as pandas DataFrames.

A notebook needs no SQL to start::

    from simmarket import analysis as sa
    curve = sa.connection_value_curve("results/baseline.db", min_items=30)
    sa.value_encounter("results/baseline.db").plot(x="t_end", y="value_encountered")

Every function takes a database path (opened read-only, checked like the CLI checks it) or
an open ``sqlite3.Connection``, and returns the rows of the matching view of
:mod:`simmarket.store.views` unchanged, so a figure computed here is the figure the SQL gives.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from simmarket.analysis.propositions import CurveTrend, curve_trend
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
    """Each firm's closeness on the interaction network beside the value it captured in
    the period and in the next one, per snapshot (one alpha or all)."""
    if alpha is None:
        return read_view(db, "v_firm_closeness")
    return read_view(db, "v_firm_closeness", "alpha = ?", (alpha,))


def closeness_correlation(db: Source) -> pd.DataFrame:
    """Correlation of firm closeness at a snapshot with captured value at the next, per
    snapshot and alpha (and the value-weighted same-snapshot one)."""
    return read_view(db, "v_closeness_correlation")


def headlines(db: Source) -> pd.DataFrame:
    """The run's headline figures (``simmarket.analysis.summary``) as rows: layer, figure,
    label, value.

    Computed afresh from the tables, so an interrupted run's figures cover what it simulated.
    """
    with connect(db) as conn:
        figures = headline_figures(conn)
    rows = [{"layer": layer, "figure": name, "label": HEADLINES[layer][1][name], "value": v}
            for layer, values in figures.items() for name, v in values.items()]
    return pd.DataFrame(rows, columns=["layer", "figure", "label", "value"])


# -- the shape of the connection value curve -------------------------------------------------

#: By c: the mean change of value from an item's (c-1)-th to its c-th connection and its two
#: terms, recorded during the run in connection_curve (the event log gives the same change,
#: item by item).
WITHIN_ITEM_SQL = """
SELECT c, connections AS pairs, within_item_change_sum / connections AS mean_change,
       network_term_sum / connections AS network_term,
       composition_term_sum / connections AS composition_term
FROM connection_curve WHERE c > 1 AND connections > 0 ORDER BY c"""


def within_item_changes(db: Source) -> pd.DataFrame:
    """Mean change of value from an item's (c-1)-th to its c-th connection, by c, with its
    network term and audience-composition term (their sum, in metaverse mode).

    Item by item, so it is free of the selection that shapes the mean curve (items that
    reach many connections are the better items). Recorded during the run in
    ``connection_curve``, so it costs nothing however long the log.
    """
    with connect(db) as conn:
        return pd.read_sql_query(WITHIN_ITEM_SQL, conn)


def connection_value_trend(db: Source, *, tolerance: float = 0.001) -> CurveTrend:
    """How the value of an item's connections moves with c (Proposition 2): the within-item
    change, its decomposition and the mean curve's shape
    (:func:`simmarket.analysis.propositions.curve_trend`)."""
    with connect(db) as conn:
        return curve_trend(conn, tolerance=tolerance)
