"""``simmarket compare``: the headline figures of several runs side by side.

Each run's figures are computed afresh from its tables (``simmarket.analysis.summary``) plus
its connection value curve read within items, term by term
(:func:`simmarket.analysis.propositions.curve_trend`).
The first run is the reference: every other run gets its difference to it, and its ratio
where a ratio means something (not for a day number, a growth rate or a slope, see
:data:`NOT_RATIO_SCALE`). Two runs are shown side by side; more than two in a long table,
one row per run and figure, so that the table stays as narrow as two runs' and no label is
ever cut.

Runs of different horizons (or one stopped earlier than the other) are not comparable and
are refused. When a metaverse-mode run sits beside an industrial-mode run, the comparison
also checks the paper's Fig. 1 (Proposition 2): within items, each next connection is worth
more in the metaverse corner and less in the industrial corner (shown with its network and
audience-composition terms), and total connection value is higher in the metaverse. The
verdicts are those of :mod:`simmarket.analysis.propositions` (the same as ``simmarket
report``'s), computed from the databases and reported as holding or not — never assumed.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from simmarket.analysis import propositions
from simmarket.analysis.propositions import CURVE_LABELS, CurveTrend, Verdict, curve_trend
from simmarket.analysis.query import AnalysisError, RunInfo, interruptible, open_run
from simmarket.analysis.summary import HEADLINES, fmt, headline_figures

#: figures whose ratio between two runs means nothing: a day number (day 40 is not "twice"
#: day 20), and rates and slopes that can be zero or change sign; only differences are shown
NOT_RATIO_SCALE = frozenset({
    "government_withdrew_day", "output_growth", "mean_output_growth",
}) | propositions.SIGNED_CURVE_FIGURES

__all__ = ["CURVE_LABELS", "Comparison", "FigureRow", "RunFigures", "Verdict", "compare",
           "comparison_json", "fig1_verdicts", "print_comparison", "run_letters"]


@dataclass
class RunFigures:
    """One run's identity and figures, as compared."""

    info: RunInfo
    figures: dict[str, dict[str, Any]]
    trend: CurveTrend
    label: str = ""

    def value(self, layer: str, name: str) -> Any:
        return self.figures.get(layer, {}).get(name)


@dataclass
class FigureRow:
    """One compared figure: its values per run and how they relate to the reference's."""

    layer: str
    name: str
    label: str
    values: list[Any]

    @property
    def ratio_scale(self) -> bool:
        """Whether the ratio of two values of this figure means something."""
        return self.name not in NOT_RATIO_SCALE

    def difference(self, k: int) -> float | None:
        """Run k's value minus the reference's (None when either is not a number)."""
        return _diff(self.values[k], self.values[0])

    def ratio(self, k: int) -> float | None:
        """Run k's value over the reference's, only for a ratio-scale figure with both
        values non-negative and the reference's positive (None otherwise)."""
        v, ref = self.values[k], self.values[0]
        if not (self.ratio_scale and _number(v) and _number(ref)) or v < 0 or ref <= 0:
            return None
        return float(v) / float(ref)


@dataclass
class Comparison:
    """Several runs' figures and, for a metaverse/industrial pair, the Fig. 1 verdicts."""

    runs: list[RunFigures]
    notes: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    def figure_rows(self) -> list[FigureRow]:
        """Every compared figure, with its values per run."""
        out = []
        for layer, (_, labels) in HEADLINES.items():
            for name, label in labels.items():
                out.append(FigureRow(layer, name, label, [r.value(layer, name)
                                                          for r in self.runs]))
        for key, label in CURVE_LABELS.items():
            out.append(FigureRow("connection value curve", key, label,
                                 [getattr(r.trend, key) for r in self.runs]))
        return out

    def rows(self) -> list[tuple[str, str, list[Any]]]:
        """(layer, label, values per run) for every compared figure."""
        return [(f.layer, f.label, f.values) for f in self.figure_rows()]

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": [{"path": str(r.info.path), "label": r.label, "mode": r.info.mode,
                      "seed": r.info.seed, "status": r.info.status,
                      "horizon_days": r.info.horizon_days, "figures": r.figures,
                      "connection_value_curve": r.trend.as_dict()} for r in self.runs],
            "notes": self.notes,
            "fig1": [{"claim": v.claim, "holds": v.holds, "evidence": v.evidence}
                     for v in self.verdicts],
        }


