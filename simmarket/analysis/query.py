"""Read-only access to run databases, and the ``simmarket query`` command's engine.

:func:`open_run` is the one door every analysis command goes through: it checks that the
path is a simmarket database of this schema version (a clear :class:`AnalysisError`
otherwise) and returns a connection that cannot change it. Three locks keep the database
as it is: the file is opened with ``mode=ro``, ``PRAGMA query_only`` is on, and an SQLite
authorizer refuses every action but reading — which also stops ``ATTACH`` and
``VACUUM INTO``, the two statements that could write *another* file through a read-only
connection, and ``fts3_tokenizer()``, which would hand out a pointer into the process.
Views stored by an older simmarket whose columns differ from this version's are shadowed,
on the connection only, by TEMP views of the current definitions.

A run nobody writes any more is opened ``immutable=1`` (see :func:`open_mode`): SQLite then
takes no locks and creates no ``-wal``/``-shm`` files, so reading leaves nothing behind and
works in a folder the reader cannot write. A run whose writer is alive (it holds an
exclusive ``flock`` on ``<db>.lock``), or whose write-ahead log still holds committed pages,
is opened normally so that what was committed is seen.

Every statement runs under :func:`interruptible`: an SQLite progress handler lets Ctrl-C
and a deadline (``query --timeout``) stop even an endless recursive query.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from simmarket.store.schema import SCHEMA_VERSION

SQLITE_MAGIC = b"SQLite format 3\x00"

#: pragmas that only report, whatever their argument (a table or index name)
READ_PRAGMAS_WITH_ARG = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "integrity_check", "quick_check",
})
#: pragmas that only report when called without a value; any other pragma is refused
READ_PRAGMAS = READ_PRAGMAS_WITH_ARG | {
    "database_list", "collation_list", "function_list", "module_list", "pragma_list",
    "compile_options", "page_count", "page_size", "freelist_count", "user_version",
    "schema_version", "application_id", "journal_mode", "encoding",
}

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            sqlite3.SQLITE_RECURSIVE}

#: SQL functions refused although they only read: ``fts3_tokenizer('simple')`` returns the
#: address of a C structure (an ASLR leak), and with two arguments installs a tokenizer at an
#: arbitrary address. Python 3.11 has no ``Connection.setconfig`` to switch
#: SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER off, so the authorizer refuses it by name.
REFUSED_FUNCTIONS = frozenset({"fts3_tokenizer"})

#: SQLite virtual-machine steps between two calls of the progress handler; small enough to
#: answer Ctrl-C within milliseconds, large enough to cost nothing measurable
PROGRESS_STEPS = 10_000

_ACTION_NAMES = {getattr(sqlite3, n): n.removeprefix("SQLITE_").replace("_", " ")
                 for n in ("SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE", "SQLITE_ATTACH",
                           "SQLITE_DETACH", "SQLITE_PRAGMA", "SQLITE_TRANSACTION",
                           "SQLITE_SAVEPOINT", "SQLITE_ALTER_TABLE", "SQLITE_REINDEX",
                           "SQLITE_ANALYZE", "SQLITE_CREATE_TABLE", "SQLITE_CREATE_INDEX",
                           "SQLITE_CREATE_VIEW", "SQLITE_CREATE_TRIGGER",
                           "SQLITE_CREATE_TEMP_TABLE", "SQLITE_CREATE_TEMP_VIEW",
                           "SQLITE_CREATE_TEMP_INDEX", "SQLITE_CREATE_TEMP_TRIGGER",
                           "SQLITE_CREATE_VTABLE", "SQLITE_DROP_TABLE", "SQLITE_DROP_INDEX",
                           "SQLITE_DROP_VIEW", "SQLITE_DROP_TRIGGER", "SQLITE_DROP_VTABLE",
                           "SQLITE_DROP_TEMP_TABLE", "SQLITE_DROP_TEMP_VIEW",
                           "SQLITE_DROP_TEMP_INDEX", "SQLITE_DROP_TEMP_TRIGGER")}


class AnalysisError(RuntimeError):
    """A database the analysis commands cannot read, or a query they refuse."""


class QueryTimeout(AnalysisError):
    """A statement ran longer than the time it was given (``query --timeout``)."""


@dataclass
class RunInfo:
    """What the ``runs`` row says about how a database was made and how its run ended."""

    path: Path
    status: str
    seed: int | None
    mode: str | None
    name: str
    horizon_days: float
    period_days: float | None
    t_reached: float
    events: int
    version: str | None
    schema_version: int
    started_at: str | None
    finished_at: str | None
    message: str | None
    config: dict[str, Any]
    summary: dict[str, Any] | None
    #: whether a process still holds the run's writer lock (only asked of 'running' runs)
    writer_alive: bool = False

    @property
    def finished(self) -> bool:
        """Whether the run reached its horizon (status ``completed``)."""
        return self.status == "completed"

    @property
    def status_note(self) -> str:
        """One line saying how the run ended, for reports ('' for a completed run).

        Status ``running`` alone does not tell a live run from a dead one (a killed writer
        cannot mark its run), so the writer lock decides which of the two it is.
        """
        if self.status == "completed":
            return ""
        if self.status == "running" and self.writer_alive:
            return (f"the run is still running (day {self.t_reached:g} so far of "
                    f"{self.horizon_days:g}); the figures cover what was committed")
        if self.status == "running":
            return (f"the run did not finish (last committed day {self.t_reached:g} of "
                    f"{self.horizon_days:g}): its writer stopped without marking it; the "
                    "figures cover what was committed")
        return (f"the run is {self.status} at day {self.t_reached:g} of "
                f"{self.horizon_days:g}; the figures cover the simulated part only"
                + (f" ({self.message})" if self.message else ""))


class ReadOnlyRefusal(AnalysisError):
    """A statement that would write (or open another file) was refused."""


class ReadOnlyConnection(sqlite3.Connection):
    """A connection that remembers the last action its authorizer refused."""

    refused: str | None = None


def open_run(path: str | Path, *, check: bool = True) -> tuple[sqlite3.Connection, RunInfo]:
    """Open a run database read-only and describe its run.

    Raises :class:`AnalysisError` with a message a user can act on when the path is
    missing, not an SQLite file, not a simmarket database, or of another schema version.
    ``check=False`` skips the schema-version check (for tools that only read tables).
    """
    path = Path(path)
    _check_file(path)
    conn = _connect_readonly(path, immutable=open_mode(path) == "immutable")
    try:
        info = _run_info(conn, path)
        if check:
            _check_version(info)
    except BaseException:
        conn.close()
        raise
    return conn, info


def lock_path(db_path: str | Path) -> Path:
    """The writer's lock file of a run database: ``<db path>.lock``."""
    return Path(f"{db_path}.lock")


