"""The SQLite recorder: one database file per run, every event a row, written in batches.

The model hands it rows through the recorder protocol (:mod:`simmarket.core.recorder`).
Events are buffered and written with ``executemany``; per-period rows are held until the
period's checkpoint, where they are committed in one transaction with the events up to that
point and the run's progress (``runs.t_reached``). So whatever kills the process, the file
is consistent: period tables are never ahead of the event log, and ``t_reached`` says how far
the committed record goes. While it writes, the run holds an exclusive lock on
``<database>.lock``; the OS releases it when the process dies, which is how readers tell a
run still being written from one whose writer is gone. The file is made as
``<database>.creating`` and put in place only once it holds the schema and the run's row, so
no kill leaves a database without its ``runs`` row. ``--force`` replaces only a simmarket
run database (:func:`check_output` says what else is in the way before anything is made),
and the lock file reserves a little space that is given back when the disk fills up, so a
run that fails for lack of space can still record ``failed``.

Schema, indexes and introspection go through sqlite-utils; the hot path uses the plain
connection. A finished database is left in rollback-journal mode, so readers need no
``-wal``/``-shm`` files beside it (and can read it from a read-only folder).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from simmarket.core.recorder import EVENT_COLUMNS, EventRow, Recorder, column
from simmarket.store.schema import SCHEMA_VERSION, create_indexes, create_schema

#: Rows per INSERT statement: one statement of many VALUES rows binds the same values as as
#: many one-row statements, in the same order (same rowids, same bytes), at about half the
#: CPU: the sqlite3 module's per-statement work (reset, step, the GIL released and taken
#: back) is paid once per ROWS_PER_INSERT rows. 256 event rows are 2,048 parameters, well
#: under SQLite's limit of 32,766 (benchmarks/README.md, "The event writer").
ROWS_PER_INSERT = 256
#: Rows of a final table (users, items...) turned into Python objects at a time: the table is
#: never held as Python objects whole (a million users would be ~600 MB of them).
FINAL_CHUNK = 16_384
_MAX_PARAMETERS = 32_766
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Bytes reserved in the lock file while a run writes, given back when the disk fills up so
#: the run can still record that it failed.
BALLAST_BYTES = 256 * 1024


#: Connections a forked branch inherited from its writer: kept, never used or closed.
_INHERITED: list[sqlite3.Connection] = []


class StoreError(RuntimeError):
    """The database cannot be created or written (exists, not ours, locked, disk full...)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def lock_path(path: Path) -> Path:
    return Path(f"{path}.lock")


def creating_path(path: Path) -> Path:
    """Where a run database is made before it is put in place."""
    return Path(f"{path}.creating")