def compare(paths: list[str | Path], *, within_item: bool = True) -> Comparison:
    """Load and check several runs; raises :class:`AnalysisError` if not comparable.

    ``within_item`` is accepted for callers of earlier versions and ignored: the within-item
    reading, on which the Fig. 1 verdicts rest, is read from the ``connection_curve`` table
    and always computed."""
    if len(paths) < 2:
        raise AnalysisError("compare needs at least two run databases")
    runs = [_load(p) for p in paths]
    _check_comparable(runs)
    comparison = Comparison(runs=runs, notes=_notes(runs))
    comparison.verdicts = fig1_verdicts(runs)
    return comparison


def _load(path: str | Path) -> RunFigures:
    conn, info = open_run(path)
    try:
        with interruptible(conn):  # Ctrl-C stops a long query on a large run
            figures = headline_figures(conn)
            trend = curve_trend(conn)
    except sqlite3.Error as exc:
        raise AnalysisError(f"cannot read {path}: {exc}") from None
    finally:
        conn.close()
    label = f"{info.name} ({info.mode}, seed {info.seed})"
    return RunFigures(info=info, figures=figures, trend=trend, label=label)


def _check_comparable(runs: list[RunFigures]) -> None:
    ref = runs[0].info
    for r in runs[1:]:
        i = r.info
        if not math.isclose(i.horizon_days, ref.horizon_days):
            raise AnalysisError(
                f"runs are not comparable: {ref.path} simulates {ref.horizon_days:g} days, "
                f"{i.path} {i.horizon_days:g} days; compare runs of the same horizon")
        if not math.isclose(i.t_reached, ref.t_reached):
            raise AnalysisError(
                f"runs are not comparable: {ref.path} reached day {ref.t_reached:g} "
                f"({ref.status}), {i.path} day {i.t_reached:g} ({i.status}); an interrupted "
                "run only compares with one stopped at the same day")
    labels = [r.label for r in runs]
    for k, r in enumerate(runs):
        if labels.count(r.label) > 1:
            r.label = f"{r.label} [{k + 1}]"


def _notes(runs: list[RunFigures]) -> list[str]:
    notes = []
    for key, what in (("seed", "seeds"), ("period_days", "period lengths")):
        values = {getattr(r.info, key) for r in runs}
        if len(values) > 1:
            notes.append(f"the runs differ in their {what} ({', '.join(map(str, values))})"
                         + ("; paired comparisons need the same seed" if key == "seed" else
                            "; per-period figures ('last period') are not alike"))
    sizes = {(r.info.config.get("users") or {}).get("n") for r in runs}
    if len(sizes) > 1:
        notes.append(f"the runs differ in population size ({', '.join(map(str, sizes))})")
    for r in runs:
        if not r.info.finished:
            notes.append(f"{r.info.path}: {r.info.status_note}")
    return notes


def fig1_verdicts(runs: list[RunFigures]) -> list[Verdict]:
    """The paper's Fig. 1 (:func:`simmarket.analysis.propositions.fig1_verdicts`) on the
    first metaverse and the first industrial run, if both are there."""
    meta = next((r for r in runs if r.info.mode == "metaverse"), None)
    ind = next((r for r in runs if r.info.mode == "industrial"), None)
    if meta is None or ind is None:
        return []
    return propositions.fig1_verdicts(meta.trend, ind.trend)


# -- output ---------------------------------------------------------------------------------


