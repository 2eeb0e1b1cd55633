"""Experiments: designs, statistics against scipy, runs on a process pool and on a real Dask
LocalCluster, resume after a fault or Ctrl-C, and the CLI's one-line errors."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import rows, write
from scipy import stats

from simmarket.cli.main import main
from simmarket.experiments.design import DesignError, load_design, validate_configs
from simmarket.experiments.evaluators import DaskEvaluator, PoolEvaluator, SerialEvaluator
from simmarket.experiments.model import Task, simulate
from simmarket.experiments.runner import ExperimentError, run_experiment
from simmarket.experiments.stats import paired_interval, t_interval

TINY = """
replications = 3
seed = 11
events = "none"
[set]
"users.n" = 200
horizon_days = 21
[[factors]]
key = "tech.access_share"
values = [0.5, 1.0]
"""



def outcome_map(db: Path) -> dict[tuple[int, str], float]:
    return {(r, n): v for r, n, v in rows(db, "SELECT run_id, name, value FROM outcomes")}


# -- the design ---------------------------------------------------------------------------

def test_quoted_and_dotted_set_keys_mean_the_same(tmp_path):
    quoted = load_design(write(tmp_path / "a.toml", TINY))
    dotted = load_design(write(tmp_path / "b.toml", TINY.replace(
        '"users.n" = 200', "users.n = 200")))
    assert quoted.overrides == dotted.overrides == {"users.n": 200, "horizon_days": 21}
    assert quoted.fingerprint() == dotted.fingerprint()
    assert quoted.runs()[0].config["users"] == {"n": 200}


def test_a_key_given_both_ways_is_refused(tmp_path):
    text = TINY.replace('"users.n" = 200', '"users.n" = 200\nusers.n = 300')
    with pytest.raises(DesignError, match="users.n twice"):
        load_design(write(tmp_path / "d.toml", text))


def test_full_factorial_points_and_common_seeds(tmp_path):
    text = TINY + '[[factors]]\nkey = "encounter.feed_size"\nvalues = [5, 10, 20]\n'
    design = load_design(write(tmp_path / "d.toml", text))
    points = design.points()
    assert len(points) == 6 and len(design.runs()) == 18
    assert {tuple(p.values.values()) for p in points} == {
        (a, f) for a in (0.5, 1.0) for f in (5, 10, 20)}
    children = np.random.SeedSequence(11).spawn(3)
    expected = [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]
    for run in design.runs():
        assert run.seed == expected[run.replication] == run.config["seed"]
    assert len(set(expected)) == 3


def test_scenarios_are_relative_to_the_design_file(tmp_path):
    (tmp_path / "sc").mkdir()
    write(tmp_path / "sc" / "one.toml", "[users]\nn = 300\n")
    write(tmp_path / "sc" / "two.toml", "mode = \"industrial\"\n")
    text = ('replications = 2\n[[scenarios]]\npath = "sc/one.toml"\n'
            '[[scenarios]]\nname = "ind"\npath = "sc/two.toml"\n')
    design = load_design(write(tmp_path / "d.toml", text))
    assert [p.label for p in design.points()] == ["one", "ind"]
    assert design.runs()[2].config["mode"] == "industrial"
    assert design.runs()[0].config["users"]["n"] == 300


@pytest.mark.parametrize("change,needle", [
    (("key = \"tech.access_share\"", "key = \"tech.acess_share\""), "tech.acess_share"),
    (("values = [0.5, 1.0]", "values = [0.5, 7.0]"), "tech.access_share"),
    (('"users.n" = 200', '"users.nn" = 200'), "users.nn"),
])
def test_bad_keys_and_values_name_the_key(tmp_path, change, needle):
    design = load_design(write(tmp_path / "d.toml", TINY.replace(*change)))
    with pytest.raises(DesignError) as info:
        validate_configs(design)
    message = str(info.value)
    assert needle in message and "\n" not in message


@pytest.mark.parametrize("text,needle", [
    ("replications = 0\n", "replications"),
    ("replicatons = 2\n", "replicatons"),
    ("events = \"some\"\n", "events"),
    ("[[factors]]\nkey = \"users.n\"\nvalues = []\n", "users.n"),
    ("scenario = \"nowhere.toml\"\n", "nowhere.toml"),
    ("seed = [\n", "not valid TOML"),
])
def test_bad_design_files_are_one_line(tmp_path, text, needle):
    with pytest.raises(DesignError) as info:
        load_design(write(tmp_path / "d.toml", text))
    assert needle in str(info.value) and "\n" not in str(info.value)


# -- statistics against scipy ---------------------------------------------------------------

DATA = [2.1, 3.4, 1.9, 4.2, 3.3, 2.8, 3.9]
OTHER = [1.7, 3.0, 2.2, 3.1, 2.9, 2.0, 3.5]


def test_t_interval_matches_scipy():
    iv = t_interval(DATA)
    low, high = stats.t.interval(0.95, len(DATA) - 1, loc=np.mean(DATA),
                                 scale=stats.sem(DATA))
    assert iv.n == 7 and iv.mean == pytest.approx(np.mean(DATA))
    assert iv.sd == pytest.approx(np.std(DATA, ddof=1))
    assert (iv.low, iv.high) == (pytest.approx(low), pytest.approx(high))
    assert iv.low < iv.mean < iv.high


def test_paired_interval_matches_scipy_ttest_rel():
    iv = paired_interval(DATA, OTHER)
    ci = stats.ttest_rel(DATA, OTHER).confidence_interval(0.95)
    assert (iv.low, iv.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert iv.excludes(0.0) == 1
    # pairing matters: the unpaired interval of the same data is wider
    welch = stats.ttest_ind(DATA, OTHER).confidence_interval(0.95)
    assert iv.high - iv.low < welch.high - welch.low


def test_intervals_leave_out_missing_values_and_need_two():
    assert t_interval([1.0, None, float("nan"), 3.0]).n == 2
    one = t_interval([5.0])
    assert one.mean == 5.0 and one.low is None and one.excludes() == 0
    assert paired_interval([1.0, None, 3.0], [0.5, 1.0, 2.0]).n == 2


# -- running designs ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny design run once on a two-process pool through the CLI."""
    base = tmp_path_factory.mktemp("exp")
    design = write(base / "tiny.toml", TINY)
    out = base / "out"
    assert main(["experiment", str(design), "--out", str(out), "--jobs", "2",
                 "--quiet"]) == 0
    return design, out


