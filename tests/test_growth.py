"""Value spillover: the paper's growth model against its closed-form balanced growth path.

With constant u, effective labour E = (1 - u) D N grows at g = B (uN)^lambda, and
k~ = K / E follows k~' = ((1 - delta) k~ + s A k~^a) / (1 + g). Its fixed point solves
(1 + g) k = (1 - delta) k + s A k^a, i.e. k~* = (s A / (g + delta))^(1 / (1 - a)); on that
path Y = A E k~*^a grows at g too.
"""

from __future__ import annotations

import sqlite3

import pytest
from helpers import run_small

from simmarket.config import Economy
from simmarket.links.spillover import GrowthModel, data_growth_rate, steady_state_k_tilde

ECON = Economy(mode="paper", tfp=1.3, capital_share=0.35, saving_rate=0.25, depreciation=0.06,
               data_productivity=0.3, labour_elasticity=1.0, data_labour_share=0.1,
               labour=1.0, initial_data=2.0, initial_capital=0.5, period_days=7)


def test_closed_form_by_hand():
    g = 0.3 * (0.1 * 1.0) ** 1.0
    assert data_growth_rate(ECON, 0.1) == pytest.approx(g)
    expected = (0.25 * 1.3 / (g + 0.06)) ** (1 / (1 - 0.35))
    assert steady_state_k_tilde(ECON) == pytest.approx(expected, rel=1e-15)


def test_k_tilde_converges_to_steady_state_and_growth_to_g():
    econ = GrowthModel.initial(ECON)
    rows = [econ.step(ECON.data_labour_share) for _ in range(1500)]
    k_star = steady_state_k_tilde(ECON)
    g = data_growth_rate(ECON, ECON.data_labour_share)
    assert rows[-1]["k_tilde"] == pytest.approx(k_star, rel=1e-6)
    assert rows[-1]["output_growth"] == pytest.approx(g, abs=1e-6)
    assert all(r["g"] == pytest.approx(g) for r in rows)
    # data never depreciate in the paper: D grows by exactly g each step
    assert rows[-1]["D"] / rows[-2]["D"] - 1 == pytest.approx(g, rel=1e-12)


def test_semi_endogenous_and_data_depreciation_options():
    jones = Economy(**{**ECON.model_dump(), "labour_elasticity": 0.5})
    assert data_growth_rate(jones, 0.1) == pytest.approx(0.3 * 0.1 ** 0.5)
    dep = GrowthModel.initial(Economy(**{**ECON.model_dump(), "data_depreciation": 0.01}))
    d0 = dep.D
    dep.step(0.1)
    assert dep.D == pytest.approx(d0 * (1 + 0.03 - 0.01))
    rows = [dep.step(0.1) for _ in range(1500)]
    assert rows[-1]["k_tilde"] == pytest.approx(steady_state_k_tilde(dep.econ), rel=1e-6)


def test_simulated_paper_mode_reaches_the_closed_form(tmp_path):
    """The macro process inside a real run, 700 economy periods, against k~*."""
    econ = ECON.model_dump()
    conn = run_small(tmp_path / "macro.db", {
        "users": {"n": 20, "activity_median": 0.01}, "firms": {"initial": 0, "entry_rate": 0},
        "horizon_days": 700 * 7.0, "period_days": 700 * 7.0, "economy": econ,
    })
    rows = conn.execute("SELECT k_tilde, output_growth, g FROM macro ORDER BY period").fetchall()
    assert len(rows) == 701
    k_last, growth_last, g = rows[-1]
    assert k_last == pytest.approx(steady_state_k_tilde(ECON), rel=1e-6)
    assert growth_last == pytest.approx(g, abs=1e-6)


def test_coupled_mode_grows_data_from_platform_activity(tmp_path):
    conn = run_small(tmp_path / "coupled.db", {"economy": {"mode": "coupled"}})
    rows = conn.execute(
        "SELECT period, D, u, data_exported FROM macro ORDER BY period").fetchall()
    exported = sum(r[3] for r in rows)
    assert exported > 0
    assert rows[-1][1] > rows[0][1]  # D grew
    assert all(0 <= r[2] < 1 for r in rows)
    assert any(r[2] > 0 for r in rows[1:])  # u = share of users who created
    scale = Economy().data_scale
    assert rows[-1][1] == pytest.approx(rows[0][1] + exported / scale)
    kinds = {k for (k,) in sqlite3.connect(tmp_path / "coupled.db").execute(
        "SELECT DISTINCT kind FROM events WHERE kind IN ('data_exported', 'macro_step')")}
    assert kinds == {"data_exported", "macro_step"}