def writer_alive(db_path: str | Path) -> bool:
    """Whether a process is writing the run database now.

    The writer holds an exclusive ``flock`` on ``<db>.lock`` for the whole run, and the
    operating system drops it when the writer exits or is killed — so, unlike a pid in the
    file, it cannot be stale. If the lock file is missing, or a shared lock on it can be
    taken (and is released at once), nobody is writing.
    """
    try:
        fd = os.open(lock_path(db_path), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell (unreadable lock file): assume the careful answer
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: the writer holds it; anything else: cannot tell
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def open_mode(db_path: str | Path) -> str:
    """How to open a run database: ``"immutable"`` or ``"ro"`` (read-only, shared).

    ``immutable=1`` tells SQLite the file cannot change: no locks, no ``-shm`` or ``-wal``
    created, and it works in a folder the reader cannot write. It is right only when nobody
    writes the file and every committed page is in the file itself — so ``"ro"`` is chosen
    while a writer holds the lock, or when a ``-wal`` (committed pages not yet
    checkpointed) or ``-journal`` (a hot journal to roll back) is left next to it.
    """
    if writer_alive(db_path):
        return "ro"
    for suffix in ("-wal", "-journal"):
        try:
            if os.path.getsize(f"{db_path}{suffix}") > 0:
                return "ro"
        except OSError:
            pass  # no such file
    return "immutable"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AnalysisError(f"no such database: {path}")
    if path.is_dir():
        raise AnalysisError(f"{path} is a directory, not a run database")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise AnalysisError(f"cannot read {path}: {exc.strerror}") from None
    if head != SQLITE_MAGIC:
        raise AnalysisError(f"{path} is not a simmarket database (not an SQLite file)")


def _connect_readonly(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False,
                               factory=ReadOnlyConnection)
        _probe(conn)
        refresh_stale_views(conn)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise AnalysisError(_open_error(path, exc)) from None
    conn.set_authorizer(_authorizer(conn))
    return conn


def _probe(conn: sqlite3.Connection) -> None:
    """Read the schema once, so that a file SQLite cannot open fails here, as such.

    SQLite opens lazily; without this, the first failing statement would be one whose
    errors are read as "not a simmarket database". A file that is not a database at all
    passes (a DatabaseError, not an OperationalError) and is reported by the caller.
    """
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError:
        pass


def _open_error(path: Path, exc: sqlite3.Error) -> str:
    """Why a database could not be opened, with what to do about it.

    Opened ``"ro"``, a write-ahead-log database needs its ``-shm`` file; in a folder the
    reader cannot write, SQLite cannot create it and says "attempt to write a readonly
    database" — which would read as if we had tried to write.
    """
    wal = Path(f"{path}-wal")
    if wal.exists() and ("readonly" in str(exc) or "unable to open" in str(exc)):
        return (f"cannot open {path}: it has a write-ahead log ({wal.name}) that SQLite "
                "can only read from a folder you can write; copy the database and its -wal "
                "file to such a folder")
    return f"cannot open {path}: {exc}"


def refresh_stale_views(conn: sqlite3.Connection) -> list[str]:
    """Shadow views whose stored columns differ from this version's with TEMP views.

    A database keeps the views of the simmarket that wrote it. Where one of them no longer
    has the columns :data:`simmarket.store.views.VIEWS` lists (the view changed since), a
    TEMP view of the same name with the current definition takes precedence on this
    connection only; the file is not touched. Returns the names refreshed.
    """
    from simmarket.store.views import VIEWS

    refreshed = []
    try:
        stored = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
    except sqlite3.DatabaseError:
        return refreshed  # not a database: reported by the caller
    for name, view in VIEWS.items():
        try:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
        except sqlite3.DatabaseError:
            cols = []
        if name in stored and cols == list(view.columns):
            continue
        try:
            conn.execute(f"CREATE TEMP VIEW {name} AS {view.sql.strip()}")
            refreshed.append(name)
        except sqlite3.DatabaseError:
            pass  # its tables are too old for it; the view stays as stored (or absent)
    return refreshed


def _authorizer(conn: ReadOnlyConnection):
    """An SQLite authorizer that allows reading only; it remembers what it refused."""

    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None,
                  source: str | None) -> int:  # noqa: ARG001
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in REFUSED_FUNCTIONS:
            if conn.refused is None:
                conn.refused = f"the function {arg2}()"
            return sqlite3.SQLITE_DENY
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 in ("sqlite_master", "sqlite_schema"):
            # asked when a table-valued pragma (pragma_table_info(...)) is prepared; SQLite
            # never lets a statement modify sqlite_master (writable_schema is refused)
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (
                arg1 in READ_PRAGMAS_WITH_ARG or (arg2 is None and arg1 in READ_PRAGMAS)):
            return sqlite3.SQLITE_OK
        what = _ACTION_NAMES.get(action, f"action {action}")
        if arg1 in ("sqlite_master", "sqlite_schema", "sqlite_temp_master"):
            what, arg1 = "a change of the schema", None
        if conn.refused is None:  # the first refusal names the statement best
            conn.refused = f"{what} {arg1}" if arg1 else what
        return sqlite3.SQLITE_DENY

    return authorize


