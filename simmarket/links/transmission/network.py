"""The value network: a weighted undirected graph over every actor of the marketplace.

Nodes are users (0 .. N-1), the government (N), the platform (N + 1) and firms
(N + 2 + firm id). An edge's weight accumulates the value transmitted between two actors:
consumer-creator and consumer-firm (connection value), consumer-platform (fees), firm-creator
(licence fees) and government-user or government-firm (rewards and penalties).

Every centrality period, :func:`centrality_rows` measures the position of each firm, the
government and the platform (degree, strength, Opsahl's generalised degree and weighted
closeness, raw Freeman form and harmonic, for each alpha; ``simmarket.metrics``).

Value moves on the hot path, so additions are appended to plain lists and folded into a
sparse matrix (duplicates summed) only when a centrality snapshot needs the graph.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from simmarket.metrics import closeness_csgraph, strength_degree_csgraph

if TYPE_CHECKING:
    from simmarket.core.world import World

#: Buffered increments folded into the sparse graph at a time.
FOLD_EVERY = 1_000_000


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

    def maybe_fold(self) -> None:
        """Fold the buffered increments once there are FOLD_EVERY of them (bounded memory)."""
        if len(self._edges) >= FOLD_EVERY:
            self.fold()

    def fold(self) -> None:
        """Merge the buffered increments into the sparse graph, summing repeated edges.

        Memory then follows the number of distinct edges, not the number of connections.
        """
        if not self._edges:
            return
        flat = np.fromiter(chain.from_iterable(self._edges), np.float64,
                           count=3 * len(self._edges))
        self._edges.clear()
        a, b, w = flat[0::3].astype(np.int64), flat[1::3].astype(np.int64), flat[2::3]
        keep = (a != b) & (w > 0)
        a, b, w = a[keep], b[keep], w[keep]
        if len(a) == 0:
            return
        g = self._resized(int(max(a.max(), b.max())) + 1)
        new = sp.coo_matrix((np.concatenate([w, w]),
                             (np.concatenate([a, b]), np.concatenate([b, a]))),
                            shape=g.shape).tocsr()
        self._graph = (g + new).tocsr()

    def _resized(self, n: int) -> sp.csr_matrix:
        g = self._graph
        if g.shape[0] < n:
            g = g.copy()
            g.resize((n, n))
        return g

    def graph(self, n_firms: int) -> sp.csr_matrix:
        """The symmetric weighted adjacency matrix over all nodes so far."""
        self.fold()
        self._graph = self._resized(self.n_users + 2 + n_firms)
        self._graph.sum_duplicates()
        return self._graph


def centrality_rows(net: ValueNetwork, world: World, period: int, t: float,
                    alphas: list[float], government_period: float,
                    platform_period: float) -> tuple[list[dict], int, int]:
    """Centrality of every active firm, the government and the platform in the value
    network, beside the value each has captured (in total and in the period)."""
    firms, counters = world.firms, world.counters
    graph = net.graph(firms.n)
    actors = [("government", 0, counters.government_captured, government_period),
              ("platform", 0, counters.platform_revenue, platform_period)]
    actors += [("firm", f, float(firms.revenue[f]), float(firms.revenue_period[f]))
               for f in firms.active().tolist()]
    sources = np.array([net.node(kind, i) for kind, i, *_ in actors], dtype=np.int64)
    degree, strength = strength_degree_csgraph(graph, sources)
    rows = []
    for alpha in alphas:
        raw, harmonic = closeness_csgraph(graph, sources, alpha)
        gen = np.zeros(len(sources))
        linked = degree > 0
        gen[linked] = degree[linked] ** (1.0 - alpha) * strength[linked] ** alpha
        for k, (kind, i, captured, in_period) in enumerate(actors):
            rows.append({
                "period": period, "t": t, "node": i, "node_type": kind,
                "alpha": alpha, "degree": int(degree[k]), "strength": float(strength[k]),
                "generalized_degree": float(gen[k]), "closeness": float(raw[k]),
                "harmonic_closeness": float(harmonic[k]),
                "captured_value": float(captured), "captured_period": float(in_period),
            })
    nodes = int(np.count_nonzero(np.diff(graph.indptr)))
    return rows, nodes, graph.nnz // 2
