"""Network position and inequality metrics of the marketplace.

The transmission network links two agents when value has been transmitted between them; the
tie weight ``w > 0`` is the value transmitted. Position in that network is measured with the
weighted centralities of Opsahl, Agneessens & Skvoretz (2010), "Node centrality in weighted
networks: Generalizing degree and shortest paths", *Social Networks* 32(3), 245-251. Their
tuning parameter ``alpha >= 0`` sets how much tie weight matters relative to the number of
ties:

* ``alpha = 0`` ignores weights (binary degree, hop-count distances);
* ``alpha = 1`` uses weights only (strength; Dijkstra on inverse weights, as in Newman 2001);
* ``0 < alpha < 1`` favours many ties, ``alpha > 1`` favours few strong ties.

An edge of weight ``w`` has *length* ``1 / w**alpha``: a strong tie is a short hop, so value
(and knowledge) travels easily along it. ``d_alpha(i, j)`` is the shortest-path length.

Inequality of outcomes (revenue, value captured) is summarised with the population Gini
coefficient and the Herfindahl-Hirschman index of concentration.

Two implementations of closeness are provided. The networkx functions
(:func:`weighted_closeness`, :func:`harmonic_closeness`, :func:`generalized_degree`) are the
readable reference; the ``*_csgraph`` functions are the fast path the simulator calls every
period on graphs with millions of edges, and are tested against the reference.

Conventions shared by both implementations:

* graphs are undirected and simple; a weight must be finite and ``> 0`` (a missing weight
  attribute counts as 1, the networkx convention). In a sparse matrix a stored zero is "no
  tie" and is dropped;
* closeness is Freeman's (1978) *raw* form ``1 / sum_j d_alpha(i, j)``, not multiplied by
  ``n - 1``;
* on a disconnected graph the sum runs over the nodes reachable from ``i`` (i's component),
  as Opsahl's tnet does for the raw form; an isolated node has closeness 0.0. Harmonic
  closeness is defined on any graph: unreachable nodes contribute 0.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import Any, NamedTuple

import networkx as nx
import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import dijkstra

__all__ = [
    "Closeness",
    "DegreeStrength",
    "closeness_csgraph",
    "generalized_degree",
    "gini",
    "harmonic_closeness",
    "hhi",
    "strength_degree_csgraph",
    "weighted_closeness",
]

#: Default cap on the number of float64 entries of one block of the distance matrix
#: (2**24 entries = 128 MiB). Sources are processed in blocks of ``cap // n`` rows.
MAX_BLOCK_ENTRIES = 2**24


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _check_alpha(alpha: float) -> float:
    """Return ``alpha`` as a float; Opsahl et al.'s tuning parameter must be finite and >= 0."""
    a = float(alpha)
    if not math.isfinite(a) or a < 0.0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    return a


def _check_weights(G: nx.Graph, weight: str) -> None:
    """Raise ``ValueError`` unless every tie weight is finite and > 0 (missing counts as 1)."""
    for u, v, w in G.edges(data=weight, default=1.0):
        if not (isinstance(w, int | float | np.number) and math.isfinite(w) and w > 0):
            raise ValueError(f"edge ({u!r}, {v!r}) has {weight}={w!r}; weights must be > 0")


def _node_list(G: nx.Graph, nodes: Iterable[Hashable] | None) -> list[Hashable]:
    """The nodes to compute: all of ``G`` by default, else ``nodes`` (which must be in G)."""
    if nodes is None:
        return list(G)
    out = list(nodes)
    for n in out:
        if n not in G:
            raise nx.NodeNotFound(f"node {n!r} is not in the graph")
    return out


def _distances(G: nx.Graph, source: Hashable, alpha: float, weight: str) -> dict[Any, float]:
    """Shortest-path lengths ``d_alpha(source, j)`` to every node j reachable from source.

    Edge length is ``1 / w**alpha``; for ``alpha == 0`` every edge has length 1 and plain BFS
    hop counts are used. The source itself is included at distance 0.
    """
    if alpha == 0.0:
        return nx.single_source_shortest_path_length(G, source)

    def length(_u: Any, _v: Any, d: dict) -> float:
        return 1.0 / d.get(weight, 1.0) ** alpha

    return nx.single_source_dijkstra_path_length(G, source, weight=length)


# --------------------------------------------------------------------------------------------
# networkx reference implementations
# --------------------------------------------------------------------------------------------


