"""The terminal side of an experiment: a progress display over runs and the summary table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from simmarket.experiments.model import RunRecord
from simmarket.experiments.runner import Progress as Hooks


@contextmanager
def run_progress(console: Console, title: str, quiet: bool = False) -> Iterator[Hooks]:
    """A bar over the runs to execute: done, failed, running, elapsed and time left."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}/{task.total:.0f} runs"),
               TextColumn("[red]{task.fields[failed]} failed[/] · {task.fields[running]} "
                          "running"), TimeElapsedColumn(), TextColumn("eta"),
               TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=quiet) as bar:
        task = bar.add_task(title, total=0, failed=0, running=0)
        state = {"todo": 0, "done": 0, "failed": 0, "workers": 1}

        def start(total: int, todo: int, workers: int) -> None:
            state.update(todo=todo, workers=workers)
            bar.update(task, total=max(todo, 1) if todo else 0, running=min(workers, todo))
            if todo < total:
                console.print(f"{total - todo} of {total} runs already done; running {todo}",
                              highlight=False)

        def finished(record: RunRecord) -> None:
            state["done"] += 1
            state["failed"] += record.status != "completed"
            left = state["todo"] - state["done"]
            bar.update(task, advance=1, failed=state["failed"],
                       running=min(state["workers"], left))
            if record.status == "failed":
                console.print(f"[red]run {record.run_id} failed:[/] {record.error}",
                              highlight=False)

        yield Hooks(start=start, finished=finished)


def summary_table(summary: pd.DataFrame, title: str) -> Table:
    """One row per outcome, one column per design point: mean [95% CI]."""
    table = Table(title=title, show_lines=False)
    table.add_column("outcome", style="bold", no_wrap=True)
    points = summary[["point", "label"]].drop_duplicates().sort_values("point")
    for _, p in points.iterrows():
        table.add_column(f"{p.point}: {p.label}", justify="right", overflow="fold")
    for name, group in summary.groupby("name", sort=True):
        cells = {int(r.point): _cell(r) for r in group.itertuples()}
        table.add_row(name, *[cells.get(int(p), "—") for p in points["point"]])
    return table


def _cell(row) -> str:
    if pd.isna(row.mean):
        return "—"
    if pd.isna(row.ci_low):
        return f"{row.mean:.4g} (n={row.n})"
    return f"{row.mean:.4g} [{row.ci_low:.4g}, {row.ci_high:.4g}]"
