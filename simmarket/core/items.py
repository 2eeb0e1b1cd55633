"""Content items (the data of the model) as a column store indexed by item id.

An item is released by a user (value production) or by a firm re-creating a user's item
(a derivative, value transmission). Its connections ``c_j`` and accumulated connection value
grow as users connect to it (value encounter). Item ids are given in release order, so the
newest items are the highest ids.
"""

from __future__ import annotations

import numpy as np

from simmarket.core.columns import Columns

OWNER_USER, OWNER_FIRM = 0, 1
OWNER_TYPES = ("user", "firm")
#: The platform's actor id (there is one platform), as the counterpart of its fee payments.
PLATFORM = 0


class Items(Columns):
    """Every item released so far."""

    FIELDS = {
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
        "last_affinity": (np.float64, 0.0),
        "units_left": (np.int64, 0),
        "removed": (np.bool_, False),
        "recreated": (np.bool_, False),  # a firm has made a derivative of it
        "snapshot": (np.int64, 0),
        "snapshot_prev": (np.int64, 0),
    }

    def add(self, t: float, owner: int, owner_type: int, topic: int, quality: float,
            production_time: float = 0.0, parent: int = -1, price: float = 0.0,
            units: int = 0, system: int = 0) -> int:
        """Release one item; returns its id."""
        return self.append(t_created=t, owner=owner, owner_type=owner_type, parent=parent,
                           topic=topic, system=system, quality=quality,
                           production_time=production_time, price=price, units_left=units)

    def roll_snapshots(self) -> None:
        """At each period start: remember connection counts at this and the last start."""
        n = self.n
        self.snapshot_prev[:n] = self.snapshot[:n]
        self.snapshot[:n] = self.connections[:n]

    def recent_connections(self, ids: np.ndarray) -> np.ndarray:
        """Connections since the start of the previous period (a window of 1-2 periods)."""
        return self.connections[ids] - self.snapshot_prev[ids]
