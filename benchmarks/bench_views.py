"""Benchmark the analysis views on a run database of at least 10 million events.

The database is made by the simulator itself (the baseline scenario, scaled up) into
``results/bench_views.db`` and reused while it is still a completed run of this schema with
enough events; the views are recreated and the indexes built on it first, so the figures
are those of the current code. Every view is read whole (``SELECT *``, all rows fetched):
once cold, then the best of ``--repeat`` runs. Target: every view under 2 seconds.

    .venv/bin/python benchmarks/bench_views.py                 # build if needed, then time
    .venv/bin/python benchmarks/bench_views.py --rebuild       # always make a fresh database
    .venv/bin/python benchmarks/bench_views.py --users 60000 --days 150 --json

The headline queries and the item-by-item checks of the connection value curve
(``WITHIN_ITEM_SQL`` by c, ``WITHIN_ITEM_MEAN_SQL`` the mean that ``simmarket compare``
reports, both read from ``connection_curve``) are timed too, for information: they are not
views and have no target. Exit code 1 if a view misses it.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

import sqlite_utils
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simmarket  # noqa: E402
from simmarket.analysis.frames import WITHIN_ITEM_MEAN_SQL, WITHIN_ITEM_SQL  # noqa: E402
from simmarket.analysis.summary import HEADLINES  # noqa: E402
from simmarket.api import as_config  # noqa: E402
from simmarket.store.schema import SCHEMA_VERSION, create_indexes, create_schema  # noqa: E402
from simmarket.store.views import VIEWS, create_views  # noqa: E402

MIN_EVENTS = 10_000_000
TARGET_SECONDS = 2.0
BASELINE = ROOT / "configs" / "baseline.toml"


def usable(path: Path, min_events: int) -> str | None:
    """Why the database at ``path`` cannot be reused (None: it can)."""
    if not path.exists():
        return "no database yet"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        status, events, version = conn.execute(
            "SELECT status, events, schema_version FROM runs").fetchone()
        have = _columns(conn)
        conn.close()
    except (sqlite3.Error, TypeError) as exc:
        return f"unreadable ({exc})"
    if status != "completed" or version != SCHEMA_VERSION:
        return f"status {status}, schema {version}"
    if events < min_events:
        return f"only {events:,} events"
    fresh = sqlite3.connect(":memory:")
    create_schema(sqlite_utils.Database(fresh))
    missing = {t: sorted(set(c) - set(have.get(t, ()))) for t, c in _columns(fresh).items()}
    missing = {t: c for t, c in missing.items() if c}
    return f"its tables lack columns {missing}" if missing else None


def _columns(conn: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}


def build(path: Path, users: int, days: float, seed: int) -> None:
    """Run the baseline scenario at a size that writes >= 10 million events."""
    config = str(BASELINE) if BASELINE.exists() else None
    cfg = as_config(config)
    cfg = cfg.model_copy(update={"horizon_days": days, "seed": seed})
    cfg.users.n = users
    print(f"building {path}: {users:,} users x {days:g} days (seed {seed}) ...",
          file=sys.stderr)
    result = simmarket.run(cfg, out=path, force=True)
    print(f"  {result.events:,} events in {result.seconds:.0f} s", file=sys.stderr)


def prepare(path: Path) -> int:
    """Recreate the views and build the indexes of the current code; returns the events."""
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    create_views(db, replace=True)
    create_indexes(db)
    conn.commit()
    events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    conn.close()
    return events


def time_query(path: Path, sql: str, repeat: int) -> tuple[int, float, float]:
    """(rows, cold seconds, best seconds) of reading a query's every row."""
    times, rows = [], 0
    for _ in range(1 + repeat):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        start = time.perf_counter()
        rows = len(conn.execute(sql).fetchall())
        times.append(time.perf_counter() - start)
        conn.close()
    return rows, times[0], min(times[1:] or times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", type=Path, default=ROOT / "results" / "bench_views.db")
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--days", type=float, default=150.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--min-events", type=int, default=MIN_EVENTS)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    why = "--rebuild" if args.rebuild else usable(args.db, args.min_events)
    if why:
        print(f"{args.db}: {why}", file=sys.stderr)
        build(args.db, args.users, args.days, args.seed)
        why = usable(args.db, args.min_events)
        if why:
            print(f"{args.db} is still not usable: {why}; raise --users or --days",
                  file=sys.stderr)
            return 2
    events = prepare(args.db)
    results = []
    for name in VIEWS:
        rows, cold, best = time_query(args.db, f"SELECT * FROM {name}", args.repeat)
        results.append({"query": name, "kind": "view", "rows": rows, "cold_s": cold,
                        "best_s": best, "ok": best < TARGET_SECONDS})
    extras = {f"headline: {layer}": sql for layer, (sql, _) in HEADLINES.items()}
    extras["within-item change by c (connection_curve)"] = WITHIN_ITEM_SQL
    extras["within-item mean change (compare)"] = WITHIN_ITEM_MEAN_SQL
    for name, sql in extras.items():
        rows, cold, best = time_query(args.db, sql, min(args.repeat, 1))
        results.append({"query": name, "kind": "extra", "rows": rows, "cold_s": cold,
                        "best_s": best, "ok": None})
    _print(args.db, events, results, args.json)
    return 0 if all(r["ok"] for r in results if r["kind"] == "view") else 1


def _print(path: Path, events: int, results: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"db": str(path), "events": events, "target_s": TARGET_SECONDS,
                          "results": results}, indent=1))
        return
    size = path.stat().st_size / 2**20
    table = Table(title=f"views on {path.name}: {events:,} events, {size:,.0f} MiB "
                        f"(target < {TARGET_SECONDS:g} s per view)")
    for col in ("query", "rows", "cold s", "best s", ""):
        table.add_column(col, justify="left" if col == "query" else "right")
    for r in results:
        mark = {True: "[green]ok[/]", False: "[bold red]SLOW[/]", None: "[dim]info[/]"}[r["ok"]]
        table.add_row(r["query"], f"{r['rows']:,}", f"{r['cold_s']:.3f}",
                      f"{r['best_s']:.3f}", mark)
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
