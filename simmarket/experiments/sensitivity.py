"""Global sensitivity analysis with SALib over a design's factor ranges.

The design's ``[[factors]]`` give ``low`` and ``high``; each bound is validated against the
config schema first (a range that leaves what a key accepts is refused naming the key), and
integer keys are sampled as integers. A sampler (Morris elementary effects, or Saltelli's
scheme for Sobol indices) picks the points; each point runs ``replications`` times with the
design's common seeds and the analysis reads the mean outcome per point, so the indices
describe the expected response, not one seed's noise.

Morris: μ* (mean absolute elementary effect: overall importance), σ (spread: interactions
or non-linearity), and μ*'s bootstrap CI. Sobol: first-order S1 and total ST indices with
their CIs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simmarket.config import ConfigError, config_from_dict
from simmarket.experiments import database as xdb
from simmarket.experiments.design import Design, DesignError, Factor

METHODS = ("morris", "sobol")
DEFAULT_N = {"morris": 10, "sobol": 64}
COLUMNS = {
    "morris": ["name", "factor", "mu", "mu_star", "sigma", "mu_star_conf"],
    "sobol": ["name", "factor", "S1", "S1_conf", "ST", "ST_conf"],
}


def ranges(design: Design) -> list[Factor]:
    """The design's factors, which must all be ranges."""
    if not design.factors or not all(f.is_range for f in design.factors):
        raise DesignError("sensitivity needs [[factors]] with low and high (not values)")
    return list(design.factors)


def integer_keys(design: Design) -> set[str]:
    """Validate each bound against the schema; return the keys that take integers (the
    validated config holds an int there)."""
    ints = set()
    for f in ranges(design):
        for bound in (f.low, f.high):
            values: dict[str, Any] = {f.key: bound}
            if _error(design, values) is not None and float(bound).is_integer():
                values[f.key] = int(bound)
            if (problem := _error(design, values)) is not None:
                raise DesignError(f"factor {f.key}: bound {bound:g} is refused by the "
                                  f"config: {problem}")
            if _is_int(_resolved(design, values), f.key):
                ints.add(f.key)
    return ints


def _resolved(design: Design, values: dict[str, Any]) -> dict[str, Any]:
    return config_from_dict(_point_config(design, values)).resolved()


def _is_int(data: dict[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return isinstance(node, int) and not isinstance(node, bool)


def _point_config(design: Design, values: dict[str, Any]) -> dict[str, Any]:
    probe = design.with_points([values])
    return probe.config(probe.points()[0], design.seeds()[0])


def _error(design: Design, values: dict[str, Any]) -> str | None:
    try:
        config_from_dict(_point_config(design, values))
    except ConfigError as exc:
        return str(exc)
    return None


def problem(design: Design) -> dict[str, Any]:
    """SALib's problem definition of the design's ranges."""
    factors = ranges(design)
    return {"num_vars": len(factors), "names": [f.key for f in factors],
            "bounds": [[f.low, f.high] for f in factors]}


def sample(design: Design, method: str, n: int) -> np.ndarray:
    """The sampler's matrix of factor values (rows are design points)."""
    spec = problem(design)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(spec, n, num_levels=4, seed=design.seed)
    from SALib.sample import sobol

    return sobol.sample(spec, n, calc_second_order=False, seed=design.seed)


def sampled_design(design: Design, method: str, n: int) -> tuple[Design, np.ndarray]:
    """The design over the sampler's points (integer keys rounded)."""
    if method not in METHODS:
        raise DesignError(f"--method {method}: expected morris or sobol")
    if n < 2:
        raise DesignError(f"--n {n}: expected at least 2")
    ints = integer_keys(design)
    matrix = sample(design, method, n)
    keys = [f.key for f in design.factors]
    for j, key in enumerate(keys):
        if key in ints:
            matrix[:, j] = np.round(matrix[:, j])
    combos = [{k: (int(v) if k in ints else float(v)) for k, v in zip(keys, row)}
              for row in matrix]
    return design.with_points(combos), matrix


def analyse(design: Design, method: str, matrix: np.ndarray,
            outcomes: pd.DataFrame) -> list[dict[str, Any]]:
    """Indices per outcome and factor from the mean outcome of each point; outcomes missing
    at any point are left out (SALib needs every point)."""
    spec = problem(design)
    means = outcomes.groupby(["name", "point"])["value"].mean().unstack("point")
    means = means.reindex(columns=range(len(matrix)))
    rows = []
    for name, y in means.iterrows():
        values = y.to_numpy(dtype=float)
        if np.isnan(values).any() or np.ptp(values) == 0:
            continue
        rows += _indices(method, spec, matrix, values, str(name), design.seed)
    return rows


def _indices(method: str, spec: dict[str, Any], matrix: np.ndarray, y: np.ndarray,
             name: str, seed: int) -> list[dict[str, Any]]:
    if method == "morris":
        from SALib.analyze import morris

        res = morris.analyze(spec, matrix, y, num_levels=4, seed=seed)
        return [{"name": name, "factor": f, "mu": float(res["mu"][i]),
                 "mu_star": float(res["mu_star"][i]), "sigma": float(res["sigma"][i]),
                 "mu_star_conf": float(res["mu_star_conf"][i])}
                for i, f in enumerate(spec["names"])]
    from SALib.analyze import sobol

    res = sobol.analyze(spec, y, calc_second_order=False, seed=seed)
    return [{"name": name, "factor": f, "S1": float(res["S1"][i]),
             "S1_conf": float(res["S1_conf"][i]), "ST": float(res["ST"][i]),
             "ST_conf": float(res["ST_conf"][i])} for i, f in enumerate(spec["names"])]


def run_sensitivity(design: Design, method: str, n: int, out: str | Path,
                    evaluator: Any = None, *, force: bool = False,
                    progress: Any = None) -> tuple[list[dict[str, Any]], Any]:
    """Sample, run (resumable), analyse; store ``sensitivity_<method>`` and plot it."""
    from simmarket.experiments.plots import sensitivity_figure
    from simmarket.experiments.runner import run_experiment

    sampled, matrix = sampled_design(design, method, n)
    result = run_experiment(sampled, out, evaluator, force=force, progress=progress)
    conn = sqlite3.connect(result.db_path)
    try:
        rows = analyse(sampled, method, matrix, xdb.completed_outcomes(conn))
        xdb.replace_table(conn, f"sensitivity_{method}", rows, COLUMNS[method])
    finally:
        conn.close()
    if rows:
        sensitivity_figure(pd.DataFrame(rows), method,
                           Path(out) / "plots" / f"sensitivity_{method}.png")
    return rows, result
