"""Issue 10, defects 4 and 5: a run killed or signalled at any moment leaves a database that
is consistent and says how far it got.

Real processes and real files, killed at random moments. The kills and the signals during
a run go to forked children of this process (a real process each, without paying for the
imports again); the signals at start-up go to fresh interpreters, since start-up is the
imports. A few repetitions run in CI, many under ``pytest -m slow``.
"""

from __future__ import annotations

import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import simmarket
import simmarket.cli.main  # noqa: F401 - imported once here, not in every forked child

PERIOD = 7.0
#: A run that writes events in several batches between two checkpoints.
KILLED = {"users": {"n": 400}, "horizon_days": 21, "period_days": PERIOD, "seed": 7,
          "output": {"batch_size": 700}}
KILLED_ARGS = ["--users", "400", "--days", "21", "--seed", "7", "--set",
               "output.batch_size=700", "--quiet"]
#: Most of its wall time in the finish: many events to index, a short simulation.
FINISHING_ARGS = ["--users", "1200", "--days", "10", "--seed", "3", "--quiet"]

ROUNDS = int(os.environ.get("SIMMARKET_SIGNAL_ROUNDS", "0"))


def rounds(default: int) -> int:
    """Repetitions: the default, or SIMMARKET_SIGNAL_ROUNDS when set."""
    return ROUNDS or default


# -- helpers ---------------------------------------------------------------------------------
def fork_cli(argv: list[str], log: Path) -> int:
    """A child process running the command line's main(argv) (imports already done)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            from simmarket.cli import main

            code = main(argv)
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001 - reported through the log
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    return pid


def wait(pid: int, timeout: float = 300) -> int:
    """The child's exit code, or minus the signal that ended it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the child did not end")


def timed_run(argv: list[str], log: Path) -> float:
    """Wall seconds of one undisturbed forked run (so the random moments span it)."""
    start = time.monotonic()
    assert wait(fork_cli(argv, log)) == 0, log.read_text()
    return time.monotonic() - start


def consistent(db: Path, statuses: set[str]) -> tuple:
    """Integrity, the run row, and the period tables never ahead of ``t_reached``."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT status, t_reached, events FROM runs").fetchall()
        events = conn.execute(
            "SELECT t, kind, actor_id, actor_type, item_id, counterpart_id, counterpart_type,"
            " value FROM events ORDER BY event_id").fetchall()
        if not rows:  # only a hard kill between the schema and the run row can do this
            assert "killed" in statuses and not events
            return None, 0.0, []
        ((status, t_reached, _),) = rows
        assert status in statuses, status
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                     "AND name LIKE 'period%'").fetchall():
            t_end = conn.execute(f"SELECT MAX(t_end) FROM {table}").fetchone()[0]
            assert t_end is None or t_end <= t_reached + 1e-9, (table, t_end, t_reached)
        if events:
            # once a period has closed (an event after its end is committed), so has its
            # checkpoint: t_reached records the progress (events at the very end of a
            # period, the government's, come before its checkpoint)
            closed = max(math.ceil(max(e[0] for e in events) / PERIOD) - 1, 0) * PERIOD
            assert t_reached >= closed, (t_reached, closed)
        return status, t_reached, events
    finally:
        conn.close()


# -- defect 4: kill -9 at random moments ------------------------------------------------------
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The completed run the killed ones must be prefixes of, and how long it takes."""
    folder = tmp_path_factory.mktemp("reference")
    seconds = timed_run(["run", *KILLED_ARGS, "--out", str(folder / "ref.db")],
                        folder / "ref.log")
    with sqlite3.connect(folder / "ref.db") as conn:
        events = conn.execute(
            "SELECT t, kind, actor_id, actor_type, item_id, counterpart_id, counterpart_type,"
            " value FROM events ORDER BY event_id").fetchall()
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "completed"
    conn.close()
    # the API and the command line make the same run
    memory = simmarket.run(KILLED, store="memory", handle_signals=False)
    assert memory.events == len(events)
    return events, seconds


