"""The scale check of issue 7 (MODEL.md §9.1): do intensive outcomes move with users.n?

Runs a scenario at several numbers of agents over the same seeds (common random numbers:
the agents at a smaller n are drawn from the same streams) and prints, per outcome, the mean
with its 95% CI over seeds at each n and the paired ratio of each n to the first, with its
95% CI. A model check run by hand, not a speed benchmark and not a test.

    .venv/bin/python benchmarks/scale_check.py configs/baseline.toml --users 2000,8000 \\
        --seeds 1-6 [--days 180] [--json results/scale.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy import stats

import simmarket

OUTCOMES = ("conversion", "sharing_rate", "derivatives_per_100_items", "D_growth",
            "top3_creators_connection_share", "ever_create", "top10_users_item_share")


def _top_share(values: np.ndarray, share: float) -> float:
    """The share of the total held by the top `share` of `values` (at least one)."""
    ranked = np.sort(values)[::-1]
    k = max(1, int(round(share * len(ranked))))
    return float(ranked[:k].sum() / max(ranked.sum(), 1e-300))


def outcomes(result: simmarket.RunResult) -> dict[str, float]:
    """The intensive outcomes the issue names, from one run's tables."""
    p, users, items = result.periods, result.tables["users"], result.tables["items"]
    enc, prod = p["period_encounter"], p["period_production"]
    created = prod.items_created.sum()
    decided = prod.shares.sum() + prod.hides.sum()
    own = items[items.owner_type == "user"].groupby("owner_id").connections.sum()
    creators = own.reindex(users.user_id[users.items_created > 0], fill_value=0)
    D = p["macro"].D
    return {
        "conversion": enc.connections.sum() / max(enc.impressions.sum(), 1),
        "sharing_rate": prod.shares.sum() / max(decided, 1),
        "derivatives_per_100_items": 100 * p["period_transmission"].derivatives.sum()
        / max(created, 1),
        "D_growth": float(D.iloc[-1] / D.iloc[0] - 1.0),
        "top3_creators_connection_share": _top_share(creators.to_numpy(float), 0.03),
        "ever_create": float((users.items_created > 0).mean()),
        "top10_users_item_share": _top_share(users.items_created.to_numpy(float), 0.10),
    }


def _ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95% CI half-width (t) over seeds."""
    if len(values) < 2:
        return float(values.mean()), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--users", default="2000,8000", help="comma-separated users.n")
    ap.add_argument("--seeds", default="1-6", help="e.g. 1-6 or 1,2,5")
    ap.add_argument("--days", type=float, default=None, help="horizon_days (default: config)")
    ap.add_argument("--json", type=Path, default=None, help="also write every run's outcomes")
    args = ap.parse_args()
    ns, seeds = [int(n) for n in args.users.split(",")], _seeds(args.seeds)
    console = Console()
    runs: dict[int, list[dict[str, float]]] = {}
    for n in ns:
        runs[n] = []
        for seed in seeds:
            overrides = {"users.n": n, "seed": seed, "output.events": "none"}
            if args.days is not None:
                overrides["horizon_days"] = args.days
            result = simmarket.run(args.config, overrides=overrides, store="memory",
                                   handle_signals=False)
            runs[n].append(outcomes(result))
            console.log(f"n = {n:,}, seed {seed}: done")
    table = Table(title=f"{args.config} at {', '.join(f'{n:,}' for n in ns)} agents, "
                        f"seeds {args.seeds} (mean ± 95% CI; ratio to n = {ns[0]:,}, paired)")
    table.add_column("outcome")
    for n in ns:
        table.add_column(f"n = {n:,}", justify="right")
    for n in ns[1:]:
        table.add_column(f"{n:,} / {ns[0]:,}", justify="right")
    for key in OUTCOMES:
        cells = [np.array([r[key] for r in runs[n]]) for n in ns]
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero at the first n: inf
            row = [key] + ["{:.4g} ± {:.2g}".format(*_ci(c)) for c in cells]
            row += ["{:.3f} ± {:.2g}".format(*_ci(c / cells[0])) for c in cells[1:]]
        table.add_row(*row)
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({str(n): runs[n] for n in ns}, indent=1))


if __name__ == "__main__":
    main()
