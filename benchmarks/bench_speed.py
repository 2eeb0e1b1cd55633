"""simmarket's speed on the issue-9 workload, with the SQLite ceiling measured in the same run.

The workload: ``firms.initial = 0``, ``firms.entry_rate = 0``, ``government.enabled = false``,
defaults otherwise, full event log (``output.events = "all"``). Sizes by default: 10,000 and
100,000 users for 60 days and 1,000,000 users for 30 days, each also with
``output.events = "none"``. Every run is a fresh subprocess, measured from outside with
``os.wait4`` (CPU seconds and peak RSS of the whole child) and from inside (wall and CPU
seconds of ``simmarket.run``, the recorder's own time committing events and building the
indexes, the garbage collector's time). In the same benchmark run, at its start and its
end, a child measures the raw ``executemany`` ceiling: event rows shaped like the log
(``peer_common.synthetic_rows``), one row per statement, batches of 50,000 into a fresh
WAL-mode file, the rows built before the clock starts; and, on the same rows, the recorder's
own insert path (``simmarket.store.sqlite.insert_events``, many rows per statement).

    .venv/bin/python benchmarks/bench_speed.py                         # 10k, 100k, 1M users
    .venv/bin/python benchmarks/bench_speed.py --quick                 # 10k users, 30 days
    .venv/bin/python benchmarks/bench_speed.py --sizes 10000:60,100000:10 --no-none
    .venv/bin/python benchmarks/bench_speed.py --code HEAD~3 --sizes 10000:60   # an old commit
    .venv/bin/python benchmarks/bench_speed.py --json results/bench/speed/speed.json
    .venv/bin/python benchmarks/bench_speed.py --report results/bench/speed/speed.json

See benchmarks/README.md, "Speed (issue 9): bench_speed.py".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import bench_peer  # noqa: E402
from bench_peer import load  # noqa: E402
from peer_common import WORKLOAD, executemany_ceiling, open_events_db, synthetic_rows  # noqa: E402

MARKER = bench_peer.MARKER
DEFAULT_SIZES = "10000:60,100000:60,1000000:30"
#: The issue's goals.
TARGET_US = 11.0  # CPU microseconds per session
TARGET_CEILING = 0.4  # end-to-end rows/s over the raw executemany ceiling
TARGET_NONE = 5.0  # events "none" at least 5x faster than "all"
TARGET_RSS_MIB = 1024.0  # 1M users x 30 days


# -- the children ----------------------------------------------------------------------------
def run_child(users: int, days: float, events: str, out: str) -> dict[str, Any]:
    """One simmarket run of the workload in this process (a fresh child of the benchmark)."""
    from simmarket_child import GCTimer

    import simmarket.api as api
    from simmarket.config import load_config

    seen: list[Any] = []
    make = api._recorder

    def keep(*a, **k):  # the recorder, for its own timings (absent in older commits)
        rec = make(*a, **k)
        seen.append(rec)
        return rec

    api._recorder = keep
    loop_end: list[float] = []
    model_run = api.Model.run

    def timed_run(self, *a, **k):
        try:
            return model_run(self, *a, **k)
        finally:
            loop_end.append(time.perf_counter())

    api.Model.run = timed_run
    cfg = load_config(None, **{"users.n": users, "horizon_days": days,
                               "output.events": events, **WORKLOAD})
    timer = GCTimer()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    result = api.run(cfg, out=out, force=True, handle_signals=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rec = seen[0] if seen else None
    prod = result.periods["period_production"]
    return {
        "users": users, "days": days, "events_level": events, "status": result.status,
        "run_seconds": wall, "run_cpu_seconds": cpu, "events": result.events,
        "sessions": int(prod["sessions"].sum()),
        "finish_seconds": t0 + wall - loop_end[-1] if loop_end else None,
        "write_seconds": getattr(rec, "write_seconds", None),
        "index_seconds": getattr(rec, "index_seconds", None),
        "gc_seconds": timer.seconds, "gc_cpu_seconds": timer.cpu_seconds,
        "gc_collections": timer.collections,
    }


def ceiling_child(rows: int, path: str) -> dict[str, Any]:
    """The raw executemany ceiling, and the recorder's insert path on the same rows."""
    out = executemany_ceiling(path, rows)
    try:
        from simmarket.store.sqlite import insert_events
    except ImportError:  # a commit from before the many-row writer
        return out
    data, batch = synthetic_rows(rows), 50_000
    conn = open_events_db(path)
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, rows, batch):
        conn.execute("BEGIN")
        insert_events(conn, data[start:start + batch])
        conn.execute("COMMIT")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    out.update(writer_rows_per_second=rows / wall, writer_rows_per_cpu_second=rows / cpu)
    return out


