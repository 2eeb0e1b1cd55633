"""The readings of Propositions 2 and 4 (``simmarket.analysis.propositions``) on hand-made
data, so that each can fail: a curve whose items gain value connection by connection while
the mean curve over items falls (Proposition 2 holds), and the reverse (it does not); firm
closeness that predicts next period's captured value while the value-weighted, same-period
correlation says the opposite, and the reverse. ``report`` and ``compare`` give the same
verdicts on the same databases."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from simmarket.analysis.compare import compare
from simmarket.analysis.propositions import (
    closeness_prediction,
    closeness_reading,
    curve_trend,
    curve_verdict,
    fig1_verdicts,
)
from simmarket.analysis.report import findings
from simmarket.store.schema import create_schema

# (c, connections, value_sum, within_item_change_sum, network_term_sum, composition_term_sum)
#: within items each next connection gains (+0.5 over 5 pairs, +0.2 over 2), but the items
#: that go on are the weaker ones: the mean curve falls 1.0 -> 0.8 -> 0.6
GAINS_WHILE_MEAN_FALLS = [(1, 10, 10.0, 0.0, 0.0, 0.0), (2, 5, 4.0, 0.5, 1.0, -0.5),
                          (3, 2, 1.2, 0.2, 0.4, -0.2)]
#: within items each next connection loses, but only the best items go on: the mean curve
#: rises 1.0 -> 1.2 -> 1.5
LOSES_WHILE_MEAN_RISES = [(1, 10, 10.0, 0.0, 0.0, 0.0), (2, 5, 6.0, -0.5, 0.5, -1.0),
                          (3, 2, 3.0, -0.2, 0.2, -0.4)]
#: industrial mode: no network term, no composition term; diminishing utility only
INDUSTRIAL_LOSES_WHILE_MEAN_RISES = [(1, 10, 10.0, 0.0, 0.0, 0.0), (2, 5, 6.0, -0.5, 0.0, 0.0),
                                     (3, 2, 3.0, -0.2, 0.0, 0.0)]


def curve_db(rows: list[tuple], path: Path | None = None, mode: str | None = None
             ) -> sqlite3.Connection:
    """A run database (a copy of a real one at ``path``, or an empty in-memory one) whose
    connection_curve holds exactly ``rows``."""
    if path is None:
        conn = sqlite3.connect(":memory:")
        create_schema(sqlite_utils.Database(conn))
    else:
        conn = sqlite3.connect(path)
    conn.execute("DELETE FROM connection_curve")
    conn.executemany("""INSERT INTO connection_curve (c, connections, value_sum,
                        value_per_quality_sum, within_item_change_sum, network_term_sum,
                        composition_term_sum) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                     [(c, n, v, v, w, net, comp) for c, n, v, w, net, comp in rows])
    if mode is not None:
        conn.execute("UPDATE runs SET mode = ?", (mode,))
    conn.commit()
    return conn


# -- Proposition 2 -------------------------------------------------------------------------------

def test_within_item_gain_holds_although_the_mean_curve_falls():
    t = curve_trend(curve_db(GAINS_WHILE_MEAN_FALLS))
    assert t.direction == "falls" and t.slope < 0  # the mean curve over items
    assert t.within_pairs == 7
    assert t.within_change == pytest.approx(0.7 / 7) and t.within_direction == "rises"
    assert t.network_change == pytest.approx(1.4 / 7)
    assert t.composition_change == pytest.approx(-0.7 / 7)
    assert t.other_change == pytest.approx(0.0, abs=1e-12)
    assert t.mean_curve_change == pytest.approx(-0.2)  # (5 x -0.2 + 2 x -0.2) / 7
    assert t.selection_change == pytest.approx(-0.2 - 0.1)
    v = curve_verdict(t, "metaverse")
    assert v.holds is True
    assert "network term 0.2" in v.evidence and "audience composition -0.1" in v.evidence


def test_within_item_loss_does_not_hold_although_the_mean_curve_rises():
    t = curve_trend(curve_db(LOSES_WHILE_MEAN_RISES))
    assert t.direction == "rises" and t.slope > 0
    assert t.within_direction == "falls"
    assert curve_verdict(t, "metaverse").holds is False
    assert t.selection_change == pytest.approx(t.mean_curve_change - t.within_change)
    assert t.selection_change > 0  # the rise of the mean curve is selection


def test_industrial_reading_expects_a_loss_and_shows_it_as_other():
    t = curve_trend(curve_db(INDUSTRIAL_LOSES_WHILE_MEAN_RISES))
    assert curve_verdict(t, "industrial").holds is True
    assert curve_verdict(t, "metaverse").holds is False
    assert t.network_change == t.composition_change == 0.0
    assert t.other_change == pytest.approx(t.within_change)
    assert "other" in curve_verdict(t, "industrial").evidence


def test_no_second_connection_is_undetermined_not_a_verdict():
    t = curve_trend(curve_db([(1, 4, 4.0, 0.0, 0.0, 0.0)]))
    assert t.within_pairs == 0 and t.within_change is None
    assert curve_verdict(t, "metaverse").holds is None
    empty = curve_trend(curve_db([]))
    assert empty.connections == 0 and curve_verdict(empty, "metaverse").holds is None


def test_fig1_verdicts_on_two_hand_made_curves():
    meta = curve_trend(curve_db(GAINS_WHILE_MEAN_FALLS))
    ind = curve_trend(curve_db(INDUSTRIAL_LOSES_WHILE_MEAN_RISES))
    assert [v.holds for v in fig1_verdicts(meta, ind)] == [True, True, False]  # 15.2 < 19
    swapped = fig1_verdicts(curve_trend(curve_db(LOSES_WHILE_MEAN_RISES)),
                            curve_trend(curve_db(GAINS_WHILE_MEAN_FALLS)))
    assert [v.holds for v in swapped] == [False, False, True]


