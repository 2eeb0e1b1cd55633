"""The foundation of issue 6: common random numbers by purpose, runs without a database,
event detail, run settings apart from the scenario, one override helper, one lever registry.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from helpers import SMALL, merge

import simmarket
from simmarket.analysis.summary import HEADLINES, headline_figures
from simmarket.cli import main
from simmarket.config import (
    LEVERS,
    ConfigError,
    config_from_dict,
    load_config,
    parse_assignment,
    with_overrides,
)
from simmarket.config.scenario import PolicyChange
from simmarket.core.model import Model
from simmarket.core.streams import Streams
from simmarket.store.memory import MemoryRecorder


def _sessions(production_time: float) -> np.ndarray:
    result = simmarket.run(
        {"users": {"n": 3000}, "horizon_days": 91, "regulation": {"leak_rate": 0.6},
         "production": {"production_time": production_time},
         "output": {"events": "all"}}, store="memory", handle_signals=False)
    log = result.events_log
    assert result.periods["period_transmission"]["privacy_leaks"].sum() > 0  # leaks matter
    return log.loc[log.kind == "session_started", ["t", "actor_id"]].to_numpy()


def test_a_production_change_leaves_every_session_where_it_was():
    """Issue 6's acceptance: production time 1.0 vs 1.1 (3,000 users, 91 days, leak rate
    0.6) moves items, leaks' consequences and feeds, but not one session's time or user.
    (Whether a session creates may differ: a creator still busy with her last item browses.)"""
    a, b = _sessions(1.0), _sessions(1.1)
    assert len(a) > 50_000
    assert np.array_equal(a, b)


def test_the_change_does_change_what_happens_in_sessions():
    """The same pair differs where it should: in the items made (else the test is empty)."""
    runs = [simmarket.run(merge(SMALL, {"production": {"production_time": t}}),
                          store="memory", handle_signals=False) for t in (1.0, 1.1)]
    a, b = (r.summary["value production"]["mean_quality"] for r in runs)
    assert a != b


def test_streams_depend_on_their_name_only():
    one, two = Streams(7), Streams(7)
    one("encounter", "feed", 3).random(1000)  # another stream drawn first, and a lot
    x = one("government", "leak").random(5)
    y = two("government", "leak").random(5)
    assert np.array_equal(x, y)
    assert not np.array_equal(x, two("government", "violation").random(5))
    assert not np.array_equal(x, Streams(8)("government", "leak").random(5))


def test_memory_and_sqlite_runs_give_the_same_summary_and_periods(tmp_path):
    cfg = merge(SMALL, {"users": {"n": 1000}})
    mem = simmarket.run(cfg, store="memory", handle_signals=False)
    disk = simmarket.run(cfg, out=tmp_path / "a.db", handle_signals=False)
    assert mem.db_path is None and not list(tmp_path.glob("*.lock"))
    assert mem.summary == disk.summary
    for table, frame in mem.periods.items():
        assert frame.equals(disk.periods[table]), table
    assert len(mem.periods["macro"]) > 1 and len(mem.periods["centrality"]) > 1


def test_the_headline_sql_agrees_with_the_figures_a_run_computes(tmp_path):
    """docs/schema.md's SQL definitions and the run's own computation are the same figures."""
    result = simmarket.run(merge(SMALL, {"government": {"target_sharing": 0.0,
                                                        "withdraw_after": 2}}),
                           out=tmp_path / "h.db", handle_signals=False)
    with sqlite3.connect(result.db_path) as conn:
        by_sql = headline_figures(conn)
        stored = json.loads(conn.execute("SELECT summary FROM runs").fetchone()[0])
    assert set(by_sql) == set(HEADLINES)
    for layer, figures in by_sql.items():
        for name, value in figures.items():
            assert result.summary[layer][name] == pytest.approx(value, rel=1e-12), name
    assert stored == json.loads(json.dumps(result.summary))
    assert result.summary["value transmission"]["government_withdrew_day"] == 14.0


@pytest.mark.parametrize("level", ["core", "none"])
def test_event_detail_levels_change_only_the_log(tmp_path, level):
    full = simmarket.run(SMALL, out=tmp_path / "all.db", handle_signals=False)
    less = simmarket.run(SMALL, overrides={"output.events": level}, out=tmp_path / "x.db",
                         handle_signals=False)
    assert less.summary == full.summary
    with sqlite3.connect(less.db_path) as conn:
        kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM events")}
        detail = conn.execute("SELECT event_detail FROM runs").fetchone()[0]
        users = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    assert detail == level and users == SMALL["users"]["n"]
    if level == "none":
        assert kinds == set() and less.events == 0
    else:
        assert kinds and not kinds & {"impression", "session_started"}
        assert "connection" in kinds


def test_run_settings_are_apart_from_the_scenario():
    cfg = load_config(None, {"seed": 5, "output.events": "core", "users.n": 40})
    assert (cfg.seed, cfg.settings.output.events, cfg.scenario.users.n) == (5, "core", 40)
    assert not hasattr(cfg.scenario, "seed") and not hasattr(cfg.scenario, "output")
    model = Model(cfg.scenario, cfg.seed, MemoryRecorder())
    assert model.scenario.users.n == 40


def test_with_overrides_validates_like_the_file():
    base = config_from_dict({})
    assert with_overrides(base, {"users.n": 9, "seed": None}).scenario.users.n == 9
    assert base.scenario.users.n != 9  # a new config, the old one untouched
    with pytest.raises(ConfigError, match=r"users\.n = '9': expected a valid integer"):
        with_overrides(base, {"users.n": "9"})
    with pytest.raises(ConfigError, match="did you mean 'users.n'"):
        with_overrides(base, {"users.nn": 9})
    with pytest.raises(ConfigError, match="is a value, not a section"):
        with_overrides(base, {"seed.x": 1})


def test_set_values_are_toml_literals():
    assert parse_assignment("users.n=800") == ("users.n", 800)
    assert parse_assignment("encounter.network_function = linear") == (
        "encounter.network_function", "linear")
    assert parse_assignment('mode="industrial"') == ("mode", "industrial")
    assert parse_assignment("network.alphas=[0.0, 1.0]") == ("network.alphas", [0.0, 1.0])
    assert parse_assignment("government.enabled=false") == ("government.enabled", False)
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_assignment("users.n")


def test_set_reaches_the_stored_config(tmp_path):
    path = tmp_path / "s.db"
    code = main(["run", "--quiet", "--days", "14", "--set", "users.n=150", "--set",
                 "encounter.network_function=linear", "--set", "output.events=core",
                 "--seed", "11", "--out", str(path)])
    assert code == 0
    with sqlite3.connect(path) as conn:
        config, seed = conn.execute("SELECT config, seed FROM runs").fetchone()
    config = json.loads(config)
    assert (config["users"]["n"], config["encounter"]["network_function"]) == (150, "linear")
    assert (config["output"]["events"], config["horizon_days"], seed) == ("core", 14, 11)


@pytest.mark.parametrize(("assignment", "needle"), [
    ("users.n=lots", "users.n = 'lots': expected a valid integer"),
    ("users.n=0", "users.n = 0: expected greater than or equal to 1"),
    ("encounter.platform_fee=1.5", "encounter.platform_fee = 1.5"),
    ("usres.n=5", "did you mean 'users.n'"),
    ("horizon_days=inf", "horizon_days = inf: expected a finite number"),
    ("government.enabled=\"off\"", "government.enabled = 'off': expected a valid boolean"),
])
def test_a_bad_set_is_refused_like_a_bad_file(tmp_path, assignment, needle):
    out = tmp_path / "bad.db"
    proc = subprocess.run([sys.executable, "-m", "simmarket.cli", "run", "--quiet", "--set",
                           assignment, "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_the_lever_registry_is_the_one_list():
    """Validation, the schedule and the model's recompute hooks all read LEVERS."""
    literal = PolicyChange.model_fields["lever"].annotation.__args__
    assert tuple(literal) == tuple(LEVERS)
    model = Model(config_from_dict({"users": {"n": 10}}).scenario, 1, MemoryRecorder())
    hooks = {h for lever in LEVERS.values() for h in lever.recompute}
    assert hooks <= set(model.recompute)
    for path in LEVERS:
        assert isinstance(model.scenario.lever(path), float)