@nx.utils.not_implemented_for("directed")
@nx.utils.not_implemented_for("multigraph")
def weighted_closeness(
    G: nx.Graph,
    alpha: float,
    weight: str = "weight",
    nodes: Iterable[Hashable] | None = None,
) -> dict[Hashable, float]:
    """Opsahl et al. (2010) weighted closeness in Freeman's raw form.

    ``C_alpha(i) = 1 / sum_j d_alpha(i, j)`` where ``d_alpha`` is the shortest-path length
    with edge length ``1 / w**alpha`` (Opsahl, Agneessens & Skvoretz 2010, eq. 6; Freeman
    1978). In the marketplace a high value means the agent reaches the rest of the
    transmission network through short, i.e. strong, chains of value transmission.

    The value is *not* normalised by ``n - 1``: on a connected graph
    ``nx.closeness_centrality(G, distance=<1/w**alpha>)`` equals ``(n - 1)`` times this.
    Weights are *not* divided by their mean (Opsahl's tnet rescales by the mean weight, which
    multiplies every distance by a constant and so changes the level of closeness but not the
    ranking); distances here are in units of ``1 / w**alpha`` of the raw weights.

    Disconnected graphs: the sum runs over the nodes reachable from ``i`` (its component), as
    tnet does for the raw form, so ``i`` is compared with its own component only; an
    isolated node gets 0.0. Use :func:`harmonic_closeness` when comparing across components.

    Args:
        G: undirected simple graph; weights finite and > 0 (missing weight counts as 1).
        alpha: Opsahl's tuning parameter, >= 0 (0 = hop counts, 1 = inverse weights).
        weight: edge attribute holding the tie weight.
        nodes: nodes to compute (default: all).

    Returns:
        ``{node: raw closeness}``.
    """
    a = _check_alpha(alpha)
    _check_weights(G, weight)
    out: dict[Hashable, float] = {}
    for i in _node_list(G, nodes):
        total = sum(_distances(G, i, a, weight).values())
        out[i] = 1.0 / total if total > 0 else 0.0
    return out


@nx.utils.not_implemented_for("directed")
@nx.utils.not_implemented_for("multigraph")
def harmonic_closeness(
    G: nx.Graph,
    alpha: float,
    weight: str = "weight",
    nodes: Iterable[Hashable] | None = None,
) -> dict[Hashable, float]:
    """Harmonic closeness ``H_alpha(i) = sum_{j != i} 1 / d_alpha(i, j)``.

    The harmonic variant of closeness (Marchiori & Latora 2000, "Harmony in the small-world",
    *Physica A* 285; Boldi & Vigna 2014, "Axioms for centrality", *Internet Mathematics*
    10) with Opsahl et al.'s (2010) edge length ``1 / w**alpha``. Unreachable nodes have
    ``d = inf`` and contribute 0, so the measure is well defined and comparable across the
    components of a fragmented marketplace. Not normalised by ``n - 1``; it equals
    ``nx.harmonic_centrality(G, distance=<1/w**alpha>)``.

    Args and conventions as in :func:`weighted_closeness`.

    Returns:
        ``{node: harmonic closeness}`` (0.0 for an isolated node).
    """
    a = _check_alpha(alpha)
    _check_weights(G, weight)
    out: dict[Hashable, float] = {}
    for i in _node_list(G, nodes):
        dist = _distances(G, i, a, weight)
        out[i] = float(sum(1.0 / d for j, d in dist.items() if j != i))
    return out


@nx.utils.not_implemented_for("directed")
@nx.utils.not_implemented_for("multigraph")
def generalized_degree(
    G: nx.Graph,
    alpha: float,
    weight: str = "weight",
    nodes: Iterable[Hashable] | None = None,
) -> dict[Hashable, float]:
    """Opsahl et al. (2010) generalised degree ``k_i**(1 - alpha) * s_i**alpha``.

    ``k_i`` is the number of trading partners (degree) and ``s_i`` the total value
    transmitted with them (strength, Barrat et al. 2004). ``alpha = 0`` gives the degree,
    ``alpha = 1`` the strength, ``alpha = 0.5`` their geometric mean ``sqrt(k s)`` (Opsahl et
    al. 2010, eq. 3). An isolated node gets 0.0.

    Self-loops (an agent transmitting value to itself) are rejected: networkx would count
    them twice in both ``k`` and ``s``, which has no meaning in the model.

    Args and weight conventions as in :func:`weighted_closeness`.

    Returns:
        ``{node: generalised degree}``.
    """
    a = _check_alpha(alpha)
    _check_weights(G, weight)
    if nx.number_of_selfloops(G):
        raise ValueError("generalized_degree: the graph has self-loops")
    out: dict[Hashable, float] = {}
    for i in _node_list(G, nodes):
        k = G.degree(i)
        s = G.degree(i, weight=weight)
        out[i] = float(k) ** (1.0 - a) * float(s) ** a if k > 0 else 0.0
    return out


