"""Fork at a policy date: simulate the days before a policy factor's day once per group.

Runs that differ only by the value a policy factor gives its lever from day X (a
``[[factors]]`` entry with ``key = "policy.<lever>"`` and ``day = X``, see
:mod:`simmarket.experiments.design`) are identical before X: same seed, same scenario, and a
policy change is applied at its day, not before. So, on POSIX, :class:`ForkEvaluator` runs
each such group's *prefix* once, up to X (every event strictly before X), with a placeholder
schedule entry at X holding the value the lever already has; there it ``os.fork``s one
process per branch (at most ``jobs`` at once). Each branch copies the prefix database to its
own run database (``SQLiteRecorder.continue_into``), sets its value on the entry at X,
finishes the run and ends with ``os._exit``. The parent reads each branch's status and
summary from its database, as :func:`simmarket.experiments.model.simulate` would return
them; the prefix database is removed. A forked branch's event log, tables and summary are
those of the same run replayed from day 0 (``tests/test_fork.py``).

Where ``os.fork`` is missing, the design has no single policy factor at a day > 0, a group
has one run left, or the model is not :func:`simulate` (a test's stand-in), runs are
replayed in this process instead.

Signals: Ctrl-C reaches the branches (one process group); the parent also forwards SIGINT
and SIGTERM to them. Each branch then stops at its next chunk and records itself
``interrupted``; the parent starts no more branches, waits for those running, and the
runner marks the rest interrupted (a rerun makes them). A ``seconds`` of a branch is its
own wall time plus its share of the prefix.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sqlite3
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from simmarket.config import Config, config_from_dict
from simmarket.experiments.design import Design, Factor
from simmarket.experiments.model import (
    ModelFn,
    RunRecord,
    Task,
    events_supported,
    flatten_summary,
    guarded,
    record_from_db,
    simulate,
)

#: Seconds between two looks at the running branches.
POLL = 0.02


def fork_available() -> bool:
    """Whether this platform can fork the process (POSIX)."""
    return hasattr(os, "fork")


def policy_factor(design: Design) -> Factor | None:
    """The design's one policy factor whose day leaves a prefix to share, or None."""
    policies = [f for f in design.factors if f.day is not None]
    if len(policies) != 1 or not policies[0].day or len(policies[0].values) < 2:
        return None
    return policies[0]


def choose_evaluator(design: Design, jobs: int | None = None, dask: str | None = None,
                     fork: bool = True):
    """The evaluator for ``simmarket experiment``: forking at the policy day where the design
    and the platform allow it (and no Dask cluster is asked for), else the usual one."""
    from simmarket.experiments.evaluators import make_evaluator

    factor = policy_factor(design) if fork and not dask and fork_available() else None
    return ForkEvaluator(factor, jobs) if factor else make_evaluator(jobs, dask)


class _PrefixDone(Exception):
    """Raised in the parent once every branch has ended: the prefix run stops there."""


def _entry(config: dict[str, Any], factor: Factor) -> int | None:
    """Index of the factor's schedule entry (the last one at its day for its lever)."""
    schedule = config.get("policy", {}).get("schedule", [])
    found = [i for i, e in enumerate(schedule)
             if e.get("lever") == factor.lever and e.get("day") == factor.day]
    return found[-1] if found else None


def _with_events(task: Task) -> dict[str, Any]:
    config = copy.deepcopy(task.config)
    if events_supported():
        config["output"] = {**config.get("output", {}), "events": task.events}
    return config


def groups(tasks: Iterable[Task], factor: Factor) -> list[list[Task]]:
    """Tasks whose configs differ only by the factor's value, in order of first task."""
    out: dict[str, list[Task]] = {}
    for task in tasks:
        config = copy.deepcopy(task.config)
        i = _entry(config, factor)
        if i is not None:
            config["policy"]["schedule"][i]["value"] = None
        key = json.dumps([config, task.events, i is None and task.run_id], sort_keys=True,
                         default=str)
        out.setdefault(key, []).append(task)
    return list(out.values())


def noop_value(config: dict[str, Any], factor: Factor, index: int) -> float:
    """The value the lever has at the factor's day without the factor's entry: the value a
    placeholder entry sets without changing anything."""
    without = copy.deepcopy(config)
    del without["policy"]["schedule"][index]
    scenario = config_from_dict(without).scenario
    value = scenario.lever(factor.lever)
    for change in sorted(scenario.policy.schedule, key=lambda c: c.day):
        if change.lever == factor.lever and change.day <= factor.day:
            value = change.value
    return value


