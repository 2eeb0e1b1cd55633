"""Statistics over replications: Student-t confidence intervals, plain and paired.

Replications of a stochastic simulation are independent draws of an outcome, so the mean
over n replications has a Student-t interval with n - 1 degrees of freedom. Two design points
simulated with the same seeds (common random numbers) are compared by the interval of the
per-replication differences, which removes the noise the two runs share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from scipy import stats as _st

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """The mean of n values with its two-sided confidence interval (None when n < 2)."""

    n: int
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None

    def excludes(self, value: float = 0.0) -> int:
        """+1 if the interval lies above ``value``, -1 if below, 0 if it contains it."""
        if self.low is None or self.high is None:
            return 0
        return 1 if self.low > value else -1 if self.high < value else 0


def t_interval(values: Sequence[float | None], level: float = LEVEL) -> Interval:
    """Student-t interval of the mean; missing and non-finite values are left out."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return Interval(0, None, None, None, None)
    mean = sum(xs) / n
    if n == 1:
        return Interval(1, mean, None, None, None)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(_st.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(n, mean, sd, mean - half, mean + half)


def paired_interval(treatment: Sequence[float | None], reference: Sequence[float | None],
                    level: float = LEVEL) -> Interval:
    """Interval of the mean difference treatment - reference over paired replications
    (a pair with a missing side is left out)."""
    if len(treatment) != len(reference):
        raise ValueError("paired samples must have the same length")
    diffs = [None if a is None or b is None else float(a) - float(b)
             for a, b in zip(treatment, reference)]
    return t_interval(diffs, level)


def summary_rows(outcomes: pd.DataFrame) -> list[dict]:
    """``summary`` rows from long outcomes (point, replication, name, value)."""
    rows = []
    for (point, name), group in outcomes.groupby(["point", "name"], sort=True):
        iv = t_interval(group["value"].tolist())
        rows.append({"point": int(point), "name": name, "n": iv.n, "mean": iv.mean,
                     "sd": iv.sd, "ci_low": iv.low, "ci_high": iv.high})
    return rows


def paired_rows(outcomes: pd.DataFrame, reference: int = 0) -> list[dict]:
    """``paired`` rows: every other point minus ``reference``, matched by replication."""
    wide = outcomes.pivot_table(index=["name", "replication"], columns="point",
                                values="value", aggfunc="first", dropna=False)
    if reference not in wide.columns:
        return []
    rows = []
    for name, block in wide.groupby(level="name", sort=True):
        ref = _column(block[reference])
        for point in (p for p in wide.columns if p != reference):
            iv = paired_interval(_column(block[point]), ref)
            rows.append({"point": int(point), "reference": int(reference), "name": name,
                         "n": iv.n, "mean_diff": iv.mean, "ci_low": iv.low,
                         "ci_high": iv.high})
    return rows


def _column(series: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in series]
