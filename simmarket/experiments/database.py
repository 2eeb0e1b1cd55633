"""The experiment database, ``DIR/experiment.db``: one SQLite file for a whole experiment.

``experiment`` (key/value: the design and its fingerprint), ``points`` and ``runs`` (what was
planned and how each run ended), ``outcomes`` (every headline figure of every run), the run
databases' per-period tables with a ``run_id`` column, ``summary`` and ``paired`` (the
statistics), and the tables the propositions suite and sensitivity analysis add. Only the
process that drives the experiment writes it; workers return records. docs/schema.md
documents every table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from simmarket.experiments.design import Design, Factor, Point, RunSpec
from simmarket.experiments.model import PERIOD_TABLES, RunRecord

FILENAME = "experiment.db"

_FIXED = """
CREATE TABLE IF NOT EXISTS experiment (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS outcomes (
  run_id INTEGER NOT NULL, name TEXT NOT NULL, value REAL, PRIMARY KEY (run_id, name));
CREATE TABLE IF NOT EXISTS summary (
  point INTEGER NOT NULL, name TEXT NOT NULL, n INTEGER, mean REAL, sd REAL,
  ci_low REAL, ci_high REAL, PRIMARY KEY (point, name));
CREATE TABLE IF NOT EXISTS paired (
  point INTEGER NOT NULL, reference INTEGER NOT NULL, name TEXT NOT NULL, n INTEGER,
  mean_diff REAL, ci_low REAL, ci_high REAL, PRIMARY KEY (point, reference, name));
"""


def connect(directory: str | Path) -> sqlite3.Connection:
    """Open (creating) ``DIR/experiment.db`` with the fixed tables."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(directory / FILENAME, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(_FIXED)
    return conn


def meta(conn: sqlite3.Connection) -> dict[str, str]:
    """The ``experiment`` table as a dict."""
    return dict(conn.execute("SELECT key, value FROM experiment").fetchall())


def set_meta(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    with conn:
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO experiment VALUES (?, ?)",
                         [(k, v if isinstance(v, str) else json.dumps(v))
                          for k, v in values.items()])


def write_plan(conn: sqlite3.Connection, design: Design, runs: Sequence[RunSpec],
               db_paths: dict[int, str]) -> None:
    """Create ``points`` and ``runs`` (status ``pending``) for runs not yet planned."""
    cols = [f.column for f in design.factors]
    defs = "".join(f", {_q(c)}" for c in cols)
    conn.execute("CREATE TABLE IF NOT EXISTS points (point INTEGER PRIMARY KEY, scenario TEXT, "
                 f"label TEXT{defs})")
    conn.execute("CREATE TABLE IF NOT EXISTS runs (run_id INTEGER PRIMARY KEY, point INTEGER, "
                 f"replication INTEGER, seed INTEGER, scenario TEXT{defs}, status TEXT, "
                 "error TEXT, seconds REAL, db_path TEXT, finished_at TEXT)")
    points = {p.index: p for p in design.points()}
    marks = ", ".join("?" for _ in cols)
    with conn:
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT OR IGNORE INTO points VALUES (?, ?, ?{', ' + marks if cols else ''})",
            [(p.index, p.scenario, p.label, *_factor_values(design.factors, p))
             for p in points.values()])
        conn.executemany(
            f"INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?{', ' + marks if cols else ''}, "
            "'pending', NULL, NULL, ?, NULL)",
            [(r.run_id, r.point, r.replication, r.seed, points[r.point].scenario,
              *_factor_values(design.factors, points[r.point]), db_paths[r.run_id])
             for r in runs])


def _factor_values(factors: Iterable[Factor], point: Point) -> list[Any]:
    out = []
    for f in factors:
        v = point.values.get(f.key)
        out.append(json.dumps(v) if isinstance(v, list | dict) else v)
    return out


def unfinished(conn: sqlite3.Connection) -> set[int]:
    """Run ids that are missing, failed or interrupted (what a rerun executes)."""
    return {r for (r,) in conn.execute("SELECT run_id FROM runs WHERE status != 'completed'")}


def mark(conn: sqlite3.Connection, run_ids: Iterable[int], status: str) -> None:
    with conn:
        conn.execute("BEGIN")
        conn.executemany("UPDATE runs SET status = ? WHERE run_id = ?",
                         [(status, r) for r in run_ids])


def save_record(conn: sqlite3.Connection, rec: RunRecord) -> None:
    """Store a finished run: its status, outcomes and per-period tables, in one transaction."""
    with conn:
        conn.execute("BEGIN")
        conn.execute("UPDATE runs SET status = ?, error = ?, seconds = ?, finished_at = ? "
                      "WHERE run_id = ?", (rec.status, rec.error, rec.seconds,
                                           datetime.now(UTC).isoformat(timespec="seconds"),
                                           rec.run_id))
        conn.execute("DELETE FROM outcomes WHERE run_id = ?", (rec.run_id,))
        conn.executemany("INSERT INTO outcomes VALUES (?, ?, ?)",
                         [(rec.run_id, k, v) for k, v in rec.outcomes.items()])
        for table, frame in rec.periods.items():
            _append_period(conn, table, rec.run_id, frame)


def _append_period(conn: sqlite3.Connection, table: str, run_id: int,
                   frame: pd.DataFrame) -> None:
    if table not in PERIOD_TABLES:
        return
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (run_id INTEGER NOT NULL"
                 + "".join(f", {_q(c)} {_affinity(frame[c])}" for c in frame.columns) + ")")
    have = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")][1:]
    conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
    if frame.empty:
        return
    cols = [c for c in have if c in frame.columns]
    data = frame[cols].astype(object).where(frame[cols].notna(), None)
    conn.executemany(
        f"INSERT INTO {table} (run_id, {', '.join(_q(c) for c in cols)}) "
        f"VALUES (?{', ?' * len(cols)})",
        [(run_id, *row) for row in data.itertuples(index=False, name=None)])


def _affinity(series: pd.Series) -> str:
    kind = series.dtype.kind
    return "INTEGER" if kind in "iub" else "REAL" if kind == "f" else "TEXT"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def completed_outcomes(conn: sqlite3.Connection) -> pd.DataFrame:
    """Long outcomes of completed runs: run_id, point, replication, name, value."""
    return pd.read_sql_query(
        "SELECT o.run_id, r.point, r.replication, o.name, o.value FROM outcomes o "
        "JOIN runs r USING (run_id) WHERE r.status = 'completed' "
        "ORDER BY r.point, r.replication, o.name", conn)


def replace_table(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]],
                  columns: Sequence[str] | None = None) -> None:
    """Replace the rows of a results table (creating it from the rows' keys if needed)."""
    cols = list(columns or (rows[0] if rows else []))
    with conn:
        conn.execute("BEGIN")
        if cols:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} "
                         f"({', '.join(_q(c) for c in cols)})")
        conn.execute(f"DELETE FROM {table}")
        if rows:
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(_q(c) for c in cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})",
                [tuple(r.get(c) for c in cols) for r in rows])


def reset(directory: str | Path) -> None:
    """Remove an experiment's database and run databases (``--force`` on a changed design)."""
    directory = Path(directory)
    for suffix in ("", "-wal", "-shm"):
        Path(str(directory / FILENAME) + suffix).unlink(missing_ok=True)
    runs = directory / "runs"
    if runs.is_dir():
        for f in runs.iterdir():
            if f.is_file():
                f.unlink()
