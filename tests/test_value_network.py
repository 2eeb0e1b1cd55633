"""The value network: increments folded into a sparse graph in pieces or at once agree."""

from __future__ import annotations

import numpy as np
import pytest

from simmarket.links.transmission import network as vn


def _edges(n=5000, seed=1):
    rng = np.random.default_rng(seed)
    return zip(rng.integers(0, 50, n).tolist(), rng.integers(0, 55, n).tolist(),
               rng.random(n).tolist())


def test_folding_in_pieces_equals_folding_once(monkeypatch):
    once = vn.ValueNetwork(50)
    for e in _edges():
        once.add(e)
    monkeypatch.setattr(vn, "FOLD_EVERY", 7)
    pieces = vn.ValueNetwork(50)
    for e in _edges():
        pieces.add(e)
        pieces.maybe_fold()
    a, b = once.graph(5).toarray(), pieces.graph(5).toarray()
    assert a.shape == b.shape == (57, 57)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    assert np.all(np.tril(a) == 0)  # each tie once, in the upper triangle; no self-loops


def test_edges_sum_value_between_actors():
    net = vn.ValueNetwork(3)
    firm = net.node("firm", 0)
    net.add((0, 1, 2.0))
    net.add((1, 0, 0.5))
    net.add((0, firm, 1.0))
    net.add((2, 2, 9.0))  # self-loops carry no transmission
    net.add_many(np.array([0, 1]), net.node("government", 0), 0.25)
    g = net.graph(1).toarray()
    assert g[0, 1] == net.weight(1, 0) == pytest.approx(2.5) and g[1, 0] == 0.0
    assert g[0, firm] == net.weight(firm, 0) == 1.0 and net.weight(2, 2) == 0.0
    assert g[0, 3] == g[1, 3] == 0.25  # government is node n_users
    assert net.weight(0, 1, "interactions") == 2 and net.ties == 4 and net.actors() == 4