def _run_info(conn: sqlite3.Connection, path: Path) -> RunInfo:
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        raise AnalysisError(f"{path} is not a simmarket database ({exc})") from None
    if "runs" not in tables or "events" not in tables:
        raise AnalysisError(f"{path} is not a simmarket database (it has no runs and events "
                            "tables)")
    cur = conn.execute("SELECT * FROM runs ORDER BY run_id LIMIT 1")
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    if row is None:
        raise AnalysisError(f"{path} has no run recorded (its runs table is empty): the run "
                            "stopped before it started")
    r = dict(zip(names, row))
    config = _json(r.get("config")) or {}
    status = r.get("status") or "unknown"
    t_reached = float(r.get("t_reached") or 0.0)
    alive = False
    if status == "running":
        alive = writer_alive(path)
        t_reached = max(t_reached, _last_event_day(conn))
    return RunInfo(
        path=path, status=status, seed=r.get("seed"),
        mode=r.get("mode"), name=str(config.get("name") or path.stem),
        horizon_days=float(r.get("horizon_days") or 0.0), period_days=r.get("period_days"),
        t_reached=t_reached, events=int(r.get("events") or 0),
        version=r.get("version"), schema_version=int(r.get("schema_version") or 0),
        started_at=r.get("started_at"), finished_at=r.get("finished_at"),
        message=r.get("message"), config=config, summary=_json(r.get("summary")),
        writer_alive=alive)


def _last_event_day(conn: sqlite3.Connection) -> float:
    """The day of the last committed event (the log is appended in time order).

    A run that never finished may not have recorded its progress in ``runs.t_reached``
    (older writers set it only at the end); its last event is then the best record of how
    far it got. Read by rowid, so it costs one page whatever the size of the log.
    """
    try:
        row = conn.execute("SELECT t FROM events ORDER BY event_id DESC LIMIT 1").fetchone()
    except sqlite3.DatabaseError:
        return 0.0
    return float(row[0]) if row and row[0] is not None else 0.0


def _check_version(info: RunInfo) -> None:
    if info.schema_version < SCHEMA_VERSION:
        raise AnalysisError(
            f"{info.path} was written by an older simmarket (schema version "
            f"{info.schema_version}, this one reads {SCHEMA_VERSION}); re-run its scenario "
            "with this version, or read its tables directly with the sqlite3 client")
    if info.schema_version > SCHEMA_VERSION:
        raise AnalysisError(
            f"{info.path} was written by a newer simmarket (schema version "
            f"{info.schema_version}, this one reads {SCHEMA_VERSION}); upgrade simmarket")


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


