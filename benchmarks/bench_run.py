"""Benchmark whole simmarket runs: wall time, throughput, peak memory and database size.

Each scenario runs in a fresh Python subprocess, so its peak resident memory is its own (not
the maximum over every scenario run so far) and no import or cache is shared between them.

    .venv/bin/python benchmarks/bench_run.py                    # every scenario
    .venv/bin/python benchmarks/bench_run.py --only baseline    # one scenario
    .venv/bin/python benchmarks/bench_run.py --users 100000 --days 2
    .venv/bin/python benchmarks/bench_run.py --json > bench.json  # table on stderr

See benchmarks/README.md for what each column means and the figures measured so far.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BASELINE_TOML = ROOT / "configs" / "baseline.toml"
MIB = 1024 * 1024
#: The child prints its result on one line that starts with this marker.
MARKER = "BENCH_RESULT "


@dataclass(frozen=True)
class Scenario:
    key: str  # short name for --only and the database file name
    label: str  # name shown in the table
    config: str | None  # TOML path, or None for the built-in defaults
    overrides: dict[str, Any] = field(default_factory=dict)  # dotted names, as load_config


def scenarios() -> list[Scenario]:
    baseline = str(BASELINE_TOML) if BASELINE_TOML.exists() else None
    return [
        Scenario("baseline", "baseline", baseline),
        Scenario("1m-7d", "1M users, 7 days", None, {"users.n": 1_000_000, "horizon_days": 7}),
    ]


# -- the child: one scenario, one process ----------------------------------------------------

def _vm_hwm_mib() -> float | None:
    """Peak resident set size of this process (VmHWM), from /proc (Linux only)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MIB
    except OSError:
        pass
    return None


def child(spec: dict[str, Any]) -> None:
    """Run one scenario and print its measurements as one JSON line on stdout."""
    t0 = time.perf_counter()
    from simmarket.api import run
    from simmarket.config import load_config

    cfg = load_config(spec["config"], **spec["overrides"])
    imported = time.perf_counter()
    last = [time.perf_counter()]
    simulated = [imported]  # when the last progress call came: the end of the event loop

    def progress(t: float, events: int) -> None:
        now = simulated[0] = time.perf_counter()
        if now - last[0] >= spec["progress_every"]:
            last[0] = now
            print(f"  [{spec['key']}] day {t:,.2f} / {cfg.horizon_days:g}, {events:,} events, "
                  f"{now - imported:,.0f} s", file=sys.stderr, flush=True)

    started = time.perf_counter()
    result = run(cfg, out=spec["out"], force=True, progress=progress)
    finished = time.perf_counter()
    # Read the peaks before anything else can allocate. On Linux ru_maxrss is in KiB.
    # (RUSAGE_SELF: this child is the scenario's process; RUSAGE_CHILDREN here would be 0.)
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB
    hwm_mib = _vm_hwm_mib()
    print(MARKER + json.dumps({
        "status": result.status,
        "users": cfg.users.n,
        "days": cfg.horizon_days,
        "t_reached": result.t_reached,
        "events": result.events,
        "run_seconds": result.seconds,
        # set-up and event loop (to the horizon, with every period close) ...
        "simulate_seconds": simulated[0] - started,
        # ... then final tables, headline summary, indexes and WAL checkpoint
        "finish_seconds": finished - simulated[0],
        "startup_seconds": imported - t0,
        "peak_rss_mib": hwm_mib if hwm_mib is not None else maxrss_mib,
        "ru_maxrss_mib": maxrss_mib,
    }), flush=True)


# -- the parent: one subprocess per scenario --------------------------------------------------

def db_size_mib(path: Path) -> float:
    """The database's size on disk, with any WAL/SHM file left beside it."""
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / MIB