def _kill_at_random(tmp_path: Path, reference, n: int, seed: int) -> None:
    ref_events, seconds = reference
    rng = random.Random(seed)
    seen = {"before": 0, "partial": 0, "after": 0}
    for i in range(n):
        db, log = tmp_path / f"killed{i}.db", tmp_path / f"killed{i}.log"
        pid = fork_cli(["run", *KILLED_ARGS, "--out", str(db)], log)
        time.sleep(rng.uniform(0.0, seconds * 1.05))
        os.kill(pid, signal.SIGKILL)
        code = wait(pid)
        if not db.exists():
            seen["before"] += 1
            continue
        status, t_reached, events = consistent(db, {"running", "completed", "killed"})
        assert "Traceback" not in log.read_text()
        # the committed events are exactly the start of the full run's log
        assert events == ref_events[:len(events)], f"kill {i}: not a prefix"
        if status == "completed":
            assert code in (0, -signal.SIGKILL) and events == ref_events
            seen["after"] += 1
        else:
            assert code == -signal.SIGKILL
            seen["partial"] += 1
    assert seen["partial"] >= 1, seen  # the random moments did reach into the run


def test_kill_9_at_random_moments_leaves_a_prefix_of_the_full_log(tmp_path, reference):
    _kill_at_random(tmp_path, reference, rounds(10), seed=1)


@pytest.mark.slow
def test_kill_9_many_times(tmp_path, reference):
    _kill_at_random(tmp_path, reference, rounds(80), seed=2)


# -- defect 5: SIGINT and SIGTERM during the run and its finish --------------------------------
@pytest.fixture(scope="module")
def finishing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finishing")
    return timed_run(["run", *FINISHING_ARGS, "--out", str(folder / "f.db")],
                     folder / "f.log")


def _signal_late(tmp_path: Path, seconds: float, n: int, seed: int) -> None:
    """Signals from the middle of the simulation to past the end: the indexing, the
    summary and the finish included."""
    rng = random.Random(seed)
    for i in range(n):
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        db, log = tmp_path / f"late{i}.db", tmp_path / f"late{i}.log"
        pid = fork_cli(["run", *FINISHING_ARGS, "--out", str(db)], log)
        time.sleep(rng.uniform(0.5, 1.1) * seconds)
        os.kill(pid, sig)
        code = wait(pid)
        text = log.read_text()
        assert "Traceback" not in text, text
        status, _, _ = consistent(db, {"completed", "interrupted"})
        assert code in ((130,) if status == "interrupted" else (0, 130, -sig)), (code, text)
        if status == "completed":  # a signal during the finish does not leave it half made
            with sqlite3.connect(db) as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
                assert conn.execute("SELECT summary FROM runs").fetchone()[0]
            conn.close()


def test_signals_during_the_run_and_its_finish(tmp_path, finishing):
    _signal_late(tmp_path, finishing, rounds(5), seed=3)


@pytest.mark.slow
def test_signals_during_the_run_and_its_finish_many_times(tmp_path, finishing):
    _signal_late(tmp_path, finishing, rounds(60), seed=4)


