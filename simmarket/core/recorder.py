"""The recorder protocol: how the model hands its rows to whatever keeps them.

The model emits three kinds of rows: events (one 8-tuple each, in ``EVENT_COLUMNS`` order),
per-period rows (dicts, one table per link, written at each period's close) and final tables
(column-wise NumPy arrays: users, items, firms, the connection curve). A recorder decides
where they go: :class:`simmarket.store.sqlite.SQLiteRecorder` writes a database,
:class:`simmarket.store.memory.MemoryRecorder` keeps them in memory. Both keep the per-period
rows, which are small, so a run's headline figures come from them whatever the store.

The event detail of the run (``output.events``) is applied here, once: at ``core`` the
recorder drops impressions and session starts, at ``none`` every event.

Events arrive one by one (``record``, ``channel``, ``emit``) or as blocks of columns
(``emit_many`` for one kind at one time; ``emit_columns`` for any rows, kinds and types given
as integer codes, as a compiled kernel writes them into its buffers). Either way they join
one buffer, in the order they were recorded, and reach the store as the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import compress
from typing import Any

import numpy as np

from simmarket.config.settings import DETAIL_KINDS

EVENT_COLUMNS = (
    "t", "kind", "actor_id", "actor_type", "item_id", "counterpart_id", "counterpart_type",
    "value",
)
EventRow = tuple


def _drop(row: EventRow) -> None:
    """The sink of an event kind the run's event detail leaves out."""


class Recorder:
    """Buffers events and applies the event detail; subclasses say where rows go."""

    def __init__(self, events: str = "all", batch_size: int = 50_000):
        self.level = events
        self.batch_size = batch_size
        self._buffer: list[EventRow] = []
        self.events_written = 0
        #: per-period tables as written, {table: [row, ...]}
        self.tables: dict[str, list[dict[str, Any]]] = {}
        #: Hot path: append one 8-tuple (a kept kind); the caller then calls maybe_flush.
        self.record: Callable[[EventRow], None] = (
            self._buffer.append if events != "none" else _drop)

    # -- events -------------------------------------------------------------------------
    def keeps(self, kind: str) -> bool:
        """Whether this run's event detail records events of `kind`."""
        return self.level == "all" or (self.level == "core" and kind not in DETAIL_KINDS)

    def channel(self, kind: str) -> Callable[[EventRow], None]:
        """The hot-path sink for one kind: ``record`` if the kind is kept, else a no-op."""
        return self._buffer.append if self.keeps(kind) else _drop

    def emit(self, t: float, kind: str, actor_id: int | None, actor_type: str | None,
             item_id: int | None = None, counterpart_id: int | None = None,
             counterpart_type: str | None = None, value: float | None = None) -> None:
        """Record one event (buffered)."""
        if self.keeps(kind):
            self._buffer.append((t, kind, actor_id, actor_type, item_id, counterpart_id,
                                 counterpart_type, value))
            self.maybe_flush()

    def emit_many(self, t: float, kind: str, actor_ids: Any, actor_type: str | None,
                  item_ids: Any = None, counterpart_ids: Any = None,
                  counterpart_type: str | None = None, values: Any = None) -> None:
        """Record a vector of events of one kind at one time (arrays or scalars per column)."""
        n = len(np.asarray(actor_ids))
        if n == 0 or not self.keeps(kind):
            return
        cols = [column(actor_ids, n), column(item_ids, n), column(counterpart_ids, n),
                column(values, n)]
        self._buffer.extend(
            (t, kind, a, actor_type, i, c, counterpart_type, v) for a, i, c, v in zip(*cols))
        self.maybe_flush()

    def emit_columns(self, t: Any, kind: Any, actor_id: Any, actor_type: Any,
                     item_id: Any = None, counterpart_id: Any = None,
                     counterpart_type: Any = None, value: Any = None, *,
                     kinds: Sequence[str] = (), types: Sequence[str | None] = ()) -> None:
        """Record a block of events given column-wise, row i being the i-th of each column.

        Each column is an array or a scalar (repeated; at least one is an array). ``kind``,
        ``actor_type`` and ``counterpart_type`` are names, or integer codes into ``kinds``
        and ``types``. An integer id below zero is NULL; so is a NaN value (as SQLite stores
        it). The rows are exactly those ``record`` would get from the same tuples, kept at
        this run's event detail, in order."""
        cols = (t, kind, actor_id, actor_type, item_id, counterpart_id, counterpart_type, value)
        lengths = {len(c) for c in cols if c is not None and np.ndim(c) > 0}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        if not lengths or self.level == "none":
            return
        (n,) = lengths
        names = _names(kind, kinds, n)
        rows = zip(column(t, n), names, _ids(actor_id, n), _names(actor_type, types, n),
                   _ids(item_id, n), _ids(counterpart_id, n),
                   _names(counterpart_type, types, n), column(value, n))
        if self.level == "core":
            rows = compress(rows, [k not in DETAIL_KINDS for k in names])
        self._buffer.extend(rows)
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if len(self._buffer) >= self.batch_size:
            self.flush()

    @property
    def events_emitted(self) -> int:
        """Events recorded so far, written or still buffered."""
        return self.events_written + len(self._buffer)

    def flush(self) -> None:
        """Hand the buffered events to the store."""
        if self._buffer:
            self._write_events(self._buffer)
            self.events_written += len(self._buffer)
            self._buffer.clear()

    # -- tables ---------------------------------------------------------------------------
    def write_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Per-period (or small final) rows; kept in memory and handed to the store."""
        if rows:
            self.tables.setdefault(table, []).extend(dict(r) for r in rows)
            self._write_rows(table, rows)

    def write_columns(self, table: str, columns: dict[str, Any]) -> None:
        """A final table given column-wise (NumPy arrays), as for users and items."""
        self._write_columns(table, columns)

    def checkpoint(self, t_reached: float) -> None:
        """A consistent point of the run: events up to ``t_reached`` and every period row
        closed so far are handed over together."""
        self.flush()

    # -- where rows go (subclasses) -------------------------------------------------------
    def _write_events(self, rows: list[EventRow]) -> None:
        raise NotImplementedError

    def _write_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _write_columns(self, table: str, columns: dict[str, Any]) -> None:
        raise NotImplementedError


def _ids(values: Any, n: int) -> list:
    """An id column as Python ints, negative ids as None (NULL)."""
    if values is None or np.isscalar(values):
        return column(None if values is None or values < 0 else values, n)
    ids = np.asarray(values)
    out = ids.astype(object)
    out[ids < 0] = None
    return out.tolist()


def _names(values: Any, names: Sequence[str | None], n: int) -> list:
    """A kind or type column as names: given as names, or as integer codes into ``names``."""
    if values is None or isinstance(values, str):
        return [values] * n
    if np.isscalar(values):
        return [names[int(values)]] * n
    codes = np.asarray(values)
    if codes.dtype.kind not in "iu":
        return codes.tolist()
    return np.asarray(names, dtype=object)[codes].tolist()


def column(values: Any, n: int) -> list:
    """A column as a Python list of length n (scalars broadcast, NumPy types converted)."""
    if values is None or np.isscalar(values):
        v = values.item() if isinstance(values, np.generic) else values
        return [v] * n
    return np.asarray(values).tolist()
