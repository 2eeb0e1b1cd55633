"""simmarket against an idiomatic Mesa 3 peer on the issue-9 workload, with the SQLite ceiling.

The workload: ``firms.initial = 0``, ``firms.entry_rate = 0``, ``government.enabled = false``,
defaults otherwise, full event log, 60 days, 10,000 and 100,000 users (1,000,000 with
``--big``, simmarket only). Every run is a fresh subprocess, measured from outside with
``os.wait4`` (the child's own rusage: CPU seconds and peak RSS) and from inside (the run's own
wall and CPU seconds, without interpreter start-up and imports). In the same benchmark run:
the raw ``executemany`` ceiling (8-column event rows into a fresh WAL-mode SQLite file in
batches of 50,000, measured at the start and at the end) and simmarket with
``output.events = "none"``.

    .venv/bin/python benchmarks/bench_peer.py                  # 10k and 100k users, 60 days
    .venv/bin/python benchmarks/bench_peer.py --quick          # 10k users, 30 days
    .venv/bin/python benchmarks/bench_peer.py --users 10000,100000 --days 60 --big
    .venv/bin/python benchmarks/bench_peer.py --code HEAD --json results/bench/peer/peer.json
    .venv/bin/python benchmarks/bench_peer.py --report results/bench/peer/peer.json

See benchmarks/README.md, "Speed against a Mesa peer (issue 9)".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from peer_common import executemany_ceiling  # noqa: E402

MARKER = "PEER_RESULT "
MIB = 1024 * 1024
#: The issue's goals.
TARGET_RATIO = 3.0  # at least 3x less CPU than the Mesa peer
TARGET_US = 11.0  # CPU microseconds per session
TARGET_CEILING = 0.4  # end-to-end event rows/s over the raw executemany ceiling
TARGET_NONE = 5.0  # events "none" at least 5x faster than "all"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


#: Environment of every child; --code REV puts a snapshot of simmarket first on its path.
CHILD_ENV = dict(os.environ)


def snapshot(rev: str, where: Path) -> str:
    """Export simmarket/ as of git revision `rev` into `where`; the commit measured."""
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit, "simmarket"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    CHILD_ENV["PYTHONPATH"] = os.pathsep.join(
        [str(where), *filter(None, [os.environ.get("PYTHONPATH")])])
    return commit


def run_info(code: str | None, out_dir: Path) -> dict[str, Any]:
    """What a measurement ran on: date, Python, machine, load and code (a snapshot of
    revision `code`, or the working tree), also printed to stderr."""
    if code:
        git = "simmarket@" + snapshot(code, out_dir / "code")
    else:
        git = "working tree " + subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
            text=True).stdout.strip()
    info = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "load_start": load(), "git": git}
    print(f"{info['date']}  {info['cpus']} CPUs  load {info['load_start']}  python "
          f"{info['python']}  {git}", file=sys.stderr, flush=True)
    return info


def child(cmd: list[str], label: str) -> dict[str, Any]:
    """Run one measurement in a fresh process; its JSON line plus its rusage."""
    print(f"  {label} ... (load {load()})", file=sys.stderr, flush=True)
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, cwd=ROOT, env=CHILD_ENV)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        lines = [ln for ln in out.read().splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        print(f"  {label} FAILED (exit {proc.returncode})", file=sys.stderr, flush=True)
        return {"label": label, "status": "failed", "exit_code": proc.returncode}
    row = json.loads(lines[-1][len(MARKER):])
    row.update(label=label, process_seconds=wall, cpu_seconds=ru.ru_utime + ru.ru_stime,
               user_seconds=ru.ru_utime, system_seconds=ru.ru_stime,
               peak_rss_mib=ru.ru_maxrss * 1024 / MIB, load_after=load())
    row.setdefault("status", "completed")
    return row


def count_rows(path: Path) -> dict[str, int]:
    """Rows of each table in a run database (views left out)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    conn.close()
    return counts


def rates(row: dict[str, Any], db: Path) -> dict[str, int]:
    """The figures both benchmarks derive from a run's row and its database: rows written,
    events, sessions and rows per second, CPU per session. Returns the table row counts."""
    counts = count_rows(db) if db.exists() else {}
    row["db_rows"] = sum(counts.values())
    secs, cpu = row["run_seconds"], row["run_cpu_seconds"]
    row["events_per_second"] = row["events"] / secs
    row["sessions_per_second"] = row["sessions"] / secs
    row["rows_per_second"] = row["db_rows"] / secs
    row["cpu_us_per_session"] = cpu / row["sessions"] * 1e6
    return counts


def derive(row: dict[str, Any], db: Path) -> dict[str, Any]:
    if row.get("status") == "failed":
        return row
    row["db_events"] = rates(row, db).get("events", 0)
    row["child_cpu_us_per_session"] = row["cpu_seconds"] / row["sessions"] * 1e6
    row["connections_per_impression"] = (row["connections"] / row["impressions"]
                                         if row["impressions"] else None)
    return row


