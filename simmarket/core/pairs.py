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


class Holdings:
    """How many of a pair's represented instances are held, e.g. use rights of an item class.

    An agent stands for ``w`` people and an agent item for ``w`` items of its kind (MODEL.md
    §9.1). A pair's count k says that the first k people of the agent's class hold one (or
    are members); person ``p`` of the class holds one iff ``p < k``. Counts above one are
    rare and kept in a dict; with w = 1 a count is 0 or 1 and this is an exact set.
    """

    def __init__(self) -> None:
        self._once = PairSet()
        self._more: dict[int, int] = {}

    def count(self, key: int) -> int:
        if key not in self._once:
            return 0
        return self._more.get(key, 1)

    def add(self, key: int) -> None:
        """One more held."""
        if key not in self._once:
            self._once.add(key)
        else:
            self._more[key] = self._more.get(key, 1) + 1
