"""Tests of simmarket.metrics: hand-computed values, networkx agreement, fast-path agreement."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from simmarket.metrics import (
    closeness_csgraph,
    generalized_degree,
    gini,
    harmonic_closeness,
    hhi,
    strength_degree_csgraph,
    weighted_closeness,
)

ALPHAS = [0.0, 0.5, 1.0, 1.5]
REL = 1e-12


# --------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------


def _weighted(G: nx.Graph, seed: int) -> nx.Graph:
    """Give every edge a random weight; some integer weights so that equal-length paths tie."""
    rng = np.random.default_rng(seed)
    for k, (u, v) in enumerate(G.edges()):
        G[u][v]["weight"] = float(rng.integers(1, 5)) if k % 3 == 0 else rng.lognormal(0, 1)
    return G


def _with_length(G: nx.Graph, alpha: float) -> nx.Graph:
    """Copy of G with the Opsahl edge length 1 / w**alpha stored in attribute 'len'."""
    H = G.copy()
    for u, v, w in H.edges(data="weight"):
        H[u][v]["len"] = 1.0 / w**alpha
    return H


def connected_graphs() -> list[nx.Graph]:
    return [
        _weighted(nx.connected_watts_strogatz_graph(40, 4, 0.3, seed=1), 11),
        _weighted(nx.barabasi_albert_graph(50, 2, seed=2), 12),
        _weighted(nx.random_labeled_tree(30, seed=3), 13),
    ]


def disconnected_graphs() -> list[nx.Graph]:
    g1 = nx.gnm_random_graph(60, 45, seed=4)  # many components and isolates
    g2 = nx.disjoint_union(nx.cycle_graph(7), nx.path_graph(5))
    g2.add_nodes_from([12, 13])  # two isolated nodes
    return [_weighted(g1, 14), _weighted(g2, 15)]


def _csr(G: nx.Graph) -> sp.csr_array:
    return nx.to_scipy_sparse_array(G, nodelist=range(G.number_of_nodes()), format="csr")


def path_abc() -> nx.Graph:
    G = nx.Graph()
    G.add_edge("a", "b", weight=1.0)
    G.add_edge("b", "c", weight=4.0)
    return G


def triangle_xyz() -> nx.Graph:
    G = nx.Graph()
    G.add_edge("x", "y", weight=1.0)
    G.add_edge("y", "z", weight=4.0)
    G.add_edge("x", "z", weight=4.0)
    return G


def assert_dict_close(got: dict, expected: dict, rel: float = REL) -> None:
    assert got.keys() == expected.keys()
    for k in expected:
        assert got[k] == pytest.approx(expected[k], rel=rel, abs=1e-300), k


# --------------------------------------------------------------------------------------------
# weighted_closeness against networkx
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("gi", range(3))
def test_raw_times_n_minus_1_equals_networkx_on_connected(gi: int, alpha: float) -> None:
    G = connected_graphs()[gi]
    assert nx.is_connected(G)
    n = G.number_of_nodes()
    raw = weighted_closeness(G, alpha)
    ref = nx.closeness_centrality(_with_length(G, alpha), distance="len")
    assert_dict_close({k: (n - 1) * v for k, v in raw.items()}, ref)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("gi", range(2))
def test_disconnected_is_component_only(gi: int, alpha: float) -> None:
    # networkx with wf_improved=False normalises by (component size - 1) instead of (n - 1),
    # so raw x (|component| - 1) must equal it; isolated nodes are 0 in both.
    G = disconnected_graphs()[gi]
    assert not nx.is_connected(G)
    comp_size = {v: len(c) for c in nx.connected_components(G) for v in c}
    raw = weighted_closeness(G, alpha)
    ref = nx.closeness_centrality(_with_length(G, alpha), distance="len", wf_improved=False)
    assert_dict_close({k: (comp_size[k] - 1) * v for k, v in raw.items()}, ref)
    assert all(raw[v] == 0.0 for v in nx.isolates(G))


@pytest.mark.parametrize("alpha", ALPHAS)
def test_harmonic_equals_networkx(alpha: float) -> None:
    for G in connected_graphs() + disconnected_graphs():
        got = harmonic_closeness(G, alpha)
        ref = nx.harmonic_centrality(_with_length(G, alpha), distance="len")
        assert_dict_close(got, ref)


# --------------------------------------------------------------------------------------------
# hand-computed values
# --------------------------------------------------------------------------------------------

# Path a -1- b -4- c. Lengths: l(ab) = 1/1**alpha = 1, l(bc) = 1/4**alpha =: l.
#   sum of distances: a: 1 + (1 + l) = 2 + l;  b: 1 + l;  c: l + (1 + l) = 1 + 2l.
#   alpha 0:   l = 1     -> a 1/3,     b 1/2,     c 1/3
#   alpha 0.5: l = 1/2   -> a 1/2.5,   b 1/1.5,   c 1/2
#   alpha 1:   l = 1/4   -> a 1/2.25,  b 1/1.25,  c 1/1.5
#   alpha 1.5: l = 1/8   -> a 1/2.125, b 1/1.125, c 1/1.25
PATH_RAW = {
    0.0: {"a": 1 / 3, "b": 1 / 2, "c": 1 / 3},
    0.5: {"a": 0.4, "b": 2 / 3, "c": 0.5},
    1.0: {"a": 4 / 9, "b": 0.8, "c": 2 / 3},
    1.5: {"a": 8 / 17, "b": 8 / 9, "c": 0.8},
}
# Harmonic on the path: a: 1/1 + 1/(1+l); b: 1/1 + 1/l; c: 1/l + 1/(1+l).
#   alpha 0: a 1.5, b 2, c 1.5;  alpha 0.5: a 1 + 2/3, b 3, c 2 + 2/3
#   alpha 1: a 1.8, b 5, c 4.8;  alpha 1.5: a 1 + 8/9, b 9, c 8 + 8/9
PATH_HARMONIC = {
    0.0: {"a": 1.5, "b": 2.0, "c": 1.5},
    0.5: {"a": 5 / 3, "b": 3.0, "c": 8 / 3},
    1.0: {"a": 1.8, "b": 5.0, "c": 4.8},
    1.5: {"a": 17 / 9, "b": 9.0, "c": 80 / 9},
}

# Triangle x -1- y, y -4- z, x -4- z. Lengths: l(xy) = 1, l(yz) = l(xz) = 4**-alpha =: l.
#   d(x,y) = min(1, 2l), d(x,z) = d(y,z) = l.  (For alpha > 0.5 the detour via z is shorter.)
#   alpha 0:   l = 1,   d(x,y) = 1    -> sums x 2, y 2, z 2          -> 1/2, 1/2, 1/2
#   alpha 0.5: l = 1/2, d(x,y) = 1    -> sums x 1.5, y 1.5, z 1      -> 2/3, 2/3, 1
#   alpha 1:   l = 1/4, d(x,y) = 1/2  -> sums x .75, y .75, z .5     -> 4/3, 4/3, 2
#   alpha 1.5: l = 1/8, d(x,y) = 1/4  -> sums x .375, y .375, z .25  -> 8/3, 8/3, 4
TRIANGLE_RAW = {
    0.0: {"x": 0.5, "y": 0.5, "z": 0.5},
    0.5: {"x": 2 / 3, "y": 2 / 3, "z": 1.0},
    1.0: {"x": 4 / 3, "y": 4 / 3, "z": 2.0},
    1.5: {"x": 8 / 3, "y": 8 / 3, "z": 4.0},
}


@pytest.mark.parametrize("alpha", ALPHAS)
def test_hand_values_path(alpha: float) -> None:
    G = path_abc()
    assert_dict_close(weighted_closeness(G, alpha), PATH_RAW[alpha])
    assert_dict_close(harmonic_closeness(G, alpha), PATH_HARMONIC[alpha])


@pytest.mark.parametrize("alpha", ALPHAS)
def test_hand_values_triangle(alpha: float) -> None:
    assert_dict_close(weighted_closeness(triangle_xyz(), alpha), TRIANGLE_RAW[alpha])


def test_nodes_subset_and_unknown_node() -> None:
    G = path_abc()
    assert_dict_close(weighted_closeness(G, 1.0, nodes=["c"]), {"c": 2 / 3})
    assert_dict_close(harmonic_closeness(G, 1.0, nodes=iter(["b"])), {"b": 5.0})
    with pytest.raises(nx.NodeNotFound):
        weighted_closeness(G, 1.0, nodes=["zz"])


def test_custom_weight_attribute_and_missing_weight_counts_as_one() -> None:
    G = nx.Graph()
    G.add_edge("a", "b", value=1.0)
    G.add_edge("b", "c", value=4.0)
    assert_dict_close(weighted_closeness(G, 1.5, weight="value"), PATH_RAW[1.5])
    # with weight="weight" missing, every weight is 1: the alpha = 0 (hop count) answer
    assert_dict_close(weighted_closeness(G, 1.5), PATH_RAW[0.0])


# Path a -1- b -4- c, plus d -2- e, plus isolated f.
#   a, b, c as in PATH_RAW (their component only); d, e: one edge of length 1/2**alpha, so
#   raw = 2**alpha and harmonic = 2**alpha; f isolated: 0 and 0.
@pytest.mark.parametrize("alpha", ALPHAS)
def test_disconnected_convention_by_hand(alpha: float) -> None:
    G = path_abc()
    G.add_edge("d", "e", weight=2.0)
    G.add_node("f")
    raw = weighted_closeness(G, alpha)
    har = harmonic_closeness(G, alpha)
    assert_dict_close(raw, {**PATH_RAW[alpha], "d": 2**alpha, "e": 2**alpha, "f": 0.0})
    assert_dict_close(har, {**PATH_HARMONIC[alpha], "d": 2**alpha, "e": 2**alpha, "f": 0.0})


def test_single_isolated_node_and_empty_graph() -> None:
    G = nx.Graph()
    assert weighted_closeness(G, 1.0) == {}
    G.add_node(0)
    assert weighted_closeness(G, 1.0) == {0: 0.0}
    assert harmonic_closeness(G, 0.0) == {0: 0.0}
    assert generalized_degree(G, 0.5) == {0: 0.0}


def test_invalid_inputs_raise() -> None:
    G = path_abc()
    with pytest.raises(ValueError):
        weighted_closeness(G, -0.5)
    with pytest.raises(ValueError):
        weighted_closeness(G, math.nan)
    G.add_edge("c", "d", weight=0.0)
    with pytest.raises(ValueError):
        harmonic_closeness(G, 1.0)
    G["c"]["d"]["weight"] = -1.0
    with pytest.raises(ValueError):
        generalized_degree(G, 1.0)
    with pytest.raises(nx.NetworkXNotImplemented):
        weighted_closeness(nx.DiGraph([(0, 1)]), 1.0)
    with pytest.raises(nx.NetworkXNotImplemented):
        weighted_closeness(nx.MultiGraph([(0, 1)]), 1.0)


# --------------------------------------------------------------------------------------------
# generalized degree
# --------------------------------------------------------------------------------------------


def test_generalized_degree_hand_values() -> None:
    # path a -1- b -4- c:  a: k 1, s 1;  b: k 2, s 5;  c: k 1, s 4.
    G = path_abc()
    assert_dict_close(generalized_degree(G, 0.0), {"a": 1.0, "b": 2.0, "c": 1.0})  # degree
    assert_dict_close(generalized_degree(G, 1.0), {"a": 1.0, "b": 5.0, "c": 4.0})  # strength
    # alpha 0.5: sqrt(k s): a 1, b sqrt(10), c sqrt(4) = 2
    assert_dict_close(generalized_degree(G, 0.5), {"a": 1.0, "b": math.sqrt(10), "c": 2.0})
    # alpha 1.5: k**-0.5 s**1.5: a 1, b 5**1.5 / sqrt(2) = 7.9057, c 4**1.5 = 8
    assert_dict_close(generalized_degree(G, 1.5), {"a": 1.0, "b": 5**1.5 / math.sqrt(2), "c": 8.0})
    G.add_node("iso")
    assert generalized_degree(G, 1.5)["iso"] == 0.0


def test_generalized_degree_rejects_self_loops() -> None:
    G = path_abc()
    G.add_edge("a", "a", weight=1.0)
    with pytest.raises(ValueError):
        generalized_degree(G, 0.5)


# --------------------------------------------------------------------------------------------
# csgraph fast path against the networkx reference
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
def test_closeness_csgraph_matches_reference_all_nodes(alpha: float) -> None:
    for G in connected_graphs()[:1] + disconnected_graphs():
        G = nx.convert_node_labels_to_integers(G)
        n = G.number_of_nodes()
        raw, har = closeness_csgraph(_csr(G), np.arange(n), alpha)
        ref_raw = weighted_closeness(G, alpha)
        ref_har = harmonic_closeness(G, alpha)
        np.testing.assert_allclose(raw, [ref_raw[i] for i in range(n)], rtol=REL, atol=0)
        np.testing.assert_allclose(har, [ref_har[i] for i in range(n)], rtol=REL, atol=0)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_closeness_csgraph_sources_subset_duplicates_and_blocks(alpha: float) -> None:
    G = nx.convert_node_labels_to_integers(disconnected_graphs()[0])
    n = G.number_of_nodes()
    isolates = list(nx.isolates(G))
    assert isolates  # the subset below must exercise an isolated node
    rng = np.random.default_rng(7)
    sources = np.concatenate([rng.integers(0, n, 25), [isolates[0], 3, 3]])
    ref_raw = weighted_closeness(G, alpha)
    ref_har = harmonic_closeness(G, alpha)
    # max_block_entries = n forces one source per Dijkstra call
    for kwargs in ({}, {"max_block_entries": n}, {"max_block_entries": 4 * n}):
        res = closeness_csgraph(_csr(G), sources, alpha, **kwargs)
        np.testing.assert_allclose(res.raw, [ref_raw[i] for i in sources], rtol=REL, atol=0)
        np.testing.assert_allclose(res.harmonic, [ref_har[i] for i in sources], rtol=REL, atol=0)
        assert res.raw[len(sources) - 3] == 0.0  # the isolated node


def test_closeness_csgraph_path_hand_values_and_input_forms() -> None:
    # path 0 -1- 1 -4- 2 (= a, b, c above), given as csr_matrix and as coo_array
    rows, cols, w = [0, 1, 1, 2], [1, 0, 2, 1], [1.0, 1.0, 4.0, 4.0]
    for mat in (sp.csr_matrix((w, (rows, cols)), shape=(3, 3)), sp.coo_array((w, (rows, cols)))):
        raw, har = closeness_csgraph(mat, [0, 1, 2], 1.0)
        np.testing.assert_allclose(raw, [4 / 9, 0.8, 2 / 3], rtol=REL)
        np.testing.assert_allclose(har, [1.8, 5.0, 4.8], rtol=REL)
    raw, har = closeness_csgraph(sp.csr_matrix((w, (rows, cols)), shape=(3, 3)), None, 0.0)
    np.testing.assert_allclose(raw, [1 / 3, 1 / 2, 1 / 3], rtol=REL)


def test_closeness_csgraph_explicit_zero_is_no_tie_and_input_untouched() -> None:
    # 0 -2- 1 and a stored zero between 1 and 2: node 2 is isolated
    data = np.array([2.0, 2.0, 0.0, 0.0])
    mat = sp.csr_matrix((data, np.array([1, 0, 2, 1]), np.array([0, 1, 3, 4])), shape=(3, 3))
    before = (mat.data.copy(), mat.indices.copy(), mat.indptr.copy())
    raw, har = closeness_csgraph(mat, [0, 1, 2], 1.0)
    np.testing.assert_allclose(raw, [2.0, 2.0, 0.0])
    np.testing.assert_allclose(har, [2.0, 2.0, 0.0])
    deg, s = strength_degree_csgraph(mat, [0, 1, 2])
    assert deg.tolist() == [1, 1, 0]
    np.testing.assert_allclose(s, [2.0, 2.0, 0.0])
    for a, b in zip(before, (mat.data, mat.indices, mat.indptr), strict=True):
        np.testing.assert_array_equal(a, b)


def test_closeness_csgraph_invalid_inputs() -> None:
    mat = sp.csr_matrix(np.array([[0.0, -1.0], [-1.0, 0.0]]))
    with pytest.raises(ValueError):
        closeness_csgraph(mat, [0], 1.0)
    good = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(IndexError):
        closeness_csgraph(good, [2], 1.0)
    with pytest.raises(ValueError):
        closeness_csgraph(good, [0.5], 1.0)
    with pytest.raises(ValueError):
        closeness_csgraph(good, [0], -1.0)
    with pytest.raises(ValueError):
        closeness_csgraph(sp.csr_matrix(np.ones((2, 3))), [0], 1.0)
    empty = closeness_csgraph(good, np.array([], dtype=int), 1.0)
    assert empty.raw.shape == (0,) and empty.harmonic.shape == (0,)


def test_strength_degree_csgraph_matches_networkx() -> None:
    for G in connected_graphs() + disconnected_graphs():
        G = nx.convert_node_labels_to_integers(G)
        n = G.number_of_nodes()
        sources = np.r_[np.arange(n)[::-1], 0]
        deg, strength = strength_degree_csgraph(_csr(G), sources)
        assert deg.dtype == np.int64
        assert deg.tolist() == [G.degree(i) for i in sources]
        np.testing.assert_allclose(
            strength, [G.degree(i, weight="weight") for i in sources], rtol=REL, atol=0
        )
        # combined into Opsahl's generalised degree, it matches the reference
        for alpha in ALPHAS:
            ref = generalized_degree(G, alpha)
            k, s = deg.astype(float), strength
            with np.errstate(divide="ignore", invalid="ignore"):
                got = np.where(k > 0, k ** (1 - alpha) * s**alpha, 0.0)
            np.testing.assert_allclose(got, [ref[i] for i in sources], rtol=REL, atol=0)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_csgraph_on_the_upper_triangle_equals_the_symmetric_matrix(alpha: float) -> None:
    """Each tie stored once (the value network's form) gives what the full matrix gives,
    whichever way round its two nodes were numbered."""
    for G in connected_graphs() + disconnected_graphs():
        G = nx.convert_node_labels_to_integers(G)
        full = _csr(G)
        upper = sp.csr_array(sp.triu(full, k=1))
        sources = np.r_[np.arange(full.shape[0])[::-1], 0]
        for got, want in [
            (strength_degree_csgraph(upper, sources, upper=True),
             strength_degree_csgraph(full, sources)),
            (closeness_csgraph(upper, sources, alpha, upper=True),
             closeness_csgraph(full, sources, alpha)),
        ]:
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=REL, atol=0)


def test_strength_degree_csgraph_rejects_self_loops() -> None:
    with pytest.raises(ValueError):
        strength_degree_csgraph(sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 0.0]])), [0])


# --------------------------------------------------------------------------------------------
# Gini and HHI
# --------------------------------------------------------------------------------------------


def _gini_pairwise(x: np.ndarray) -> float:
    """Definition: mean absolute difference over all ordered pairs / (2 mean)."""
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean()))


def test_gini_known_values() -> None:
    # sorted 1,2,3,4,10; sum (2i - n - 1) x_(i) = -4 - 4 + 0 + 8 + 40 = 40; / (5 * 20) = 0.4
    assert gini([1, 2, 3, 4, 10]) == pytest.approx(0.4, rel=1e-15)
    assert gini([10, 4, 3, 2, 1]) == pytest.approx(0.4, rel=1e-15)  # order does not matter
    assert gini(np.full(17, 3.5)) == 0.0
    for n in (1, 2, 5, 1000):
        x = np.zeros(n)
        x[n // 2] = 7.0
        assert gini(x) == pytest.approx((n - 1) / n, rel=1e-12)
    assert gini([]) == 0.0
    assert gini(np.zeros(4)) == 0.0


def test_gini_matches_pairwise_definition_and_is_scale_invariant() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.lognormal(0, 1.5, 300), np.zeros(50)])
    assert gini(x) == pytest.approx(_gini_pairwise(x), rel=1e-10)
    assert gini(1e6 * x) == pytest.approx(gini(x), rel=1e-12)
    assert gini(x.reshape(50, 7)) == pytest.approx(gini(x), rel=1e-15)


def test_gini_large_input_and_invalid() -> None:
    x = np.random.default_rng(1).exponential(size=1_000_000)
    assert gini(x) == pytest.approx(0.5, abs=5e-3)  # Gini of an exponential is 1/2
    with pytest.raises(ValueError):
        gini([1.0, -1.0])
    with pytest.raises(ValueError):
        gini([1.0, math.nan])


def test_hhi_known_values() -> None:
    assert hhi([30, 30, 20, 20]) == pytest.approx(2600, rel=1e-12)
    assert hhi([0, 0, 5.0, 0]) == pytest.approx(10_000, rel=1e-15)  # monopoly
    assert hhi(np.ones(4)) == pytest.approx(2500, rel=1e-12)  # equal split 10,000 / n
    assert hhi([]) == 0.0
    assert hhi([0, 0]) == 0.0


def test_hhi_scale_invariant_and_invalid() -> None:
    rng = np.random.default_rng(2)
    x = rng.pareto(1.5, 200)
    shares = 100 * x / x.sum()
    assert hhi(x) == pytest.approx(float(np.sum(shares**2)), rel=1e-12)
    assert hhi(3.7e5 * x) == pytest.approx(hhi(x), rel=1e-12)
    assert hhi([0.3, 0.3, 0.2, 0.2]) == pytest.approx(2600, rel=1e-12)
    with pytest.raises(ValueError):
        hhi([1.0, -2.0])
