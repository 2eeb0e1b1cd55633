"""Ctrl-C or SIGTERM during a run: what was simulated is committed and marked interrupted."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest


def _start(tmp_path):
    db = tmp_path / "long.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simmarket.cli", "run", "--users", "3000", "--days", "3650",
         "--out", str(db), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, db


def _wait_for_events(db, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    if conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 20_000:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.2)
    pytest.fail("the run wrote no events in time")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_leaves_a_consistent_interrupted_database(tmp_path, sig):
    proc, db = _start(tmp_path)
    _wait_for_events(db, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    status, t_reached, events = conn.execute(
        "SELECT status, t_reached, events FROM runs").fetchone()
    assert status == "interrupted"
    assert 0 < t_reached < 3650
    assert events == conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 20_000
    # the final tables describe the state at the interruption
    assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 3000
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == conn.execute(
        "SELECT COUNT(*) FROM events WHERE kind IN ('content_created', 'derivative_created')"
    ).fetchone()[0]
    last_period_end = conn.execute("SELECT MAX(t_end) FROM period_production").fetchone()[0]
    assert last_period_end == pytest.approx(t_reached)
    assert "value encounter" in out  # the summary of what was simulated
