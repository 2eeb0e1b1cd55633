"""Issue 10, the writer's side: nothing at ``--out`` is destroyed, one writer per database,
a full disk is reported as such and leaves a consistent, honest database.

Real files and real processes throughout; the disk-full case runs on a real 2 MiB tmpfs
where the test may mount one, and otherwise on a write fault injected into SQLite.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from simmarket.cli import main
from simmarket.store import sqlite as store

SMALL = ["--users", "200", "--days", "7", "--quiet"]


def cli(*argv: str, cwd: Path | None = None, user: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "simmarket.cli", *argv]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)


def one_error_line(err: str, needle: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and needle in lines[0], err
    assert "Traceback" not in err


def fingerprint(path: Path) -> tuple:
    st = os.stat(path, follow_symlinks=False)
    body = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else None
    return st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, body


def leftovers(folder: Path, before: set[str]) -> set[str]:
    return {p.name for p in folder.iterdir()} - before


# -- defect 1: --force replaces only a simmarket run database -----------------------------
def _text(path: Path) -> Path:
    path.write_text("thesis, chapter 3\n")
    return path


def _other_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('not a run')")
    conn.close()
    return path


def _almost_ours(path: Path) -> Path:  # a runs table, but not simmarket's
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (run_id INTEGER, status TEXT)")
    conn.close()
    return path


@pytest.mark.parametrize("make", [_text, _other_sqlite, _almost_ours],
                         ids=["text file", "another application's SQLite", "a runs table"])
def test_force_refuses_a_file_that_is_not_a_run(tmp_path, capsys, make):
    target = make(tmp_path / "target.db")
    before = fingerprint(target)
    names = {p.name for p in tmp_path.iterdir()}
    assert main(["run", *SMALL, "--out", str(target), "--force"]) == 2
    one_error_line(capsys.readouterr().err, "not a simmarket run database")
    assert fingerprint(target) == before
    assert leftovers(tmp_path, names) == set()  # no -wal, -shm or .lock beside it


def test_force_refuses_a_device_node(capsys):
    before = fingerprint(Path("/dev/null"))
    assert main(["run", *SMALL, "--out", "/dev/null", "--force"]) == 2
    one_error_line(capsys.readouterr().err, "not a regular file")
    assert fingerprint(Path("/dev/null"))[:2] == before[:2]  # still the character device
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not Path("/dev/null.lock").exists()


def test_force_refuses_a_folder(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    assert main(["run", *SMALL, "--out", str(folder), "--force"]) == 2
    one_error_line(capsys.readouterr().err, "is a folder")
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
    assert not (tmp_path / "results.lock").exists()


def test_force_replaces_a_run_database_and_a_reader_keeps_its_snapshot(tmp_path, capsys):
    db = tmp_path / "run.db"
    assert main(["run", *SMALL, "--seed", "1", "--out", str(db)]) == 0
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    events = reader.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert main(["run", *SMALL, "--seed", "2", "--out", str(db)]) == 2
    one_error_line(capsys.readouterr().err, "already exists")
    assert main(["run", *SMALL, "--seed", "2", "--out", str(db), "--force"]) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT seed, status FROM runs").fetchone() == (2, "completed")
    conn.close()
    # the reader's open file was replaced, not overwritten under it
    assert reader.execute("SELECT seed FROM runs").fetchone()[0] == 1
    assert reader.execute("SELECT COUNT(*) FROM events").fetchone()[0] == events
    reader.close()


def test_force_refuses_a_symbolic_link_even_to_a_run(tmp_path, capsys):
    db = tmp_path / "run.db"
    assert main(["run", *SMALL, "--out", str(db)]) == 0
    link = tmp_path / "link.db"
    link.symlink_to(db)
    before = fingerprint(db)
    assert main(["run", *SMALL, "--out", str(link), "--force"]) == 2
    one_error_line(capsys.readouterr().err, "symbolic link")
    assert fingerprint(db) == before and link.is_symlink()


# -- defect 8: malformed output paths ------------------------------------------------------
def test_empty_out_is_refused_and_nothing_is_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", *SMALL, "--out", ""]) == 2
    one_error_line(capsys.readouterr().err, "--out is empty")
    assert list(tmp_path.iterdir()) == []  # neither results/ nor a .lock in the folder


def test_a_dangling_symlink_is_refused_and_its_target_not_created(tmp_path, capsys):
    link = tmp_path / "dangling.db"
    link.symlink_to(tmp_path / "elsewhere" / "target.db")
    assert main(["run", *SMALL, "--out", str(link)]) == 2
    one_error_line(capsys.readouterr().err, "dangling symbolic link")
    assert not (tmp_path / "elsewhere").exists()
    assert {p.name for p in tmp_path.iterdir()} == {"dangling.db"}


def test_a_file_in_place_of_a_folder_is_refused(tmp_path, capsys):
    (tmp_path / "notes").write_text("a file")
    assert main(["run", *SMALL, "--out", str(tmp_path / "notes" / "run.db")]) == 2
    one_error_line(capsys.readouterr().err, "not a folder")
    assert (tmp_path / "notes").read_text() == "a file"


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0,
                    reason="needs root and setpriv to run as 'nobody' (root ignores modes)")
def test_a_read_only_folder_is_refused_in_one_line():
    folder = Path(tempfile.mkdtemp(prefix="simmarket-ro-"))
    try:
        folder.chmod(0o755)  # root's folder: nobody may read it, not write it
        proc = cli("run", *SMALL, "--out", str(folder / "run.db"), cwd=folder, user="nobody")
        assert proc.returncode == 2, proc.stderr
        one_error_line(proc.stderr, "not writable")
        assert list(folder.iterdir()) == []
    finally:
        shutil.rmtree(folder)


# -- defect 2: one writer per database -----------------------------------------------------
def _wait_for_run_row(db: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    if conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]:
                        return
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    pytest.fail("the first run never started writing")


def test_a_second_run_on_the_same_path_is_refused_while_the_first_writes(tmp_path, capsys):
    db = tmp_path / "shared.db"
    first = subprocess.Popen(
        [sys.executable, "-m", "simmarket.cli", "run", "--users", "800", "--days", "60",
         "--seed", "1", "--out", str(db), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_run_row(db, first)
        for extra in (["--force"], []):  # the second writer: another process's main()
            code = main(["run", *SMALL, "--seed", "2", "--out", str(db), *extra])
            assert first.poll() is None, "the first run ended before the second was tried"
            assert code == 2
            captured = capsys.readouterr()
            one_error_line(captured.err, "being written by another run")
            assert captured.out == ""
        # past the up-front check, the recorder itself refuses (the lock, not the file)
        with pytest.raises(store.StoreError, match="being written by another run"):
            store._take_lock(db)
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert '"status": "completed"' in out
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT seed, status FROM runs").fetchone() == (1, "completed")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert not store.lock_path(db).exists()


def test_the_lock_is_not_fooled_by_a_lock_file_removed_under_it(tmp_path):
    """A writer that opened the lock file just before the previous writer removed it must
    not believe it holds the lock."""
    db = tmp_path / "x.db"
    lock = store.lock_path(db)
    first = store._take_lock(db)
    stale = os.open(lock, os.O_RDWR)  # opened before the first writer lets go
    lock.unlink()
    os.close(first)
    import fcntl
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the stale inode can be locked ...
    second = store._take_lock(db)  # ... but a writer checks it locked the file at the path
    try:
        assert os.fstat(second).st_ino == os.stat(lock).st_ino != os.fstat(stale).st_ino
    finally:
        os.close(second)
        os.close(stale)


# -- defect 3: the disk full ---------------------------------------------------------------
def _check_failed_run(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        status, message, t_reached, events = conn.execute(
            "SELECT status, message, t_reached, events FROM runs").fetchone()
        assert status == "failed" and "disk is full" in message
        # what was committed is kept, and the run row tells the truth about it
        assert t_reached > 0 and events > 0
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == events
        for (table,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'period_%'"
                "").fetchall():
            t_end = conn.execute(f"SELECT MAX(t_end) FROM {table}").fetchone()[0]
            assert t_end is None or t_end <= t_reached, table
    finally:
        conn.close()


@pytest.fixture
def small_filesystem():
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (the fault-injection test covers the code)")
    folder = Path(tempfile.mkdtemp(prefix="simmarket-full-"))
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def test_disk_full_on_a_small_filesystem(small_filesystem):
    db = small_filesystem / "full.db"
    # few enough users that a period closes before the 2 MB are full (t_reached > 0)
    proc = cli("run", "--users", "500", "--days", "120", "--out", str(db), "--quiet",
               "--set", "output.batch_size=5000")
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc.stderr, "the disk is full")
    assert proc.stdout == ""
    _check_failed_run(db)
    assert not store.lock_path(db).exists()


class _FillsUp(sqlite3.Connection):
    """A connection whose writes of events fail after `budget` batches, as on a full disk."""

    budget = 12

    def executemany(self, sql, rows):
        if sql.startswith("INSERT INTO events"):
            _FillsUp.budget -= 1
            if _FillsUp.budget < 0:
                raise sqlite3.OperationalError("database or disk is full")
        return super().executemany(sql, rows)


def test_disk_full_by_an_injected_write_fault(tmp_path, monkeypatch, capsys):
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        return real_connect(*args, factory=_FillsUp, **kwargs)

    monkeypatch.setattr(store.sqlite3, "connect", connect)
    monkeypatch.setattr(_FillsUp, "budget", 12)
    db = tmp_path / "full.db"
    code = main(["run", "--users", "150", "--days", "60", "--out", str(db), "--quiet",
                 "--set", "output.batch_size=500"])
    monkeypatch.undo()
    assert code == 2
    captured = capsys.readouterr()
    one_error_line(captured.err, "the disk is full")
    assert captured.out == ""
    _check_failed_run(db)


# -- first use: the output checked before the bar, --json and --quiet ------------------------
def test_an_existing_database_is_refused_before_any_bar_is_drawn(tmp_path, capsys,
                                                                 monkeypatch):
    import importlib

    db = tmp_path / "run.db"
    assert main(["run", *SMALL, "--out", str(db)]) == 0
    capsys.readouterr()
    cli_main = importlib.import_module("simmarket.cli.main")
    monkeypatch.setattr(cli_main.console, "_force_terminal", True)  # draw as on a terminal
    assert main(["run", "--users", "200", "--days", "7", "--out", str(db)]) == 2  # with a bar
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"error: {db} already exists; choose another --out or pass --force to replace it"]
    assert captured.out == ""


def test_json_prints_only_the_result_and_quiet_only_where_it_is(tmp_path, capsys):
    import json

    db = tmp_path / "run.db"
    assert main(["run", "--users", "200", "--days", "7", "--out", str(db), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # nothing else on stdout
    assert result["status"] == "completed" and result["db_path"] == str(db)
    assert result["events"] > 0 and result["seconds"] >= 0
    assert set(result["summary"]) == {"value production", "value encounter",
                                      "value transmission", "value spillover"}
    assert captured.err == ""
    assert main(["run", *SMALL, "--out", str(tmp_path / "q.db")]) == 0
    out = capsys.readouterr().out
    assert "value encounter" not in out and str(tmp_path / "q.db") in out
    assert len(out.strip().splitlines()) == 2
