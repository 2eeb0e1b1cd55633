"""``simmarket report``: what a run did, in the terminal and in PNG plots.

The terminal report shows how the run was made (config, seed, status), the headline figures
of each layer (``simmarket.analysis.summary``, computed afresh so an interrupted run reports
what it simulated) and one line per concept of the paper read off the views. The readings of
Propositions 2 and 4 and their verdicts are those of :mod:`simmarket.analysis.propositions`,
the same as ``simmarket compare``'s. ``--plots DIR`` adds six matplotlib figures; each plots
a view of :mod:`simmarket.store.views`, so every point on them can be checked with one SQL
query.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from simmarket.analysis.propositions import (
    CurveTrend,
    closeness_reading,
    curve_trend,
    curve_verdict,
    decomposition,
)
from simmarket.analysis.query import AnalysisError, RunInfo, interruptible, open_run
from simmarket.analysis.summary import HEADLINES, fmt, headline_figures

#: file name -> title of the figure; see :func:`write_plots`
PLOTS: dict[str, str] = {
    "value_per_link.png": "Value created per link of the paper, per day",
    "knowledge.png": "Knowledge stock S and the sharing rate",
    "connection_value_curve.png": "Connection value: within items, and the mean curve "
                                  "over items term by term",
    "community_sizes.png": "Community sizes: CCDF, log-log",
    "firm_closeness.png": "Firm closeness now against value captured next period",
    "macro.png": "Macro paths of data D, output Y and capital K",
}


def report(path: str | Path, *, plots: str | Path | None = None,
           console: Console | None = None) -> int:
    """Print the report of one run database (and write its plots); returns the exit code."""
    console = console or Console()
    conn, info = open_run(path)
    try:
        with interruptible(conn):  # Ctrl-C stops a long view query on a large run
            _print_header(console, info)
            _print_headlines(console, conn)
            _print_findings(console, conn, info.mode)
            if plots is not None:
                written = write_plots(conn, info, Path(plots))
                console.print(f"[bold]plots[/] ({len(written)}) in {Path(plots)}:")
                for p in written:
                    console.print(f"  {p.name}  [dim]{PLOTS[p.name]}[/]")
    finally:
        conn.close()
    return 0


# -- the terminal -----------------------------------------------------------------------------


def _print_header(console: Console, info: RunInfo) -> None:
    users = (info.config.get("users") or {}).get("n")
    rows = [
        ("database", str(info.path)),
        ("scenario", f"{info.name} — mode {info.mode}, seed {info.seed}"),
        ("status", _status(info)),
        ("horizon", f"{info.horizon_days:g} days in periods of {info.period_days:g} days"
         if info.period_days else f"{info.horizon_days:g} days"),
        ("simulated", f"{info.t_reached:g} days, {info.events:,} events"),
        ("users", f"{users:,}" if isinstance(users, int) else "—"),
        ("not default", config_changes(info.config)),
        ("written by", f"simmarket {info.version} (schema {info.schema_version}), "
                       f"{info.started_at} to {info.finished_at or '—'}"),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for k, v in rows:
        grid.add_row(k, v)
    console.print(Panel(grid, title=f"simmarket report — {info.name}", expand=False))
    if not info.finished:
        console.print(f"[bold yellow]NOTE[/] [yellow]{info.status_note}[/]", highlight=False)


def config_changes(config: dict[str, Any], limit: int = 12) -> str:
    """The settings of a run that differ from this version's defaults, one per line."""
    from simmarket.config import config_from_dict

    if not config:
        return "— (not recorded)"
    skip = {"name", "seed", "horizon_days", "users.n", "mode", "output.path"}
    defaults = _flatten(config_from_dict({}).resolved())
    changed = [f"{k} = {v!r}" for k, v in _flatten(config).items()
               if k not in skip and v != defaults.get(k, object())]
    if not changed:
        return "nothing else: this version's defaults"
    more = f"\n... and {len(changed) - limit} more (runs.config)" if len(changed) > limit else ""
    return "\n".join(changed[:limit]) + more


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _status(info: RunInfo) -> str:
    colour = {"completed": "green", "interrupted": "yellow"}.get(info.status, "red")
    return f"[{colour}]{info.status}[/]"