def _remove(path: Path) -> None:
    """A database file and its companions, if they are there."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class SQLiteRecorder(Recorder):
    """Append-only event log plus the run's tables, in one SQLite database."""

    def __init__(self, path: str | Path, *, events: str = "all", batch_size: int = 50_000,
                 force: bool = False):
        super().__init__(events=events, batch_size=batch_size)
        self.path = Path(path)
        self._pending: list[tuple[str, Sequence[dict[str, Any]]]] = []
        #: wall seconds spent committing events (batches and checkpoints), and building the
        #: indexes at the end (for the benchmarks; not written to the database)
        self.write_seconds = 0.0
        self.index_seconds = 0.0
        self._lock: int | None = None
        check_output(self.path, force)  # refuse what is in the way before creating anything
        self._lock = _take_lock(self.path)
        self.conn: sqlite3.Connection | None = None
        #: the database is made under this name and put in place with its run row, so no
        #: kill ever leaves a database at `path` without one
        self._creating = creating_path(self.path)
        self._placed = False
        try:
            _clear_the_way(self.path, force)
            _remove(self._creating)  # left by a run killed while it was being created
            self.conn = sqlite3.connect(self._creating, isolation_level=None)
            self.db = sqlite_utils.Database(self.conn)
            create_schema(self.db)
        except BaseException as exc:
            self._abandon()
            if isinstance(exc, OSError | sqlite3.Error):
                raise StoreError(f"cannot create {self.path}: {_reason(exc)}") from None
            raise

    def _put_in_place(self) -> None:
        """Move the new database (schema and run row) to its path, and open it for the run:
        write-ahead log, so readers may look while it writes."""
        self.conn.close()
        try:
            os.link(self._creating, self.path)  # never over a file that appeared meanwhile
        except FileExistsError:
            raise StoreError(f"{self.path} appeared while the run was being created; "
                             "choose another --out") from None
        except OSError:  # a filesystem without hard links
            os.replace(self._creating, self.path)
        self._placed = True
        _remove(self._creating)
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA busy_timeout=10000")  # readers may hold a snapshot
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.db = sqlite_utils.Database(self.conn)

    def _abandon(self) -> None:
        """Creation failed: remove the half-made file (ours, under our lock) and unlock."""
        try:
            if self.conn is not None:
                self.conn.close()
            _remove(self._creating)
            if self._placed:
                _remove(self.path)
        except OSError:
            pass
        finally:
            self._release()

    # -- the run's record -------------------------------------------------------------
    def start_run(self, *, seed: int, config: dict[str, Any], version: str,
                  impression_sample_rate: float) -> None:
        row = {
            "run_id": 1, "status": "running", "seed": seed,
            "config": json.dumps(config, sort_keys=True), "version": version,
            "schema_version": SCHEMA_VERSION, "mode": config["mode"],
            "horizon_days": config["horizon_days"], "period_days": config["period_days"],
            "impression_sample_rate": impression_sample_rate, "event_detail": self.level,
            "started_at": _now(), "finished_at": None, "t_reached": 0.0,
            "events": 0, "message": None,
        }
        with self._transaction():
            self.conn.execute(_insert("runs", list(row)), tuple(row.values()))
        try:
            self._put_in_place()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot create {self.path}: {_reason(exc)}") from None

    # -- where rows go --------------------------------------------------------------------
    def _write_events(self, rows: list[EventRow]) -> None:
        started = time.perf_counter()
        with self._transaction():
            insert_events(self.conn, rows)
        self.write_seconds += time.perf_counter() - started

    def _write_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        self._pending.append((table, [dict(r) for r in rows]))

    def _write_columns(self, table: str, columns: dict[str, Any]) -> None:
        names = list(columns)
        n = len(columns[names[0]])
        cols = [v if v is None or np.isscalar(v) else np.asarray(v)
                for v in columns.values()]
        with self._transaction():
            for start in range(0, n, FINAL_CHUNK):
                m = min(FINAL_CHUNK, n - start)
                data = [column(v if v is None or np.isscalar(v) else v[start:start + m], m)
                        for v in cols]
                insert_rows(self.conn, table, names, list(zip(*data)))

    def checkpoint(self, t_reached: float) -> None:
        """Commit the buffered events, the pending period rows and the progress together.

        Nothing is counted as written until the COMMIT succeeds: a commit refused (the disk
        full) leaves the buffers as they were and the file at the previous checkpoint."""
        events = self.events_written + len(self._buffer)
        started = time.perf_counter()
        with self._transaction():
            if self._buffer:
                insert_events(self.conn, self._buffer)
            for table, rows in self._pending:
                cols = list(rows[0])
                insert_rows(self.conn, table, cols, [tuple(r[c] for c in cols) for r in rows])
            self.conn.execute("UPDATE runs SET t_reached = ?, events = ? WHERE run_id = 1",
                              (t_reached, events))
        self.write_seconds += time.perf_counter() - started
        self.events_written = events
        self._buffer.clear()
        self._pending.clear()

    def _transaction(self):
        return _Transaction(self.conn, self.path)

    # -- a branch -------------------------------------------------------------------------
    def continue_into(self, path: str | Path, *, config: dict[str, Any] | None = None) -> None:
        """Go on writing this run into a copy of its database at ``path`` (in a process
        forked from the writer: the experiments' fork at a policy date).

        Call it after a :meth:`checkpoint` with nothing written since: the copy is made with
        SQLite's backup API from a read-only connection, so it holds exactly what the writer
        committed. The copy gets its own ``<copy>.lock`` and the same ``runs`` row (with
        ``config``, if given, as the branch's resolved config), and is put in place like a
        new run's database. The writer's file is not touched: its inherited connection is
        never used or closed here (closing a WAL connection may checkpoint into the
        writer's file; a forked branch ends with ``os._exit``), and its lock is closed
        without unlocking (the lock belongs to the open file the writer still holds)."""
        if self._buffer or self._pending:
            raise StoreError("continue_into needs a checkpoint first: rows are still buffered")
        source = self.path
        path = Path(path)
        check_output(path, force=True)
        lock = _take_lock(path)
        inherited, old_lock = self.conn, self._lock
        _INHERITED.append(inherited)
        self.conn, self._lock, self.path = None, lock, path
        self._creating, self._placed = creating_path(path), False
        if old_lock is not None:
            os.close(old_lock)
        try:
            _clear_the_way(path, True)
            _remove(self._creating)
            src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
            try:
                self.conn = sqlite3.connect(self._creating, isolation_level=None)
                src.backup(self.conn)
            finally:
                src.close()
            self.conn.execute("PRAGMA journal_mode=DELETE")
            if config is not None:
                self.conn.execute("UPDATE runs SET config = ? WHERE run_id = 1",
                                  (json.dumps(config, sort_keys=True),))
            self._put_in_place()
        except BaseException as exc:
            self._abandon()
            if isinstance(exc, OSError | sqlite3.Error):
                raise StoreError(f"cannot create {path}: {_reason(exc)}") from None
            raise

    # -- the end ------------------------------------------------------------------------------
    def finish(self, status: str, *, t_reached: float, message: str | None = None,
               summary: dict[str, Any] | None = None) -> None:
        """Commit everything, index the log and record how the run ended."""
        self.checkpoint(t_reached)
        if self.events_written:
            started = time.perf_counter()
            try:
                create_indexes(self.db)
            except sqlite3.Error as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise StoreError(f"cannot write {self.path}: {_reason(exc)}") from None
            self.index_seconds = time.perf_counter() - started
        with self._transaction():
            self.conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, t_reached = ?, events = ?, "
                "message = ?, summary = ? WHERE run_id = 1",
                (status, _now(), t_reached, self.events_written, message,
                 json.dumps(summary, sort_keys=True) if summary is not None else None))
        try:
            self.conn.execute("PRAGMA journal_mode=DELETE")  # readers need no -wal/-shm
        except sqlite3.OperationalError:
            pass  # a reader holds the file open: it stays in WAL mode, equally valid

    def mark(self, status: str, message: str, t_reached: float | None = None) -> None:
        """When the run cannot finish properly (a fault, the disk full): keep what can be
        committed, then say how it ended. Best effort: the disk may refuse even that."""
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if t_reached is not None:
                self.checkpoint(t_reached)
        except (StoreError, sqlite3.Error):
            self._buffer.clear()
            self._pending.clear()
        if self._lock is not None:  # give back the reserved bytes: room for the last word
            try:
                os.ftruncate(self._lock, 0)
            except OSError:
                pass
        try:
            self.conn.execute("UPDATE runs SET status = ?, finished_at = ?, message = ?, "
                              "events = ? WHERE run_id = 1",
                              (status, _now(), message, self.events_written))
        except sqlite3.Error:
            pass

    def close(self) -> None:
        try:
            self.conn.close()
            if not self._placed:  # never started: nothing to keep
                _remove(self._creating)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            lock_path(self.path).unlink(missing_ok=True)
            os.close(self._lock)
            self._lock = None


