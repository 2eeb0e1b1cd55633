"""The model the experiments layer runs: one function from a run's task to its record.

The layer knows nothing of what is simulated (as EMA Workbench's experiments know a model only
through its inputs and outcomes). :func:`simulate` is the one adapter to
:func:`simmarket.api.run`; everything else sees a :class:`Task` go in and a :class:`RunRecord`
come out: the run's status, its outcomes (every headline figure, named ``layer.figure``) and
its per-period tables as DataFrames. Any other function with that signature can stand in for
it (a test injects faults that way).
"""

from __future__ import annotations

import sqlite3
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

#: Per-period tables of a run, copied into the experiment database with a run_id column.
PERIOD_TABLES = ("period_production", "period_encounter", "period_transmission",
                 "centrality", "macro", "policy_changes")

#: Outcomes beyond the headline figures, computed from the run's tables by SQL.
DERIVED = {
    "encounter.within_item_change": """
        SELECT SUM(within_item_change_sum) / NULLIF(SUM(connections), 0)
        FROM connection_curve WHERE c > 1""",
    "transmission.closeness_spearman": """
        SELECT AVG(spearman) FROM v_closeness_correlation
        WHERE alpha = 1.0 AND spearman IS NOT NULL""",
    "encounter.largest_community_share": """
        SELECT CAST(MAX(community_size) AS REAL) / NULLIF(SUM(community_size), 0)
        FROM users""",
}


@dataclass(frozen=True)
class Task:
    """What a worker needs to make one run: its id, its config data and where to write."""

    run_id: int
    config: dict[str, Any]
    db_path: str
    events: str = "none"


@dataclass
class RunRecord:
    """What one run left: how it ended, its outcomes and its per-period tables."""

    run_id: int
    status: str
    error: str | None = None
    seconds: float = 0.0
    db_path: str | None = None
    outcomes: dict[str, float | None] = field(default_factory=dict)
    periods: dict[str, pd.DataFrame] = field(default_factory=dict)


ModelFn = Callable[[Task], RunRecord]


def simulate(task: Task) -> RunRecord:
    """Run simmarket on the task's config: the one call into :mod:`simmarket.api`."""
    from simmarket.api import run

    config = dict(task.config)
    if events_supported():
        config["output"] = {**config.get("output", {}), "events": task.events}
    result = run(config, out=task.db_path, force=True, handle_signals=False)
    return record_from_db(task.run_id, result.status, task.db_path, result.seconds,
                          flatten_summary(result.summary))


def guarded(model: ModelFn, task: Task) -> RunRecord:
    """Run ``model`` on ``task``; a run that raises becomes a failed record with its error."""
    started = time.perf_counter()
    try:
        return model(task)
    except Exception as exc:  # the run's fault is recorded; the experiment goes on
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {Path(last[0].filename).name}:{last[0].lineno}" if last else ""
        return RunRecord(task.run_id, "failed", f"{type(exc).__name__}: {exc}{where}",
                         time.perf_counter() - started, task.db_path)


def flatten_summary(summary: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """``{"value encounter": {"connections": 3}}`` -> ``{"encounter.connections": 3.0}``."""
    out: dict[str, float | None] = {}
    for layer, figures in summary.items():
        short = layer.removeprefix("value ").replace(" ", "_")
        for name, value in figures.items():
            out[f"{short}.{name}"] = None if value is None else float(value)
    return out


def record_from_db(run_id: int, status: str, db_path: str | Path, seconds: float,
                   outcomes: dict[str, float | None]) -> RunRecord:
    """A record with the derived outcomes and the per-period tables read from a run database."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        outcomes = {**outcomes, **_derived(conn)}
        periods = {t: pd.read_sql_query(f"SELECT * FROM {t}", conn) for t in PERIOD_TABLES
                   if _has_table(conn, t)}
    finally:
        conn.close()
    return RunRecord(run_id, status, None, seconds, str(db_path), outcomes, periods)


def _derived(conn: sqlite3.Connection) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, sql in DERIVED.items():
        try:
            value = conn.execute(sql).fetchone()[0]
        except sqlite3.Error:  # a table or view this version of the model lacks
            continue
        out[name] = None if value is None else float(value)
    return out


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() \
        is not None


@cache
def events_supported() -> bool:
    """Whether this simmarket's config has ``output.events`` (the event detail)."""
    from simmarket.config import ConfigError, config_from_dict

    try:
        config_from_dict({"output": {"events": "none"}})
    except ConfigError:
        return False
    return True