def _print_headlines(console: Console, conn: sqlite3.Connection) -> None:
    table = Table(title="Headline figures per layer (simmarket.analysis.summary)")
    table.add_column("layer", style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for layer, figures in headline_figures(conn).items():
        labels = HEADLINES[layer][1]
        for i, (name, value) in enumerate(figures.items()):
            table.add_row(layer if i == 0 else "", labels[name], fmt(value))
        table.add_section()
    console.print(table)


def _print_findings(console: Console, conn: sqlite3.Connection, mode: str | None) -> None:
    table = Table(title="What the views say", show_lines=False)
    table.add_column("concept (view)", style="bold")
    table.add_column("finding")
    for concept, text in findings(conn, mode=mode):
        table.add_row(concept, text)
    console.print(table)


def findings(conn: sqlite3.Connection, *, mode: str | None = None) -> list[tuple[str, str]]:
    """One sentence per concept of the paper, computed from the views (``mode``: the run's,
    read from ``runs`` when not given)."""
    if mode is None:
        row = conn.execute("SELECT mode FROM runs ORDER BY run_id LIMIT 1").fetchone()
        mode = row[0] if row else None
    out = [("connection value\n(v_connection_value_curve)",
            _curve_finding(curve_trend(conn), mode))]
    out.append(("community sizes\n(v_community_sizes)", _community_finding(conn)))
    out.append(("inequality\n(v_inequality)", _inequality_finding(conn)))
    out.append(("closeness now vs captured value next period\n(v_closeness_correlation)",
                _closeness_finding(conn)))
    out.append(("spillover\n(v_value_spillover)", _spillover_finding(conn)))
    return out


_HOLDS = {True: "holds", False: "does NOT hold", None: "undetermined"}


def _curve_finding(t: CurveTrend, mode: str | None) -> str:
    if not t.connections:
        return "no connections were made"
    verdict = curve_verdict(t, mode)
    return (f"{t.connections:,} connections worth {fmt(t.total_value)}; the first connection "
            f"of an item is worth {fmt(t.first_value)} on average. Within items, from one "
            f"connection to the next, value {t.within_direction}: {decomposition(t)}. "
            f"Proposition 2 ({verdict.claim}): {_HOLDS[verdict.holds]}. The mean curve over "
            f"items (slope {fmt(t.slope)} per e-fold of c; per unit of quality "
            f"{fmt(t.slope_per_quality)}) also reflects which items reach high c: a "
            f"description, not the test.")


def _community_finding(conn: sqlite3.Connection) -> str:
    n, largest, members, top = conn.execute("""
        SELECT COUNT(*), MAX(community_size), SUM(community_size),
               SUM(CASE WHEN size_rank <= MAX(1, (SELECT COUNT(*) FROM v_community_sizes)
                                                 / 100) THEN community_size END)
        FROM v_community_sizes""").fetchone()
    if not n:
        return "no creators"
    share = (top or 0) / members if members else 0.0
    return (f"{n:,} creators; the largest community has {fmt(largest)} members; the top 1% "
            f"of creators hold {share:.1%} of all community memberships.")


def _inequality_finding(conn: sqlite3.Connection) -> str:
    row = conn.execute("""SELECT period, gini_creator_income, hhi_firm_revenue,
                                 equivalent_firms
                          FROM v_inequality ORDER BY period DESC LIMIT 1""").fetchone()
    if row is None:
        return "no period closed"
    period, gini, hhi, eq = row
    return (f"last period ({period}): Gini of creator income {fmt(gini)}, HHI of firm "
            f"revenue {fmt(hhi)} (as concentrated as {fmt(eq)} equal firms).")


def _closeness_finding(conn: sqlite3.Connection) -> str:
    reading = closeness_reading(conn)
    if not reading.alphas:
        return "no centrality snapshot"
    if reading.state == "undetermined":
        return (f"closeness on the interaction network at t against value captured at t + 1: "
                f"{reading.verdict.evidence}.")
    conclusion = {
        "holds": "positive at every alpha: closer firms go on to capture more, as "
                 "Proposition 4 expects",
        "partial": "positive at some alphas only: Proposition 4 holds only in part",
        "fails": "not positive at any alpha: Proposition 4 is not borne out",
    }[reading.state]
    parts = [f"alpha {a.alpha:g}: mean Spearman {fmt(a.mean_spearman)} over {a.snapshots} "
             f"snapshots ({a.positive} positive), value-weighted same-snapshot "
             f"{fmt(a.mean_spearman_value_weighted)}" for a in reading.alphas]
    return ("closeness on the interaction network at t against value captured at t + 1; "
            + "; ".join(parts) + f". {conclusion}.")


def _spillover_finding(conn: sqlite3.Connection) -> str:
    row = conn.execute("""SELECT period, D_index, Y_index, K_index, data_exported_cum
                          FROM v_value_spillover ORDER BY period DESC LIMIT 1""").fetchone()
    if row is None:
        return "no macro step"
    period, d, y, k, exported = row
    return (f"after {period} steps: D x{fmt(d)}, Y x{fmt(y)}, K x{fmt(k)} of their initial "
            f"values; {fmt(exported)} data units exported by the platform.")


# -- the plots ----------------------------------------------------------------------------------


def write_plots(conn: sqlite3.Connection, info: RunInfo, out_dir: Path) -> list[Path]:
    """Write the six PNG figures of a run into ``out_dir``; returns their paths.

    matplotlib is a dependency of simmarket (plots are part of the analysis), imported here
    only so that the other commands do not pay for its import.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnalysisError(f"cannot create the plots directory {out_dir}: {exc}") from None
    drawers: dict[str, Callable[[Any, sqlite3.Connection], None]] = {
        "value_per_link.png": _plot_links, "knowledge.png": _plot_knowledge,
        "connection_value_curve.png": _plot_curve, "community_sizes.png": _plot_communities,
        "firm_closeness.png": _plot_closeness, "macro.png": _plot_macro,
    }
    written = []
    suffix = f"{info.name} ({info.mode}, seed {info.seed})"
    if not info.finished:
        suffix += f" — {info.status.upper()} at day {info.t_reached:g}"
    for name, draw in drawers.items():
        fig = plt.figure(figsize=(11, 7), dpi=100)
        try:
            draw(fig, conn)
            fig.suptitle(f"{PLOTS[name]}\n{suffix}", fontsize=13)
            fig.tight_layout()
            fig.savefig(out_dir / name)
        finally:
            plt.close(fig)
        written.append(out_dir / name)
    return written


def _frame(conn: sqlite3.Connection, sql: str) -> pd.DataFrame:
    return pd.read_sql_query(sql, conn)


def _no_data(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no data: {what}", ha="center", va="center", transform=ax.transAxes,
            fontsize=12, color="grey")


def _plot_links(fig, conn: sqlite3.Connection) -> None:
    mid = "(t_start + t_end) / 2"
    series = [
        ("Value production: value produced", "v_value_production", mid,
         "value_produced / days", "value per day", "tab:green"),
        ("Value encounter: connection value", "v_value_encounter", mid,
         "value_encountered / days", "value per day", "tab:blue"),
        ("Value transmission: firms' captured value + licence fees", "v_value_transmission",
         mid, "value_transmitted / days", "value per day", "tab:orange"),
        ("Value spillover: output above its initial level", "v_value_spillover", "t",
         "output_gain", "output Y - Y(0)", "tab:red"),
    ]
    for k, (title, view, x, expr, ylabel, colour) in enumerate(series, start=1):
        ax = fig.add_subplot(2, 2, k)
        df = _frame(conn, f"SELECT {x} AS x, {expr} AS y FROM {view} ORDER BY x")
        if df.empty:
            _no_data(ax, view)
        else:
            ax.plot(df.x, df.y, marker="o", color=colour)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("day (middle of the period)" if x == mid else "day")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)


def _plot_knowledge(fig, conn: sqlite3.Connection) -> None:
    ax = fig.add_subplot(1, 1, 1)
    df = _frame(conn, """SELECT t_end, knowledge_stock, sharing_rate, mean_sharing_propensity
                         FROM v_value_production ORDER BY period""")
    if df.empty:
        _no_data(ax, "v_value_production")
        return
    ax.plot(df.t_end, df.knowledge_stock, marker="o", color="tab:green",
            label="knowledge stock S (left)")
    ax.set_xlabel("day")
    ax.set_ylabel("knowledge stock S", color="tab:green")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(df.t_end, df.sharing_rate, marker="s", color="tab:purple",
             label="sharing rate of the period (right)")
    ax2.plot(df.t_end, df.mean_sharing_propensity, ls="--", color="tab:gray",
             label="mean sharing propensity (right)")
    ax2.set_ylabel("share of knowledge flows shared", color="tab:purple")
    ax2.set_ylim(0, 1)
    lines = ax.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="lower right")


def _plot_curve(fig, conn: sqlite3.Connection) -> None:
    """Four panels: the within-item change by c with its two terms (the reading of
    Proposition 2), the mean curve over items, the mean curve's rise from c = 1 split into
    its cumulative terms (network, audience composition, other, selection of items), and
    the cumulative value of an item's first c connections."""
    import numpy as np

    df = _frame(conn, "SELECT * FROM v_connection_value_curve ORDER BY c")
    axes = [fig.add_subplot(2, 2, k) for k in range(1, 5)]
    if df.empty:
        for ax in axes:
            _no_data(ax, "v_connection_value_curve")
        return
    ax1, ax2, ax3, ax4 = axes
    t = curve_trend(conn)
    verdict = curve_verdict(t, _mode(conn))
    min_items = max(10, int(df["items"].iloc[0] * 0.005))
    if df["items"].iloc[0] < min_items:  # a tiny run: every c, however few items
        min_items = 1
    solid = df[df["items"] >= min_items]
    thin = df[df["items"] < min_items]
    later = solid[solid.c > 1]
    # 1. within items, by c, with its two terms
    if later.empty:
        _no_data(ax1, "no item reached a second connection")
    else:
        ax1.plot(later.c, later.within_item_change, marker=".", color="black",
                 label="within-item change v(c) - v(c-1)")
        ax1.plot(later.c, later.network_term, color="tab:green", label="network term")
        ax1.plot(later.c, later.composition_term, color="tab:red",
                 label="audience composition term")
        ax1.axhline(0.0, color="grey", lw=0.8)
        ax1.set_xscale("log")
        ax1.legend(fontsize=8)
    ax1.set_xlabel("c: rank of the connection on its item (log)")
    ax1.set_ylabel("mean change (value units)")
    ax1.set_title(f"within items (Proposition 2): {t.within_direction}, mean "
                  f"{fmt(t.within_change)} — {_HOLDS[verdict.holds]}", fontsize=10)
    ax1.grid(alpha=0.3)
    # 2. the mean curve over items
    ax2.plot(solid.c, solid.marginal_value, marker=".", color="tab:blue",
             label=f"mean value (c reached by >= {min_items} items)")
    ax2.plot(solid.c, solid.marginal_value_per_quality, ls="--", color="tab:purple",
             label="mean value per unit of item quality")
    if not thin.empty:
        tail = _log_bins(thin)
        ax2.plot(tail.c, tail.marginal_value, ls="none", marker="o", color="tab:blue",
                 alpha=0.35, label=f"fewer items: pooled in log bins of c ({len(thin):,} c's)")
    ax2.set_xscale("log")
    ax2.set_xlabel("c: rank of the connection on its item (log)")
    ax2.set_ylabel("value of the c-th connection (value units)")
    ax2.set_title("mean curve over items (a description, not the test)", fontsize=10)
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    # 3. the mean curve's rise from c = 1, term by term (cumulative sums up to c)
    terms = solid.fillna({"within_item_change": 0.0, "network_term": 0.0,
                          "composition_term": 0.0, "selection_term": 0.0})
    other = terms.within_item_change - terms.network_term - terms.composition_term
    ax3.plot(terms.c, terms.marginal_value - terms.marginal_value.iloc[0], color="tab:blue",
             lw=2, label="mean curve: value(c) - value(1)")
    ax3.plot(terms.c, terms.network_term.cumsum(), color="tab:green", label="network term")
    ax3.plot(terms.c, terms.composition_term.cumsum(), color="tab:red",
             label="audience composition")
    if np.abs(other.to_numpy()).max() > 1e-9 * max(1.0, float(t.mean_value)):
        ax3.plot(terms.c, other.cumsum(), color="tab:brown",
                 label="other (industrial: diminishing utility)")
    ax3.plot(terms.c, terms.selection_term.cumsum(), color="tab:gray", ls="--",
             label="selection of items into high c")
    ax3.axhline(0.0, color="grey", lw=0.8)
    ax3.set_xscale("log")
    ax3.set_xlabel("c (log)")
    ax3.set_ylabel("summed from c = 2 (value units)")
    ax3.set_title("the mean curve decomposed: its terms summed up to c", fontsize=10)
    ax3.legend(fontsize=8)
    ax3.grid(alpha=0.3)
    # 4. what an item with c connections is worth on the mean curve
    ax4.plot(solid.c, solid.cumulative_value, color="tab:blue")
    ax4.set_xlabel("c: connections of an item")
    ax4.set_ylabel("value of the first c connections (mean curve)")
    ax4.set_title("total value of an item with c connections", fontsize=10)
    ax4.grid(alpha=0.3)


def _mode(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT mode FROM runs ORDER BY run_id LIMIT 1").fetchone()
    return row[0] if row else None


def _log_bins(curve: pd.DataFrame, per_decade: int = 10) -> pd.DataFrame:
    """The curve pooled in log-spaced bins of c: summed value over summed items per bin."""
    import numpy as np

    key = np.floor(np.log10(curve.c.to_numpy(dtype=float)) * per_decade)
    pooled = curve.assign(key=key, logc=np.log(curve.c) * curve["items"]).groupby("key").agg(
        value_sum=("value_sum", "sum"), items=("items", "sum"), logc=("logc", "sum"))
    return pd.DataFrame({"c": np.exp(pooled.logc / pooled["items"]),
                         "marginal_value": pooled.value_sum / pooled["items"]})


def _plot_communities(fig, conn: sqlite3.Connection) -> None:
    ax = fig.add_subplot(1, 1, 1)
    df = _frame(conn, """SELECT community_size, COUNT(*) AS creators
                         FROM v_community_sizes WHERE community_size > 0
                         GROUP BY community_size ORDER BY community_size""")
    if df.empty:
        _no_data(ax, "v_community_sizes (no community with a member)")
        return
    # P(S >= s) over the communities with at least one member (log axes cannot show s = 0)
    total = int(df.creators.sum())
    df["p"] = df.creators[::-1].cumsum()[::-1] / total
    ax.loglog(df.community_size, df.p, marker="o", ls="none", ms=4, color="tab:blue",
              label=f"{total:,} communities with at least one member")
    ax.set_xlabel("community size s (members, log)")
    ax.set_ylabel("P(size >= s) (log)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()


def _plot_closeness(fig, conn: sqlite3.Connection) -> None:
    """Per alpha, each firm's closeness at a snapshot against the value it captured in the
    period of the next snapshot (the prediction of Proposition 4), every snapshot in its own
    colour; the title gives the mean Spearman over snapshots that decides the reading."""
    df = _frame(conn, """SELECT period, t, alpha, closeness, captured_next_period
                         FROM v_firm_closeness WHERE captured_next_period IS NOT NULL""")
    if df.empty:
        _no_data(fig.add_subplot(1, 1, 1),
                 "v_firm_closeness (no firm active at two snapshots)")
        return
    reading = {a.alpha: a for a in closeness_reading(conn).alphas}
    alphas = sorted(df.alpha.unique())
    cols = 2 if len(alphas) > 1 else 1
    rows = (len(alphas) + cols - 1) // cols
    for k, alpha in enumerate(alphas, start=1):
        ax = fig.add_subplot(rows, cols, k)
        sub = df[df.alpha == alpha]
        points = ax.scatter(sub.closeness, sub.captured_next_period, c=sub.t, cmap="plasma",
                            s=45, edgecolor="k", linewidth=0.5)
        run = reading.get(float(alpha))
        summary = (f"mean Spearman {fmt(run.mean_spearman)} over {run.snapshots} snapshots"
                   if run else "no reading")
        ax.set_title(f"alpha = {alpha:g}: {summary}", fontsize=10)
        ax.set_xlabel("closeness at t (interaction network)")
        ax.set_ylabel("value captured in the next period")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
        ax.grid(alpha=0.3)
        fig.colorbar(points, ax=ax, label="day of the snapshot")


def _plot_macro(fig, conn: sqlite3.Connection) -> None:
    ax = fig.add_subplot(1, 1, 1)
    df = _frame(conn, "SELECT t, D_index, Y_index, K_index FROM v_value_spillover ORDER BY t")
    if df.empty:
        _no_data(ax, "v_value_spillover")
        return
    for col, label, colour in (("D_index", "data stock D", "tab:blue"),
                               ("Y_index", "output Y", "tab:red"),
                               ("K_index", "capital K", "tab:green")):
        ax.plot(df.t, df[col], marker="o", ms=3, label=label, color=colour)
    ax.set_xlabel("day")
    ax.set_ylabel("index (value at day 0 = 1)")
    ax.grid(alpha=0.3)
    ax.legend()