def test_a_design_gives_runs_outcomes_summary_and_pairs(tiny):
    _, out = tiny
    db = out / "experiment.db"
    runs = rows(db, "SELECT run_id, point, replication, seed, tech_access_share, status, "
                    "db_path FROM runs ORDER BY run_id")
    assert len(runs) == 6 and {r[5] for r in runs} == {"completed"}
    assert [r[4] for r in runs] == [0.5] * 3 + [1.0] * 3
    assert [r[3] for r in runs[:3]] == [r[3] for r in runs[3:]]  # common random numbers
    for r in runs:
        assert (out / r[6]).exists()
    names = {n for (n,) in rows(db, "SELECT DISTINCT name FROM outcomes")}
    assert {"encounter.connections", "spillover.Y", "production.items_created"} <= names
    summary = rows(db, "SELECT point, name, n, mean, ci_low, ci_high FROM summary")
    assert len(summary) == 2 * len(names)
    present = dict(((p, n), c) for p, n, c in rows(
        db, "SELECT point, name, COUNT(value) FROM outcomes JOIN runs USING (run_id) "
            "GROUP BY point, name"))
    assert sum(1 for c in present.values() if c == 3) > 20
    for point, name, n, mean, low, high in summary:
        assert n == present[(point, name)]
        if low is not None:
            assert low <= mean <= high, (point, name)
    paired = rows(db, "SELECT point, reference, name, n, mean_diff FROM paired")
    assert {(p, r) for p, r, *_ in paired} == {(1, 0)}
    values = outcome_map(db)
    p, _, name, n, diff = next(r for r in paired if r[2] == "encounter.connections")
    assert diff == pytest.approx(np.mean([values[(3 + k, name)] - values[(k, name)]
                                          for k in range(3)]))


def test_per_period_tables_carry_the_run_id(tiny):
    _, out = tiny
    db = out / "experiment.db"
    for table in ("period_production", "period_encounter", "period_transmission", "macro"):
        per_run = rows(db, f"SELECT run_id, COUNT(*) FROM {table} GROUP BY run_id")
        assert [r for r, _ in per_run] == list(range(6)) and all(c >= 3 for _, c in per_run)
    one = sqlite3.connect(out / "runs" / "run-0004.db")
    expected = one.execute("SELECT period, items_created FROM period_production "
                           "ORDER BY period").fetchall()
    one.close()
    assert rows(db, "SELECT period, items_created FROM period_production WHERE run_id = 4 "
                    "ORDER BY period") == expected


def test_a_rerun_executes_nothing(tiny, capsys):
    design, out = tiny
    before = outcome_map(out / "experiment.db")
    capsys.readouterr()
    assert main(["experiment", str(design), "--out", str(out), "--quiet"]) == 0
    assert "0 executed now" in capsys.readouterr().err
    assert outcome_map(out / "experiment.db") == before


def test_dask_local_cluster_gives_identical_outcomes(tiny, tmp_path):
    design_path, out = tiny
    evaluator = DaskEvaluator("local", 2, processes=False)
    try:
        assert "127.0.0.1" in evaluator._client.scheduler.address
        result = run_experiment(load_design(design_path), tmp_path / "dask", evaluator)
    finally:
        evaluator.close()
    assert result.completed == 6 and result.executed == 6
    assert outcome_map(result.db_path) == outcome_map(out / "experiment.db")