# -- the parent ------------------------------------------------------------------------------
def measure(cmd: list[str], label: str) -> dict[str, Any]:
    return bench_peer.child(cmd, label)


def derive(row: dict[str, Any], db: Path) -> dict[str, Any]:
    if row.get("status") == "failed":
        return row
    bench_peer.rates(row, db)
    if row.get("write_seconds") and row["events"]:
        row["writer_rows_per_second"] = row["events"] / row["write_seconds"]
    return row


def fmt(v: Any, spec: str = ",.0f") -> str:
    return "—" if v is None else format(v, spec)


def table(info: dict[str, Any], ceil: list[dict[str, Any]], rows: list[dict[str, Any]]):
    """The rich table of the runs, the ceiling and the ratios."""
    from rich.console import Console
    from rich.table import Table

    good = [c for c in ceil if c.get("status") != "failed"]
    ceiling = sum(c["rows_per_second"] for c in good) / len(good) if good else float("nan")
    ceiling_cpu = (sum(c["rows_per_cpu_second"] for c in good) / len(good) if good
                   else float("nan"))
    console = Console(width=200)
    t = Table(title=f"simmarket, issue-9 workload ({info['date']}, {info['cpus']} CPUs, load "
                    f"{info['load_start']} -> {info.get('load_end', '?')}, {info['git']})")
    for name in ("run", "users", "days", "sessions", "events", "wall s", "run CPU s",
                 "child CPU s", "events/s", "sessions/s", "rows/s", "CPU µs/session",
                 "writer rows/s", "index s", "finish s", "GC s", "peak RSS MiB"):
        t.add_column(name, justify="left" if name == "run" else "right", no_wrap=name == "run")
    for r in rows:
        if r.get("status") == "failed":
            t.add_row(r["label"], *["—"] * 15, "failed")
            continue
        t.add_row(r["label"], fmt(r["users"]), fmt(r["days"], "g"), fmt(r["sessions"]),
                  fmt(r["events"]), fmt(r["run_seconds"], ",.1f"),
                  fmt(r["run_cpu_seconds"], ",.1f"), fmt(r["cpu_seconds"], ",.1f"),
                  fmt(r["events_per_second"]), fmt(r["sessions_per_second"]),
                  fmt(r["rows_per_second"]), fmt(r["cpu_us_per_session"], ",.1f"),
                  fmt(r.get("writer_rows_per_second")), fmt(r.get("index_seconds"), ",.2f"),
                  fmt(r.get("finish_seconds"), ",.1f"), fmt(r.get("gc_seconds"), ",.2f"),
                  fmt(r["peak_rss_mib"]))
    console.print(t)
    writer = [c["writer_rows_per_second"] for c in good if "writer_rows_per_second" in c]
    console.print(
        "executemany ceiling (one row per statement, WAL, batches of 50,000): "
        + ", ".join(f"{c['rows_per_second']:,.0f}" for c in good)
        + f" rows/s (start, end), mean {ceiling:,.0f}; per CPU second mean "
        f"{ceiling_cpu:,.0f}"
        + ("; the recorder's insert path on the same rows: "
           + ", ".join(f"{w:,.0f}" for w in writer) + " rows/s" if writer else ""))
    ratios = Table(title="against the goals")
    for name in ("users", "days", "CPU µs/session", "rows/s ÷ ceiling", "events/s ÷ ceiling",
                 "per CPU s ÷ ceiling", '"none" vs "all" (wall)', '"none" vs "all" (CPU)',
                 "peak RSS MiB"):
        ratios.add_column(name, justify="right")
    ok = [r for r in rows if r.get("status") != "failed"]
    for n, days in sorted({(r["users"], r["days"]) for r in ok}):
        full = next((r for r in ok if (r["users"], r["days"]) == (n, days)
                     and r["events_level"] == "all"), None)
        none = next((r for r in ok if (r["users"], r["days"]) == (n, days)
                     and r["events_level"] == "none"), None)
        if full is None:
            continue
        ratios.add_row(
            fmt(n), fmt(days, "g"),
            f"{full['cpu_us_per_session']:.1f} (goal ≤ {TARGET_US:g})",
            f"{full['rows_per_second'] / ceiling:.3f} (goal ≥ {TARGET_CEILING:g})",
            f"{full['events_per_second'] / ceiling:.3f}",
            f"{full['events'] / full['run_cpu_seconds'] / ceiling_cpu:.3f}",
            f"{full['run_seconds'] / none['run_seconds']:.2f}x (goal ≥ {TARGET_NONE:g}x)"
            if none else "—",
            f"{full['run_cpu_seconds'] / none['run_cpu_seconds']:.2f}x" if none else "—",
            f"{full['peak_rss_mib']:,.0f}"
            + (f" (goal ≤ {TARGET_RSS_MIB:,.0f})" if n >= 1_000_000 else ""))
    console.print(ratios)


