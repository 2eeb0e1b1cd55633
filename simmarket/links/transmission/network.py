"""The value network: a weighted undirected graph over every actor of the marketplace.

Nodes are users (0 .. N-1), the government (N), the platform (N + 1) and firms
(N + 2 + firm id). An edge's weight accumulates the value transmitted between two actors:
consumer-creator and consumer-firm (connection value), consumer-platform (fees), firm-creator
(licence fees) and government-user or government-firm (rewards and penalties).

Each edge also counts the *interactions* between its two actors (one per connection,
payment, licence, reward or fine). Every centrality period, :func:`centrality_rows` measures
the position of each firm, the government and the platform — degree, strength, Opsahl's
generalised degree and weighted closeness (raw Freeman form and harmonic), for each alpha
(``simmarket.metrics``) — on the network of interactions, whose weights are counts, not the
value a firm captures: so that closeness now can *predict* the value captured next period
(Proposition 4, MODEL.md §9.2) instead of restating it. The same measures on the
value-weighted network are kept as secondary columns.

Value moves on the hot path, so additions are appended to plain lists (or handed over as
blocks) and folded into the ties, a million at a time and when a centrality snapshot needs
the graph. Each tie is stored once, its two nodes the smaller first, with its value and its
count side by side; the snapshot reads it as the upper triangle of the adjacency matrix.
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
#: A tie's key is ``lo << _SHIFT | hi``: its two node indices, the smaller first.
_SHIFT = 32
_LOW = (1 << _SHIFT) - 1


class ValueNetwork:
    """Accumulated value between actors: the ties of a growing undirected graph."""

    def __init__(self, n_users: int):
        self.n_users = n_users
        self._edges: list[tuple[int, int, float]] = []
        #: increments handed over as (k, 3) arrays (the compiled sessions), in order with
        #: the tuples: a block is added after the tuples before it are made a block too
        self._blocks: list[np.ndarray] = []
        self._pending = 0
        #: add((a, b, w)): add value w to the edge a - b (one list append on the hot path)
        self.add = self._edges.append
        #: one entry per tie, each stored once: ``lo << 32 | hi`` (lo < hi), sorted, beside
        #: the value moved along it and how many interactions it has carried
        self._keys = np.empty(0, np.int64)
        self._value = np.empty(0, np.float64)
        self._count = np.empty(0, np.int32)

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

    def add_block(self, edges: np.ndarray) -> None:
        """Add value along many edges, given as rows (a, b, w) in the order they happened."""
        self._seal()
        self._blocks.append(edges.copy())
        self._pending += len(edges)

    def _seal(self) -> None:
        """The buffered tuples as one block (keeps the order of all increments)."""
        if self._edges:
            flat = np.fromiter(chain.from_iterable(self._edges), np.float64,
                               count=3 * len(self._edges))
            self._blocks.append(flat.reshape(-1, 3))
            self._pending += len(self._edges)
            self._edges.clear()

    def maybe_fold(self) -> None:
        """Fold the buffered increments in whole multiples of FOLD_EVERY (bounded memory).

        The multiples, not the moment of the check, decide which increments are summed
        together, so the graph's sums come out the same however the increments arrived
        (one by one, or in blocks from the compiled sessions)."""
        pending = len(self._edges) + self._pending
        if pending >= FOLD_EVERY:
            self.fold(pending - pending % FOLD_EVERY)

    def fold(self, count: int | None = None) -> None:
        """Merge the buffered increments (all, or the first `count`) into the ties,
        summing repeated edges. Memory then follows the number of distinct edges, not the
        number of connections.
        """
        self._seal()
        if not self._blocks:
            return
        flat = np.concatenate(self._blocks)
        self._blocks.clear()
        self._pending = 0
        if count is not None and count < len(flat):
            self._blocks.append(flat[count:])
            self._pending = len(flat) - count
            flat = flat[:count]
        a, b, w = flat[:, 0].astype(np.int64), flat[:, 1].astype(np.int64), flat[:, 2]
        keep = (a != b) & (w > 0)
        if keep.any():
            a, b, w = a[keep], b[keep], w[keep]
            self._merge(np.minimum(a, b) << _SHIFT | np.maximum(a, b), w)

    def _merge(self, keys: np.ndarray, w: np.ndarray) -> None:
        """Add increments (tie keys and values, in the order they happened) to the ties:
        each tie's increments are summed in that order, then added to what it held."""
        new, where = np.unique(keys, return_inverse=True)
        value, count = np.bincount(where, weights=w), np.bincount(where).astype(np.int32)
        at = np.searchsorted(self._keys, new)
        held = at < len(self._keys)
        held[held] = self._keys[at[held]] == new[held]
        self._value[at[held]] += value[held]
        self._count[at[held]] += count[held]
        fresh, at = ~held, at[~held]
        self._keys = np.insert(self._keys, at, new[fresh])
        self._value = np.insert(self._value, at, value[fresh])
        self._count = np.insert(self._count, at, count[fresh])

    def graph(self, n_firms: int, weight: str = "value") -> sp.csr_array:
        """The adjacency matrix over all nodes so far, each tie stored once in its upper
        triangle (row < column), weighted by the value moved between two actors
        (``"value"``) or by how often they interacted (``"interactions"``). The metrics take
        it with ``upper=True``; ``weight(a, b)`` reads one tie."""
        self.fold()
        n = self.n_users + 2 + n_firms
        indptr = np.searchsorted(self._keys, np.arange(n + 1, dtype=np.int64) << _SHIFT)
        cols = self._larger_ends().astype(np.int32)
        data = self._weights(weight).astype(np.float64, copy=False)
        return sp.csr_array((data, cols, indptr), shape=(n, n))

    def weight(self, a: int, b: int, weight: str = "value") -> float:
        """The value moved (or the interactions) between actors' nodes a and b so far."""
        self.fold()
        key = min(a, b) << _SHIFT | max(a, b)
        at = int(np.searchsorted(self._keys, key))
        if at == len(self._keys) or self._keys[at] != key:
            return 0.0
        return float(self._weights(weight)[at])

    @property
    def ties(self) -> int:
        """Distinct ties (pairs of actors that have exchanged value) so far."""
        self.fold()
        return len(self._keys)

    def actors(self) -> int:
        """Actors with at least one tie so far."""
        self.fold()
        if not len(self._keys):
            return 0
        larger = self._larger_ends()
        seen = np.zeros(int(larger.max()) + 1, bool)
        seen[self._keys >> _SHIFT] = True
        seen[larger] = True
        return int(np.count_nonzero(seen))

    def _larger_ends(self) -> np.ndarray:
        """Each tie's larger node (its column in the upper triangle)."""
        return self._keys & _LOW

    def _weights(self, weight: str) -> np.ndarray:
        """Per tie: the value moved (``"value"``) or the interactions (``"interactions"``)."""
        return self._value if weight == "value" else self._count