def count_sessions(path: Path) -> tuple[int, int]:
    """Sessions by SQL: session_started events, and SUM(sessions) of period_production."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        events = conn.execute(
            "SELECT COUNT(*) FROM events WHERE kind = 'session_started'").fetchone()[0]
        periods = conn.execute("SELECT SUM(sessions) FROM period_production").fetchone()[0]
    conn.close()
    return int(events), int(periods or 0)


def run_scenario(sc: Scenario, args: argparse.Namespace, err: Console) -> dict[str, Any]:
    overrides = dict(sc.overrides)
    if args.users is not None:
        overrides["users.n"] = args.users
    if args.days is not None:
        overrides["horizon_days"] = args.days
    out = Path(args.out_dir).resolve() / f"{sc.key}.db"
    spec = {"key": sc.key, "config": sc.config, "overrides": overrides, "out": str(out),
            "progress_every": args.progress_every}
    err.print(f"[bold]{sc.label}[/]: {sc.config or 'defaults'} {overrides or ''} -> {out}",
              highlight=False)
    tree = tree_state()
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          stdout=subprocess.PIPE, text=True)
    process_seconds = time.perf_counter() - started
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        err.print(f"[bold red]{sc.label} failed[/] (exit {proc.returncode})")
        return {"scenario": sc.label, "key": sc.key, "status": "failed",
                "exit_code": proc.returncode, "db_path": str(out)}
    row = json.loads(lines[-1][len(MARKER):])
    size = db_size_mib(out)  # before our own reader can leave a -shm file beside it
    sessions, sessions_periods = count_sessions(out)
    secs = row["run_seconds"]
    row = {
        "scenario": sc.label, "key": sc.key, **row,
        "sessions": sessions, "sessions_period_production": sessions_periods,
        "events_per_second": row["events"] / secs if secs else None,
        "sessions_per_second": sessions / secs if secs else None,
        "process_seconds": process_seconds,
        "db_mib": size, "db_path": str(out), **tree,
    }
    err.print(f"  {row['status']}: {row['events']:,} events, {sessions:,} sessions in "
              f"{secs:,.1f} s (finish {row['finish_seconds']:,.1f} s; "
              f"{row['events_per_second']:,.0f} events/s), peak RSS "
              f"{row['peak_rss_mib']:,.0f} MiB, db {row['db_mib']:,.0f} MiB", highlight=False)
    return row


def tree_state() -> dict[str, Any]:
    """The code measured: HEAD, and a hash of uncommitted changes to tracked files.

    The tree may change while a benchmark runs (each child imports simmarket afresh), so this
    is taken again just before each scenario starts.
    """
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, text=True,
                                  capture_output=True).stdout
        except OSError:
            return ""

    diff = git("diff", "HEAD")
    return {"git_commit": git("rev-parse", "--short", "HEAD").strip(),
            "git_dirty": bool(diff),
            "git_diff_sha1": hashlib.sha1(diff.encode()).hexdigest()[:12] if diff else None}


def machine() -> dict[str, Any]:
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], **tree_state()}


def table(rows: list[dict[str, Any]]) -> Table:
    t = Table(title="simmarket run benchmark (one fresh process per scenario)")
    for name in ("scenario", "users", "days", "events", "wall s", "finish s", "events/s",
                 "sessions/s", "peak RSS MiB", "db MiB"):
        t.add_column(name, justify="left" if name == "scenario" else "right", no_wrap=True)
    for r in rows:
        if r.get("status") == "failed":
            t.add_row(r["scenario"], *["—"] * 8, "failed")
            continue
        label = r["scenario"] + ("" if r["status"] == "completed" else f" ({r['status']})")
        t.add_row(label, f"{r['users']:,}", f"{r['days']:g}", f"{r['events']:,}",
                  f"{r['run_seconds']:,.1f}", f"{r['finish_seconds']:,.1f}",
                  f"{r['events_per_second']:,.0f}",
                  f"{r['sessions_per_second']:,.0f}", f"{r['peak_rss_mib']:,.0f}",
                  f"{r['db_mib']:,.1f}")
    return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run only this scenario (key or label, e.g. baseline, 1m-7d); "
                        "repeatable")
    p.add_argument("--users", type=int, help="override users.n in every scenario")
    p.add_argument("--days", type=float, help="override horizon_days in every scenario")
    p.add_argument("--out-dir", default="results/bench",
                   help="where the run databases go (default: results/bench)")
    p.add_argument("--json", action="store_true",
                   help="also print the results as JSON on stdout (the table goes to stderr)")
    p.add_argument("--progress-every", type=float, default=30.0, metavar="SECONDS",
                   help="report a running scenario's progress this often (default: 30)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    chosen = scenarios()
    if args.only:
        wanted = {w.lower() for w in args.only}
        chosen = [s for s in chosen if s.key.lower() in wanted or s.label.lower() in wanted]
        if not chosen:
            names = ", ".join(f"{s.key!r} ({s.label})" for s in scenarios())
            p.error(f"no scenario named {', '.join(args.only)}; choose from {names}")
    err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
    info = machine()
    err.print(f"{info['date']}  {info['cpus']} CPUs  load {info['load_avg_1m']:.2f}  "
              f"python {info['python']}  commit {info['git_commit']}"
              f"{' + uncommitted ' + info['git_diff_sha1'] if info['git_dirty'] else ''}",
              highlight=False)
    rows = [run_scenario(sc, args, err) for sc in chosen]
    info["load_avg_1m_end"] = os.getloadavg()[0]
    stream = sys.stderr if args.json else sys.stdout
    # Piped output would be cut to 80 columns; keep the table whole.
    Console(file=stream, width=None if stream.isatty() else 140).print(table(rows))
    if args.json:
        print(json.dumps({"machine": info, "results": rows}, indent=2))
    return 1 if any(r.get("status") != "completed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
