"""Content items (the data of the model), held as growable NumPy arrays indexed by item id.

An item is released by a user (value production) or by a firm re-creating a user's item
(a derivative, value transmission). Its connections ``c_j`` and accumulated connection value
grow as users connect to it (value encounter). Item ids are given in release order, so the
newest items are the highest ids.
"""

from __future__ import annotations

import numpy as np

OWNER_USER, OWNER_FIRM = 0, 1
OWNER_TYPES = ("user", "firm")

_FIELDS: dict[str, tuple[type, object]] = {
    "t_created": (np.float64, 0.0),
    "owner": (np.int64, -1),
    "owner_type": (np.int8, OWNER_USER),
    "parent": (np.int64, -1),
    "topic": (np.int32, 0),
    "system": (np.int32, 0),
    "quality": (np.float64, 0.0),
    "production_time": (np.float64, 0.0),
    "price": (np.float64, 0.0),
    "connections": (np.int64, 0),
    "value": (np.float64, 0.0),
    "last_value": (np.float64, 0.0),
    "units_left": (np.int64, 0),
    "violation": (np.bool_, False),
    "removed": (np.bool_, False),
    "snapshot": (np.int64, 0),
    "snapshot_prev": (np.int64, 0),
}


class Items:
    """Column store of items; arrays double in capacity as items are released."""

    def __init__(self, capacity: int = 1024):
        self.n = 0
        self._cap = capacity
        for name, (dtype, fill) in _FIELDS.items():
            setattr(self, name, np.full(capacity, fill, dtype=dtype))

    def add(self, t: float, owner: int, owner_type: int, topic: int, quality: float,
            production_time: float = 0.0, parent: int = -1, price: float = 0.0,
            units: int = 0, violation: bool = False, system: int = 0) -> int:
        """Release one item; returns its id."""
        if self.n == self._cap:
            self._grow()
        j = self.n
        self.t_created[j] = t
        self.owner[j] = owner
        self.owner_type[j] = owner_type
        self.parent[j] = parent
        self.topic[j] = topic
        self.system[j] = system
        self.quality[j] = quality
        self.production_time[j] = production_time
        self.price[j] = price
        self.units_left[j] = units
        self.violation[j] = violation
        self.n += 1
        return j

    def _grow(self) -> None:
        self._cap *= 2
        for name, (_dtype, fill) in _FIELDS.items():
            old = getattr(self, name)
            new = np.full(self._cap, fill, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def roll_snapshots(self) -> None:
        """At each period start: remember connection counts at this and the last start."""
        n = self.n
        self.snapshot_prev[:n] = self.snapshot[:n]
        self.snapshot[:n] = self.connections[:n]

    def recent_connections(self, ids: np.ndarray) -> np.ndarray:
        """Connections since the start of the previous period (a window of 1-2 periods)."""
        return self.connections[ids] - self.snapshot_prev[ids]

    def view(self, name: str) -> np.ndarray:
        """The live part of one column."""
        return getattr(self, name)[: self.n]
