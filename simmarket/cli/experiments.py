"""The experiment subcommands of the CLI: experiment, propositions, sensitivity.

    simmarket experiment DESIGN.toml --out DIR [--jobs N] [--dask ADDRESS|local] [--resume]
                         [--no-fork]
    simmarket propositions [--reps R] [--users N] [--days D] [--jobs J] [--out DIR]
    simmarket sensitivity DESIGN.toml --method morris|sobol [--n N] [--out DIR]

``simmarket.cli`` registers them with :func:`add_parsers` and hands parsed arguments to
:func:`dispatch`. A bad design, an unknown key or a value out of range is one line on stderr
and exit code 2; Ctrl-C keeps what finished and exits 130.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from simmarket.config import ConfigError

__all__ = ["add_parsers", "dispatch"]

COMMANDS = ("experiment", "propositions", "sensitivity")
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _where(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, metavar="N",
                   help="worker processes (default: the number of cores)")
    p.add_argument("--dask", metavar="ADDRESS|local",
                   help="run on a dask.distributed scheduler, or 'local' for a LocalCluster")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the experiment subcommands to the CLI's subparsers."""
    e = sub.add_parser("experiment", help="replications and factor sweeps with 95%% CIs")
    e.add_argument("design", help="design file (TOML)")
    e.add_argument("--out", metavar="DIR", help="experiment directory (default: "
                   "results/<design name>)")
    e.add_argument("--resume", action="store_true",
                   help="continue DIR's experiment (refused if DIR holds none)")
    e.add_argument("--force", action="store_true",
                   help="start DIR over if it holds another design's experiment")
    e.add_argument("--no-fork", action="store_true",
                   help="replay the days before a policy factor's day in every run instead "
                        "of simulating them once and forking there")
    _where(e)
    p = sub.add_parser("propositions", help="test the seven propositions of the model")
    p.add_argument("--reps", type=int, default=None, help="replications per design point")
    p.add_argument("--users", type=int, default=None, help="users.n of every run")
    p.add_argument("--days", type=float, default=None, help="horizon_days of every run")
    p.add_argument("--out", metavar="DIR", default="results/propositions",
                   help="experiment directory (default: results/propositions)")
    p.add_argument("--force", action="store_true",
                   help="start DIR over if it holds other settings' runs")
    _where(p)
    s = sub.add_parser("sensitivity", help="Morris or Sobol indices over factor ranges")
    s.add_argument("design", help="design file whose [[factors]] give low and high")
    s.add_argument("--method", choices=("morris", "sobol"), required=True)
    s.add_argument("--n", type=int, default=None,
                   help="trajectories (Morris, default 10) or base samples (Sobol, 64)")
    s.add_argument("--out", metavar="DIR",
                   help="experiment directory (default: results/<design name>-<method>)")
    s.add_argument("--force", action="store_true",
                   help="start DIR over if it holds another design's experiment")
    _where(s)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run an experiment subcommand; None if ``args.command`` is not one of them."""
    if args.command not in COMMANDS:
        return None
    from simmarket.experiments.design import DesignError
    from simmarket.experiments.runner import ExperimentError

    err = Console(stderr=True, soft_wrap=True)
    try:
        return {"experiment": _experiment, "propositions": _propositions,
                "sensitivity": _sensitivity}[args.command](args, err)
    except (DesignError, ExperimentError, ConfigError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE


def _check_where(args: argparse.Namespace) -> None:
    from simmarket.experiments.design import DesignError

    if args.jobs is not None and args.jobs < 1:
        raise DesignError(f"--jobs {args.jobs}: expected at least 1")


def _experiment(args: argparse.Namespace, err: Console) -> int:
    from simmarket.experiments.design import DesignError, load_design, validate_configs
    from simmarket.experiments.display import run_progress, summary_table
    from simmarket.experiments.fork import choose_evaluator
    from simmarket.experiments.runner import read_summary, run_experiment

    _check_where(args)
    design = load_design(args.design)
    if any(f.is_range for f in design.factors):
        raise DesignError(f"{args.design}: every factor needs values = [...] here "
                          "(low/high ranges are for simmarket sensitivity)")
    validate_configs(design)
    out = Path(args.out or Path("results") / design.name)
    evaluator = choose_evaluator(design, args.jobs, args.dask, fork=not args.no_fork)
    try:
        with run_progress(err, design.name, args.quiet) as hooks:
            result = run_experiment(design, out, evaluator, force=args.force,
                                    resume=args.resume, progress=hooks)
    finally:
        evaluator.close()
    Console().print(summary_table(read_summary(out), f"{design.name}: mean [95% CI] over "
                                                     f"{design.replications} replications"))
    err.print(f"{result.completed} runs completed, {result.failed} failed, "
              f"{result.executed} executed now; results in [bold]{result.db_path}[/]",
              highlight=False)
    if result.interrupted:
        err.print("[yellow]interrupted[/]: finished runs are kept; run the same command "
                  "again to finish the rest")
        return EXIT_INTERRUPTED
    return 1 if result.failed else 0


def _propositions(args: argparse.Namespace, err: Console) -> int:
    from rich.table import Table

    from simmarket.experiments import propositions as props
    from simmarket.experiments.display import run_progress
    from simmarket.experiments.evaluators import make_evaluator

    _check_where(args)
    reps = props.DEFAULT_REPS if args.reps is None else args.reps
    users = props.DEFAULT_USERS if args.users is None else args.users
    days = props.DEFAULT_DAYS if args.days is None else args.days
    props.suite_design(reps, users, days)  # refuse bad sizes before starting workers
    evaluator = make_evaluator(args.jobs, args.dask)
    try:
        with run_progress(err, "propositions", args.quiet) as hooks:
            rows, result = props.run_suite(args.out, evaluator, reps=reps, users=users,
                                           days=days, force=args.force, progress=hooks)
    finally:
        evaluator.close()
    table = Table(title=f"Propositions (MODEL.md §6): {reps} replications, {users} users, "
                        f"{days:g} days")
    for col in ("P", "claim", "expected", "effect", "95% CI", "agree", "verdict"):
        table.add_column(col, justify="right" if col in ("effect", "agree") else "left",
                         no_wrap=col != "claim")
    style = {"holds": "green", "contradicts": "red", "inconclusive": "yellow"}
    for r in rows:
        sign = r["expected"].rsplit(" ", 2)[-2:]
        table.add_row(str(r["proposition"]), r["claim"], " ".join(sign), props._num(r["effect"]),
                      f"[{props._num(r['ci_low'])}, {props._num(r['ci_high'])}]",
                      props._num(r["agree_share"]),
                      f"[{style[r['verdict']]}]{r['verdict']}[/]")
    Console().print(table)
    err.print(f"written: {result.db_path} (table propositions), "
              f"{Path(args.out) / 'propositions.md'}", highlight=False)
    if result.interrupted:
        err.print("[yellow]interrupted[/]: run the same command again to finish")
        return EXIT_INTERRUPTED
    return 1 if result.failed else 0


def _sensitivity(args: argparse.Namespace, err: Console) -> int:
    from rich.table import Table

    from simmarket.experiments import sensitivity as sa
    from simmarket.experiments.design import load_design
    from simmarket.experiments.display import run_progress
    from simmarket.experiments.evaluators import make_evaluator

    _check_where(args)
    design = load_design(args.design)
    n = args.n or sa.DEFAULT_N[args.method]
    sa.sampled_design(design, args.method, n)  # refuse bad ranges before starting workers
    out = Path(args.out or Path("results") / f"{design.name}-{args.method}")
    evaluator = make_evaluator(args.jobs, args.dask)
    try:
        with run_progress(err, f"{design.name} ({args.method})", args.quiet) as hooks:
            rows, result = sa.run_sensitivity(design, args.method, n, out, evaluator,
                                              force=args.force, progress=hooks)
    finally:
        evaluator.close()
    cols = sa.COLUMNS[args.method]
    table = Table(title=f"{args.method} indices: {design.name}, n = {n}, "
                        f"{design.replications} replication(s) per point")
    for col in cols:
        table.add_column(col, justify="left" if col in ("name", "factor") else "right",
                         no_wrap=True)
    for r in rows:
        table.add_row(*[r[c] if isinstance(r[c], str) else f"{r[c]:.4g}" for c in cols])
    Console().print(table)
    err.print(f"written: {result.db_path} (table sensitivity_{args.method}), "
              f"{out / 'plots' / f'sensitivity_{args.method}.png'}", highlight=False)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return 1 if result.failed else 0