# -- running a query ------------------------------------------------------------------------


@contextmanager
def interruptible(conn: sqlite3.Connection, timeout: float | None = None) -> Iterator[None]:
    """Let Ctrl-C, and a deadline of ``timeout`` seconds, stop what runs on ``conn``.

    While SQLite steps through a statement no Python code runs, so Python's own SIGINT
    handler never gets its turn and an endless query ignores Ctrl-C. A progress handler,
    called every :data:`PROGRESS_STEPS` steps, gives it one and aborts the statement when
    Ctrl-C came or the deadline passed. Ctrl-C ends the block with :class:`KeyboardInterrupt`
    (whatever error the aborted statement caused on its way out: SQLite's "interrupted",
    pandas' wrapper of it, ...), the deadline with :class:`QueryTimeout`. The SIGINT handler
    is installed only in the main thread (the only one signals reach).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    interrupted: list[bool] = []  # a plain flag: a signal handler must take no lock

    def on_sigint(signum: int, frame: Any) -> None:  # noqa: ARG001
        interrupted.append(True)
        raise KeyboardInterrupt

    def progress() -> int:
        return int(bool(interrupted)
                   or (deadline is not None and time.monotonic() > deadline))

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    conn.set_progress_handler(progress, PROGRESS_STEPS)
    try:
        yield
    except Exception as exc:
        if interrupted:
            raise KeyboardInterrupt from None
        if deadline is not None and time.monotonic() > deadline and "interrupt" in str(exc):
            raise QueryTimeout(f"the query was stopped after {timeout:g} s (--timeout "
                               f"{timeout:g}); narrow it, or allow more time") from None
        raise
    finally:
        conn.set_progress_handler(None, 0)
        if main:
            signal.signal(signal.SIGINT, previous)


def execute(conn: sqlite3.Connection, sql: str, params: tuple | dict = (), *,
            timeout: float | None = None) -> tuple[list[str], list[tuple]]:
    """Run one read-only statement; returns (column names, rows).

    A statement that would write is refused with :class:`ReadOnlyRefusal`; an SQL error
    (syntax, unknown table, several statements) is an :class:`AnalysisError`; one that runs
    longer than ``timeout`` seconds is stopped with :class:`QueryTimeout`, and Ctrl-C stops
    it with :class:`KeyboardInterrupt` (see :func:`interruptible`).
    """
    if not sql.strip():
        raise AnalysisError("empty query")
    if timeout is not None and not (timeout > 0 and timeout < float("inf")):
        raise AnalysisError(f"--timeout must be a positive number of seconds, not {timeout}")
    if isinstance(conn, ReadOnlyConnection):
        conn.refused = None
    with interruptible(conn, timeout):
        return _execute(conn, sql, params)


def _execute(conn: sqlite3.Connection, sql: str,
             params: tuple | dict) -> tuple[list[str], list[tuple]]:
    """:func:`execute` without the guards: errors become one-line analysis errors."""
    try:
        cur = conn.execute(sql, params)
        rows = cur.fetchall()
    except sqlite3.OperationalError as exc:
        if str(exc) == "interrupted":
            raise  # interruptible() says whether Ctrl-C or the deadline did it
        _raise_sql_error(conn, exc)
    except (sqlite3.DatabaseError, sqlite3.ProgrammingError, sqlite3.Warning) as exc:
        _raise_sql_error(conn, exc)
    names = [d[0] for d in cur.description] if cur.description else []
    return names, rows


def _raise_sql_error(conn: sqlite3.Connection, exc: Exception) -> NoReturn:
    """Raise the analysis error for a failed statement: a refusal, or an SQL error."""
    refused = getattr(conn, "refused", None)
    if refused and refused.startswith("the function "):
        raise ReadOnlyRefusal(f"refused: {refused} is disabled in simmarket query (it "
                              "exposes the process's memory)") from None
    if refused or "readonly" in str(exc) or "not authorized" in str(exc):
        raise ReadOnlyRefusal(
            f"refused: the statement would change the database or open another file "
            f"({refused or exc}); simmarket query only reads — copy the database and use "
            "the sqlite3 client to change it") from None
    raise AnalysisError(f"SQL error: {exc}") from None


def to_csv(names: list[str], rows: list[tuple]) -> str:
    """Rows as CSV with a header line."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(rows)
    return buf.getvalue()


def to_json(names: list[str], rows: list[tuple]) -> str:
    """Rows as a JSON array of objects (one per row)."""
    return json.dumps([dict(zip(names, r)) for r in rows], indent=1, default=str)


def format_cell(value: Any) -> str:
    """A cell for the terminal: NULL as an em dash, floats to 6 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)
