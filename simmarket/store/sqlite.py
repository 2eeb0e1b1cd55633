"""The event store: one SQLite file per run, every event a row, written in batches.

The simulation talks to the store through a narrow interface: :meth:`EventStore.emit` for
one event, :meth:`EventStore.emit_many` for a vector of events of one kind,
:meth:`EventStore.write_rows` for per-period and final tables, and :meth:`EventStore.finish`.
Events are buffered and written with ``executemany`` inside one transaction per batch (WAL
mode), so memory stays bounded however long the run and an interruption loses at most the
batch in flight (which :meth:`finish` still commits). Schema, indexes and introspection go
through sqlite-utils; the hot path uses the plain connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from simmarket.store.schema import SCHEMA_VERSION, create_indexes, create_schema

EVENT_COLUMNS = (
    "t", "kind", "actor_id", "actor_type", "item_id", "counterpart_id", "counterpart_type",
    "value",
)
_INSERT_EVENT = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES (?,?,?,?,?,?,?,?)"


class StoreError(RuntimeError):
    """The database cannot be created or written (exists, not writable, ...)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class EventStore:
    """Append-only event log plus the run's tables, in one SQLite database."""

    def __init__(self, path: str | Path, *, batch_size: int = 50_000, force: bool = False):
        self.path = Path(path)
        if self.path.exists():
            if not force:
                raise StoreError(
                    f"{self.path} already exists; choose another --out or pass --force "
                    "to replace it")
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot create {self.path}: {exc}") from None
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.db = sqlite_utils.Database(self.conn)
        create_schema(self.db)
        self.batch_size = batch_size
        self._buffer: list[tuple] = []
        #: Hot-path recording: append one 8-tuple in EVENT_COLUMNS order; the caller then
        #: calls :meth:`maybe_flush` once per step instead of once per event.
        self.record = self._buffer.append
        self.events_written = 0

    # -- the run's record -------------------------------------------------------------
    def start_run(self, *, seed: int, config: dict[str, Any], version: str,
                  impression_sample_rate: float) -> None:
        self.db["runs"].insert({
            "run_id": 1, "status": "running", "seed": seed,
            "config": json.dumps(config, sort_keys=True), "version": version,
            "schema_version": SCHEMA_VERSION, "mode": config["mode"],
            "horizon_days": config["horizon_days"], "period_days": config["period_days"],
            "impression_sample_rate": impression_sample_rate,
            "started_at": _now(), "finished_at": None, "t_reached": 0.0,
            "events": 0, "message": None,
        })

    # -- events -------------------------------------------------------------------------
    def emit(self, t: float, kind: str, actor_id: int | None, actor_type: str | None,
             item_id: int | None = None, counterpart_id: int | None = None,
             counterpart_type: str | None = None, value: float | None = None) -> None:
        """Record one event (buffered)."""
        self._buffer.append(
            (t, kind, actor_id, actor_type, item_id, counterpart_id, counterpart_type, value))
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def emit_many(self, t: float, kind: str, actor_ids: Any, actor_type: str | None,
                  item_ids: Any = None, counterpart_ids: Any = None,
                  counterpart_type: str | None = None, values: Any = None) -> None:
        """Record a vector of events of one kind at one time (arrays or scalars per column)."""
        actor_ids = np.asarray(actor_ids)
        n = len(actor_ids)
        if n == 0:
            return
        cols = [_column(actor_ids, n), _column(item_ids, n), _column(counterpart_ids, n),
                _column(values, n)]
        self._buffer.extend(
            (t, kind, a, actor_type, i, c, counterpart_type, v) for a, i, c, v in zip(*cols))
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def maybe_flush(self) -> None:
        """Write the buffer if a batch is full."""
        if len(self._buffer) >= self.batch_size:
            self.flush()

    @property
    def events_emitted(self) -> int:
        """Events recorded so far, written or still buffered."""
        return self.events_written + len(self._buffer)

    def flush(self) -> None:
        """Write the buffered events in one transaction."""
        if not self._buffer:
            return
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(_INSERT_EVENT, self._buffer)
        self.events_written += len(self._buffer)
        self._buffer.clear()

    # -- tables ---------------------------------------------------------------------------
    def write_rows(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Insert rows into a per-period or final table (columns as in the schema)."""
        rows = list(rows)
        if not rows:
            return
        cols = list(rows[0])
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
               f"VALUES ({', '.join('?' for _ in cols)})")
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(sql, [tuple(r[c] for c in cols) for r in rows])

    def write_columns(self, table: str, columns: dict[str, Sequence[Any]]) -> None:
        """Insert a table given column-wise (NumPy arrays), as for users and items."""
        names = list(columns)
        data = [_column(columns[c], len(columns[names[0]])) for c in names]
        sql = (f"INSERT INTO {table} ({', '.join(names)}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(sql, zip(*data))

    def finish(self, status: str, *, t_reached: float, message: str | None = None,
               summary: dict[str, Any] | None = None) -> None:
        """Commit what is buffered, index the log and record how the run ended."""
        self.flush()
        self.index()
        self.db["runs"].update(1, {
            "status": status, "finished_at": _now(), "t_reached": t_reached,
            "events": self.events_written, "message": message,
            "summary": json.dumps(summary, sort_keys=True) if summary is not None else None,
        }, alter=True)
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def index(self) -> None:
        """Build the indexes the analysis needs (once; after the log is written)."""
        create_indexes(self.db)

    def close(self) -> None:
        self.conn.close()


def _column(values: Any, n: int) -> list:
    """A column as a Python list of length n (scalars broadcast, NumPy types converted)."""
    if values is None or np.isscalar(values):
        v = values.item() if isinstance(values, np.generic) else values
        return [v] * n
    return np.asarray(values).tolist()
