"""Benchmark the event detail levels: what ``output.events`` = all / core / none saves.

The same scenario (the baseline at reduced size by default) runs once per level, each in a
fresh Python subprocess, and the table gives wall and CPU seconds of ``simmarket.run(...)``,
the database size and the events written, each also as a ratio to ``all``. The event detail
is a run setting: the simulated marketplace is the same at every level, which the script
checks by comparing each run's headline summary with the ``all`` run's.

    .venv/bin/python benchmarks/bench_events.py                      # 3,000 users, 90 days
    .venv/bin/python benchmarks/bench_events.py --users 5000 --days 180 --repeat 3
    .venv/bin/python benchmarks/bench_events.py --json > events.json  # table on stderr

See benchmarks/README.md ("Event detail") for the figures measured so far.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE_TOML = ROOT / "configs" / "baseline.toml"
LEVELS = ("all", "core", "none")
MIB = 1024 * 1024
#: The child prints its result on one line that starts with this marker.
MARKER = "BENCH_RESULT "


# -- the child: one level, one process ------------------------------------------------------

def child(spec: dict[str, Any]) -> None:
    """Run the scenario at one event level; print the measurements as one JSON line."""
    from simmarket.api import run

    config = str(BASELINE_TOML) if BASELINE_TOML.exists() else None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = run(config, overrides=spec["overrides"], out=spec["out"], force=True,
                 handle_signals=False)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    summary = json.dumps(result.summary, sort_keys=True, default=str)
    print(MARKER + json.dumps({
        "status": result.status, "events": result.events, "wall_seconds": wall,
        "cpu_seconds": cpu, "run_seconds": result.seconds,
        "summary_sha1": hashlib.sha1(summary.encode()).hexdigest()[:12],
    }), flush=True)


# -- the parent -----------------------------------------------------------------------------

def db_size_mib(path: Path) -> float:
    """The database's size on disk, with any WAL/SHM file left beside it."""
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / MIB


def run_level(level: str, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    out = out_dir / f"events-{level}.db"
    spec = {"out": str(out), "overrides": {"users.n": args.users, "horizon_days": args.days,
                                           "output.events": level}}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          stdout=subprocess.PIPE, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the {level!r} run failed (exit {proc.returncode})")
    row = json.loads(lines[-1][len(MARKER):])
    row.update(level=level, db_mib=db_size_mib(out))
    for f in (out, Path(f"{out}-wal"), Path(f"{out}-shm")):
        f.unlink(missing_ok=True)
    return row


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One level's repeats: medians of the timings; events and size are deterministic."""
    first = runs[0]
    hashes = {r["summary_sha1"] for r in runs}
    return {"level": first["level"], "status": first["status"], "events": first["events"],
            "db_mib": first["db_mib"],
            "summary_sha1": hashes.pop() if len(hashes) == 1 else "varies",
            "repeats": len(runs),
            "wall_seconds": statistics.median(r["wall_seconds"] for r in runs),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "wall_all": [round(r["wall_seconds"], 2) for r in runs]}


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    base = rows[0]

    def ratio(r: dict, key: str) -> str:
        return f"{r[key] / base[key]:.2f}" if base[key] else "—"

    head = ("| level | events | wall s | CPU s | db MiB | events/all | wall/all | CPU/all "
            "| db/all | same summary |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|")
    body = [f"| {r['level']} | {r['events']:,} | {r['wall_seconds']:.1f} | "
            f"{r['cpu_seconds']:.1f} | {r['db_mib']:.1f} | {ratio(r, 'events')} | "
            f"{ratio(r, 'wall_seconds')} | {ratio(r, 'cpu_seconds')} | {ratio(r, 'db_mib')} | "
            f"{'yes' if r['summary_sha1'] == base['summary_sha1'] != 'varies' else 'NO'} |"
            for r in rows]
    title = (f"baseline, users.n = {args.users:,}, horizon_days = {args.days:g}, "
             f"median of {args.repeat}")
    return "\n".join([title, "", head, *body])


def tree_state() -> str:
    """The code measured: HEAD, and whether tracked files have uncommitted changes."""
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, text=True,
                                  capture_output=True).stdout.strip()
        except OSError:
            return ""

    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=3000, help="users.n (default 3000)")
    p.add_argument("--days", type=float, default=90.0, help="horizon_days (default 90)")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per level, interleaved all/core/none; timings are medians")
    p.add_argument("--json", action="store_true",
                   help="print the results as JSON on stdout (the table goes to stderr)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    load0, code = os.getloadavg()[0], tree_state()
    runs: dict[str, list[dict[str, Any]]] = {level: [] for level in LEVELS}
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        for k in range(args.repeat):
            for level in LEVELS:
                row = run_level(level, args, Path(tmp))
                runs[level].append(row)
                print(f"  [{k + 1}/{args.repeat}] {level}: {row['wall_seconds']:.1f} s wall, "
                      f"{row['cpu_seconds']:.1f} s CPU, {row['events']:,} events, "
                      f"{row['db_mib']:.1f} MiB", file=sys.stderr, flush=True)
    rows = [summarise(runs[level]) for level in LEVELS]
    text = render(rows, args)
    text += (f"\n\ncommit {code}; {os.cpu_count()} CPUs, load average {load0:.2f} at the "
             f"start, {os.getloadavg()[0]:.2f} at the end")
    print(text, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps({"users": args.users, "days": args.days, "code": code,
                          "levels": rows}, indent=2))
    return 0 if all(r["status"] == "completed" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
