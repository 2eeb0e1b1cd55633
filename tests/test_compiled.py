"""The compiled browse sessions give the Python reference's run, byte for byte.

Each config runs twice, ``engine = "python"`` (the reference: one SimPy timeout and one
Python ``browse`` per session) and ``engine = "compiled"`` (the Numba kernel between
scheduled events); every table of the two databases but ``runs`` (which names the engine)
must hold the same rows in the same order.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import simpy
from helpers import ROOT, merge, rows
from hypothesis import given, settings
from hypothesis import strategies as st

import simmarket
from simmarket.config import ConfigError, config_from_dict, load_config
from simmarket.core.pairs import Holdings
from simmarket.core.population import advance_to
from simmarket.links.encounter.kernel import PairTable
from simmarket.links.transmission import network as network_module
from simmarket.links.transmission.network import ValueNetwork

#: Small, but with firms, derivatives, government and every event kind.
BASE = {"users": {"n": 500}, "horizon_days": 35,
        "firms": {"initial": 150.0, "capital_median": 60.0}}


def _tables(db: Path) -> dict[str, str]:
    """SHA-256 of every table's rows, in rowid order, but the runs row."""
    conn = sqlite3.connect(db)
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'runs'")]
    out = {}
    for name in names:
        digest = hashlib.sha256()
        for row in conn.execute(f"SELECT * FROM {name} ORDER BY rowid"):
            digest.update(repr(row).encode())
        out[name] = digest.hexdigest()
    conn.close()
    return out


def _both(tmp_path: Path, config, **overrides) -> tuple[dict, dict]:
    """The tables of the same config run by the reference and by the compiled engine."""
    out = {}
    for engine in ("python", "compiled"):
        db = tmp_path / f"{engine}.db"
        result = simmarket.run(config, overrides={**overrides, "engine": engine}, out=db,
                               force=True, handle_signals=False)
        assert result.status == "completed"
        out[engine] = _tables(db)
    return out["python"], out["compiled"]


@pytest.mark.parametrize("extra", [
    {},
    # loyalty on, Metcalfe's network value, one agent per person (exact connect-once rules)
    {"encounter": {"w_community": 1.0, "network_function": "linear"},
     "users": {"n": 400, "represents": 400}},
    # no network term; a feed scope often empty (many systems, no interoperability)
    {"encounter": {"network_function": "none", "topic_match": 0.9},
     "tech": {"systems": 6, "interoperability": 0.0}},
    # only the core events are recorded
    {"output": {"events": "core"}},
], ids=["default", "loyalty-linear", "separate-systems", "core-events"])
def test_compiled_sessions_give_the_reference_run(tmp_path, extra):
    python, compiled = _both(tmp_path, merge(BASE, extra))
    assert python["events"] == compiled["events"]
    assert python == compiled


def test_industrial_mode_gives_the_reference_run(tmp_path):
    cfg = ROOT / "configs" / "industrial.toml"
    python, compiled = _both(tmp_path, cfg, **{"users.n": 500, "horizon_days": 40})
    assert python == compiled


def test_a_policy_schedule_gives_the_reference_run(tmp_path):
    """Levers changed mid-run (session rates, feed scopes, fees) reach the kernel."""
    cfg = ROOT / "configs" / "path_regulation.toml"
    scheduled = load_config(cfg).scenario.policy.schedule
    assert scheduled, "path_regulation.toml schedules policy changes"
    python, compiled = _both(tmp_path, cfg, **{"users.n": 400, "horizon_days": 100})
    assert python == compiled


def test_no_events_recorded_gives_the_same_tables(tmp_path):
    python, compiled = _both(tmp_path, BASE, **{"output.events": "none"})
    assert python == compiled
    assert rows(tmp_path / "compiled.db", "SELECT count(*) FROM events") == [(0,)]


