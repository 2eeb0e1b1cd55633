"""The paper's claims, read from run databases: every verdict of ``report`` and ``compare``.

One place decides whether a run bears a proposition out, so that ``simmarket report``,
``simmarket compare``, their plots and the README say the same thing (issue 6: verdicts do
not live in the presentation modules). Each reading is computed from the run's tables or
views and reported as holding, failing or undetermined — never assumed.

**Proposition 2** (paper §3.1.1, Fig. 1; MODEL.md §9.3). The claim is about the *same item*
gaining value as more users connect to it, so it is read within items: the mean change of
value from an item's (c-1)-th to its c-th connection (:attr:`CurveTrend.within_change`).
That change splits exactly into the *network term* (a larger community is worth more) and
the *audience composition* term (the c-th connector's affinity against the (c-1)-th's); in
industrial mode neither applies and the whole change is the buyer's diminishing utility
(:attr:`CurveTrend.other_change`). The mean curve over items — the mean value of the c-th
connection of the items that reach c — is *not* the claim: its change is the within-item
change plus a *selection* term (which items go on to high c). Its slope on ln c is kept as a
description, never as a verdict.

- single run: :func:`curve_verdict` (the within-item direction the run's mode predicts);
- two runs (a metaverse and an industrial one): :func:`fig1_verdicts`.

**Proposition 4** (§4.2.3; MODEL.md §9.2): closeness on the network of *interactions* at a
snapshot predicts the value a firm captures in the period of its next snapshot
(``v_closeness_correlation``): :func:`closeness_prediction`. The value-weighted, same-period
correlation is shown beside it as the secondary measure, never as the verdict.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from simmarket.analysis.summary import fmt

#: the within-item direction each mode's corner of Fig. 1 predicts
EXPECTED_DIRECTION = {"metaverse": "rises", "industrial": "falls"}

#: CurveTrend fields compared between runs, with their labels (``simmarket compare``)
CURVE_LABELS: dict[str, str] = {
    "total_value": "total connection value",
    "first_value": "mean value of an item's 1st connection",
    "within_change": "within items: mean change to the next connection (Proposition 2)",
    "network_change": "  of which the network term",
    "composition_change": "  of which audience composition (later connectors' affinity)",
    "other_change": "  of which other (industrial: diminishing utility)",
    "selection_change": "mean curve over items: selection of items into high c",
    "mean_curve_change": "mean curve over items: mean change from c - 1 to c",
    "slope": "mean curve: slope of value on ln c (description, not a test)",
    "slope_per_quality": "mean curve per unit of quality: slope on ln c (description)",
}

#: curve figures whose ratio between runs means nothing (they can be zero or change sign)
SIGNED_CURVE_FIGURES = frozenset(CURVE_LABELS) - {"total_value", "first_value"}


@dataclass
class Verdict:
    """One computed claim of the paper and whether the run(s) bear it out (None: cannot
    tell)."""

    claim: str
    holds: bool | None
    evidence: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- Proposition 2: the connection value curve ------------------------------------------------

#: sums over the connection_curve table, one row
CURVE_SUMS_SQL = """
SELECT SUM(connections), SUM(connections * LN(c)), SUM(connections * LN(c) * LN(c)),
       SUM(value_sum), SUM(value_sum * LN(c)),
       SUM(value_per_quality_sum), SUM(value_per_quality_sum * LN(c)),
       MAX(CASE WHEN c = 1 THEN value_sum / connections END),
       SUM(CASE WHEN c > 1 THEN connections END),
       SUM(CASE WHEN c > 1 THEN within_item_change_sum END),
       SUM(CASE WHEN c > 1 THEN network_term_sum END),
       SUM(CASE WHEN c > 1 THEN composition_term_sum END)
FROM connection_curve WHERE connections > 0"""

#: the mean curve's change from c - 1 to c, weighted like the within-item change (by the
#: items that reach c), so that the two differ by exactly the selection term
MEAN_CURVE_CHANGE_SQL = """
SELECT SUM(connections * marginal_change) / NULLIF(SUM(connections), 0)
FROM (SELECT c, connections,
             value_sum / connections
               - LAG(value_sum / connections) OVER (ORDER BY c) AS marginal_change
      FROM connection_curve WHERE connections > 0)
