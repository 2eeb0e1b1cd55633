"""Growable column stores: the world's items and firms as NumPy arrays indexed by id.

Entities that appear during a run (content items, firms) are rows of a column store: one
array per attribute, doubling in capacity as rows are added, so that mechanisms act on whole
columns at once and a compiled kernel can take the arrays as they are.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np


class Columns:
    """Rows of fixed-type attributes; ``FIELDS`` maps each attribute to (dtype, fill)."""

    FIELDS: ClassVar[dict[str, tuple[type, Any]]] = {}

    def __init__(self, capacity: int = 64):
        self.n = 0
        self._cap = max(1, capacity)
        for name, (dtype, fill) in self.FIELDS.items():
            setattr(self, name, np.full(self._cap, fill, dtype=dtype))

    def append(self, **values: Any) -> int:
        """Add one row (attributes not given keep their fill); returns its id."""
        if self.n == self._cap:
            self._grow()
        j = self.n
        for name, value in values.items():
            getattr(self, name)[j] = value
        self.n += 1
        return j

    def _grow(self) -> None:
        self._cap *= 2
        for name, (_dtype, fill) in self.FIELDS.items():
            old = getattr(self, name)
            new = np.full(self._cap, fill, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def view(self, name: str) -> np.ndarray:
        """The live part of one column."""
        return getattr(self, name)[: self.n]

    def __len__(self) -> int:
        return self.n
