"""Figures over ensembles of runs (PNG, matplotlib).

* Paths over time: for each per-period table, every numeric column's path per design point,
  the mean over replications with its 95% Student-t band; the days on which a policy
  changed a lever are marked with dotted vertical lines.
* The summary as a dot-and-interval chart: one panel per outcome, one dot and 95% interval
  per design point.
* One chart per proposition: each claim's effect with its interval and the replications'
  single effects, against the line the verdict is judged from.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats as _st

from simmarket.experiments.database import FILENAME

TIME_TABLES = ("period_production", "period_encounter", "period_transmission", "macro")
NOT_PLOTTED = {"run_id", "period", "t", "t_start", "t_end"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ensemble_report(directory: str | Path, plots: str | Path | None = None) -> list[Path]:
    """Write the paths over time and the summary chart of an experiment; returns the files."""
    directory = Path(directory)
    target = Path(plots) if plots else directory / "plots"
    target.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(f"file:{directory / FILENAME}?mode=ro", uri=True)
    try:
        labels = dict(conn.execute("SELECT point, label FROM points"))
        changes = _policy_days(conn)
        written = [p for table in TIME_TABLES
                   if (p := _paths_figure(conn, table, labels, changes, target)) is not None]
        summary = pd.read_sql_query("SELECT * FROM summary ORDER BY name, point", conn)
    finally:
        conn.close()
    if len(summary):
        written.append(summary_figure(summary, labels, target / "summary.png"))
    return written


def _policy_days(conn: sqlite3.Connection) -> list[float]:
    try:
        return [t for (t,) in conn.execute("SELECT DISTINCT t FROM policy_changes ORDER BY t")]
    except sqlite3.OperationalError:
        return []


def _paths_figure(conn: sqlite3.Connection, table: str, labels: dict[int, str],
                  changes: list[float], target: Path) -> Path | None:
    try:
        frame = pd.read_sql_query(
            f"SELECT r.point, x.* FROM {table} x JOIN runs r USING (run_id) "
            "WHERE r.status = 'completed'", conn)
    except (sqlite3.OperationalError, pd.errors.DatabaseError):
        return None
    time_col = "t_end" if "t_end" in frame else "t"
    columns = [c for c in frame.columns if c not in NOT_PLOTTED | {"point"}
               and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any()]
    if frame.empty or not columns:
        return None
    plt = _plt()
    fig, axes = _grid(plt, len(columns))
    for ax, col in zip(axes, columns):
        for point, block in frame.groupby("point"):
            band = _band(block, time_col, col)
            line = ax.plot(band.index, band["mean"], lw=1.2, label=labels.get(point, point))
            ax.fill_between(band.index, band["low"], band["high"], alpha=0.2,
                            color=line[0].get_color(), lw=0)
        for day in changes:
            ax.axvline(day, ls=":", color="grey", lw=0.8)
        ax.set_title(col, fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"{table}: mean and 95% band over replications per design point"
                 + ("; dotted: policy changes" if changes else ""), fontsize=9)
    return _save(plt, fig, target / f"paths_{table}.png")


def _band(block: pd.DataFrame, time_col: str, col: str) -> pd.DataFrame:
    """Mean and Student-t 95% band of ``col`` across runs at each time."""
    g = block.groupby(time_col)[col]
    out = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "n": g.count()})
    half = [(_st.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 and pd.notna(sd) else 0.0
            for n, sd in zip(out["n"], out["sd"])]
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out


def summary_figure(summary: pd.DataFrame, labels: dict[int, str], path: Path) -> Path:
    """Dot-and-interval chart: one panel per outcome, one dot and 95% CI per point."""
    plt = _plt()
    names = sorted(summary["name"].unique())
    fig, axes = _grid(plt, len(names))
    for ax, name in zip(axes, names):
        rows = summary[summary["name"] == name].sort_values("point")
        y = list(range(len(rows)))
        low = (rows["mean"] - rows["ci_low"]).fillna(0).clip(lower=0)
        high = (rows["ci_high"] - rows["mean"]).fillna(0).clip(lower=0)
        ax.errorbar(rows["mean"], y, xerr=[low, high], fmt="o", ms=3, capsize=2)
        ax.set_yticks(y, [labels.get(p, str(p)) for p in rows["point"]], fontsize=5)
        ax.set_title(name, fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
    fig.suptitle("summary: mean and 95% CI over replications", fontsize=9)
    return _save(plt, fig, path)


def proposition_figure(rows: list[dict[str, Any]], title: str, path: Path) -> Path:
    """Each claim of a proposition: replications' effects, mean and 95% CI, and the line
    (0 for paired differences, the threshold for a level) the verdict is judged from."""
    plt = _plt()
    fig, axes = plt.subplots(len(rows), 1, figsize=(7, 1.3 + 1.1 * len(rows)), squeeze=False)
    colours = {"holds": "tab:green", "contradicts": "tab:red", "inconclusive": "tab:grey"}
    for ax, row in zip(axes[:, 0], rows):
        effects = [e for e in row["effects"] if e is not None]
        ax.plot(effects, [0.4] * len(effects), "o", mfc="none", color="black", ms=4,
                alpha=0.6, label="replications")
        if row["effect"] is not None and row["ci_low"] is not None:
            ax.errorbar([row["effect"]], [0], xerr=[[row["effect"] - row["ci_low"]],
                                                    [row["ci_high"] - row["effect"]]],
                        fmt="o", color=colours[row["verdict"]], capsize=4)
        ax.axvline(row["centre"], color="black", lw=0.8, ls="--")
        ax.set_yticks([])
        ax.set_ylim(-0.6, 0.9)
        ax.set_title(f"{row['claim']}: {row['verdict']} (expected {row['expected']})",
                     fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(plt, fig, path)


def _grid(plt, n: int):
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sensitivity_figure(indices: pd.DataFrame, method: str, path: Path) -> Path:
    """One panel per outcome: μ* (Morris) or S1 and ST (Sobol) per factor, with CIs."""
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(indices["name"].unique())
    fig, axes = _grid(plt, len(names))
    for ax, name in zip(axes, names):
        rows = indices[indices["name"] == name]
        y = list(range(len(rows)))
        if method == "morris":
            ax.barh(y, rows["mu_star"], xerr=rows["mu_star_conf"], color="tab:blue")
        else:
            ax.barh([v - 0.2 for v in y], rows["S1"], height=0.4, xerr=rows["S1_conf"],
                    label="S1")
            ax.barh([v + 0.2 for v in y], rows["ST"], height=0.4, xerr=rows["ST_conf"],
                    label="ST")
        ax.set_yticks(y, list(rows["factor"]), fontsize=6)
        ax.set_title(name, fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
    if method == "sobol":
        axes[0].legend(fontsize=6)
    fig.suptitle("Morris μ* with 95% CI" if method == "morris" else
                 "Sobol first-order (S1) and total (ST) indices with 95% CI", fontsize=9)
    return _save(plt, fig, path)
