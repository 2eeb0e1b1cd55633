"""Sensitivity analysis with real SALib: ranges checked against the config schema, Morris
and Sobol indices stored and plotted, and a factor that does nothing gets no importance."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simmarket.cli.main import main
from simmarket.experiments.design import DesignError, load_design
from simmarket.experiments.sensitivity import analyse, integer_keys, sampled_design

DESIGN = """
replications = 1
seed = 3
[set]
"users.n" = 200
horizon_days = 14
[[factors]]
key = "tech.access_share"
low = 0.2
high = 1.0
[[factors]]
key = "encounter.feed_size"
low = 5
high = 20
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_bounds_are_checked_against_the_schema(tmp_path):
    design = load_design(write(tmp_path / "d.toml", DESIGN))
    assert integer_keys(design) == {"encounter.feed_size"}
    bad = load_design(write(tmp_path / "b.toml", DESIGN.replace("high = 1.0", "high = 1.5")))
    with pytest.raises(DesignError, match="tech.access_share"):
        integer_keys(bad)
    listed = load_design(write(tmp_path / "v.toml", DESIGN.replace(
        "low = 5\nhigh = 20", "values = [5, 20]")))
    with pytest.raises(DesignError, match="low and high"):
        sampled_design(listed, "morris", 4)


def test_integer_factors_are_sampled_as_integers(tmp_path):
    design = load_design(write(tmp_path / "d.toml", DESIGN))
    sampled, matrix = sampled_design(design, "sobol", 8)
    assert matrix.shape == (8 * 4, 2)
    feeds = [p.values["encounter.feed_size"] for p in sampled.points()]
    assert all(isinstance(v, int) and 5 <= v <= 20 for v in feeds)


def test_morris_finds_the_factor_that_matters(tmp_path):
    """On a known response (y = 10 x1 + 0 x2) SALib's analysis through ours ranks x1; an
    elementary effect is per unit of the factor's range (0.8 wide): 10 x 0.8."""
    design = load_design(write(tmp_path / "d.toml", DESIGN))
    sampled, matrix = sampled_design(design, "morris", 10)
    y = 10 * matrix[:, 0]
    outcomes = pd.DataFrame({"point": range(len(y)), "name": "y", "value": y,
                             "replication": 0})
    rows = {r["factor"]: r for r in analyse(sampled, "morris", matrix, outcomes)}
    assert rows["tech.access_share"]["mu_star"] == pytest.approx(8, rel=1e-6)
    assert rows["encounter.feed_size"]["mu_star"] == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("method,n,cols", [
    ("morris", 2, "mu_star, sigma, mu_star_conf"),
    ("sobol", 2, "S1, S1_conf, ST, ST_conf"),
])
def test_the_cli_runs_salib_on_real_runs(tmp_path, method, n, cols):
    design = write(tmp_path / "d.toml", DESIGN)
    out = tmp_path / method
    assert main(["sensitivity", str(design), "--method", method, "--n", str(n), "--out",
                 str(out), "--jobs", "2", "--quiet"]) == 0
    conn = sqlite3.connect(out / "experiment.db")
    rows = conn.execute(f"SELECT name, factor, {cols} FROM sensitivity_{method}").fetchall()
    runs = conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()[0]
    conn.close()
    assert runs == (n * 3 if method == "morris" else n * 4)
    assert {r[1] for r in rows} == {"tech.access_share", "encounter.feed_size"}
    assert any(r[0] == "encounter.connections" for r in rows)
    assert all(np.isfinite(r[2]) for r in rows)
    assert (out / "plots" / f"sensitivity_{method}.png").stat().st_size > 0


def test_the_cli_refuses_a_bound_out_of_range(tmp_path, capsys):
    design = write(tmp_path / "d.toml", DESIGN.replace("low = 5", "low = 0"))
    assert main(["sensitivity", str(design), "--method", "morris", "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "encounter.feed_size" in err and "Traceback" not in err
