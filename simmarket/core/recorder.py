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
one :class:`EventBuffer`, in the order they were recorded, and reach the store as the same
rows: the one-by-one events as tuples, each column block as its rows laid end to end in one
flat list (the form a many-row ``INSERT`` takes its parameters in, made in a few NumPy
calls instead of a tuple per row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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


class Flat(list):
    """Event rows laid end to end: row i is items ``8 i .. 8 i + 7``, in ``EVENT_COLUMNS``
    order."""

    def rows(self) -> Iterator[EventRow]:
        """The rows as tuples."""
        return zip(*[iter(self)] * len(EVENT_COLUMNS))


class EventBuffer:
    """The events recorded and not yet written, in order.

    One-by-one events are appended to ``open`` (its ``append`` is the recorders' hot path);
    a block of rows closes that run of tuples and follows it as a :class:`Flat`. ``parts()``
    hands them over in order: lists of tuples and flat blocks."""

    def __init__(self) -> None:
        self.open: list[EventRow] = []
        self._parts: list[list[EventRow] | Flat] = []
        self._closed = 0

    def __len__(self) -> int:
        return self._closed + len(self.open)

    def add_block(self, block: Flat) -> None:
        """Rows laid end to end, after every event recorded so far."""
        self._close()
        self._parts.append(block)
        self._closed += len(block) // len(EVENT_COLUMNS)

    def _close(self) -> None:
        if self.open:
            self._parts.append(self.open.copy())  # `open` itself stays bound to the hot path
            self._closed += len(self.open)
            self.open.clear()

    def parts(self) -> list[list[EventRow] | Flat]:
        """Everything buffered, in order: lists of row tuples and flat blocks."""
        self._close()
        return self._parts

    def rows(self) -> Iterator[EventRow]:
        """Everything buffered as row tuples, in order."""
        for part in self.parts():
            yield from part.rows() if isinstance(part, Flat) else part

    def clear(self) -> None:
        self.open.clear()
        self._parts.clear()
        self._closed = 0


class Recorder:
    """Buffers events and applies the event detail; subclasses say where rows go."""

    def __init__(self, events: str = "all", batch_size: int = 50_000):
        self.level = events
        self.batch_size = batch_size
        self._buffer = EventBuffer()
        self.events_written = 0
        #: per-period tables as written, {table: [row, ...]}
        self.tables: dict[str, list[dict[str, Any]]] = {}
        #: Hot path: append one 8-tuple (a kept kind); the caller then calls maybe_flush.
        self.record: Callable[[EventRow], None] = (
            self._buffer.open.append if events != "none" else _drop)

    # -- events -------------------------------------------------------------------------
    def keeps(self, kind: str) -> bool:
        """Whether this run's event detail records events of `kind`."""
        return self.level == "all" or (self.level == "core" and kind not in DETAIL_KINDS)

    def channel(self, kind: str) -> Callable[[EventRow], None]:
        """The hot-path sink for one kind: ``record`` if the kind is kept, else a no-op."""
        return self._buffer.open.append if self.keeps(kind) else _drop

    def emit(self, t: float, kind: str, actor_id: int | None, actor_type: str | None,
             item_id: int | None = None, counterpart_id: int | None = None,
             counterpart_type: str | None = None, value: float | None = None) -> None:
        """Record one event (buffered)."""
        if self.keeps(kind):
            self._buffer.open.append((t, kind, actor_id, actor_type, item_id, counterpart_id,
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
        self._buffer.open.extend(
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
        block = np.empty((n, len(EVENT_COLUMNS)), dtype=object)
        block[:, 0], block[:, 3] = _objects(t), _names(actor_type, types)
        block[:, 1], keep = _names(kind, kinds), self._kept(kind, kinds, n)
        block[:, 6], block[:, 7] = _names(counterpart_type, types), _objects(value)
        for j, ids in ((2, actor_id), (4, item_id), (5, counterpart_id)):
            _put_ids(block, j, ids)
        self._buffer.add_block(Flat((block if keep is None else block[keep]).ravel().tolist()))
        self.maybe_flush()

    def _kept(self, kind: Any, kinds: Sequence[str], n: int) -> np.ndarray | None:
        """Which rows of a block this run's event detail keeps (None: all of them)."""
        if self.level != "core":
            return None
        if isinstance(kind, str) or np.isscalar(kind):
            name = kind if isinstance(kind, str) else kinds[int(kind)]
            return None if name not in DETAIL_KINDS else np.zeros(n, bool)
        codes = np.asarray(kind)
        if codes.dtype.kind in "iu":
            return np.array([k not in DETAIL_KINDS for k in kinds], dtype=bool)[codes]
        return np.array([k not in DETAIL_KINDS for k in codes.tolist()], dtype=bool)

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
    def _write_events(self, events: EventBuffer) -> None:
        raise NotImplementedError

    def _write_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _write_columns(self, table: str, columns: dict[str, Any]) -> None:
        raise NotImplementedError


def _objects(values: Any) -> Any:
    """A column as Python objects for an object array (a NumPy scalar as its Python value;
    a NaN stays a float, which SQLite stores as NULL)."""
    return values.item() if isinstance(values, np.generic) else values


def _names(values: Any, names: Sequence[str | None]) -> Any:
    """A kind or type column as names: given as names, or as integer codes into ``names``."""
    if values is None or isinstance(values, str):
        return values
    if np.isscalar(values):
        return names[int(values)]
    codes = np.asarray(values)
    if codes.dtype.kind not in "iu":
        return codes
    return np.asarray(names, dtype=object)[codes]


def _put_ids(block: np.ndarray, j: int, values: Any) -> None:
    """Column j of a block as Python ints, negative ids as None (NULL)."""
    if values is None or np.isscalar(values):
        block[:, j] = None if values is None or values < 0 else int(values)
        return
    ids = np.asarray(values)
    block[:, j] = ids
    block[ids < 0, j] = None


def column(values: Any, n: int) -> list:
    """A column as a Python list of length n (scalars broadcast, NumPy types converted)."""
    if values is None or np.isscalar(values):
        v = values.item() if isinstance(values, np.generic) else values
        return [v] * n
    return np.asarray(values).tolist()
