"""The seven propositions of the model (MODEL.md §6) as designed experiments.

Each proposition is one or more *claims*: a metric (an outcome of a run), the direction the
paper expects, and either two arms compared with paired common random numbers (replication r
of both arms uses the same seed) or one arm compared with a threshold. The verdict is computed
from the 95% interval of the effect, never assumed: ``holds`` when it excludes the threshold
in the paper's direction, ``contradicts`` when it excludes it the other way, ``inconclusive``
otherwise. The paper is allowed to be wrong.

Arms are scenarios: a file of ``configs/`` plus overrides. Every arm runs at the same size
(``users.n``, ``horizon_days``), and identical arms are simulated once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simmarket.experiments.design import Design, DesignError, assign
from simmarket.experiments.stats import paired_interval, t_interval

#: Ten replications (issue 7's closing claims) of 800 agents for 90 days: 180 runs, about
#: 6 minutes on this 2-core machine when idle (5 min 37 s measured; benchmarks/README.md).
DEFAULT_REPS, DEFAULT_USERS, DEFAULT_DAYS = 10, 800, 90.0
ROOT_SEED = 20240601
CONFIGS = Path(__file__).resolve().parents[2] / "configs"

TITLES = {
    1: "Knowledge sharing raises production efficiency and quality (§4.2.1)",
    2: "Connection value rises with connections in metaverse mode, falls in industrial mode "
       "(§3.1.1, Fig. 1)",
    3: "Popularity-driven encounter gives heavier-tailed communities and more inequality "
       "than random exposure",
    4: "Firm closeness correlates positively with captured value (§4.2.3)",
    5: "More platform data means more manufacturing output and capital deepening (§4.2.4)",
    6: "Government guidance raises sharing, and the government can withdraw (§4.2.1, §5)",
    7: "Each dilemma lowers spillover; each promotion path recovers part of it (seed 001)",
}


@dataclass(frozen=True)
class Arm:
    """A scenario of the suite: a file of configs/ and dotted overrides."""

    name: str
    scenario: str = "baseline.toml"
    set: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """``metric`` of ``treatment`` minus ``reference`` (or minus ``threshold`` when there is
    no reference) has the sign ``expected`` (+1 or -1)."""

    proposition: int
    metric: str
    label: str
    expected: int
    treatment: str
    reference: str | None = None
    threshold: float = 0.0


_RANDOM = {"encounter.w_popularity": 0.0, "encounter.w_recency": 0.0,
           "encounter.w_exploration": 1.0, "encounter.w_subscription": 0.0}
PATHS = {"rnd": "technology", "standards": "integration", "training": "mindset",
         "regulation": "institutions", "capital": "capital"}

ARMS = [
    Arm("baseline"),
    Arm("sharing_low", set={"users.sharing_a": 0.5, "users.sharing_b": 4.5}),
    Arm("sharing_high", set={"users.sharing_a": 4.5, "users.sharing_b": 0.5}),
    Arm("industrial", set={"mode": "industrial"}),
    Arm("random_exposure", set=_RANDOM),
    Arm("data_low", set={"firms.data_sharing": 0.2}),
    Arm("data_high", set={"firms.data_sharing": 0.95}),
    Arm("no_government", set={"government.enabled": False}),
    *[Arm(f"dilemma_{d}", f"dilemma_{d}.toml") for d in PATHS.values()],
    *[Arm(f"path_{p}", f"path_{p}.toml") for p in PATHS],
]

CLAIMS = [
    Claim(1, "production.mean_quality", "mean quality of items", +1, "sharing_high",
          "sharing_low"),
    Claim(1, "production.items_created", "items created", +1, "sharing_high", "sharing_low"),
    Claim(2, "encounter.within_item_change", "within-item change of connection value, "
          "metaverse", +1, "baseline"),
    Claim(2, "encounter.within_item_change", "within-item change of connection value, "
          "industrial", -1, "industrial"),
    Claim(2, "encounter.value_encountered", "total connection value, metaverse - industrial",
          +1, "baseline", "industrial"),
    Claim(3, "encounter.gini_creator_income", "Gini of creator income", +1, "baseline",
          "random_exposure"),
    Claim(3, "encounter.largest_community_share", "largest community's share of members", +1,
          "baseline", "random_exposure"),
    Claim(4, "transmission.closeness_spearman", "Spearman(closeness, captured value)", +1,
          "baseline"),
    Claim(5, "spillover.Y", "output Y at the end", +1, "data_high", "data_low"),
    Claim(5, "spillover.K", "capital K at the end", +1, "data_high", "data_low"),
    Claim(6, "production.sharing_rate", "sharing rate", +1, "baseline", "no_government"),
    Claim(6, "production.sharing_rate_last", "sharing rate in the last period", +1,
          "baseline", "no_government"),
    *[Claim(7, "spillover.Y", f"output Y, {d} dilemma - baseline", -1, f"dilemma_{d}",
            "baseline") for d in PATHS.values()],
    *[Claim(7, "spillover.Y", f"output Y, {p} path - {d} dilemma", +1, f"path_{p}",
            f"dilemma_{d}") for p, d in PATHS.items()],
]

COLUMNS = ["proposition", "metric", "expected", "effect", "ci_low", "ci_high", "n",
           "agree_share", "verdict", "claim", "treatment", "reference"]


def suite_design(reps: int = DEFAULT_REPS, users: int = DEFAULT_USERS,
                 days: float = DEFAULT_DAYS, configs: Path = CONFIGS) -> Design:
    """One design whose points are the suite's arms (in ARMS order)."""
    if reps < 2:
        raise DesignError(f"--reps {reps}: a confidence interval needs at least 2")
    scenarios = {arm.name: _arm_config(arm, configs) for arm in ARMS}
    return Design(name="propositions", scenarios=scenarios, replications=reps,
                  seed=ROOT_SEED, events="none",
                  overrides={"users.n": users, "horizon_days": days}, factors=(),
                  source=f"propositions suite: reps={reps} users={users} days={days}")


