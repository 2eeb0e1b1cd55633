"""The analysis subcommands of the CLI: query, report, compare, browse.

    simmarket query DB "SQL" [--csv | --json] [--timeout SECONDS]
    simmarket report DB [--plots DIR]
    simmarket compare A.db B.db [...] [--json | --long]
    simmarket browse DB [--port N] [--open]

``simmarket.cli`` registers them with :func:`add_parsers` and hands parsed arguments to
:func:`dispatch`. Errors a user can cause raise :class:`AnalysisError`, which the CLI prints
as one line (exit code 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from simmarket.analysis.query import AnalysisError

__all__ = ["AnalysisError", "add_parsers", "dispatch"]

COMMANDS = ("query", "report", "compare", "browse")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the analysis subcommands to the CLI's subparsers."""
    q = sub.add_parser("query", help="run one read-only SQL query on a run database")
    q.add_argument("db", help="run database (.db)")
    q.add_argument("sql", help="one SQL statement; statements that write are refused")
    fmt = q.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="print CSV (with a header line)")
    fmt.add_argument("--json", action="store_true", help="print a JSON array of objects")
    q.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="stop the query after this many seconds (exit 2); Ctrl-C always stops")
    r = sub.add_parser("report", help="report a run: config, status, figures, plots")
    r.add_argument("db", help="run database (.db)")
    r.add_argument("--plots", metavar="DIR", help="also write PNG plots into DIR")
    c = sub.add_parser("compare", help="headline figures of several runs side by side")
    c.add_argument("dbs", nargs="+", metavar="DB", help="two or more run databases")
    cfmt = c.add_mutually_exclusive_group()
    cfmt.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cfmt.add_argument("--long", action="store_true",
                      help="one row per run and figure (the default for more than two runs)")
    b = sub.add_parser("browse", help="open a run database in datasette (browse extra)")
    b.add_argument("db", help="run database (.db)")
    b.add_argument("--host", default="127.0.0.1", help="address to serve on")
    b.add_argument("--port", type=int, help="port (default: a free one)")
    b.add_argument("--open", action="store_true", help="open it in a web browser")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run an analysis subcommand; None if ``args.command`` is not one of them."""
    if args.command not in COMMANDS:
        return None
    return {"query": _query, "report": _report, "compare": _compare,
            "browse": _browse}[args.command](args)


def _query(args: argparse.Namespace) -> int:
    from simmarket.analysis.query import execute, format_cell, open_run, to_csv, to_json

    conn, info = open_run(args.db)
    try:
        names, rows = execute(conn, args.sql, timeout=args.timeout)
    finally:
        conn.close()
    if args.csv:
        sys.stdout.write(to_csv(names, rows))
    elif args.json:
        sys.stdout.write(to_json(names, rows) + "\n")
    else:
        _print_rows(names, [[format_cell(v) for v in row] for row in rows])
    if not info.finished:
        Console(stderr=True, soft_wrap=True).print(f"[yellow]note:[/] {info.status_note}",
                                                   highlight=False)
    return 0


def _print_rows(names: list[str], cells: list[list[str]]) -> None:
    """A table; or, when it is wider than the terminal, one block per row (like psql's
    expanded display), so that no column is squeezed to an ellipsis."""
    console = Console()
    table = Table(*names, caption=f"{len(cells):,} rows")
    for row in cells:
        table.add_row(*row)
    natural = sum(max([len(n)] + [len(r[k]) for r in cells]) + 3
                  for k, n in enumerate(names)) + 1
    if natural <= console.width:
        console.print(table)
        return
    for i, row in enumerate(cells, start=1):
        record = Table(title=f"row {i}", show_header=False, title_justify="left")
        record.add_column(style="bold")
        record.add_column(overflow="fold")
        for name, cell in zip(names, row):
            record.add_row(name, cell)
        console.print(record)
    console.print(f"{len(cells):,} rows")


def _report(args: argparse.Namespace) -> int:
    from simmarket.analysis.report import report
    from simmarket.experiments.report import is_experiment, report_experiment

    if is_experiment(args.db):  # an experiment directory: ensemble figures
        return report_experiment(args.db, plots=args.plots)
    return report(args.db, plots=args.plots)


def _compare(args: argparse.Namespace) -> int:
    from simmarket.analysis.compare import compare, comparison_json, print_comparison

    comparison = compare(args.dbs)
    if args.json:
        sys.stdout.write(comparison_json(comparison) + "\n")
    else:
        print_comparison(comparison, Console(), long=args.long or None)
    return 0


def _browse(args: argparse.Namespace) -> int:
    from simmarket.analysis.browse import browse

    err = Console(stderr=True, soft_wrap=True)
    return browse(args.db, host=args.host, port=args.port, open_browser=args.open,
                  echo=lambda text: err.print(text, highlight=False))