WHERE c > 1 AND marginal_change IS NOT NULL"""


@dataclass
class CurveTrend:
    """How the value of an item's connections moves with c, and why.

    ``within_change``: mean over all (c-1, c) pairs of the same item of v(c) - v(c-1) —
    the reading of Proposition 2. It is ``network_change + composition_change +
    other_change`` exactly (``other_change`` is the buyer's diminishing utility in
    industrial mode, ~0 in metaverse mode). ``mean_curve_change``: the mean change of the
    mean curve over items from c-1 to c, weighted the same way; it is ``within_change +
    selection_change``. ``slope`` / ``slope_per_quality``: connection-weighted least-squares
    slope of a connection's value (per unit of its item's quality) on ln c over the mean
    curve — descriptions of its shape, not tests. A direction is "rises" or "falls" when the
    figure's sign says so beyond ``tolerance`` x the mean value of a connection, "flat"
    otherwise, "undetermined" when there is nothing to measure.
    """

    connections: int
    total_value: float
    mean_value: float
    first_value: float | None
    slope: float | None
    direction: str
    slope_per_quality: float | None
    direction_per_quality: str
    within_pairs: int = 0
    within_change: float | None = None
    within_direction: str = "undetermined"
    network_change: float | None = None
    composition_change: float | None = None
    other_change: float | None = None
    mean_curve_change: float | None = None
    selection_change: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def curve_trend(conn: sqlite3.Connection, *, tolerance: float = 0.001) -> CurveTrend:
    """Measure the connection value curve of a run from its ``connection_curve`` table."""
    (n, sx, sxx, sv, sxv, sq, sxq, first, pairs, within, network,
     composition) = conn.execute(CURVE_SUMS_SQL).fetchone()
    mean_curve = conn.execute(MEAN_CURVE_CHANGE_SQL).fetchone()[0]
    n, pairs = int(n or 0), int(pairs or 0)
    total = float(sv or 0.0)
    mean = total / n if n else 0.0
    mean_q = (sq or 0.0) / n if n else 0.0
    slope, slope_q = _ln_slope(n, sx, sxx, sv, sxv), _ln_slope(n, sx, sxx, sq, sxq)

    def per_pair(s: float | None) -> float | None:
        return float(s or 0.0) / pairs if pairs else None

    change = per_pair(within)
    net, comp = per_pair(network), per_pair(composition)
    other = None if change is None else change - net - comp
    if other is not None and abs(other) <= 1e-9 * max(abs(change), mean, 1e-300):
        other = 0.0  # rounding: in metaverse mode the two terms are the whole change
    return CurveTrend(
        connections=n, total_value=total, mean_value=mean, first_value=first,
        slope=slope, direction=direction(slope, tolerance * mean),
        slope_per_quality=slope_q, direction_per_quality=direction(slope_q, tolerance * mean_q),
        within_pairs=pairs, within_change=change,
        within_direction=direction(change, tolerance * mean),
        network_change=net, composition_change=comp,
        other_change=other,
        mean_curve_change=mean_curve,
        selection_change=None if mean_curve is None or change is None
        else mean_curve - change)


def _ln_slope(n: int, sx: float | None, sxx: float | None, sy: float | None,
              sxy: float | None) -> float | None:
    """Least-squares slope of y on x = ln c over n connections, from the sums."""
    if not n or sx is None or sxx is None or sy is None or sxy is None:
        return None
    var = sxx / n - (sx / n) ** 2
    if var <= 1e-12:
        return None
    return (sxy / n - (sx / n) * (sy / n)) / var


def direction(x: float | None, scale: float = 0.0) -> str:
    """"rises", "falls" or "flat" (|x| <= scale); "undetermined" for no number."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "undetermined"
    if x > scale:
        return "rises"
    if x < -scale:
        return "falls"
    return "flat"


def decomposition(t: CurveTrend) -> str:
    """The within-item change and the mean curve's change, term by term, in words."""
    if t.within_change is None:
        return "no item has a second connection"
    text = (f"mean change {fmt(t.within_change)} over {t.within_pairs:,} pairs = network "
            f"term {fmt(t.network_change)} + audience composition "
            f"{fmt(t.composition_change)}")
    if t.other_change:
        text += f" + other {fmt(t.other_change)}"
    if t.mean_curve_change is not None and t.selection_change is not None:
        text += (f"; the mean curve over items changes by {fmt(t.mean_curve_change)} per "
                 f"step of c, of which selection of items {fmt(t.selection_change)}")
    return text


def curve_verdict(t: CurveTrend, mode: str | None) -> Verdict:
    """Proposition 2 on one run: within items, does the next connection gain (metaverse)
    or lose (industrial) value? The mode decides which way the paper predicts."""
    expected = EXPECTED_DIRECTION.get(mode or "metaverse", "rises")
    found = t.within_direction
    holds = None if found == "undetermined" else found == expected
    kind = "mode" if mode in EXPECTED_DIRECTION else "mode (metaverse assumed)"
    claim = (f"{mode or 'metaverse'} {kind}: within items, each next connection is worth "
             + ("more" if expected == "rises" else "less"))
    return Verdict(claim, holds, f"{found}: {decomposition(t)}")