def warm_up(cmd: list[str], db: Path) -> float:
    """A tiny run before any measurement: the first use of a copy of the code compiles the
    browse-session kernel (Numba; about 12 s, cached on disk after), which no measured run
    should pay. Returns its wall seconds (also printed)."""
    print(f"  warm-up: {' '.join(cmd[2:])} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=CHILD_ENV, stdout=subprocess.DEVNULL, check=False)
    took = time.perf_counter() - started
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    print(f"    {took:,.1f} s (compiles the kernel on a copy's first use)", file=sys.stderr,
          flush=True)
    return took


def run_measured(cmd: list[str], label: str, title: str, level: str, db: Path,
                 derive_row: Any) -> dict[str, Any]:
    """One run in a child process: measured, derived by `derive_row`, labelled, and its
    summary line printed."""
    row = derive_row(child(cmd, title), db)
    row["label"] = label
    row.setdefault("events_level", level)
    if row.get("status") != "failed":
        print(f"    {row['run_seconds']:,.1f} s wall, {row['run_cpu_seconds']:,.1f} s CPU, "
              f"{row['sessions']:,} sessions, {row['events']:,} events, peak "
              f"{row['peak_rss_mib']:,.0f} MiB", file=sys.stderr, flush=True)
    return row


def measure_ceiling(rows: int, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--ceiling-child", str(rows), str(path)]
    return child(cmd, f"executemany ceiling, {rows:,} rows")


def fmt(v: Any, spec: str = ",.0f") -> str:
    return "—" if v is None else format(v, spec)


def print_table(rows: list[dict[str, Any]], file=sys.stdout) -> None:
    head = ("run", "users", "days", "sessions", "events", "wall s", "CPU s", "run CPU s",
            "events/s", "sessions/s", "rows/s", "CPU µs/sess", "GC s", "peak RSS MiB", "conn/impr")
    body = []
    for r in rows:
        if r.get("status") == "failed":
            body.append((r["label"], *["—"] * (len(head) - 2), "failed"))
            continue
        body.append((r["label"], fmt(r["users"]), fmt(r["days"], "g"), fmt(r["sessions"]),
                     fmt(r["events"]), fmt(r["run_seconds"], ",.1f"),
                     fmt(r["cpu_seconds"], ",.1f"), fmt(r["run_cpu_seconds"], ",.1f"),
                     fmt(r["events_per_second"]), fmt(r["sessions_per_second"]),
                     fmt(r["rows_per_second"]), fmt(r["cpu_us_per_session"], ",.1f"),
                     fmt(r.get("gc_seconds"), ",.1f"), fmt(r["peak_rss_mib"]),
                     fmt(r["connections_per_impression"], ".4f")))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(  # noqa: E731
        str(c).ljust(w) if i == 0 else str(c).rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(head), file=file)
    print(line(["-" * w for w in widths]), file=file)
    for b in body:
        print(line(b), file=file)


def ratios(rows: list[dict[str, Any]], ceiling: float, ceiling_cpu: float,
           file=sys.stdout) -> list[str]:
    out = []
    ok = [r for r in rows if r.get("status") != "failed"]
    for n in sorted({r["users"] for r in ok}):
        sm = next((r for r in ok if r["users"] == n and r["side"] == "simmarket"
                   and r["events_level"] == "all"), None)
        me = next((r for r in ok if r["users"] == n and r["side"] == "mesa"), None)
        none = next((r for r in ok if r["users"] == n and r["side"] == "simmarket"
                     and r["events_level"] == "none"), None)
        out.append(f"{n:,} users:")
        if sm and me:
            run_ratio = sm["run_cpu_seconds"] / me["run_cpu_seconds"]
            out.append(f"  simmarket CPU / Mesa CPU           {run_ratio:5.2f}  (whole child "
                       f"{sm['cpu_seconds'] / me['cpu_seconds']:.2f}; per session "
                       f"{sm['cpu_us_per_session'] / me['cpu_us_per_session']:.2f}; "
                       f"goal <= {1 / TARGET_RATIO:.2f})")
            out.append(f"  sessions simmarket / Mesa          "
                       f"{sm['sessions'] / me['sessions']:5.3f}  connections per impression "
                       f"{fmt(sm['connections_per_impression'], '.4f')} / "
                       f"{fmt(me['connections_per_impression'], '.4f')}")
            out.append(f"  Mesa CPU per session / 3           "
                       f"{me['cpu_us_per_session'] / TARGET_RATIO:5.1f} µs (the 3x goal, "
                       f"measured now)")
        if sm:
            out.append(f"  CPU per session                    {sm['cpu_us_per_session']:5.1f}"
                       f" µs  ({sm['cpu_us_per_session'] / TARGET_US:.1f}x the "
                       f"{TARGET_US:g} µs target)")
            out.append(f"  event rows/s / ceiling             "
                       f"{sm['events_per_second'] / ceiling:5.3f}  (all tables' rows "
                       f"{sm['rows_per_second'] / ceiling:.3f}; goal >= {TARGET_CEILING})")
            out.append(f"  same, per CPU second               "
                       f"{sm['events'] / sm['run_cpu_seconds'] / ceiling_cpu:5.3f}  (event "
                       f"rows per run CPU s / ceiling rows per insert CPU s; steadier under "
                       f"load)")
        if sm and none:
            out.append(f"  events none vs all, wall           "
                       f"{sm['run_seconds'] / none['run_seconds']:5.2f}x  (CPU "
                       f"{sm['run_cpu_seconds'] / none['run_cpu_seconds']:.2f}x; goal >= "
                       f"{TARGET_NONE:g}x)")
    for ln in out:
        print(ln, file=file)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", default="10000,100000",
                   help="comma-separated user counts (default: 10000,100000)")
    p.add_argument("--days", type=float, default=60.0)
    p.add_argument("--quick", action="store_true", help="10,000 users, 30 days")
    p.add_argument("--big", action="store_true", help="also 1,000,000 users (simmarket only)")
    p.add_argument("--no-mesa", action="store_true", help="simmarket only")
    p.add_argument("--no-none", action="store_true", help='skip the output.events="none" runs')
    p.add_argument("--ceiling-rows", type=int, default=2_000_000)
    p.add_argument("--out-dir", default="results/bench/peer")
    p.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    p.add_argument("--code", metavar="REV",
                   help="measure simmarket as of this git revision (a snapshot of simmarket/ "
                        "from git archive) instead of the working tree")
    p.add_argument("--report", metavar="PATH", help="reprint the table and ratios of a --json")
    p.add_argument("--ceiling-child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        report(saved["machine"], saved.get("days", args.days), saved["ceiling"],
               saved["results"])
        return 0
    if args.ceiling_child:
        rows, path = args.ceiling_child
        print(MARKER + json.dumps(executemany_ceiling(path, int(rows))), flush=True)
        return 0

    users = [10_000] if args.quick else [int(x) for x in args.users.split(",") if x]
    days = 30.0 if args.quick else args.days
    out_dir = (ROOT / args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    info = run_info(args.code, out_dir)
    warm = out_dir / "warm_up.db"
    info["warm_up_seconds"] = warm_up(
        [py, str(HERE / "simmarket_child.py"), "--users", "200", "--days", "2", "--events",
         "none", "--out", str(warm)], warm)

    ceil = [measure_ceiling(args.ceiling_rows, out_dir / "ceiling.db")]
    rows: list[dict[str, Any]] = []
    plan: list[tuple[str, int, str]] = []
    for n in users:
        plan.append(("simmarket", n, "all"))
        if not args.no_mesa:
            plan.append(("mesa", n, "all"))
        if not args.no_none:
            plan.append(("simmarket", n, "none"))
    if args.big:
        plan.append(("simmarket", 1_000_000, "all"))
    for side, n, level in plan:
        db = out_dir / f"{side}_{n}_{level}.db"
        if side == "mesa":
            cmd = [py, str(HERE / "mesa_peer.py"), "--users", str(n), "--days", f"{days:g}",
                   "--out", str(db)]
        else:
            cmd = [py, str(HERE / "simmarket_child.py"), "--users", str(n), "--days",
                   f"{days:g}", "--events", level, "--out", str(db)]
        label = f"{side}" + (f" events={level}" if level != "all" else "")
        rows.append(run_measured(cmd, label, f"{label} {n:,} users", level, db, derive))
    ceil.append(measure_ceiling(args.ceiling_rows, out_dir / "ceiling.db"))
    info["load_end"] = load()
    lines = report(info, days, ceil, rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"machine": info, "days": days, "ceiling": ceil, "results": rows, "ratios": lines},
            indent=2))
    return 1 if any(r.get("status") == "failed" for r in rows) else 0


