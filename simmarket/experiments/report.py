"""``simmarket report DIR`` on an experiment directory: the summary table and the ensemble
figures (paths over time per design point with 95% bands, the summary as dots and
intervals)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from simmarket.experiments.database import FILENAME


def is_experiment(path: str | Path) -> bool:
    """Whether ``path`` is an experiment directory (it holds experiment.db)."""
    return Path(path).is_dir() and (Path(path) / FILENAME).is_file()


def report_experiment(directory: str | Path, plots: str | Path | None = None) -> int:
    """Print the summary and write the figures (into ``plots``, default DIR/plots)."""
    from simmarket.experiments.display import summary_table
    from simmarket.experiments.plots import ensemble_report
    from simmarket.experiments.runner import read_summary

    directory = Path(directory)
    summary = read_summary(directory)
    out = Console()
    if len(summary):
        out.print(summary_table(summary, f"{directory}: mean [95% CI] over replications"))
    written = ensemble_report(directory, plots)
    Console(stderr=True).print(f"{len(written)} figures in "
                               f"[bold]{written[0].parent if written else plots}[/]",
                               highlight=False)
    return 0
