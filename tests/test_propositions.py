"""The propositions suite: verdicts computed from paired intervals (all three can occur),
and the real suite at a reduced size through the CLI: table, markdown, one plot each."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from simmarket.cli.main import main
from simmarket.experiments.propositions import (
    ARMS,
    CLAIMS,
    TITLES,
    suite_design,
    verdicts,
)


def synthetic(effect: dict[str, float], reps: int = 5) -> pd.DataFrame:
    """Outcomes where arm ``a`` has ``effect[a] + noise`` for every metric (shared noise per
    replication, as common random numbers give)."""
    metrics = {c.metric for c in CLAIMS}
    rows = []
    for p, arm in enumerate(ARMS):
        for r in range(reps):
            for m in metrics:
                rows.append({"point": p, "replication": r, "name": m,
                             "value": effect.get(arm.name, 0.0) + 0.1 * r + 0.01 * (r % 2) * p})
    return pd.DataFrame(rows)


def test_verdicts_are_computed_holds_contradicts_inconclusive():
    outcomes = synthetic({"sharing_high": 1.0, "sharing_low": 0.0,       # P1 holds
                          "data_high": -1.0, "data_low": 0.0})           # P5 contradicts
    rows = verdicts(outcomes)
    by = {(r["proposition"], r["metric"]): r for r in rows}
    assert by[(1, "production.mean_quality")]["verdict"] == "holds"
    assert by[(1, "production.mean_quality")]["agree_share"] == 1.0
    assert by[(5, "spillover.K")]["verdict"] == "contradicts"
    assert by[(5, "spillover.K")]["agree_share"] == 0.0
    # baseline and no_government differ only by the small per-point noise: no sign
    six = by[(6, "production.sharing_rate")]
    assert six["ci_low"] < 0 < six["ci_high"] and six["verdict"] == "inconclusive"
    assert len(rows) == len(CLAIMS) and {r["proposition"] for r in rows} == set(TITLES)


def test_a_level_claim_is_judged_against_its_threshold():
    outcomes = synthetic({"baseline": -2.0})  # P4's correlation at the baseline < 0
    p4 = next(r for r in verdicts(outcomes) if r["proposition"] == 4)
    assert p4["verdict"] == "contradicts" and p4["effect"] == pytest.approx(-1.8)


def test_the_suite_shares_seeds_across_arms_and_needs_two_reps():
    design = suite_design(3, 400, 30)
    runs = design.runs()
    assert len(design.points()) == len(ARMS)
    seeds = {(r.point, r.replication): r.seed for r in runs}
    assert all(seeds[(p, k)] == seeds[(0, k)] for p in range(len(ARMS)) for k in range(3))
    assert all(r.config["users"]["n"] == 400 and r.config["horizon_days"] == 30 for r in runs)
    with pytest.raises(ValueError, match="at least 2"):
        suite_design(1, 400, 30)


def _run_suite(tmp_path, reps, users, days):
    out = tmp_path / "props"
    code = main(["propositions", "--reps", str(reps), "--users", str(users), "--days",
                 str(days), "--jobs", "2", "--out", str(out), "--quiet"])
    assert code == 0
    conn = sqlite3.connect(out / "experiment.db")
    rows = conn.execute("SELECT proposition, metric, expected, effect, ci_low, ci_high, "
                        "agree_share, verdict FROM propositions").fetchall()
    runs = conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()[0]
    conn.close()
    assert runs == reps * len(ARMS)
    assert len(rows) == len(CLAIMS)
    assert {r[7] for r in rows} <= {"holds", "contradicts", "inconclusive"}
    for _, _, _, effect, low, high, agree, _ in rows:
        if low is not None:
            assert low <= effect <= high
        assert agree is None or 0 <= agree <= 1
    text = (out / "propositions.md").read_text(encoding="utf-8")
    for n in TITLES:
        assert f"## P{n}." in text and (out / "plots" / f"proposition_{n}.png").stat().st_size
    return rows


def test_the_real_suite_at_ci_size(tmp_path):
    """simmarket propositions --reps 3 --users 800 --days 60 (the issue's CI size)."""
    _run_suite(tmp_path, 3, 800, 60)