def sizes(text: str) -> list[tuple[int, float]]:
    out = []
    for part in filter(None, text.split(",")):
        users, _, days = part.partition(":")
        out.append((int(users), float(days or 60)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=DEFAULT_SIZES, metavar="USERS:DAYS,...",
                   help=f"runs to measure (default {DEFAULT_SIZES})")
    p.add_argument("--quick", action="store_true", help="10,000 users, 30 days")
    p.add_argument("--no-none", action="store_true", help='skip the output.events="none" runs')
    p.add_argument("--ceiling-rows", type=int, default=2_000_000)
    p.add_argument("--out-dir", default="results/bench/speed")
    p.add_argument("--keep", action="store_true", help="keep the run databases")
    p.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    p.add_argument("--code", metavar="REV",
                   help="measure simmarket as of this git revision (git archive of simmarket/)")
    p.add_argument("--report", metavar="PATH", help="reprint the tables of a --json")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    p.add_argument("--ceiling-child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        table(saved["machine"], saved["ceiling"], saved["results"])
        return 0
    if args.child:
        users, days, events, out = args.child
        print(MARKER + json.dumps(run_child(int(users), float(days), events, out)), flush=True)
        return 0
    if args.ceiling_child:
        rows, path = args.ceiling_child
        print(MARKER + json.dumps(ceiling_child(int(rows), path)), flush=True)
        return 0

    plan_sizes = [(10_000, 30.0)] if args.quick else sizes(args.sizes)
    out_dir = (ROOT / args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    info = bench_peer.run_info(args.code, out_dir)
    py, me = sys.executable, str(Path(__file__).resolve())

    def ceiling() -> dict[str, Any]:
        return measure([py, me, "--ceiling-child", str(args.ceiling_rows),
                        str(out_dir / "ceiling.db")],
                       f"executemany ceiling, {args.ceiling_rows:,} rows")

    warm = out_dir / "warm_up.db"
    info["warm_up_seconds"] = bench_peer.warm_up([py, me, "--child", "200", "2", "none",
                                                  str(warm)], warm)
    ceil = [ceiling()]
    rows: list[dict[str, Any]] = []
    for n, days in plan_sizes:
        for level in ("all",) if args.no_none else ("all", "none"):
            db = out_dir / f"speed_{n}_{days:g}_{level}.db"
            label = "simmarket" + (f" events={level}" if level != "all" else "")
            rows.append(bench_peer.run_measured(
                [py, me, "--child", str(n), f"{days:g}", level, str(db)], label,
                f"{label} {n:,} users {days:g} days", level, db, derive))
            if not args.keep:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
    ceil.append(ceiling())
    info["load_end"] = load()
    table(info, ceil, rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"machine": info, "ceiling": ceil, "results": rows}, indent=2))
    return 1 if any(r.get("status") == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