class _Transaction:
    """BEGIN ... COMMIT, with SQLite's errors turned into a StoreError a user can act on."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn, self.path = conn, path

    def __enter__(self) -> None:
        self.conn.execute("BEGIN")

    def __exit__(self, kind, exc, tb) -> bool:
        if kind is None:
            try:
                self.conn.execute("COMMIT")
                return False
            except sqlite3.Error as error:
                exc = error
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"cannot write {self.path}: {_reason(exc)}") from None
        return False


def insert_events(conn: sqlite3.Connection, rows: Sequence[EventRow]) -> None:
    """Append event rows (8-tuples in ``EVENT_COLUMNS`` order) to the log, in order, inside
    the caller's transaction."""
    insert_rows(conn, "events", EVENT_COLUMNS, rows)


def insert_rows(conn: sqlite3.Connection, table: str, cols: Sequence[str],
                rows: Sequence[tuple]) -> None:
    """Insert rows (tuples in ``cols`` order) in order: many rows per statement (up to
    ``ROWS_PER_INSERT``), the remainder one row per statement."""
    k = max(1, min(ROWS_PER_INSERT, _MAX_PARAMETERS // len(cols)))
    whole = len(rows) - len(rows) % k if k > 1 else 0
    if whole:
        conn.executemany(_insert(table, cols, k), _flat_batches(rows, whole, k))
    if whole < len(rows):
        conn.executemany(_insert(table, cols), rows[whole:])


def _flat_batches(rows: Sequence[tuple], whole: int, k: int) -> Iterator[list]:
    """The parameters of each many-row INSERT: k rows, flattened."""
    for start in range(0, whole, k):
        yield list(chain.from_iterable(rows[start:start + k]))


def _insert(table: str, cols: Sequence[str], rows: int = 1) -> str:
    values = f"({', '.join('?' for _ in cols)})"
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES {', '.join([values] * rows)}"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "disk is full" in text or getattr(exc, "errno", None) == 28:
        return "the disk is full (what was committed before is kept)"
    return getattr(exc, "strerror", None) or text


def _take_lock(path: Path) -> int | None:
    """An exclusive lock on ``<path>.lock`` for the whole run: one writer per database.

    The lock file is removed when the run ends, so a lock taken on a file that another run
    has just unlinked is no lock: after ``flock`` the file at the path must still be the
    one locked, or we start again."""
    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {_reason(exc)}") from None
    for _ in range(20):  # a reader's probe holds a shared lock for microseconds
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {_reason(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            time.sleep(0.05)
            continue
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if same:
            break
        os.close(fd)  # the previous writer removed it between our open and our lock
    else:
        raise StoreError(f"{path} is being written by another run; wait for it or choose "
                         "another --out") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        os.posix_fallocate(fd, 4096, BALLAST_BYTES)
    except OSError:
        pass  # no room to spare: the run finds out at its first write
    return fd


def check_output(path: str | Path, force: bool) -> Path:
    """Refuse an output path before anything is created or drawn: what the recorder will
    refuse anyway (empty, dangling link, existing without ``force``, not a simmarket run,
    being written by another run, a folder that cannot be written). Creates nothing."""
    if str(path).strip() == "":
        raise StoreError("--out is empty: give a database path")
    path = Path(path)
    if _writer_alive(path):
        raise StoreError(f"{path} is being written by another run; wait for it or choose "
                         "another --out")
    _refuse_existing(path, force)
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise StoreError(f"cannot create {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot create {path}: the folder {parent} is not writable")
    return path


def _writer_alive(path: Path) -> bool:
    """Whether another process holds the writer lock of `path` (a probe, no waiting)."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _clear_the_way(path: Path, force: bool) -> None:
    """Refuse an existing file unless forced, and even then replace only a simmarket run."""
    if _refuse_existing(path, force):
        _remove(path)


def _refuse_existing(path: Path, force: bool) -> bool:
    """Whether `path` holds a run database ``force`` may replace; StoreError for anything
    else that is in the way; False when nothing is there."""
    if path.is_symlink() and not path.exists():
        raise StoreError(f"{path} is a dangling symbolic link; choose another --out")
    if not path.exists() and not path.is_symlink():
        return False
    if path.is_dir():
        raise StoreError(f"{path} is a folder; --out takes a database file path")
    if not force:
        raise StoreError(f"{path} already exists; choose another --out or pass --force "
                         "to replace it")
    if path.is_symlink():
        raise StoreError(f"{path} is a symbolic link; --force replaces only a simmarket run "
                         "database itself. Choose another --out")
    if not path.is_file():
        raise StoreError(f"{path} is not a regular file (a device, a pipe, a socket); "
                         "--force replaces only a simmarket run database. Choose another --out")
    if not is_run_database(path):
        raise StoreError(f"{path} is not a simmarket run database; --force replaces only "
                         "those. Choose another --out")
    return True


def is_run_database(path: Path) -> bool:
    """Whether `path` is a regular file holding a simmarket run database."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            if fh.read(16) != SQLITE_MAGIC:
                return False
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            cols = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except (OSError, sqlite3.Error):
        return False
    return {"schema_version", "seed", "config"} <= cols and {"events", "event_kinds"} <= tables


#: The name the analysis side and older code know it by.
EventStore = SQLiteRecorder
