"""Issue 10, the read side: ``query`` and the door every analysis command goes through.

Real processes, real files, real SQLite: an endless query stopped by a real SIGINT and by
``--timeout``; a finished run read from a folder the reader cannot write (as an unprivileged
user when the tests run as root, since root ignores file modes); no ``-wal``/``-shm`` left
behind; ``fts3_tokenizer`` refused; and a writer that holds the run's lock, then is killed
with SIGKILL, told apart from a live one.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from simmarket.analysis.query import lock_path, open_mode, open_run, writer_alive
from simmarket.cli import main

ENDLESS = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
           "SELECT COUNT(*) FROM c")


@pytest.fixture()
def db(small_db, tmp_path) -> Path:
    """A private copy of the small (finished) run."""
    path = tmp_path / "run.db"
    shutil.copy(small_db, path)
    return path


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def simmarket_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "simmarket.cli", *argv]


def sidecars(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name
                  and p.name.startswith(path.name))


def wait_until_open(proc: subprocess.Popen, path: Path, timeout: float = 30.0) -> None:
    """Wait until ``proc`` has the database open (its imports are over, the query runs)."""
    deadline = time.monotonic() + timeout
    target = str(path.resolve())
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            fds = os.listdir(f"/proc/{proc.pid}/fd")
            if any(os.readlink(f"/proc/{proc.pid}/fd/{fd}") == target for fd in fds):
                return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"the query never opened {path}")


# -- 1. Ctrl-C and --timeout stop an endless query ---------------------------------------------

@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see open files")
def test_ctrl_c_stops_an_endless_query_with_exit_130(db):
    proc = subprocess.Popen(simmarket_cmd("query", str(db), ENDLESS), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until_open(proc, db)
        time.sleep(0.3)  # well inside the recursion
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 5
    assert "interrupted" in err and "Traceback" not in err + out


def test_timeout_stops_an_endless_query_with_one_line_and_exit_2(db, capsys):
    started = time.monotonic()
    code, out, err = cli(capsys, "query", str(db), ENDLESS, "--timeout", "0.5")
    assert time.monotonic() - started < 10
    assert code == 2 and out == ""
    assert "stopped after 0.5 s (--timeout 0.5)" in err and "Traceback" not in err
    code, out, _ = cli(capsys, "query", str(db), "SELECT COUNT(*) AS n FROM events", "--csv",
                       "--timeout", "30")
    assert code == 0 and out.startswith("n\n")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(db, capsys, value):
    code, _, err = cli(capsys, "query", str(db), "SELECT 1", f"--timeout={value}")
    assert code == 2 and "--timeout must be a positive number" in err


# -- 2. and 3. reading leaves nothing behind, and works in a read-only folder ------------------

def test_query_and_report_leave_no_wal_or_shm_next_to_a_finished_run(db, capsys):
    assert sidecars(db) == []
    before = db.read_bytes()
    assert cli(capsys, "query", str(db), "SELECT COUNT(*) FROM v_inequality")[0] == 0
    assert cli(capsys, "report", str(db))[0] == 0
    assert sidecars(db) == [], "reading created files next to the database"
    assert db.read_bytes() == before


def test_a_run_finished_in_rollback_journal_mode_reads_alike(db, capsys):
    """The writer may finish runs in journal_mode=DELETE; the reader works with both."""
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    assert open_mode(db) == "immutable"
    code, out, _ = cli(capsys, "query", str(db), "SELECT status FROM runs", "--csv")
    assert code == 0 and out.split() == ["status", "completed"]
    assert sidecars(db) == []


def test_open_mode_is_immutable_only_when_nobody_writes_and_nothing_is_pending(db):
    assert open_mode(db) == "immutable"
    for suffix in ("-wal", "-journal"):
        side = Path(f"{db}{suffix}")
        side.write_bytes(b"")
        assert open_mode(db) == "immutable", "an empty leftover holds nothing"
        side.write_bytes(b"\0" * 32)
        assert open_mode(db) == "ro", f"a non-empty {suffix} may hold committed pages"
        side.unlink()


def as_nobody() -> list[str] | None:
    """A command prefix that runs as an unprivileged user, or None if not needed/possible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_a_run_in_a_read_only_folder_is_readable_or_clearly_refused(small_db):
    """A finished run reads from a folder the reader cannot write, and so does a killed run
    with the -wal and -shm files its writer left; without the -shm (which SQLite cannot
    create there) the refusal says what to do, in one line."""
    prefix = as_nobody()
    if prefix is None:
        pytest.skip("running as root without setpriv: root writes through any file mode")
    folder = Path(tempfile.mkdtemp(prefix="simmarket-ro-"))  # in /tmp: others may enter
    finished, killed, no_shm = folder / "run.db", folder / "killed.db", folder / "no_shm.db"
    try:
        shutil.copy(small_db, finished)
        shutil.copy(small_db, killed)
        writer = start_writer(killed)
        writer.kill()
        writer.wait()
        for suffix in ("", "-wal"):
            shutil.copy(f"{killed}{suffix}", f"{no_shm}{suffix}")
        folder.chmod(0o555)
        probe = subprocess.run([*prefix, "touch", str(folder / "probe")], capture_output=True)
        assert probe.returncode != 0, "the folder is writable: the test would prove nothing"
        before = sorted(x.name for x in folder.iterdir())

        def query(db: Path) -> subprocess.CompletedProcess:
            return subprocess.run(
                [*prefix, *simmarket_cmd("query", str(db), "SELECT status FROM runs", "--csv")],
                capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": "/"})

        p = query(finished)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["status", "completed"]
        p = query(killed)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["status", "running"]
        assert "did not finish (last committed day 17" in " ".join(p.stderr.split())
        p = query(no_shm)
        assert p.returncode == 2 and "Traceback" not in p.stderr
        assert "write-ahead log" in " ".join(p.stderr.split())
        assert sorted(x.name for x in folder.iterdir()) == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


# -- 4. fts3_tokenizer ------------------------------------------------------------------------

@pytest.mark.parametrize("sql", ["SELECT fts3_tokenizer('simple')",
                                 "SELECT hex(FTS3_TOKENIZER('porter'))",
                                 "SELECT * FROM runs WHERE fts3_tokenizer('simple') IS NULL"])
def test_fts3_tokenizer_is_refused(db, capsys, sql):
    code, out, err = cli(capsys, "query", str(db), sql, "--csv")
    assert code == 2 and out == ""
    assert "refused" in err and "fts3_tokenizer" in err and "Traceback" not in err


# -- 8. a live writer told apart from a dead one ----------------------------------------------

WRITER = textwrap.dedent("""
    import fcntl, sqlite3, sys, time
    db = sys.argv[1]
    lock = open(db + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # committed pages stay in the -wal file
    conn.execute("BEGIN")
    conn.execute("DELETE FROM events WHERE t > 17")
    conn.execute("UPDATE runs SET status = 'running', finished_at = NULL, t_reached = 17")
    conn.execute("COMMIT")
    print("ready", flush=True)
    time.sleep(600)
""")


def start_writer(db: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_writer_alive_follows_the_lock_of_a_real_process(db):
    assert not writer_alive(db), "no lock file: nobody writes"
    lock_path(db).write_text("")
    assert not writer_alive(db), "a lock file nobody holds: the writer is gone"
    writer = start_writer(db)
    try:
        assert writer_alive(db)
        assert open_mode(db) == "ro"
    finally:
        writer.kill()
        writer.wait()
    assert not writer_alive(db), "SIGKILL releases the lock"


def test_a_running_run_and_a_killed_one_are_told_apart(db, capsys):
    writer = start_writer(db)
    try:
        conn, info = open_run(db)
        conn.close()
        assert info.status == "running" and info.writer_alive
        assert "still running (day 17 so far" in info.status_note
        code, out, err = cli(capsys, "query", str(db), "SELECT MAX(t) AS t FROM events", "--csv")
        assert code == 0 and float(out.split()[1]) <= 17, "the committed WAL pages are read"
        assert "still running (day 17 so far" in err
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert Path(f"{db}-wal").stat().st_size > 0  # the dead writer's commits are in the log
    conn, info = open_run(db)
    conn.close()
    assert info.status == "running" and not info.writer_alive
    note = "did not finish (last committed day 17 of 42)"
    assert note in info.status_note
    code, out, err = cli(capsys, "query", str(db), "SELECT MAX(t) AS t FROM events", "--csv")
    assert code == 0 and float(out.split()[1]) <= 17 and note in err
    code, out, _ = cli(capsys, "report", str(db))
    assert code == 0 and note in " ".join(out.split())
    code, out, _ = cli(capsys, "compare", str(db), str(db))
    assert code == 0 and note in " ".join(out.split())