def test_a_changed_design_is_refused_unless_forced(tiny, tmp_path, capsys):
    design, out = tiny
    copy = tmp_path / "out"
    copy.mkdir()
    (copy / "experiment.db").write_bytes((out / "experiment.db").read_bytes())
    changed = write(tmp_path / "changed.toml", TINY.replace("[0.5, 1.0]", "[0.4, 1.0]"))
    capsys.readouterr()
    assert main(["experiment", str(changed), "--out", str(copy), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "another design" in err and "Traceback" not in err
    with pytest.raises(ExperimentError):
        run_experiment(load_design(changed), copy)
    changed_small = write(tmp_path / "c2.toml", TINY.replace("replications = 3",
                                                           "replications = 1"))
    result = run_experiment(load_design(changed_small), copy, force=True)
    assert result.completed == 2 and result.executed == 2
    assert len(rows(copy / "experiment.db", "SELECT * FROM runs")) == 2


def test_resume_needs_an_experiment(tmp_path, capsys):
    design = write(tmp_path / "d.toml", TINY)
    assert main(["experiment", str(design), "--out", str(tmp_path / "none"), "--resume",
                 "--quiet"]) == 2
    assert "holds no experiment.db" in capsys.readouterr().err


def faulty(task: Task):
    """The real model, except that run 2 raises (an injected fault)."""
    if task.run_id == 2:
        raise RuntimeError("injected fault")
    return simulate(task)


def test_a_run_that_raises_is_recorded_and_the_rest_finish(tmp_path):
    design = load_design(write(tmp_path / "d.toml", TINY))
    pool = PoolEvaluator(2)
    try:
        result = run_experiment(design, tmp_path / "out", pool, model=faulty)
    finally:
        pool.close()
    assert (result.completed, result.failed, result.executed) == (5, 1, 6)
    db = result.db_path
    status, error = rows(db, "SELECT status, error FROM runs WHERE run_id = 2")[0]
    assert status == "failed" and "RuntimeError: injected fault" in error
    assert rows(db, "SELECT COUNT(*) FROM outcomes WHERE run_id = 2") == [(0,)]
    assert rows(db, "SELECT n FROM summary WHERE point = 0 AND name = 'spillover.Y'") == [(2,)]
    again = run_experiment(design, tmp_path / "out", SerialEvaluator())
    assert (again.executed, again.completed, again.failed) == (1, 6, 0)
    assert rows(db, "SELECT n FROM summary WHERE point = 0 AND name = 'spillover.Y'") == [(3,)]


def test_ctrl_c_keeps_what_finished_and_a_rerun_finishes(tmp_path):
    text = TINY.replace("replications = 3", "replications = 4").replace(
        "horizon_days = 21", "horizon_days = 45")
    design = write(tmp_path / "d.toml", text)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "simmarket.cli", "experiment", str(design), "--out",
           str(out), "--jobs", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = out / "experiment.db"
    deadline = time.monotonic() + 90
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = rows(db, "SELECT COUNT(*) FROM runs WHERE status = 'completed'")[0][0]
        except (sqlite3.OperationalError, IndexError):
            done = 0
        if done >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the experiment ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    kept = rows(db, "SELECT COUNT(*) FROM runs WHERE status = 'completed'")[0][0]
    assert 2 <= kept < 8
    assert rows(db, "SELECT COUNT(*) FROM runs WHERE status NOT IN ('completed', "
                    "'interrupted')") == [(0,)]
    assert main(["experiment", str(design), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert rows(db, "SELECT COUNT(*) FROM runs WHERE status = 'completed'") == [(8,)]


@pytest.mark.parametrize("args,needle", [
    (["experiment", "{dir}/missing.toml"], "not found"),
    (["experiment", "{dir}/bad.toml"], "tech.acess_share"),
    (["experiment", "{dir}/range.toml"], "sensitivity"),
    (["experiment", "{dir}/ok.toml", "--jobs", "0"], "--jobs"),
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys, args, needle):
    write(tmp_path / "bad.toml", TINY.replace("tech.access_share", "tech.acess_share"))
    write(tmp_path / "range.toml", TINY.replace("values = [0.5, 1.0]", "low = 0.1\nhigh = 1"))
    write(tmp_path / "ok.toml", TINY)
    argv = [a.format(dir=tmp_path) for a in args] + ["--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# -- a policy factor from day X: runs agree before X (what forking at X relies on) ---------

def test_runs_differing_by_a_policy_from_day_x_have_identical_logs_before_x(tmp_path):
    import simmarket

    day = 10.0
    logs = []
    for value in (0.2, 1.0):
        schedule = [{"day": day, "lever": "tech.access_share", "value": value}]
        config = {"seed": 5, "users": {"n": 200}, "horizon_days": 21,
                  "tech": {"access_share": 0.6}, "policy": {"schedule": schedule}}
        db = tmp_path / f"policy-{value}.db"
        assert simmarket.run(config, out=db, handle_signals=False).status == "completed"
        cols = "t, kind, actor_id, actor_type, item_id, counterpart_id, counterpart_type, value"
        logs.append((rows(db, f"SELECT {cols} FROM events WHERE t < {day} ORDER BY event_id"),
                     rows(db, f"SELECT {cols} FROM events WHERE t >= {day} ORDER BY event_id")))
    (before_a, after_a), (before_b, after_b) = logs
    assert len(before_a) > 500 and before_a == before_b
    assert after_a != after_b  # the policies do differ from day X on
