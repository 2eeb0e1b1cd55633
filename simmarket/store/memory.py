"""The in-memory recorder: a run that writes no file.

For experiments (thousands of runs) and notebooks: the per-period tables come back as pandas
DataFrames, the final tables too, and the events — at the event detail the run asked for —
as one DataFrame, all with the columns and types of the SQLite schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from simmarket.core.recorder import EVENT_COLUMNS, EventRow, Recorder, column
from simmarket.store.schema import PERIOD_TABLES, TABLES


class MemoryRecorder(Recorder):
    """Keeps everything a run records in memory."""

    def __init__(self, *, events: str = "none", batch_size: int = 50_000):
        super().__init__(events=events, batch_size=batch_size)
        self._events: list[EventRow] = []
        self._final: dict[str, dict[str, list]] = {}

    def _write_events(self, rows: list[EventRow]) -> None:
        self._events.extend(rows)

    def _write_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Nothing more to do: the base class keeps per-period rows in ``tables``."""

    def _write_columns(self, table: str, columns: dict[str, Any]) -> None:
        n = len(next(iter(columns.values())))
        self._final[table] = {c: column(v, n) for c, v in columns.items()}

    def periods(self) -> dict[str, pd.DataFrame]:
        """Each per-period table as a DataFrame, columns in schema order."""
        return {t: _frame(t, self.tables.get(t, [])) for t in PERIOD_TABLES}

    def finals(self) -> dict[str, pd.DataFrame]:
        """Users, items, firms and the connection curve as they stood at the end."""
        return {t: pd.DataFrame(cols, columns=list(TABLES[t])) for t, cols in self._final.items()}

    def events(self) -> pd.DataFrame:
        self.flush()
        return pd.DataFrame(self._events, columns=list(EVENT_COLUMNS))


def _frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(TABLES[table]))
