"""Value spillover: the paper's growth model against its closed-form balanced growth path.

The economy runs on an annual clock (MODEL.md §9.5): rates are per year and a step of
``period_days`` lasts dt = period_days / 365 years. With constant u, effective labour
E = (1 - u) D N grows at g = B (uN)^lambda a year, and k~ = K / E follows
k~' = ((1 - delta dt) k~ + s A k~^a dt) / (1 + g dt). Its fixed point solves
g k = -delta k + s A k^a, i.e. k~* = (s A / (g + delta))^(1 / (1 - a)) whatever dt; on that
path Y = A E k~*^a grows by g dt a step. Near k~* the gap shrinks by the factor
((1 - delta dt) + a (g + delta) dt) / (1 + g dt) a step, so convergence is a matter of years:
the tests step a year at a time.
"""

from __future__ import annotations

import sqlite3

import pytest
from helpers import run_small

from simmarket.config import Economy
from simmarket.links.spillover import GrowthModel, data_growth_rate, steady_state_k_tilde

#: Annual steps: the gap to k~* shrinks by ~0.943 a step (1500 steps: e^-88).
ECON = Economy(mode="paper", tfp=1.3, capital_share=0.35, saving_rate=0.25, depreciation=0.06,
               data_productivity=0.3, labour_elasticity=1.0, data_labour_share=0.1,
               labour=1.0, initial_data=2.0, initial_capital=0.5, period_days=365)


def _econ(**changes) -> Economy:
    return Economy(**{**ECON.model_dump(), **changes})


def test_closed_form_by_hand():
    g = 0.3 * (0.1 * 1.0) ** 1.0
    assert data_growth_rate(ECON, 0.1) == pytest.approx(g)
    expected = (0.25 * 1.3 / (g + 0.06)) ** (1 / (1 - 0.35))
    assert steady_state_k_tilde(ECON) == pytest.approx(expected, rel=1e-15)
    # the steady state does not depend on the step: rates are per year
    assert steady_state_k_tilde(_econ(period_days=7)) == steady_state_k_tilde(ECON)


def test_k_tilde_converges_to_steady_state_and_growth_to_g():
    econ = GrowthModel.initial(ECON)
    assert econ.dt == 1.0
    rows = [econ.step(ECON.data_labour_share) for _ in range(1500)]
    k_star = steady_state_k_tilde(ECON)
    g = data_growth_rate(ECON, ECON.data_labour_share)
    assert rows[-1]["k_tilde"] == pytest.approx(k_star, rel=1e-6)
    assert rows[-1]["output_growth"] == pytest.approx(g, abs=1e-6)
    assert all(r["g"] == pytest.approx(g) for r in rows)
    # data never depreciate in the paper: D grows by exactly g dt each step
    assert rows[-1]["D"] / rows[-2]["D"] - 1 == pytest.approx(g, rel=1e-12)


def test_short_steps_grow_by_g_dt_and_a_year_is_a_year():
    """The same economy stepped weekly: D grows by g x 7/365 a step. A year is a year
    whatever the step: k~ after 73 five-day steps agrees with 365 daily steps (both near the
    continuous path), and with one annual step up to the Euler error — not 73 times as far."""
    weekly = GrowthModel.initial(_econ(period_days=7))
    g = data_growth_rate(ECON, 0.1)
    d0 = weekly.D
    weekly.step(0.1)
    assert weekly.D == pytest.approx(d0 * (1 + g * 7 / 365), rel=1e-12)

    def k_after_a_year(days: int) -> float:
        m = GrowthModel.initial(_econ(period_days=days))
        for _ in range(365 // days):
            m.step(0.1)
        assert m.D == pytest.approx(d0 * (1 + g * days / 365) ** (365 // days), rel=1e-12)
        return m.K / ((1 - 0.1) * m.D * ECON.labour)

    k0 = ECON.initial_capital / ((1 - 0.1) * ECON.initial_data * ECON.labour)
    daily, five, annual = k_after_a_year(1), k_after_a_year(5), k_after_a_year(365)
    assert five - k0 == pytest.approx(daily - k0, rel=0.01)
    assert annual - k0 == pytest.approx(daily - k0, rel=0.15)


def test_semi_endogenous_and_data_depreciation_options():
    jones = _econ(labour_elasticity=0.5)
    assert data_growth_rate(jones, 0.1) == pytest.approx(0.3 * 0.1 ** 0.5)
    dep = GrowthModel.initial(_econ(data_depreciation=0.01))
    d0 = dep.D
    dep.step(0.1)
    assert dep.D == pytest.approx(d0 * (1 + 0.03 - 0.01))
    rows = [dep.step(0.1) for _ in range(1500)]
    assert rows[-1]["k_tilde"] == pytest.approx(steady_state_k_tilde(dep.econ), rel=1e-6)


def test_simulated_paper_mode_reaches_the_closed_form(tmp_path):
    """The macro process inside a real run, 100 annual steps (the longest horizon a run
    takes), against k~* and against the growth model stepped by hand. A faster economy
    (delta 0.3, g 0.1 a year: the gap shrinks by ~0.76 a year) converges within it."""
    econ = _econ(depreciation=0.3, data_productivity=1.0)
    conn = run_small(tmp_path / "macro.db", {
        "users": {"n": 20, "activity_median": 0.001}, "firms": {"initial": 0, "entry_rate": 0},
        "horizon_days": 100 * 365.0, "period_days": 100 * 365.0,
        "economy": econ.model_dump(),
    })
    rows = conn.execute("SELECT k_tilde, output_growth, g, Y FROM macro ORDER BY period").fetchall()
    assert len(rows) == 101
    k_last, growth_last, g, _ = rows[-1]
    assert g == pytest.approx(data_growth_rate(econ, 0.1))
    assert k_last == pytest.approx(steady_state_k_tilde(econ), rel=1e-6)
    assert growth_last == pytest.approx(g, abs=1e-6)
    by_hand = GrowthModel.initial(econ)
    expected = [by_hand.step(0.1)["Y"] for _ in range(100)]
    assert [r[3] for r in rows[1:]] == pytest.approx(expected, rel=1e-12)


def test_coupled_mode_grows_data_from_platform_activity(tmp_path):
    conn = run_small(tmp_path / "coupled.db", {"economy": {"mode": "coupled"}})
    rows = conn.execute(
        "SELECT period, D, u, data_exported FROM macro ORDER BY period").fetchall()
    exported = sum(r[3] for r in rows)
    assert exported > 0
    assert rows[-1][1] > rows[0][1]  # D grew
    assert all(0 <= r[2] < 1 for r in rows)
    assert any(r[2] > 0 for r in rows[1:])  # u = share of users' time spent creating
    scale = Economy().data_scale
    assert rows[-1][1] == pytest.approx(rows[0][1] + exported / scale)
    kinds = {k for (k,) in sqlite3.connect(tmp_path / "coupled.db").execute(
        "SELECT DISTINCT kind FROM events WHERE kind IN ('data_exported', 'macro_step')")}
    assert kinds == {"data_exported", "macro_step"}