def print_comparison(c: Comparison, console: Console, *, long: bool | None = None) -> None:
    """The runs (letters A, B, ...), the table of figures, notes and Fig. 1 verdicts.

    Two runs are shown side by side; more than two (or ``long=True``) in the long format,
    because a wide table of n runs needs 3n columns and squeezes the labels to nothing.
    """
    letters = run_letters(len(c.runs))
    for letter, r in zip(letters, c.runs):
        status = "" if r.info.finished else f", [yellow]{r.info.status}[/]"
        console.print(f"[bold]{letter}[/] = {r.label}{status}: {r.info.path}", highlight=False)
    if long is None:
        long = len(c.runs) > 2
    console.print(_long_table(c, letters) if long else _wide_table(c, letters))
    for note in c.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if c.verdicts:
        _print_verdicts(c.verdicts, console)


def run_letters(n: int) -> list[str]:
    """A, B, ..., Z, then R27, R28, ...: short names for the runs in the tables."""
    return [chr(ord("A") + k) if k < 26 else f"R{k + 1}" for k in range(n)]


def _wide_table(c: Comparison, letters: list[str]) -> Table:
    """Side by side: one row per figure, a column per run, differences and ratios."""
    ref = letters[0]
    table = Table(title=f"simmarket compare — reference {ref}")
    table.add_column("layer", style="bold", overflow="fold")
    table.add_column("figure", overflow="fold")  # wrapped, never cut with an ellipsis
    for letter in letters:
        table.add_column(letter, justify="right")
    for letter in letters[1:]:
        table.add_column(f"{letter} − {ref}", justify="right", style="cyan")
        table.add_column(f"{letter} / {ref}", justify="right", style="cyan")
    last = None
    for row in c.figure_rows():
        if last is not None and row.layer != last:
            table.add_section()
        cells = [fmt(v) for v in row.values]
        for k in range(1, len(row.values)):
            cells += [fmt(row.difference(k)), _fmt_ratio(row.ratio(k))]
        table.add_row(row.layer if row.layer != last else "", row.label, *cells)
        last = row.layer
    return table


def _long_table(c: Comparison, letters: list[str]) -> Table:
    """Long format: one row per run and figure, so the width does not grow with the runs."""
    ref = letters[0]
    table = Table(title=f"simmarket compare — {len(letters)} runs, reference {ref}")
    table.add_column("figure", overflow="fold")
    table.add_column("run", justify="center", style="bold")
    table.add_column("value", justify="right")
    table.add_column(f"− {ref}", justify="right", style="cyan")
    table.add_column(f"/ {ref}", justify="right", style="cyan")
    last = None
    for row in c.figure_rows():
        if row.layer != last:
            if last is not None:
                table.add_section()
            table.add_row(f"[bold]{row.layer}[/]", "", "", "", "")
            last = row.layer
        for k, letter in enumerate(letters):
            diff = "" if k == 0 else fmt(row.difference(k))
            ratio = "" if k == 0 else _fmt_ratio(row.ratio(k))
            table.add_row(f"  {row.label}" if k == 0 else "", letter, fmt(row.values[k]),
                          diff, ratio)
    return table


def _print_verdicts(verdicts: list[Verdict], console: Console) -> None:
    table = Table(title="The paper's Fig. 1 (Proposition 2), computed from the two runs: "
                        "within items, with the mean curve's terms as evidence")
    table.add_column("claim")
    table.add_column("holds?", justify="center")
    table.add_column("evidence")
    for v in verdicts:
        mark = {True: "[green]yes[/]", False: "[bold red]NO[/]", None: "[yellow]?[/]"}[v.holds]
        table.add_row(v.claim, mark, v.evidence)
    console.print(table)
    failed = [v for v in verdicts if v.holds is False]
    if not failed:
        console.print("[green]These runs show the connection-value difference Fig. 1 "
                      "predicts.[/]")
    else:
        console.print(f"[bold red]These runs do not show all of Fig. 1:[/] "
                      f"{len(failed)} of {len(verdicts)} claims fail ("
                      + "; ".join(v.claim for v in failed) + ").", highlight=False)


def comparison_json(c: Comparison) -> str:
    """The comparison as JSON (figures per run, notes, Fig. 1 verdicts)."""
    return json.dumps(c.as_dict(), indent=1, default=str)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _diff(v: Any, ref: Any) -> float | None:
    if _number(v) and _number(ref):
        return float(v) - float(ref)
    return None


def _fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.3g}"
