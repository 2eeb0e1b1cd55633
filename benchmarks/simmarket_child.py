"""One simmarket run of the issue-9 workload, optionally with the garbage collector tuned.

bench_peer.py runs this in a fresh subprocess for each measurement; run by hand it is the
wrapper that measures what the garbage collector costs (nothing in simmarket/ changes):

    .venv/bin/python benchmarks/simmarket_child.py --users 100000 --days 60 --gc freeze

``--gc`` (applied once the model is built — users, streams, links — and before the event
loop, by wrapping ``Model.run``):

- ``default``: Python's collector as it is (thresholds 700/10/10);
- ``disable``: ``gc.disable()`` — no cyclic collection at all during the run;
- ``freeze``: ``gc.collect(); gc.freeze()`` — the set-up objects move to the permanent
  generation, the collector keeps running over what the run allocates;
- ``threshold``: ``gc.freeze()`` and a first-generation threshold of 100,000 allocations.

Prints one line ``PEER_RESULT {json}``: the run's wall and CPU seconds (``time.process_time``
around ``simmarket.api.run``, so interpreter start-up and imports are left out), the events
written, sessions, impressions and connections (from the period tables), and the GC's own
wall and CPU time and collections (``gc.callbacks``).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_common import WORKLOAD  # noqa: E402

MARKER = "PEER_RESULT "
GC_MODES = ("default", "disable", "freeze", "threshold")


class GCTimer:
    """Time spent in the cyclic garbage collector, by gc.callbacks."""

    def __init__(self) -> None:
        self.seconds = self.cpu_seconds = 0.0
        self.collections = [0, 0, 0]
        self._t0 = self._c0 = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0, self._c0 = time.perf_counter(), time.process_time()
        else:
            self.seconds += time.perf_counter() - self._t0
            self.cpu_seconds += time.process_time() - self._c0
            self.collections[info["generation"]] += 1


def apply_gc(mode: str) -> None:
    if mode == "disable":
        gc.disable()
    elif mode == "freeze":
        gc.collect()
        gc.freeze()
    elif mode == "threshold":
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 10, 10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--days", type=float, default=60.0)
    p.add_argument("--events", choices=("all", "core", "none"), default="all")
    p.add_argument("--out", default="results/bench/peer_simmarket.db")
    p.add_argument("--gc", choices=GC_MODES, default="default")
    p.add_argument("--progress-every", type=float, default=60.0, metavar="SECONDS")
    args = p.parse_args(argv)

    from simmarket.api import run
    from simmarket.config import load_config
    from simmarket.core.model import Model

    cfg = load_config(None, **{"users.n": args.users, "horizon_days": args.days,
                               "output.events": args.events, **WORKLOAD})
    timer = GCTimer()
    if args.gc != "default":
        loop = Model.run

        def run_with_gc(self, *a, **k):  # the model is built: users, links, streams
            apply_gc(args.gc)
            return loop(self, *a, **k)

        Model.run = run_with_gc
    last = [time.perf_counter()]

    def progress(t: float, events: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= args.progress_every:
            last[0] = now
            print(f"  [simmarket {args.users:,}] day {t:,.1f} / {args.days:g}, {events:,} "
                  f"events", file=sys.stderr, flush=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    result = run(cfg, out=args.out, force=True, progress=progress, handle_signals=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    prod, enc = result.periods["period_production"], result.periods["period_encounter"]
    print(MARKER + json.dumps({
        "side": "simmarket", "users": args.users, "days": args.days, "events_level": args.events,
        "gc": args.gc, "status": result.status, "run_seconds": wall, "run_cpu_seconds": cpu,
        "events": result.events, "sessions": int(prod["sessions"].sum()),
        "creation_sessions": int(prod["creation_sessions"].sum()),
        "items": int(prod["items_created"].sum()),
        "impressions": int(enc["impressions"].sum()),
        "connections": int(enc["connections"].sum()),
        "community_joins": int(enc["community_joins"].sum()),
        "connection_value": float(enc["connection_value"].sum()),
        "gc_seconds": timer.seconds, "gc_cpu_seconds": timer.cpu_seconds,
        "gc_collections": timer.collections,
    }), flush=True)
    return 0 if result.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
