"""``simmarket compare``: runs side by side, refusals of runs that do not compare, and the
paper's Fig. 1 computed from the real scenario files — each verdict checked against an
independent computation from the databases, whichever way it comes out."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import simmarket
from simmarket.analysis.compare import RunFigures, compare, fig1_verdicts
from simmarket.analysis.frames import CurveTrend
from simmarket.analysis.report import findings
from simmarket.cli import main
from simmarket.config import load_config

ROOT = Path(__file__).resolve().parents[1]
#: the real scenario files, scaled down (same seed, same levers otherwise)
SCALE = {"users.n": 1200, "horizon_days": 56.0}


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("fig1")
    paths = []
    for name in ("baseline", "industrial"):
        cfg = load_config(ROOT / "configs" / f"{name}.toml", **SCALE)
        result = simmarket.run(cfg, out=out / f"{name}.db", force=True, handle_signals=False)
        assert result.status == "completed"
        paths.append(result.db_path)
    return paths[0], paths[1]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def test_the_two_scenarios_share_seed_and_horizon(pair):
    seeds = [sqlite3.connect(p).execute("SELECT seed, horizon_days, mode FROM runs").fetchone()
             for p in pair]
    assert seeds[0][:2] == seeds[1][:2]
    assert [s[2] for s in seeds] == ["metaverse", "industrial"]


def test_compare_prints_both_runs_with_differences_and_ratios(pair, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per figure
    code, out, _ = cli(capsys, "compare", str(pair[0]), str(pair[1]))
    assert code == 0
    flat = " ".join(out.split())
    for text in (f"A = baseline (metaverse, seed 20240601): {pair[0]}",
                 f"B = industrial (industrial, seed 20240601): {pair[1]}", "B − A", "B / A",
                 "value encountered", "total connection value", "Fig. 1"):
        assert text in flat, text


def direction(x: float, scale: float) -> str:
    return "rises" if x > scale else "falls" if x < -scale else "flat"


def independent_trend(path: Path) -> dict[str, float]:
    """The within-item change, from the event log item by item, and total value."""
    conn = sqlite3.connect(path)
    n, total = conn.execute(
        "SELECT SUM(connections), SUM(value_sum) FROM connection_curve").fetchone()
    values = defaultdict(list)
    for item, value in conn.execute(
            "SELECT item_id, value FROM events WHERE kind = 'connection' ORDER BY event_id"):
        values[item].append(value)
    changes = [b - a for vs in values.values() for a, b in zip(vs, vs[1:])]
    return {"within": float(np.mean(changes)), "total": float(total), "mean": total / n}


def test_fig1_verdicts_are_computed_from_the_databases(pair, capsys):
    """Proposition 2 is read within items (the event log, item by item), never from a slope
    fitted to the mean curve over items; compare and report give the same verdicts."""
    code, out, _ = cli(capsys, "compare", str(pair[0]), str(pair[1]), "--json")
    assert code == 0
    data = json.loads(out)
    verdicts = {v["claim"]: v["holds"] for v in data["fig1"]}
    meta, ind = independent_trend(pair[0]), independent_trend(pair[1])
    tol = 0.001
    expect = {
        "metaverse mode: within items, each next connection is worth more":
            direction(meta["within"], tol * meta["mean"]) == "rises",
        "industrial mode: within items, each next connection is worth less":
            direction(ind["within"], tol * ind["mean"]) == "falls",
        "total connection value is higher in metaverse mode": meta["total"] > ind["total"],
    }
    assert verdicts == expect
    for v in data["fig1"][:2]:  # the decomposition is the evidence
        assert "network term" in v["evidence"] and "audience composition" in v["evidence"]
    # the plain-language conclusion follows the verdicts, whichever way they came out
    code, out, _ = cli(capsys, "compare", str(pair[0]), str(pair[1]))
    flat = " ".join(out.split())
    if all(expect.values()):
        assert "show the connection-value difference Fig. 1 predicts" in flat
    else:
        failed = sum(not v for v in expect.values())
        assert f"do not show all of Fig. 1: {failed} of {len(expect)} claims fail" in flat
    # report reads each run the same way
    for path, claim in zip(pair, list(expect)[:2]):
        conn = sqlite3.connect(path)
        text = dict(findings(conn))["connection value\n(v_connection_value_curve)"]
        conn.close()
        word = "holds" if expect[claim] else "does NOT hold"
        assert f"Proposition 2 ({claim}): {word}" in text


def trend(within: float, slope: float, total: float) -> CurveTrend:
    """A hand-made curve reading: the within-item change and the mean curve's slope apart."""
    return CurveTrend(connections=100, total_value=total, mean_value=1.0, first_value=1.0,
                      slope=slope, direction=direction(slope, 0.001),
                      slope_per_quality=slope, direction_per_quality=direction(slope, 0.001),
                      within_pairs=50, within_change=within,
                      within_direction=direction(within, 0.001), network_change=within,
                      composition_change=0.0, other_change=0.0)


def figures(mode: str, t: CurveTrend) -> RunFigures:
    return RunFigures(info=type("Info", (), {"mode": mode})(), figures={}, trend=t)


def test_fig1_follows_the_within_item_change_not_the_mean_curve():
    # the mean curve goes the "wrong" way in both runs; within items each goes the right way
    right = fig1_verdicts([figures("metaverse", trend(0.01, -0.1, 20.0)),
                           figures("industrial", trend(-0.01, 0.1, 10.0))])
    assert [v.holds for v in right] == [True] * 3
    # and the reverse: mean curves as the paper draws them, within items the wrong way
    wrong = fig1_verdicts([figures("metaverse", trend(-0.01, 0.1, 10.0)),
                           figures("industrial", trend(0.01, -0.1, 20.0))])
    assert [v.holds for v in wrong] == [False] * 3
    assert fig1_verdicts([figures("metaverse", trend(0.01, 0.1, 1.0))] * 2) == []


def test_runs_of_different_horizons_are_refused(pair, small_db, capsys):
    code, out, err = cli(capsys, "compare", str(pair[0]), str(small_db))
    assert code == 2
    assert "not comparable" in err and "same horizon" in " ".join(err.split())
    assert "Traceback" not in out + err


def test_a_run_stopped_earlier_is_refused(pair, tmp_path, capsys):
    stopped = tmp_path / "stopped.db"
    stopped.write_bytes(pair[1].read_bytes())
    with sqlite3.connect(stopped) as c:
        c.execute("UPDATE runs SET status = 'interrupted', t_reached = 30")
    code, _, err = cli(capsys, "compare", str(pair[0]), str(stopped))
    assert code == 2 and "day 30 (interrupted)" in err


def test_compare_needs_two_runs_and_notes_differences(pair, capsys, tmp_path):
    code, _, err = cli(capsys, "compare", str(pair[0]))
    assert code == 2 and "at least two" in err
    other = tmp_path / "seed.db"
    other.write_bytes(pair[0].read_bytes())
    with sqlite3.connect(other) as c:
        c.execute("UPDATE runs SET seed = 1")
    c = compare([pair[0], other])
    assert any("seeds" in n for n in c.notes)
    assert c.verdicts == []  # two metaverse runs: no Fig. 1 pair
    ratios = [values for _, label, values in c.rows() if label == "connections"][0]
    assert ratios[0] == ratios[1]
