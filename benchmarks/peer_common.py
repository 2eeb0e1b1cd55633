"""Shared by bench_peer.py and mesa_peer.py: the events table, the workload, the ceiling.

Kept apart from simmarket on purpose: nothing here is imported by the package, and the Mesa
peer uses simmarket only to build the same users at t = 0 (``Users(scenario, Streams(seed))``).
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

#: The columns of one event row, in the order simmarket writes them (EVENT_COLUMNS).
EVENT_COLUMNS = ("t", "kind", "actor_id", "actor_type", "item_id", "counterpart_id",
                 "counterpart_type", "value")
#: The events table as sqlite-utils creates it for simmarket (TABLES["events"], pk event_id).
EVENTS_DDL = ('CREATE TABLE "events" ("event_id" INTEGER PRIMARY KEY, "t" REAL, "kind" TEXT, '
              '"actor_id" INTEGER, "actor_type" TEXT, "item_id" INTEGER, '
              '"counterpart_id" INTEGER, "counterpart_type" TEXT, "value" REAL)')
INSERT_EVENT = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
                "VALUES (?,?,?,?,?,?,?,?)")

#: The issue-9 workload: firms and government off, defaults otherwise, full event log.
WORKLOAD = {"firms.initial": 0, "firms.entry_rate": 0.0, "government.enabled": False}


def open_events_db(path: str | Path) -> sqlite3.Connection:
    """A fresh database holding only the events table, in WAL mode as simmarket writes it."""
    path = Path(path)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(EVENTS_DDL)
    return conn


def synthetic_rows(n: int, seed: int = 1) -> list[tuple]:
    """n event rows shaped like a simmarket log (kinds, NULLs and magnitudes alike)."""
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        t = k * 1e-4
        r = rnd.random()
        user = rnd.randrange(100_000)
        if r < 0.29:
            out.append((t, "session_started", user, "user", None, None, None, 0.0))
        elif r < 0.50:
            out.append((t, "impression", user, "user", rnd.randrange(20_000),
                        rnd.randrange(100_000), "user", 10.0))
        elif r < 0.62:
            out.append((t, "connection", user, "user", rnd.randrange(20_000),
                        rnd.randrange(100_000), "user", rnd.random()))
        elif r < 0.87:
            out.append((t, "payment", user, "user", rnd.randrange(20_000),
                        rnd.randrange(100_000), "user", rnd.random()))
        else:
            out.append((t, "community_joined", user, "user", rnd.randrange(20_000),
                        rnd.randrange(100_000), "user", float(rnd.randrange(500))))
    return out


def executemany_ceiling(path: str | Path, n: int, batch: int = 50_000) -> dict:
    """Rows/s of plain executemany: n 8-column rows, batches of `batch`, one commit each.

    The rows are built before the clock starts, so this is SQLite plus the sqlite3 module's
    binding of Python tuples — the most any writer of these rows from Python can reach.
    """
    rows = synthetic_rows(n)
    conn = open_events_db(path)
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, n, batch):
        conn.execute("BEGIN")
        conn.executemany(INSERT_EVENT, rows[start:start + batch])
        conn.execute("COMMIT")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    return {"rows": n, "batch": batch, "seconds": wall, "insert_cpu_seconds": cpu,
            "rows_per_second": n / wall, "rows_per_cpu_second": n / cpu}
