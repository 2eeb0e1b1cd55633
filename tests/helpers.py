"""Test helpers: small real runs written to real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import simmarket

ROOT = Path(__file__).resolve().parents[1]

#: A small marketplace that still exercises every mechanism in a few seconds.
SMALL: dict[str, Any] = {"users": {"n": 600}, "horizon_days": 42}


def merge(base: dict, extra: dict) -> dict:
    """Deep-merge two config dicts (extra wins)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def run_small(path: Path, extra: dict | None = None) -> sqlite3.Connection:
    """Run SMALL (+ extra) into `path`; return a connection to the database."""
    cfg = merge(SMALL, extra or {})
    result = simmarket.run(cfg, out=path, force=True, handle_signals=False)
    assert result.status == "completed"
    return sqlite3.connect(path)


def scalar(conn: sqlite3.Connection, sql: str, *args: Any) -> Any:
    return conn.execute(sql, args).fetchone()[0]


def write(path: Path, text: str) -> Path:
    """Write a text file (a design, a scenario) and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


def rows(db: Path, sql: str) -> list[tuple]:
    """All rows of one query on a database file."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()