def _arm_config(arm: Arm, configs: Path) -> dict[str, Any]:
    path = configs / arm.scenario
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DesignError(f"the propositions suite needs {path} (run it from a source "
                          "checkout)") from None
    data["name"] = arm.name
    for key, value in arm.set.items():
        assign(data, key, value)
    return data


def verdicts(outcomes: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per claim from long outcomes (point, replication, name, value); points are
    numbered in ARMS order."""
    point = {arm.name: i for i, arm in enumerate(ARMS)}
    wide = outcomes.pivot_table(index="replication", columns=["name", "point"],
                                values="value", aggfunc="first")
    return [_judge(claim, _values(wide, claim.metric, point[claim.treatment]),
                   _values(wide, claim.metric, point[claim.reference])
                   if claim.reference else None) for claim in CLAIMS]


def _values(wide: pd.DataFrame, metric: str, point: int) -> list[float | None]:
    if (metric, point) not in wide.columns:
        return [None] * len(wide)
    return [None if pd.isna(v) else float(v) for v in wide[(metric, point)]]


def _judge(claim: Claim, treat: list[float | None],
           ref: list[float | None] | None) -> dict[str, Any]:
    if ref is None:
        iv = t_interval(treat)
        effects = list(treat)
        centre = claim.threshold
    else:
        iv = paired_interval(treat, ref)
        effects = [None if a is None or b is None else a - b for a, b in zip(treat, ref)]
        centre = 0.0
    side = iv.excludes(centre)
    verdict = ("holds" if side == claim.expected else
               "contradicts" if side == -claim.expected else "inconclusive")
    valid = [e - centre for e in effects if e is not None]
    agree = (sum(1 for e in valid if e * claim.expected > 0) / len(valid)) if valid else None
    return {"proposition": claim.proposition, "metric": claim.metric,
            "expected": _expected_text(claim), "effect": iv.mean, "ci_low": iv.low,
            "ci_high": iv.high, "n": iv.n, "agree_share": agree, "verdict": verdict,
            "claim": claim.label, "treatment": claim.treatment, "reference": claim.reference,
            "effects": effects, "centre": centre}


def _expected_text(claim: Claim) -> str:
    sign = ">" if claim.expected > 0 else "<"
    if claim.reference:
        return f"{claim.treatment} - {claim.reference} {sign} 0"
    return f"{claim.treatment} {sign} {claim.threshold:g}"


def run_suite(out: str | Path, evaluator: Any = None, *, reps: int = DEFAULT_REPS,
              users: int = DEFAULT_USERS, days: float = DEFAULT_DAYS, force: bool = False,
              progress: Any = None, model: Any = None) -> tuple[list[dict[str, Any]], Any]:
    """Run the suite into ``out`` (resumable like any experiment), judge every claim, and
    write table ``propositions``, ``propositions.md`` and one plot per proposition."""
    import sqlite3

    from simmarket.experiments import database as xdb
    from simmarket.experiments.runner import run_experiment

    design = suite_design(reps, users, days)
    kwargs = {"model": model} if model is not None else {}
    result = run_experiment(design, out, evaluator, force=force, progress=progress, **kwargs)
    conn = sqlite3.connect(result.db_path)
    try:
        rows = verdicts(xdb.completed_outcomes(conn))
        xdb.replace_table(conn, "propositions", rows, COLUMNS)
    finally:
        conn.close()
    write_markdown(rows, Path(out), design)
    return rows, result


def write_markdown(rows: list[dict[str, Any]], out: Path, design: Design) -> Path:
    """``propositions.md``: the verdict table and one figure per proposition."""
    from simmarket.experiments.plots import proposition_figure

    (out / "plots").mkdir(parents=True, exist_ok=True)
    lines = [f"# Propositions (MODEL.md §6): {design.source}", "",
             "Effects are means over replications with Student-t 95% intervals; paired arms "
             "share seeds (common random numbers). `holds`: the interval excludes the line in "
             "the paper's direction; `contradicts`: the other way; else `inconclusive`.", ""]
    for number, title in TITLES.items():
        mine = [r for r in rows if r["proposition"] == number]
        figure = proposition_figure(mine, f"P{number}. {title}",
                                    out / "plots" / f"proposition_{number}.png")
        lines += [f"## P{number}. {title}", "",
                  "| claim | expected | effect | 95% CI | agree | verdict |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['claim']} (`{r['metric']}`) | {r['expected']} | {_num(r['effect'])} "
                  f"| [{_num(r['ci_low'])}, {_num(r['ci_high'])}] | "
                  f"{_num(r['agree_share'])} | **{r['verdict']}** |" for r in mine]
        lines += ["", f"![P{number}]({figure.relative_to(out).as_posix()})", ""]
    path = out / "propositions.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