def report(info: dict[str, Any], days: float, ceil: list[dict[str, Any]],
           rows: list[dict[str, Any]]) -> list[str]:
    """Print the table, the ceiling and the ratios; returns the ratio lines."""
    good = [c for c in ceil if c.get("status") != "failed"]
    ceiling = (sum(c["rows_per_second"] for c in good) / len(good)) if good else float("nan")
    ceiling_cpu = (sum(c["rows_per_cpu_second"] for c in good) / len(good)) if good else (
        float("nan"))
    git = info["git"]
    print()
    print(f"simmarket vs Mesa peer, issue-9 workload, {days:g} days ({info['date']}, "
          f"{info['cpus']} CPUs, load {info['load_start']} -> {info['load_end']}, {git})")
    print()
    print_table(rows)
    print()
    print("executemany ceiling (8-column event rows, WAL, batches of 50,000): "
          + ", ".join(f"{c['rows_per_second']:,.0f}" for c in ceil if "rows_per_second" in c)
          + f" rows/s (start, end); mean {ceiling:,.0f}; per CPU second "
          + ", ".join(f"{c['rows_per_cpu_second']:,.0f}" for c in ceil
                      if "rows_per_cpu_second" in c))
    print()
    return ratios(rows, ceiling, ceiling_cpu)


if __name__ == "__main__":
    sys.exit(main())