class ForkEvaluator:
    """Runs a design with a policy factor: each group's prefix once, its branches forked."""

    def __init__(self, factor: Factor, jobs: int | None = None):
        self.factor = factor
        self.workers = max(1, jobs or os.cpu_count() or 1)
        self._live: dict[int, Any] = {}
        #: prefixes simulated and branches forked (in this process)
        self.prefixes = self.forked = 0

    def map(self, model: ModelFn, tasks: Iterable[Task]) -> Iterator[RunRecord]:
        tasks = list(tasks)
        if model is not simulate or not fork_available():
            for task in tasks:
                yield guarded(model, task)
            return
        for group in groups(tasks, self.factor):
            plan = self._plan(group)
            if plan is None:  # nothing to share: replay
                for task in group:
                    yield guarded(simulate, task)
                continue
            yield from self._fork(group, *plan)

    def _plan(self, group: list[Task]) -> tuple[dict[str, Any], list[Config], int] | None:
        """The prefix's config, each branch's validated config and the entry's index."""
        if len(group) < 2:
            return None
        index = _entry(group[0].config, self.factor)
        if index is None:
            return None
        try:
            branches = [config_from_dict(_with_events(t)) for t in group]
        except Exception:  # an invalid point: replayed, so it fails with its own error
            return None
        if self.factor.day >= branches[0].scenario.horizon_days:
            return None
        base = _with_events(group[0])
        base["policy"]["schedule"][index]["value"] = noop_value(base, self.factor, index)
        return base, branches, index

    def _fork(self, group: list[Task], base: dict[str, Any], branches: list[Config],
              index: int) -> Iterator[RunRecord]:
        from simmarket.api import run

        prefix = Path(group[0].db_path).with_name(f"prefix-{group[0].run_id:04d}.db")
        session = _Session(self, group, branches, index)
        parent = os.getpid()
        self.prefixes += 1
        try:
            result = run(base, out=prefix, force=True, pause_at=self.factor.day,
                         on_pause=session.pause)
        except _PrefixDone:
            result = None
        except BaseException as exc:
            if os.getpid() != parent:  # a branch that raised: say why, and end
                session.child_failed(exc)
            raise
        finally:
            if os.getpid() != parent:  # a branch's run has ended: never return to the caller
                os._exit(0)
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{prefix}{suffix}").unlink(missing_ok=True)
        yield from session.records
        if session.stopped or (result is not None and result.status == "interrupted"):
            raise KeyboardInterrupt
        if result is not None:  # the prefix ran to the end without pausing: replay
            for task in group:
                yield guarded(simulate, task)

    def abort(self) -> None:
        for pid in list(self._live):
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self._live.clear()

    def close(self) -> None:
        pass


class _Session:
    """One group's fork: called by the prefix run at the day, in the parent and then in
    each branch (where it turns the run into that branch and returns)."""

    def __init__(self, evaluator: ForkEvaluator, group: list[Task], branches: list[Config],
                 index: int):
        self.ev, self.group, self.branches, self.index = evaluator, group, branches, index
        self.records: list[RunRecord] = []
        self.stopped = False  # a plain flag: signal handlers must take no lock
        self.started = time.perf_counter()
        self._error_fd: int | None = None

    # -- in the parent --------------------------------------------------------------------
    def pause(self, model) -> None:
        model.recorder.checkpoint(model.env.now)  # everything before the day is committed
        prefix_seconds = time.perf_counter() - self.started
        live = self.ev._live
        previous = self._forward_signals(live)
        try:
            pending = list(range(len(self.group)))
            while pending or live:
                while pending and len(live) < self.ev.workers and not self.stopped:
                    i = pending.pop(0)
                    read, write = os.pipe()
                    pid = os.fork()
                    if pid == 0:  # the branch: become run i, and go on with the run
                        os.close(read)
                        self._become(i, model, write, live)
                        return
                    os.close(write)
                    live[pid] = (i, time.perf_counter(), read)
                    self.ev.forked += 1
                if not live:
                    break
                pid, status = self._wait(live)
                i, started, read = live.pop(pid)
                error = _read_all(read)
                seconds = time.perf_counter() - started + prefix_seconds / len(self.group)
                self.records.append(self._record(self.group[i], status, error, seconds))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        raise _PrefixDone

    def _forward_signals(self, live: dict[int, Any]) -> dict[int, Any]:
        """While branches run: SIGINT/SIGTERM stop new ones and reach the running ones."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}

        def handler(signum, frame):
            self.stopped = True
            for pid in list(live):
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
            before = previous.get(signum)
            if callable(before):
                before(signum, frame)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous

    @staticmethod
    def _wait(live: dict[int, Any]) -> tuple[int, int]:
        """The first of our branches to end (only ours: waitpid on each, no -1)."""
        while True:
            for pid in list(live):
                got, status = os.waitpid(pid, os.WNOHANG)
                if got:
                    return pid, status
            time.sleep(POLL)

    def _record(self, task: Task, status: int, error: str, seconds: float) -> RunRecord:
        """The branch's record, from its database (as ``simulate`` would have made it)."""
        row = None
        try:
            conn = sqlite3.connect(f"file:{task.db_path}?mode=ro", uri=True)
            try:
                row = conn.execute("SELECT status, summary, message FROM runs").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            pass
        if row is not None and row[0] == "completed" and row[1] is not None and not error:
            return record_from_db(task.run_id, "completed", task.db_path, seconds,
                                  flatten_summary(json.loads(row[1])))
        if row is not None and row[0] == "interrupted":
            return RunRecord(task.run_id, "interrupted", row[2], seconds, task.db_path)
        reason = error or (row[2] if row is not None and row[2] else None) or (
            f"the branch process ended with {_describe(status)} before recording its end")
        return RunRecord(task.run_id, "failed", reason, seconds, task.db_path)

    # -- in a branch ----------------------------------------------------------------------
    def _become(self, i: int, model, error_fd: int, live: dict[int, Any]) -> None:
        for _, _, read in live.values():  # the other branches' pipes are not ours
            os.close(read)
        live.clear()
        self.records.clear()
        self._error_fd = error_fd
        task, config = self.group[i], self.branches[i]
        model.recorder.continue_into(task.db_path, config=config.resolved())
        entry = model.scenario.policy.schedule[self.index]
        entry.value = config.scenario.policy.schedule[self.index].value

    def child_failed(self, exc: BaseException) -> None:
        """Tell the parent why this branch failed (its database may not say) and end."""
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {Path(last[0].filename).name}:{last[0].lineno}" if last else ""
        text = f"{type(exc).__name__}: {exc}{where}"
        if isinstance(exc, KeyboardInterrupt):
            os._exit(130)
        try:
            if self._error_fd is not None:
                os.write(self._error_fd, text.encode()[:4000])
        finally:
            os._exit(1)


def _read_all(fd: int) -> str:
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