@pytest.fixture
def hand_made_pair(small_db, tmp_path) -> tuple[Path, Path]:
    """Two real run databases (copies of one run, the second relabelled industrial) whose
    curves are replaced: the metaverse one gains within items while its mean curve falls,
    the industrial one loses within items while its mean curve rises."""
    meta, ind = tmp_path / "meta.db", tmp_path / "ind.db"
    shutil.copy(small_db, meta)
    shutil.copy(small_db, ind)
    curve_db(GAINS_WHILE_MEAN_FALLS, meta).close()
    curve_db(INDUSTRIAL_LOSES_WHILE_MEAN_RISES, ind, mode="industrial").close()
    return meta, ind


def test_compare_and_report_agree_on_hand_made_databases(hand_made_pair):
    meta, ind = hand_made_pair
    c = compare([meta, ind])
    within = {v.claim: v.holds for v in c.verdicts[:2]}
    assert within == {"metaverse mode: within items, each next connection is worth more": True,
                      "industrial mode: within items, each next connection is worth less": True}
    for path, (claim, holds) in zip((meta, ind), within.items()):
        conn = sqlite3.connect(path)
        text = dict(findings(conn))["connection value\n(v_connection_value_curve)"]
        conn.close()
        assert f"Proposition 2 ({claim}): {'holds' if holds else 'does NOT hold'}" in text
    # the mean curve's slope is shown as a figure, and it falls: not a verdict
    slopes = [values for layer, label, values in c.rows() if label.startswith(
        "mean curve: slope")][0]
    assert slopes[0] < 0


# -- Proposition 4 -------------------------------------------------------------------------------

def centrality_db(rows: list[tuple]) -> sqlite3.Connection:
    """Firm centrality rows (period, firm, alpha, closeness, captured_period,
    closeness_value, captured_value) in an otherwise empty run database."""
    conn = sqlite3.connect(":memory:")
    create_schema(sqlite_utils.Database(conn))
    conn.executemany("""INSERT INTO centrality (period, t, node, node_type, alpha, degree,
                        strength, generalized_degree, closeness, harmonic_closeness,
                        strength_value, closeness_value, harmonic_closeness_value,
                        captured_value, captured_period)
                        VALUES (?, ?, ?, 'firm', ?, 1, 1, 1, ?, ?, 1, ?, ?, ?, ?)""",
                     [(p, 7.0 * (p + 1), f, a, x, x, xv, xv, yv, y)
                      for p, f, a, x, y, xv, yv in rows])
    return conn


def snapshots(predicts: bool, periods: int = 3, firms: int = 5) -> list[tuple]:
    """Closeness at t ranks the firms like (predicts) or against (not) the value they
    capture at t + 1; value-weighted closeness ranks them against captured value so far
    at the same snapshot (and so does this period's captured value, on purpose)."""
    rows = []
    for p in range(periods):
        for f in range(firms):
            closeness = float(f + 1)
            next_rank = f if predicts else firms - f  # captured at p+1 follows closeness at p
            rows.append((p, f, 1.0, closeness, float(next_rank), float(firms - f),
                         float(f + 10 * p)))
    return rows


def test_closeness_now_predicting_next_period_holds_whatever_the_value_weighted_says():
    reading = closeness_reading(centrality_db(snapshots(predicts=True)))
    assert reading.state == "holds" and reading.verdict.holds is True
    (a,) = reading.alphas
    assert a.snapshots == 2 and a.positive == 2  # the last snapshot has no next one
    assert a.mean_spearman == pytest.approx(1.0)
    assert a.mean_spearman_value_weighted == pytest.approx(-1.0)  # shown, not the verdict
    assert "value-weighted" in reading.verdict.evidence


def test_closeness_that_does_not_predict_fails():
    reading = closeness_reading(centrality_db(snapshots(predicts=False)))
    assert reading.state == "fails" and reading.verdict.holds is False
    assert reading.alphas[0].mean_spearman == pytest.approx(-1.0)


def test_firms_that_exit_drop_out_of_the_prediction():
    rows = snapshots(predicts=True, periods=2, firms=4)
    rows = [r for r in rows if not (r[0] == 1 and r[1] == 3)]  # firm 3 exits after period 0
    conn = centrality_db(rows)
    firms, firms_next = conn.execute(
        "SELECT firms, firms_next FROM v_closeness_correlation WHERE period = 0").fetchone()
    assert (firms, firms_next) == (4, 3)
    assert closeness_reading(conn).alphas[0].snapshots == 1
    # too few firms at a snapshot and the next: undetermined, not a verdict either way
    assert closeness_reading(conn, min_firms=4).state == "undetermined"


def test_closeness_reading_per_alpha_partial_and_undetermined():
    rows = [{"period": p, "alpha": alpha, "firms": 5, "firms_next": 5, "spearman": rho,
             "spearman_value_weighted": 0.9}
            for p in range(3) for alpha, rho in ((0.5, 0.4), (1.0, -0.2))]
    reading = closeness_prediction(rows)
    assert reading.state == "partial" and reading.verdict.holds is False
    assert [a.alpha for a in reading.alphas] == [0.5, 1.0]
    few = [dict(r, firms_next=2) for r in rows]
    assert closeness_prediction(few).state == "undetermined"
    assert closeness_prediction(few).verdict.holds is None
    assert closeness_prediction([]).state == "undetermined"
