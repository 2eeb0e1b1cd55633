"""The Python API: one run is one function call with a config.

``run(config) -> RunResult`` validates the scenario, records the run (a SQLite database, or
memory with ``store="memory"``), simulates to the horizon and returns its headline figures
and per-period tables. It is what the CLI calls, and what a notebook, a process pool or a
Dask worker calls.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from simmarket import __version__
from simmarket.analysis.summary import headlines_from_rows
from simmarket.config import Config, config_from_dict, load_config, with_overrides
from simmarket.config.loader import check_resources
from simmarket.core.model import Model
from simmarket.core.recorder import Recorder
from simmarket.store.memory import MemoryRecorder
from simmarket.store.schema import PERIOD_TABLES, TABLES
from simmarket.store.sqlite import SQLiteRecorder, StoreError


@dataclass
class RunResult:
    """What a run leaves: how it ended, its headline figures and its per-period tables.

    ``db_path`` is the run's database (None for ``store="memory"``). ``periods`` holds the
    per-period tables as DataFrames, keyed by table name, whatever the store; a memory run
    also returns its final tables in ``tables`` and its events (at the run's event detail)
    in ``events_log``.
    """

    db_path: Path | None
    status: str
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: int = 0
    t_reached: float = 0.0
    seconds: float = 0.0
    config: Config | None = None
    periods: dict[str, pd.DataFrame] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    events_log: pd.DataFrame | None = None


ProgressFn = Callable[[float, int], None]


def as_config(config: Config | Mapping | str | Path | None,
              overrides: Mapping[str, Any] | None = None) -> Config:
    """Accept a Config, plain data, a TOML path, or None (the defaults); apply overrides."""
    if isinstance(config, Config):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = config_from_dict(config)
    else:
        cfg = load_config(config)
    return with_overrides(cfg, overrides) if overrides else cfg


def run(config: Config | Mapping | str | Path | None = None, *,
        overrides: Mapping[str, Any] | None = None, out: str | Path | None = None,
        store: Literal["sqlite", "memory"] = "sqlite", force: bool = False,
        progress: ProgressFn | None = None, handle_signals: bool = True,
        pause_at: float | None = None,
        on_pause: Callable[[Model], None] | None = None) -> RunResult:
    """Simulate one scenario.

    ``overrides`` sets dotted keys (``{"users.n": 800}``), validated like the file. With
    ``store="sqlite"`` the run writes its database at ``out`` (default: the config's
    ``output.path``); an existing one is refused unless ``force``. With ``store="memory"``
    nothing is written. ``progress(t, events)`` is called as simulated time advances. With
    ``handle_signals`` (main thread only) Ctrl-C and SIGTERM stop the run cleanly: what was
    simulated is kept and the run's status is ``interrupted``. A scenario that would need
    more than half of this machine's memory is refused (:class:`ConfigError`) up front.
    ``pause_at``/``on_pause``: call ``on_pause(model)`` once every event before that day is
    simulated, then go on (:meth:`Model.run`; the experiments' fork at a policy date).
    """
    cfg = as_config(config, overrides)
    check_resources(cfg.scenario)  # refuse what no run can honour before creating anything
    started = time.perf_counter()
    with _stop_on_signals(handle_signals) as stop_requested:
        recorder = _recorder(cfg, store, out, force)
        try:
            return _simulate(cfg, recorder, progress, stop_requested, started,
                             pause_at, on_pause)
        finally:
            if isinstance(recorder, SQLiteRecorder):
                recorder.close()


def _recorder(cfg: Config, store: str, out: str | Path | None, force: bool) -> Recorder:
    out_cfg = cfg.settings.output
    if store == "memory":
        return MemoryRecorder(events=out_cfg.events, batch_size=out_cfg.batch_size)
    if store != "sqlite":
        raise ValueError(f"store must be 'sqlite' or 'memory', not {store!r}")
    if out is not None and str(out).strip() == "":  # Path("") would be the current folder
        raise StoreError("--out is empty: give a database path")
    path = Path(out) if out is not None else cfg.db_path
    recorder = SQLiteRecorder(path, events=out_cfg.events, batch_size=out_cfg.batch_size,
                              force=force)
    try:  # a database is never left without its run row
        recorder.start_run(seed=cfg.seed, config=cfg.resolved(), version=__version__,
                           impression_sample_rate=cfg.scenario.encounter.impression_sample_rate)
    except BaseException:
        recorder._abandon()
        raise
    return recorder


def _simulate(cfg: Config, recorder: Recorder, progress: ProgressFn | None,
              stop_requested: Callable[[], bool], started: float,
              pause_at: float | None = None,
              on_pause: Callable[[Model], None] | None = None) -> RunResult:
    model: Model | None = None
    try:
        model = Model(cfg.scenario, cfg.seed, recorder, cfg.settings.engine)
        with quiet_collector():
            status = model.run(on_progress=progress, should_stop=stop_requested,
                               pause_at=pause_at, on_pause=on_pause)
        recorder.checkpoint(model.env.now)
        summary = headlines_from_rows(recorder.tables)
        if isinstance(recorder, SQLiteRecorder):
            recorder.finish(status, t_reached=model.env.now, summary=summary)
    except BaseException as exc:
        if isinstance(recorder, SQLiteRecorder):
            recorder.mark("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                          f"{type(exc).__name__}: {exc}",
                          t_reached=model.env.now if model is not None else None)
        raise
    return _result(cfg, recorder, model, status, summary, time.perf_counter() - started)


def _result(cfg: Config, recorder: Recorder, model: Model, status: str,
            summary: dict, seconds: float) -> RunResult:
    result = RunResult(
        db_path=recorder.path if isinstance(recorder, SQLiteRecorder) else None,
        status=status, summary=summary, events=recorder.events_written,
        t_reached=model.env.now, seconds=seconds, config=cfg,
        periods={t: pd.DataFrame(recorder.tables.get(t, []), columns=list(TABLES[t]))
                 for t in PERIOD_TABLES})
    if isinstance(recorder, MemoryRecorder):
        result.tables = recorder.finals()
        result.events_log = recorder.events()
    return result


#: The first-generation threshold of the cyclic garbage collector during the event loop
#: (Python's default is 700): see :func:`quiet_collector`.
GC_THRESHOLD = 100_000
#: Runs inside quiet_collector (threads of one process: a Dask cluster with processes=False),
#: and the collector's settings from before the first of them.
_collector = {"runs": 0, "threshold": (700, 10, 10), "frozen": 0}
_collector_lock = threading.Lock()


@contextmanager
def quiet_collector() -> Iterator[None]:
    """Keep Python's cyclic garbage collector out of the event loop, then restore it.

    The world is NumPy arrays; what the loop allocates by the million is event tuples
    (freed at each flush) and SimPy events, which make few reference cycles. The collector
    still ran every 700 allocations and its full passes walked every object made while
    the model was built: ~7 % of a 10k-user run's CPU, ~14 % at 100k users. So, once the
    model is built, every object alive moves to the permanent generation (``gc.freeze``,
    without a collection first: a full collection costs ~0.2 s, a small run's worth) and the
    first threshold rises to ``GC_THRESHOLD``; memory stays bounded, since the collector
    still runs once that many more objects are alive than were freed. When the last run of
    the process leaves (runs in threads overlap), the thresholds are restored and the frozen
    objects returned to the collector, unless the caller had frozen some itself (then they
    are the caller's to unfreeze). Measured in benchmarks/README.md, "The garbage
    collector"."""
    with _collector_lock:
        if _collector["runs"] == 0:
            _collector.update(threshold=gc.get_threshold(), frozen=gc.get_freeze_count())
            gc.freeze()
            gc.set_threshold(GC_THRESHOLD, *_collector["threshold"][1:])
        _collector["runs"] += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector["runs"] -= 1
            if _collector["runs"] == 0:
                gc.set_threshold(*_collector["threshold"])
                if not _collector["frozen"]:
                    gc.unfreeze()


@contextmanager
def _stop_on_signals(enabled: bool) -> Iterator[Callable[[], bool]]:
    """While running, turn SIGINT/SIGTERM into a request to stop at the next chunk.

    The handler only sets a plain flag: it takes no lock, so a second signal arriving while
    the first is being handled (a Ctrl-C to the group plus one forwarded by a parent) cannot
    deadlock it, as a ``threading.Event`` can.
    """
    requested: list[bool] = []
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield lambda: bool(requested)
        return

    def handler(signum, frame):  # noqa: ARG001
        requested.append(True)

    previous = {}
    try:
        for s in (signal.SIGINT, signal.SIGTERM):
            previous[s] = signal.signal(s, handler)
        yield lambda: bool(requested)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
