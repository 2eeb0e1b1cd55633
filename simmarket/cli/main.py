"""The terminal front end: a thin layer over the Python API.

    simmarket run [CONFIG] [--seed N] [--days D] [--users N] [--out PATH] [--force]
                  [--quiet | --json]
    simmarket validate CONFIG

Errors a user can cause (a bad config, an existing database, a missing file) are one clear
message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from simmarket import __version__, cli
from simmarket.analysis.summary import HEADLINES, fmt
from simmarket.cli import analysis as analysis_cli
from simmarket.cli import experiments as experiments_cli
from simmarket.config import (
    EVENT_LEVELS,
    ConfigError,
    config_warnings,
    load_config,
    parse_assignment,
)
from simmarket.config.loader import check_resources
from simmarket.store.sqlite import StoreError, check_output

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

console = Console(stderr=True, soft_wrap=True)


class _Rate(ProgressColumn):
    """Events written per second of wall time."""

    def render(self, task) -> Text:
        speed = task.fields.get("events", 0) / task.elapsed if task.elapsed else 0.0
        return Text(f"{speed:,.0f} events/s", style="cyan")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simmarket", description=(
        "Simulate value creation in a metaverse-style marketplace; every event goes to "
        "SQLite."))
    p.add_argument("--version", action="version", version=f"simmarket {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one scenario and write its database")
    r.add_argument("config", nargs="?", help="TOML scenario (default: built-in defaults)")
    r.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   dest="assignments", help="set any config key (repeatable); the value is a "
                   "TOML literal, validated like the file")
    r.add_argument("--seed", type=int, help="shorthand for --set seed=N")
    r.add_argument("--days", type=float, help="shorthand for --set horizon_days=D")
    r.add_argument("--users", type=int, help="shorthand for --set users.n=N")
    r.add_argument("--events", choices=EVENT_LEVELS,
                   help="shorthand for --set output.events=LEVEL (all, core, none)")
    r.add_argument("--out", help="database path (default: results/<config name>.db)")
    r.add_argument("--force", action="store_true",
                   help="replace an existing simmarket run database (nothing else)")
    shown = r.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true",
                       help="no progress bar and no summary table (errors and warnings only)")
    shown.add_argument("--json", action="store_true",
                       help="print only the summary, status, database path, events and "
                            "seconds as JSON on stdout")
    v = sub.add_parser("validate", help="check a scenario and print it resolved")
    v.add_argument("config")
    v.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   dest="assignments", help="set any config key (repeatable)")
    analysis_cli.add_parsers(sub)
    experiments_cli.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "validate":
            return _validate(args)
        if (code := analysis_cli.dispatch(args)) is not None:
            return code
        if (code := experiments_cli.dispatch(args)) is not None:
            return code
    except (ConfigError, StoreError, FileNotFoundError, analysis_cli.AnalysisError) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a fault of ours, not the user's: say so, keep it short
        if cli.signalled:  # a Ctrl-C that a compiled extension turned into its own error
            console.print("[yellow]interrupted[/]")
            return EXIT_INTERRUPTED
        if os.environ.get("SIMMARKET_DEBUG"):
            raise
        console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n"
                      "Any run database is marked 'failed' with this message. "
                      "Set SIMMARKET_DEBUG=1 to see the traceback, and please report it.",
                      highlight=False)
        return EXIT_FAILURE
    return EXIT_USAGE


def _overrides(args) -> dict:
    """``--set`` assignments, then the shorthands (which win, being more specific)."""
    out = dict(parse_assignment(a) for a in args.assignments)
    shorthands = {"seed": getattr(args, "seed", None),
                  "horizon_days": getattr(args, "days", None),
                  "users.n": getattr(args, "users", None),
                  "output.events": getattr(args, "events", None)}
    out.update({k: v for k, v in shorthands.items() if v is not None})
    return out


def _warn(cfg) -> None:
    for warning in config_warnings(cfg):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _validate(args) -> int:
    cfg = load_config(args.config, _overrides(args))
    check_resources(cfg.scenario)
    print(json.dumps(cfg.resolved(), indent=2))
    _warn(cfg)
    console.print(f"[green]{args.config} is valid[/]")
    return 0


def _run(args) -> int:
    with cli.quiet_imports():
        from simmarket.api import run

    cfg = load_config(args.config, _overrides(args))
    check_resources(cfg.scenario)
    _warn(cfg)
    out = check_output(args.out if args.out is not None else cfg.db_path, args.force)
    horizon = cfg.scenario.horizon_days
    columns = [TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("day {task.completed:,.1f} / {task.total:,.0f}"), _Rate(),
               TextColumn("eta"), TimeRemainingColumn()]
    quiet = args.quiet or args.json
    with Progress(*columns, console=console, disable=quiet, transient=False) as bar:
        task = bar.add_task(cfg.name, total=horizon, events=0)

        def progress(t: float, events: int) -> None:
            bar.update(task, completed=t, events=events)

        result = run(cfg, out=out, force=args.force, progress=progress)
    if args.json:
        print(json.dumps(_as_json(result), indent=2))
    else:
        _print_summary(result, table=not args.quiet)
    if result.status == "interrupted":
        console.print(f"[yellow]interrupted at day {result.t_reached:.2f}[/]: what was "
                      f"simulated is committed in {result.db_path}")
        return EXIT_INTERRUPTED
    return 0


def _as_json(result) -> dict:
    """What ``run --json`` prints: plain JSON (a figure that is not a number is null)."""
    def plain(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return {"name": result.config.name, "seed": result.config.seed,
            "status": result.status, "db_path": str(result.db_path),
            "events": result.events, "seconds": round(result.seconds, 3),
            "t_reached": result.t_reached,
            "summary": {layer: {k: plain(v) for k, v in figures.items()}
                        for layer, figures in result.summary.items()}}


def _print_summary(result, table: bool = True) -> None:
    out = Console()
    if table:
        _print_table(out, result)
    out.print(f"{result.events:,} events in {result.seconds:.1f} s "
              f"({result.events / max(result.seconds, 1e-9):,.0f} events/s); "
              f"status [bold]{result.status}[/]")
    out.print(f"database: [bold]{result.db_path}[/]")


def _print_table(out: Console, result) -> None:
    table = Table(title=f"simmarket — {result.config.name} (seed {result.config.seed}, "
                        f"{result.config.scenario.mode}, {result.t_reached:g} days)")
    table.add_column("layer", style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for layer, figures in result.summary.items():
        labels = HEADLINES[layer][1]
        for i, (name, value) in enumerate(figures.items()):
            table.add_row(layer if i == 0 else "", labels[name], fmt(value))
        table.add_section()
    out.print(table)


if __name__ == "__main__":
    sys.exit(main())
