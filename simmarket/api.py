"""The Python API: one run is one function call with a config and a seed.

``run(config) -> RunResult`` validates the scenario, creates the run's SQLite database,
simulates to the horizon and returns where the database is and its headline figures. It is
what the CLI calls, and what a notebook, a process pool or a Dask worker calls.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simmarket import __version__
from simmarket.analysis.summary import headline_figures
from simmarket.config import Config, config_from_dict, load_config
from simmarket.core.model import Model
from simmarket.store.sqlite import EventStore


@dataclass
class RunResult:
    """What a run leaves: its database, how it ended, and its headline figures."""

    db_path: Path
    status: str
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: int = 0
    t_reached: float = 0.0
    seconds: float = 0.0
    config: Config | None = None


ProgressFn = Callable[[float, int], None]


def as_config(config: Config | dict | str | Path | None) -> Config:
    """Accept a Config, plain data, a TOML path, or None (the defaults)."""
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    return load_config(config)


def run(config: Config | dict | str | Path | None = None, *, out: str | Path | None = None,
        force: bool = False, progress: ProgressFn | None = None,
        handle_signals: bool = True) -> RunResult:
    """Simulate one scenario and write its database.

    ``out`` overrides the database path; an existing file is refused unless ``force``.
    ``progress(t, events)`` is called as simulated time advances. With ``handle_signals``
    (main thread only) Ctrl-C and SIGTERM stop the run cleanly: what was simulated is
    committed and the run's status is ``interrupted``.
    """
    cfg = as_config(config)
    path = Path(out) if out is not None else cfg.db_path
    started = time.perf_counter()
    store = EventStore(path, batch_size=cfg.output.batch_size, force=force)
    model: Model | None = None
    try:
        store.start_run(seed=cfg.seed, config=cfg.resolved(), version=__version__,
                        impression_sample_rate=cfg.encounter.impression_sample_rate)
        model = Model(cfg, store)
        with _stop_on_signals(handle_signals) as stop_requested:
            status = model.run(on_progress=progress, should_stop=stop_requested)
        store.flush()  # the summary reads the whole log, indexed
        store.index()
        summary = headline_figures(store.conn)
        store.finish(status, t_reached=model.env.now, summary=summary)
        return RunResult(db_path=path, status=status, summary=summary,
                         events=store.events_written, t_reached=model.env.now,
                         seconds=time.perf_counter() - started, config=cfg)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        store.finish(status, t_reached=model.env.now if model is not None else 0.0,
                     message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        store.close()


@contextmanager
def _stop_on_signals(enabled: bool) -> Iterator[Callable[[], bool]]:
    """While running, turn SIGINT/SIGTERM into a request to stop at the next chunk."""
    flag = threading.Event()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag.is_set
        return

    def handler(signum, frame):  # noqa: ARG001
        flag.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag.is_set
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
