"""A compact exact set of integer keys, for pair memberships that grow with connections.

Who has connected to which item, and who belongs to which creator's community, are sets of
pairs that grow with every connection: tens of millions at population scale. A Python set
costs ~65 bytes a key; here keys live in a sorted NumPy array (8 bytes a key) plus a small
Python set of recent keys, merged into the array in bulk.
"""

from __future__ import annotations

import numpy as np

#: Recent keys held in the Python set before a bulk merge into the sorted array.
MERGE_EVERY = 1 << 19


class PairSet:
    """Exact membership of int64 keys (e.g. ``item * n_users + user``)."""

    def __init__(self) -> None:
        self._sorted = np.empty(0, np.int64)
        self._recent: set[int] = set()

    def __contains__(self, key: int) -> bool:
        if key in self._recent:
            return True
        s = self._sorted
        i = int(s.searchsorted(key))
        return i < len(s) and int(s[i]) == key

    def add(self, key: int) -> None:
        """Add a key known not to be present."""
        self._recent.add(key)
        if len(self._recent) >= MERGE_EVERY:
            self._merge()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def _merge(self) -> None:
        new = np.fromiter(self._recent, np.int64, count=len(self._recent))
        new.sort()
        self._sorted = np.insert(self._sorted, self._sorted.searchsorted(new), new)
        self._recent.clear()