def fig1_verdicts(metaverse: CurveTrend, industrial: CurveTrend) -> list[Verdict]:
    """The paper's Fig. 1 on a metaverse-mode and an industrial-mode run: the within-item
    direction of each (the decomposition as evidence) and total connection value."""
    out = [curve_verdict(metaverse, "metaverse"), curve_verdict(industrial, "industrial")]
    m, i = metaverse.total_value, industrial.total_value
    ratio = m / i if i else math.inf
    out.append(Verdict("total connection value is higher in metaverse mode", m > i,
                       f"metaverse {fmt(m)} vs industrial {fmt(i)} ({fmt(ratio)} x)"))
    return out


# -- Proposition 4: closeness now predicts captured value next period ---------------------------

CLOSENESS_SQL = """
SELECT period, alpha, firms, firms_next, spearman, spearman_value_weighted
FROM v_closeness_correlation ORDER BY alpha, period"""


@dataclass
class AlphaReading:
    """The closeness prediction at one alpha, over the run's snapshots."""

    alpha: float
    snapshots: int            # snapshots with a prediction on >= min_firms firms
    mean_spearman: float | None
    positive: int             # of those, snapshots with a positive Spearman
    mean_spearman_value_weighted: float | None  # secondary: same snapshot, value-weighted


@dataclass
class ClosenessReading:
    """Proposition 4 read as a prediction over all snapshots, one :class:`AlphaReading`
    per alpha, and the verdict."""

    alphas: list[AlphaReading] = field(default_factory=list)
    state: str = "undetermined"  # holds | partial | fails | undetermined
    most_firms_next: int = 0     # the largest sample of a prediction at any snapshot
    verdict: Verdict = field(default_factory=lambda: Verdict(CLOSENESS_CLAIM, None, ""))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CLOSENESS_CLAIM = ("closeness on the interaction network at t predicts the value a firm "
                   "captures at t + 1 (Spearman > 0)")


def closeness_prediction(rows: list[dict[str, Any]], *, min_firms: int = 3
                         ) -> ClosenessReading:
    """Read Proposition 4 from rows of ``v_closeness_correlation``.

    A snapshot counts when at least ``min_firms`` firms are active there and at the next
    snapshot and the correlation is defined (with two firms any correlation is +-1). At each
    alpha the prediction holds when the mean Spearman over those snapshots is positive; the
    proposition holds when it does at every alpha, in part when at some, and fails when at
    none.
    """
    by_alpha: dict[float, list[dict[str, Any]]] = {}
    for r in rows:
        by_alpha.setdefault(float(r["alpha"]), []).append(r)
    reading = ClosenessReading(
        most_firms_next=max((int(r.get("firms_next") or 0) for r in rows), default=0))
    for alpha in sorted(by_alpha):
        got = [r for r in by_alpha[alpha] if _finite(r.get("spearman"))
               and (r.get("firms_next") or 0) >= min_firms]
        secondary = [r["spearman_value_weighted"] for r in by_alpha[alpha]
                     if _finite(r.get("spearman_value_weighted"))
                     and (r.get("firms") or 0) >= min_firms]
        rhos = [float(r["spearman"]) for r in got]
        reading.alphas.append(AlphaReading(
            alpha=alpha, snapshots=len(rhos),
            mean_spearman=sum(rhos) / len(rhos) if rhos else None,
            positive=sum(rho > 0 for rho in rhos),
            mean_spearman_value_weighted=sum(secondary) / len(secondary) if secondary
            else None))
    measured = [a for a in reading.alphas if a.mean_spearman is not None]
    if not measured:
        reading.state = "undetermined"
    elif all(a.mean_spearman > 0 for a in measured):
        reading.state = "holds"
    elif any(a.mean_spearman > 0 for a in measured):
        reading.state = "partial"
    else:
        reading.state = "fails"
    holds = {"holds": True, "fails": False, "partial": False}.get(reading.state)
    parts = [f"alpha {a.alpha:g}: mean Spearman {fmt(a.mean_spearman)} over "
             f"{a.snapshots} snapshots ({a.positive} positive); value-weighted, same "
             f"snapshot {fmt(a.mean_spearman_value_weighted)}" for a in reading.alphas]
    evidence = f"{reading.state}: " + ("; ".join(parts) if parts else "no centrality snapshot")
    if not measured and parts:
        evidence = (f"undetermined: no snapshot has >= {min_firms} firms active at it and at "
                    "the next with varying closeness and captured value (at most "
                    f"{reading.most_firms_next})")
    reading.verdict = Verdict(CLOSENESS_CLAIM, holds, evidence)
    return reading


def closeness_reading(conn: sqlite3.Connection, *, min_firms: int = 3) -> ClosenessReading:
    """:func:`closeness_prediction` on a run database's ``v_closeness_correlation``."""
    cur = conn.execute(CLOSENESS_SQL)
    names = [d[0] for d in cur.description]
    return closeness_prediction([dict(zip(names, r)) for r in cur.fetchall()],
                                min_firms=min_firms)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