def test_an_interrupted_compiled_run_keeps_the_reference_prefix(tmp_path):
    """Stopped midway, the compiled run holds exactly the reference's events before the
    point it reached, and says it was interrupted."""
    reference = tmp_path / "python.db"
    simmarket.run(BASE, overrides={"engine": "python"}, out=reference, handle_signals=False)
    stopped = tmp_path / "compiled.db"
    calls = []

    def stop_after_some(t: float, events: int) -> None:
        calls.append(t)
        if len(calls) == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simmarket.run(BASE, overrides={"engine": "compiled"}, out=stopped,
                      progress=stop_after_some, handle_signals=False)
    (status, t_reached), = rows(stopped, "SELECT status, t_reached FROM runs")
    assert status == "interrupted" and 0 < t_reached < BASE["horizon_days"]
    kept = rows(stopped, "SELECT * FROM events ORDER BY rowid")
    assert kept and kept[-1][1] <= t_reached
    assert kept == rows(reference, "SELECT * FROM events ORDER BY rowid")[:len(kept)]
    following = rows(reference, f"SELECT t FROM events ORDER BY rowid LIMIT 1 OFFSET {len(kept)}")
    assert following[0][0] >= kept[-1][1]


def test_the_engine_is_a_validated_run_setting():
    assert config_from_dict({}).settings.engine == "compiled"
    with pytest.raises(ConfigError) as err:
        config_from_dict({"engine": "fast"})
    assert "engine" in str(err.value) and "fast" in str(err.value)


# -- the parts ------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.one_of(st.integers(0, 5_000_000_000),
                                                   st.integers(0, 20))), max_size=400))
def test_pair_tables_count_as_holdings(operations):
    """The kernel's open-addressing tables and the Python Holdings agree on every count,
    across growth of the tables (keys often repeat: counts above one)."""
    table, holdings = PairTable(capacity=8), Holdings()
    for add, key in operations:
        if add:
            if not table.room(1):
                table.grow(1)
            table.add(key)
            holdings.add(key)
        assert table.count(key) == holdings.count(key)
    assert table.fill == len({key for add, key in operations if add})


def test_the_clock_cannot_be_moved_past_the_next_event():
    env = simpy.Environment()
    env.timeout(5.0)
    advance_to(env, 2.5)
    assert env.now == 2.5
    with pytest.raises(RuntimeError):
        advance_to(env, 6.0)
    with pytest.raises(RuntimeError):
        advance_to(env, 1.0)


def test_the_value_network_sums_the_same_however_increments_arrive(monkeypatch):
    """Tuples one by one or blocks of rows, folded at whole multiples of FOLD_EVERY: the
    same graph, to the bit."""
    monkeypatch.setattr(network_module, "FOLD_EVERY", 7)
    rng = np.random.default_rng(3)
    edges = np.column_stack([rng.integers(0, 9, 60), rng.integers(0, 12, 60),
                             rng.random(60)]).astype(np.float64)
    one, blocks = ValueNetwork(10), ValueNetwork(10)
    for a, b, w in edges:
        one.add((int(a), int(b), float(w)))
        one.maybe_fold()
    for start in range(0, 60, 11):
        blocks.add_block(edges[start:start + 11])
        blocks.maybe_fold()
    g1, g2 = one.graph(0), blocks.graph(0)
    assert (g1 != g2).nnz == 0
    assert np.array_equal(g1.data, g2.data) and np.array_equal(g1.indices, g2.indices)


def test_the_value_network_stores_each_tie_once_with_its_sum_and_count(monkeypatch):
    """Against a plain dict of unordered pairs: every tie's value and interaction count,
    read either way round, from the upper-triangle graph or one at a time."""
    monkeypatch.setattr(network_module, "FOLD_EVERY", 5)
    rng = np.random.default_rng(8)
    net, want = ValueNetwork(12), {}
    for a, b, w in zip(rng.integers(0, 14, 80).tolist(), rng.integers(0, 14, 80).tolist(),
                       rng.random(80).tolist()):
        net.add((a, b, w))
        net.maybe_fold()
        if a != b:
            value, count = want.get(frozenset((a, b)), (0.0, 0))
            want[frozenset((a, b))] = (value + w, count + 1)
    value, count = net.graph(0, "value"), net.graph(0, "interactions")
    assert sp.triu(value, k=1).nnz == value.nnz == len(want) == net.ties
    assert net.actors() == len(set().union(*want))
    for pair, (w, c) in want.items():
        a, b = sorted(pair)
        assert value[a, b] == pytest.approx(w) and count[a, b] == c
        assert net.weight(b, a) == net.weight(a, b) == pytest.approx(w)
        assert net.weight(a, b, "interactions") == c
    assert net.weight(0, 0) == 0.0
