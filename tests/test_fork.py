"""Fork at a policy date (issue 8): a design whose factor is a policy from day X simulates
the days before X once and forks there; each forked branch is the run replayed from day 0
(event log, tables, summary), failures and Ctrl-C are recorded like the runner's, and where
forking is not possible the runs are replayed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import rows, write

import simmarket
from simmarket.experiments import fork
from simmarket.experiments.design import DesignError, load_design
from simmarket.experiments.evaluators import SerialEvaluator
from simmarket.experiments.fork import ForkEvaluator, choose_evaluator, noop_value, policy_factor
from simmarket.experiments.runner import run_experiment

pytestmark = pytest.mark.skipif(not fork.fork_available(), reason="needs os.fork (POSIX)")

DESIGN = """
replications = 1
seed = 3
events = "all"
[set]
"users.n" = 300
horizon_days = 40
"tech.access_share" = 0.6
[[factors]]
key = "policy.tech.access_share"
day = 20
values = [0.2, 0.6, 1.0]
"""
EVENT_COLS = "event_id, t, kind, actor_id, actor_type, item_id, counterpart_id, " \
             "counterpart_type, value"



def content(db: Path) -> dict[str, list[tuple]]:
    """Every table of a run database (the runs row without its times)."""
    tables = [t for (t,) in rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = {t: rows(db, f"SELECT * FROM {t}") for t in tables if t != "runs"}
    out["runs"] = rows(db, "SELECT seed, config, status, summary, events, t_reached, "
                           "event_detail FROM runs")
    return out


def test_forked_branches_are_the_runs_replayed_from_day_0(tmp_path):
    # 0.6 is the value the lever already has: that branch's change is a no-op
    design = load_design(write(tmp_path / "d.toml", DESIGN.replace("0.2, 0.6, 1.0", "1.0, 0.6")))
    evaluator = ForkEvaluator(policy_factor(design), jobs=2)
    result = run_experiment(design, tmp_path / "out", evaluator)
    assert (result.completed, result.failed) == (2, 0)
    assert (evaluator.prefixes, evaluator.forked) == (1, 2)  # the prefix ran once
    assert sorted(p.name for p in (tmp_path / "out" / "runs").iterdir()) == [
        "run-0000.db", "run-0001.db"]  # the prefix database is gone
    outcomes = rows(result.db_path, "SELECT run_id, name, value FROM outcomes ORDER BY 1, 2")
    for spec in design.runs():
        fresh = tmp_path / f"fresh-{spec.run_id}.db"
        config = {**spec.config, "output": {"events": "all"}}
        replayed = simmarket.run(config, out=fresh, handle_signals=False)
        branch = tmp_path / "out" / "runs" / f"run-{spec.run_id:04d}.db"
        got, want = content(branch), content(fresh)
        assert got["events"] == want["events"] and len(want["events"]) > 1000
        assert got == want
        mine = {n: v for r, n, v in outcomes if r == spec.run_id}
        assert mine["encounter.connections"] == replayed.summary["value encounter"][
            "connections"]
    # the branches differ from day 20 on, and only from then
    logs = [rows(tmp_path / f"fresh-{i}.db", f"SELECT {EVENT_COLS} FROM events WHERE t < 20")
            for i in range(2)]
    assert logs[0] == logs[1]
    assert len({str(rows(tmp_path / f"fresh-{i}.db", "SELECT COUNT(*) FROM events"))
                for i in range(2)}) == 2


def test_a_branch_that_fails_is_recorded_and_the_others_finish(tmp_path, monkeypatch):
    from simmarket.store.sqlite import SQLiteRecorder

    text = DESIGN.replace('events = "all"', 'events = "none"').replace(
        "horizon_days = 40", "horizon_days = 21").replace("day = 20", "day = 10")
    design = load_design(write(tmp_path / "d.toml", text))
    original = SQLiteRecorder.continue_into

    def faulty(self, path, **kw):
        if Path(path).name == "run-0001.db":
            raise RuntimeError("injected fault")
        return original(self, path, **kw)

    monkeypatch.setattr(SQLiteRecorder, "continue_into", faulty)
    result = run_experiment(design, tmp_path / "out", ForkEvaluator(policy_factor(design), 2))
    assert (result.completed, result.failed) == (2, 1)
    (error,) = rows(result.db_path, "SELECT error FROM runs WHERE status = 'failed'")[0]
    assert "RuntimeError: injected fault" in error
    monkeypatch.setattr(SQLiteRecorder, "continue_into", original)
    again = run_experiment(design, tmp_path / "out", ForkEvaluator(policy_factor(design), 2))
    assert (again.executed, again.completed) == (1, 3)  # a group of one is replayed


def test_ctrl_c_stops_the_branches_and_they_record_it(tmp_path):
    text = DESIGN.replace('events = "all"', 'events = "none"').replace(
        "horizon_days = 40", "horizon_days = 400").replace("day = 20", "day = 2").replace(
        "[0.2, 0.6, 1.0]", "[0.2, 1.0]")
    design = write(tmp_path / "d.toml", text)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "simmarket.cli", "experiment", str(design),
                             "--out", str(out), "--jobs", "2", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    branches = [out / "runs" / f"run-{i:04d}.db" for i in range(2)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(b.exists() for b in branches):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert rows(out / "experiment.db", "SELECT DISTINCT status FROM runs") == [("interrupted",)]
    for b in branches:
        (status, t), = rows(b, "SELECT status, t_reached FROM runs")
        assert status == "interrupted" and 2 <= t < 400
        assert not Path(f"{b}.lock").exists()
    assert not list((out / "runs").glob("prefix-*"))


# -- the design form and where forking does not apply ------------------------------------

def test_a_policy_factor_appends_a_schedule_entry(tmp_path):
    design = load_design(write(tmp_path / "d.toml", DESIGN))
    (factor,) = design.factors
    assert (factor.lever, factor.day, factor.column) == (
        "tech.access_share", 20.0, "policy_tech_access_share")
    config = design.runs()[2].config
    assert config["policy"]["schedule"] == [
        {"day": 20.0, "lever": "tech.access_share", "value": 1.0}]
    # the placeholder's value is the lever's value at the day, earlier changes included
    assert noop_value(config, factor, 0) == 0.6
    config["policy"]["schedule"].insert(0, {"day": 5.0, "lever": "tech.access_share",
                                            "value": 0.4})
    assert noop_value(config, factor, 1) == 0.4


@pytest.mark.parametrize("change,needle", [
    ('key = "policy.tech.acces_share"', "a lever of"),
    ("day = -1", "day = -1"),
    ('day = "x"', "day = 'x'"),
    ("values = [0.2, 0.6, 1.0]\nlow = 0", "no low/high"),
    ("values = [true]", "numbers"),
    ("day = 20\nspeed = 1", "unknown field 'speed'"),
])
def test_bad_policy_factors_are_refused_in_one_line(tmp_path, change, needle):
    old = "values = [0.2, 0.6, 1.0]" if change.startswith(("values", "low")) else (
        "day = 20" if change.startswith("day") else 'key = "policy.tech.access_share"')
    with pytest.raises(DesignError, match="factors\\[0\\]") as exc:
        load_design(write(tmp_path / "d.toml", DESIGN.replace(old, change)))
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(DesignError, match="needs day"):
        load_design(write(tmp_path / "e.toml", DESIGN.replace("day = 20\n", "")))


def test_without_a_policy_factor_or_fork_the_runs_are_replayed(tmp_path, monkeypatch):
    plain = load_design(write(tmp_path / "p.toml", DESIGN.replace(
        'key = "policy.tech.access_share"\nday = 20', 'key = "tech.access_share"')))
    assert policy_factor(plain) is None
    assert isinstance(choose_evaluator(plain, jobs=1), SerialEvaluator)
    design = load_design(write(tmp_path / "d.toml", DESIGN))
    assert isinstance(choose_evaluator(design, jobs=1), ForkEvaluator)
    assert isinstance(choose_evaluator(design, jobs=1, fork=False), SerialEvaluator)
    monkeypatch.delattr(os, "fork")
    assert not fork.fork_available()
    assert isinstance(choose_evaluator(design, jobs=1), SerialEvaluator)