# -- defect 5: signals at start-up (fresh interpreters: start-up is the imports) -------------
def _caught(pid: int) -> int:
    """The mask of signals the process catches (/proc/PID/status SigCgt)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _signal_at_start_up(tmp_path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n):
        sig = [signal.SIGINT, signal.SIGTERM][i % 2]
        db = tmp_path / f"start{i}.db"
        proc = subprocess.Popen(
            [sys.executable, "-m", "simmarket.cli", "run", "--users", "300", "--days", "14",
             "--out", str(db), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if sig == signal.SIGINT:
            # Ctrl-C before the interpreter reaches our first line is Python's own start-up;
            # from the console entry point's first line on, it is ours to handle: wait for
            # it (it also takes SIGTERM then), then pick a moment
            deadline = time.monotonic() + 30
            while not _caught(proc.pid) & (1 << (signal.SIGTERM - 1)):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 2.5))
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        if not db.exists():
            assert proc.returncode in (130, -signal.SIGTERM), (proc.returncode, err)
            continue
        status, _, _ = consistent(db, {"completed", "interrupted"})  # never 'running', never
        # an empty runs table
        expected = (130,) if status == "interrupted" else (0, 130, -sig)
        assert proc.returncode in expected, (proc.returncode, status, err)


def test_signals_at_start_up(tmp_path):
    _signal_at_start_up(tmp_path, rounds(3), seed=5)


@pytest.mark.slow
def test_signals_at_start_up_many_times(tmp_path):
    _signal_at_start_up(tmp_path, rounds(40), seed=6)


def test_import_of_the_command_line_is_light():
    """The console entry point takes charge of signals before the heavy imports."""
    code = ("import sys, simmarket.cli; heavy = [m for m in ('numpy', 'pandas', 'simpy', "
            "'simmarket.api', 'simmarket.cli.main') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
    code = ("import simmarket; print(simmarket.__version__ != '', callable(simmarket.run), "
            "simmarket.RunResult.__name__, simmarket.Config.__name__, "
            "simmarket.ConfigError.__name__, callable(simmarket.load_config))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["True", "True", "RunResult", "Config", "ConfigError", "True"]


def test_an_interrupt_inside_a_string_exec_still_exits_130(tmp_path):
    """Ctrl-C landing while an import runs code from a string (as dataclasses do) leaves a
    flag in CPython that, under ``python -m``, would end the process by SIGINT (-2) after
    we caught it and said "interrupted"; the console entry point clears it."""
    (tmp_path / "fake_cli.py").write_text(
        "import sys, types\n"
        "import simmarket.cli as cli\n"
        "fake = types.ModuleType('simmarket.cli.main')\n"
        "def main(argv):\n"
        "    exec('raise KeyboardInterrupt', {})  # the signal, inside a string exec\n"
        "fake.main = main\n"
        "sys.modules['simmarket.cli.main'] = fake\n"
        "sys.exit(cli._main())\n")
    proc = subprocess.run([sys.executable, "-m", "fake_cli"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.strip() == "interrupted"


def test_an_interrupt_a_compiled_extension_turns_into_an_import_error_is_an_interrupt(
        monkeypatch, capsys):
    """Ctrl-C landing in the initialisation of a compiled extension (Numba's
    ``_devicearray``, imported with the model) is handled by its C code: it prints the
    KeyboardInterrupt's traceback and raises an ImportError instead. The command says
    "interrupted" and exits 130 all the same, with no traceback; without a signal the same
    ImportError is a fault of ours, reported as one, and what the import wrote is kept."""
    cli = sys.modules["simmarket.cli"]
    command = sys.modules["simmarket.cli.main"]

    def extension_init():
        with cli.quiet_imports():
            print("Traceback (most recent call last):\nKeyboardInterrupt", file=sys.stderr)
            raise ImportError("numba._devicearray failed to import")

    monkeypatch.setattr(cli, "signalled", True)
    with pytest.raises(KeyboardInterrupt):
        extension_init()
    assert "Traceback" not in capsys.readouterr().err
    monkeypatch.setattr(command, "_run", lambda args: extension_init())
    assert command.main(["run", "--quiet"]) == 130
    monkeypatch.setattr(command, "_run", lambda args: (_ for _ in ()).throw(
        ImportError("numba._devicearray failed to import")))
    assert command.main(["run", "--quiet"]) == 130  # turned into ImportError past us too
    monkeypatch.setattr(cli, "signalled", False)
    with pytest.raises(ImportError):
        extension_init()
    assert "KeyboardInterrupt" in capsys.readouterr().err
    monkeypatch.setattr(command, "_run", lambda args: extension_init())
    assert command.main(["run", "--quiet"]) == 1
