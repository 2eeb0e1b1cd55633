"""The value network: a weighted undirected graph over every actor of the marketplace.

Nodes are users (0 .. N-1), the government (N), the platform (N + 1) and firms
(N + 2 + firm id). An edge's weight accumulates the value transmitted between two actors:
consumer-creator and consumer-firm (connection value), consumer-platform (fees), firm-creator
(licence fees) and government-user or government-firm (rewards and penalties).

Value moves on the hot path, so additions are appended to plain lists and folded into a
sparse matrix (duplicates summed) only when a centrality snapshot needs the graph.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class ValueNetwork:
    """Accumulated value between actors, as a growing sparse graph."""

    def __init__(self, n_users: int):
        self.n_users = n_users
        self._edges: list[tuple[int, int, float]] = []
        #: add((a, b, w)): add value w to the edge a - b (one list append on the hot path)
        self.add = self._edges.append
        self._graph = sp.csr_matrix((n_users + 2, n_users + 2))

    def node(self, actor_type: str, actor_id: int) -> int:
        """The node index of an actor."""
        if actor_type == "user":
            return actor_id
        if actor_type == "government":
            return self.n_users
        if actor_type == "platform":
            return self.n_users + 1
        return self.n_users + 2 + actor_id

    def add_many(self, a: np.ndarray, b: np.ndarray | int, w: np.ndarray | float) -> None:
        """Add value to many edges at once (a, b, w broadcast together)."""
        a = np.asarray(a)
        self._edges.extend(zip(a.tolist(), np.broadcast_to(b, a.shape).tolist(),
                               np.broadcast_to(w, a.shape).tolist()))

    def graph(self, n_firms: int) -> sp.csr_matrix:
        """The symmetric weighted adjacency matrix over all nodes so far."""
        n = self.n_users + 2 + n_firms
        g = self._graph
        if g.shape[0] < n:
            g = g.copy()
            g.resize((n, n))
        if self._edges:
            edges = np.array(self._edges, dtype=np.float64)
            a, b, w = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64), edges[:, 2]
            keep = (a != b) & (w > 0)
            a, b, w = a[keep], b[keep], w[keep]
            new = sp.coo_matrix((np.concatenate([w, w]),
                                 (np.concatenate([a, b]), np.concatenate([b, a]))),
                                shape=(n, n)).tocsr()
            g = (g + new).tocsr()
            self._edges.clear()
        g.sum_duplicates()
        self._graph = g
        return g