# --------------------------------------------------------------------------------------------
# fast path: scipy.sparse.csgraph
# --------------------------------------------------------------------------------------------


class Closeness(NamedTuple):
    """Raw (Freeman/Opsahl) and harmonic closeness of the requested sources."""

    raw: NDArray[np.float64]
    harmonic: NDArray[np.float64]


class DegreeStrength(NamedTuple):
    """Degree (number of partners) and strength (total value transmitted) of the sources."""

    degree: NDArray[np.int64]
    strength: NDArray[np.float64]


def _weight_csr(csr: Any) -> sp.csr_array:
    """Validate a symmetric weight matrix and return it as a canonical float64 CSR array.

    Stored zeros are dropped (a zero weight is no tie); duplicates are summed. The input is
    never modified. Symmetry is the caller's responsibility (not checked: it costs a
    transpose per call on the hot path).
    """
    m = sp.csr_array(csr, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"weight matrix must be square, got shape {m.shape}")
    if not m.has_canonical_format or not np.all(m.data > 0):
        m = m.copy()  # the arrays may be shared with the caller's matrix
        m.sum_duplicates()
        m.eliminate_zeros()
    if not np.all(np.isfinite(m.data)) or not np.all(m.data > 0):
        raise ValueError("weight matrix entries must be finite and >= 0 (0 = no tie)")
    return m


def _sources(sources: ArrayLike | None, n: int) -> NDArray[np.intp]:
    """Validate source indices (default: every node 0..n-1)."""
    if sources is None:
        return np.arange(n, dtype=np.intp)
    s = np.asarray(sources)
    if s.size == 0:
        return np.empty(0, dtype=np.intp)
    if s.ndim != 1 or not np.issubdtype(s.dtype, np.integer):
        raise ValueError("sources must be a 1-D array of integer node indices")
    if s.min() < 0 or s.max() >= n:
        raise IndexError(f"source indices must lie in [0, {n - 1}]")
    return s.astype(np.intp, copy=False)


