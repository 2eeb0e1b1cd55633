"""Running a design into a directory: plan, execute what is missing, keep what finished.

The directory holds ``experiment.db`` and ``runs/`` (each run's own database). The plan (every
run with its seed) is written first, so a rerun of the same design into the same directory
executes only runs that are missing, failed or interrupted. A run that raises is recorded
with its error and the others go on. Ctrl-C stops the workers; what finished is kept and the
statistics are computed over it. A design whose fingerprint differs from the directory's is
refused unless ``force`` (then the directory starts over: outcomes of two designs never mix).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simmarket import __version__
from simmarket.experiments import database as xdb
from simmarket.experiments.design import Design
from simmarket.experiments.evaluators import Evaluator, SerialEvaluator
from simmarket.experiments.model import ModelFn, RunRecord, Task, simulate
from simmarket.experiments.stats import paired_rows, summary_rows


class ExperimentError(RuntimeError):
    """The experiment cannot go on as asked (another design in DIR, nothing to resume)."""


@dataclass
class Progress:
    """Hooks for a display: told the plan once, then every finished run."""

    start: Callable[[int, int, int], None] = lambda total, todo, workers: None
    finished: Callable[[RunRecord], None] = lambda record: None


@dataclass
class ExperimentResult:
    """What a call of :func:`run_experiment` did and where the results are."""

    directory: Path
    executed: int
    completed: int
    failed: int
    interrupted: bool

    @property
    def db_path(self) -> Path:
        return self.directory / xdb.FILENAME


def run_path(directory: Path, run_id: int) -> Path:
    """Where a run's own database goes."""
    return directory / "runs" / f"run-{run_id:04d}.db"


def open_experiment(design: Design, directory: str | Path, *, force: bool = False,
                    resume: bool = False) -> sqlite3.Connection:
    """Open DIR for ``design``: refuse another design's directory unless ``force``, and
    write the plan."""
    directory = Path(directory)
    if resume and not (directory / xdb.FILENAME).exists():
        raise ExperimentError(f"--resume: {directory} holds no {xdb.FILENAME} to resume")
    conn = xdb.connect(directory)
    fingerprint = design.fingerprint()
    old = xdb.meta(conn).get("fingerprint")
    if old is not None and old != fingerprint:
        if not force:
            conn.close()
            raise ExperimentError(
                f"{directory} holds another design's experiment (fingerprint {old}, this "
                f"design's is {fingerprint}); choose another --out or pass --force to "
                "start it over")
        conn.close()
        xdb.reset(directory)
        conn = xdb.connect(directory)
    xdb.set_meta(conn, {"fingerprint": fingerprint, "name": design.name,
                        "design": design.source, "replications": design.replications,
                        "seed": design.seed, "events": design.events,
                        "factors": [f.key for f in design.factors],
                        "version": __version__})
    runs = design.runs()
    xdb.write_plan(conn, design, runs,
                   {r.run_id: str(run_path(Path("."), r.run_id)) for r in runs})
    return conn


def run_experiment(design: Design, directory: str | Path, evaluator: Evaluator | None = None,
                   *, model: ModelFn = simulate, force: bool = False, resume: bool = False,
                   progress: Progress | None = None) -> ExperimentResult:
    """Execute the design's unfinished runs into ``directory`` and compute the statistics."""
    directory = Path(directory).resolve()
    progress = progress or Progress()
    evaluator = evaluator or SerialEvaluator()
    conn = open_experiment(design, directory, force=force, resume=resume)
    try:
        todo = xdb.unfinished(conn)
        specs = [r for r in design.runs() if r.run_id in todo]
        tasks = [Task(r.run_id, r.config, str(run_path(directory, r.run_id)), design.events)
                 for r in specs]
        (directory / "runs").mkdir(exist_ok=True)
        progress.start(len(design.runs()), len(tasks), evaluator.workers)
        executed, interrupted = _execute(conn, evaluator, model, tasks, progress)
        write_statistics(conn)
        counts = dict(conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"))
    finally:
        conn.close()
    return ExperimentResult(directory, executed, counts.get("completed", 0),
                            counts.get("failed", 0), interrupted)


def _execute(conn: sqlite3.Connection, evaluator: Evaluator, model: ModelFn,
             tasks: list[Task], progress: Progress) -> tuple[int, bool]:
    executed = 0
    try:
        for record in evaluator.map(model, tasks):
            xdb.save_record(conn, record)
            executed += 1
            progress.finished(record)
    except KeyboardInterrupt:
        evaluator.abort()
        left = {t.run_id for t in tasks} & xdb.unfinished(conn)
        xdb.mark(conn, left, "interrupted")
        return executed, True
    return executed, False


def write_statistics(conn: sqlite3.Connection) -> None:
    """Recompute ``summary`` and ``paired`` (against point 0) from completed runs."""
    outcomes = xdb.completed_outcomes(conn)
    xdb.replace_table(conn, "summary", summary_rows(outcomes) if len(outcomes) else [],
                      ["point", "name", "n", "mean", "sd", "ci_low", "ci_high"])
    xdb.replace_table(conn, "paired", paired_rows(outcomes) if len(outcomes) else [],
                      ["point", "reference", "name", "n", "mean_diff", "ci_low", "ci_high"])


def read_summary(directory: str | Path) -> pd.DataFrame:
    """The ``summary`` table joined with the points' labels."""
    conn = sqlite3.connect(Path(directory) / xdb.FILENAME)
    try:
        return pd.read_sql_query(
            "SELECT s.point, p.label, s.name, s.n, s.mean, s.ci_low, s.ci_high "
            "FROM summary s JOIN points p USING (point) ORDER BY s.name, s.point", conn)
    finally:
        conn.close()