def centrality_rows(net: ValueNetwork, world: World, period: int, t: float,
                    alphas: list[float], government_period: float,
                    platform_period: float) -> tuple[list[dict], int, int]:
    """Centrality of every active firm, the government and the platform — on the network of
    interactions, and on the value-weighted network as secondary columns — beside the value
    each has captured (in total and in the period)."""
    firms, counters = world.firms, world.counters
    actors = [("government", 0, counters.government_captured, government_period),
              ("platform", 0, counters.platform_revenue, platform_period)]
    actors += [("firm", f, float(firms.revenue[f]), float(firms.revenue_period[f]))
               for f in firms.active().tolist()]
    sources = np.array([net.node(kind, i) for kind, i, *_ in actors], dtype=np.int64)
    # one graph at a time: at a million users each is hundreds of MB
    degree, strength, closeness = _measures(net.graph(firms.n, "interactions"), sources, alphas)
    _, strength_value, closeness_value = _measures(net.graph(firms.n, "value"), sources, alphas)
    rows = []
    for alpha in alphas:
        (raw, harmonic), (raw_v, harmonic_v) = closeness[alpha], closeness_value[alpha]
        gen = np.zeros(len(sources))
        linked = degree > 0
        gen[linked] = degree[linked] ** (1.0 - alpha) * strength[linked] ** alpha
        for k, (kind, i, captured, in_period) in enumerate(actors):
            rows.append({
                "period": period, "t": t, "node": i, "node_type": kind,
                "alpha": alpha, "degree": int(degree[k]), "strength": float(strength[k]),
                "generalized_degree": float(gen[k]), "closeness": float(raw[k]),
                "harmonic_closeness": float(harmonic[k]),
                "strength_value": float(strength_value[k]),
                "closeness_value": float(raw_v[k]),
                "harmonic_closeness_value": float(harmonic_v[k]),
                "captured_value": float(captured), "captured_period": float(in_period),
            })
    return rows, net.actors(), net.ties


def _measures(graph: sp.csr_array, sources: np.ndarray,
              alphas: list[float]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Degree, strength and (raw, harmonic) closeness for each alpha, of sources in a graph
    stored as its upper triangle."""
    degree, strength = strength_degree_csgraph(graph, sources, upper=True)
    closeness = {alpha: closeness_csgraph(graph, sources, alpha, upper=True) for alpha in alphas}
    return degree, strength, closeness