def closeness_csgraph(
    csr: Any,
    sources: ArrayLike | None,
    alpha: float,
    *,
    max_block_entries: int = MAX_BLOCK_ENTRIES,
    upper: bool = False,
) -> Closeness:
    """Raw and harmonic weighted closeness of ``sources``, computed with scipy's Dijkstra.

    Same model and conventions as :func:`weighted_closeness` (raw, component-only, 0.0 for
    an isolated node) and :func:`harmonic_closeness` (unreachable contribute 0), for the
    nodes ``0..n-1`` of a sparse weight matrix. This is the per-period fast path; the
    networkx functions are its reference.

    Args:
        csr: ``n x n`` symmetric sparse matrix (``scipy.sparse`` CSR, or anything
            ``csr_array`` accepts) of tie weights, i.e. value transmitted, ``w > 0``; a
            stored 0 means no tie. The diagonal is ignored.
        sources: integer node indices to compute (duplicates allowed); ``None`` = all.
        alpha: Opsahl's tuning parameter, >= 0. Lengths are ``1 / w**alpha``; for
            ``alpha == 0`` an unweighted (hop-count) search is used.
        max_block_entries: memory cap: sources are processed in blocks whose distance
            matrix has at most this many entries (at least one source per block).
        upper: ``csr`` holds each tie once, in its upper triangle (half the memory of the
            symmetric matrix: the value network at a million users); the search then goes
            both ways along every stored entry.

    Returns:
        ``Closeness(raw, harmonic)``, two float64 arrays aligned with ``sources``.
    """
    a = _check_alpha(alpha)
    m = _weight_csr(csr)
    n = m.shape[0]
    src = _sources(sources, n)
    raw = np.zeros(src.size, dtype=np.float64)
    harmonic = np.zeros(src.size, dtype=np.float64)
    if src.size == 0:
        return Closeness(raw, harmonic)

    if a == 0.0:
        graph, unweighted = m, True
    else:
        lengths = np.reciprocal(m.data) if a == 1.0 else np.power(m.data, -a)  # one array
        graph = sp.csr_array((lengths, m.indices, m.indptr), shape=m.shape)
        unweighted = False

    block = max(1, int(max_block_entries) // max(n, 1))
    for start in range(0, src.size, block):
        idx = src[start : start + block]
        dist = dijkstra(graph, directed=not upper, indices=idx, unweighted=unweighted)
        dist = np.atleast_2d(dist)
        reachable = np.isfinite(dist)
        total = np.where(reachable, dist, 0.0).sum(axis=1)
        with np.errstate(divide="ignore"):
            inv = 1.0 / dist  # inf -> 0 (unreachable); self (d = 0) -> inf, zeroed below
        inv[np.arange(idx.size), idx] = 0.0
        sl = slice(start, start + idx.size)
        np.divide(1.0, total, out=raw[sl], where=total > 0)  # isolated: stays 0.0
        harmonic[sl] = inv.sum(axis=1)
    return Closeness(raw, harmonic)


def strength_degree_csgraph(csr: Any, sources: ArrayLike | None, *,
                            upper: bool = False) -> DegreeStrength:
    """Degree ``k_i`` and strength ``s_i`` of ``sources`` from a symmetric weight matrix.

    ``k_i`` counts the agent's partners (stored non-zero entries of row i) and ``s_i`` sums
    the value transmitted with them (row sum). Combine them into Opsahl et al.'s (2010)
    generalised degree as ``k**(1 - alpha) * s**alpha`` (0 where ``k == 0``); they match
    networkx's ``G.degree()`` and ``G.degree(weight=...)`` for a simple graph.

    Args:
        csr: as in :func:`closeness_csgraph`; a non-zero diagonal (self-loop) is an error.
        sources: integer node indices (duplicates allowed); ``None`` = all.
        upper: ``csr`` holds each tie once, in its upper triangle: a node's partners are
            then those of its row and of its column.

    Returns:
        ``DegreeStrength(degree, strength)``: int64 and float64 arrays aligned with sources.
    """
    m = _weight_csr(csr)
    src = _sources(sources, m.shape[0])
    if np.any(m.diagonal() != 0):
        raise ValueError("strength_degree_csgraph: the weight matrix has self-loops")
    degree = np.diff(m.indptr).astype(np.int64)[src]
    strength = np.asarray(m[src].sum(axis=1), dtype=np.float64).ravel()
    if upper:
        n = m.shape[0]
        degree += np.bincount(m.indices, minlength=n)[src]
        strength += np.bincount(m.indices, weights=m.data, minlength=n)[src]
    return DegreeStrength(degree, strength)


# --------------------------------------------------------------------------------------------
# inequality and concentration
# --------------------------------------------------------------------------------------------


def _nonneg_1d(x: ArrayLike, name: str) -> NDArray[np.float64]:
    """Flatten ``x`` to a float64 vector and check it is finite and non-negative."""
    v = np.asarray(x, dtype=np.float64).ravel()
    if v.size and (not np.all(np.isfinite(v)) or v.min() < 0):
        raise ValueError(f"{name}: values must be finite and non-negative")
    return v


def gini(x: ArrayLike) -> float:
    """Population Gini coefficient of non-negative amounts (zeros included).

    ``G = sum_i sum_j |x_i - x_j| / (2 n**2 mean(x))`` (Gini 1912), computed in
    ``O(n log n)`` from the sorted values ``x_(1) <= ... <= x_(n)`` as
    ``G = sum_i (2 i - n - 1) x_(i) / (n sum x)``. Agents with zero revenue are part of the
    population and must be included. ``G = 0`` for perfect equality and ``(n - 1) / n`` when
    one agent has everything. Returns 0.0 for an empty or all-zero input.
    """
    v = _nonneg_1d(x, "gini")
    n = v.size
    total = v.sum()
    if n == 0 or total == 0:
        return 0.0
    v.sort()
    coef = 2.0 * np.arange(1, n + 1, dtype=np.float64) - n - 1.0
    return float(np.dot(coef, v) / (n * total))


def hhi(x: ArrayLike) -> float:
    """Herfindahl-Hirschman index with shares in percent (range 0 to 10,000).

    ``HHI = sum_i (100 * x_i / sum x)**2`` (Herfindahl 1950; Hirschman 1945), the scale used
    by the US DOJ/FTC Merger Guidelines: 10,000 is a monopoly, ``10,000 / n`` an equal split
    among n sellers. ``x`` holds raw amounts (revenue or quantity per seller), normalised to
    shares here, so the index is scale-invariant. Returns 0.0 for an empty or all-zero input.
    """
    v = _nonneg_1d(x, "hhi")
    total = v.sum()
    if v.size == 0 or total == 0:
        return 0.0
    shares = v / total
    return float(10_000.0 * np.dot(shares, shares))
