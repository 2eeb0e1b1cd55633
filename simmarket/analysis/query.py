"""Read-only access to run databases, and the ``simmarket query`` command's engine.

:func:`open_run` is the one door every analysis command goes through: it checks that the
path is a simmarket database of this schema version (a clear :class:`AnalysisError`
otherwise) and returns a connection that cannot change it. Three locks keep the database
as it is: the file is opened with ``mode=ro``, ``PRAGMA query_only`` is on, and an SQLite
authorizer refuses every action but reading — which also stops ``ATTACH`` and
``VACUUM INTO``, the two statements that could write *another* file through a read-only
connection. Views stored by an older simmarket whose columns differ from this version's
are shadowed, on the connection only, by TEMP views of the current definitions.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
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

    @property
    def finished(self) -> bool:
        """Whether the run reached its horizon (status ``completed``)."""
        return self.status == "completed"

    @property
    def status_note(self) -> str:
        """One line saying how the run ended, for reports ('' for a completed run)."""
        if self.status == "completed":
            return ""
        if self.status == "running":
            return ("the run never finished (status 'running': it was killed, or is still "
                    f"being written); the figures cover what was committed, up to day "
                    f"{self.t_reached:g} or later")
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
    conn = _connect_readonly(path)
    try:
        info = _run_info(conn, path)
        if check:
            _check_version(info)
    except BaseException:
        conn.close()
        raise
    return conn, info


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


def _connect_readonly(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False,
                               factory=ReadOnlyConnection)
        refresh_stale_views(conn)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise AnalysisError(f"cannot open {path}: {exc}") from None
    conn.set_authorizer(_authorizer(conn))
    return conn


def refresh_stale_views(conn: sqlite3.Connection) -> list[str]:
    """Shadow views whose stored columns differ from this version's with TEMP views.

    A database keeps the views of the simmarket that wrote it. Where one of them no longer
    has the columns :data:`simmarket.views.VIEWS` lists (the view changed since), a TEMP view
    of the same name with the current definition takes precedence on this connection only;
    the file is not touched. Returns the names refreshed.
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
    return RunInfo(
        path=path, status=r.get("status") or "unknown", seed=r.get("seed"),
        mode=r.get("mode"), name=str(config.get("name") or path.stem),
        horizon_days=float(r.get("horizon_days") or 0.0), period_days=r.get("period_days"),
        t_reached=float(r.get("t_reached") or 0.0), events=int(r.get("events") or 0),
        version=r.get("version"), schema_version=int(r.get("schema_version") or 0),
        started_at=r.get("started_at"), finished_at=r.get("finished_at"),
        message=r.get("message"), config=config, summary=_json(r.get("summary")))


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


def execute(conn: sqlite3.Connection, sql: str,
            params: tuple | dict = ()) -> tuple[list[str], list[tuple]]:
    """Run one read-only statement; returns (column names, rows).

    A statement that would write is refused with :class:`ReadOnlyRefusal`; an SQL error
    (syntax, unknown table, several statements) is an :class:`AnalysisError`.
    """
    if not sql.strip():
        raise AnalysisError("empty query")
    if isinstance(conn, ReadOnlyConnection):
        conn.refused = None
    try:
        cur = conn.execute(sql, params)
        rows = cur.fetchall()
    except (sqlite3.DatabaseError, sqlite3.ProgrammingError, sqlite3.Warning) as exc:
        refused = getattr(conn, "refused", None)
        if refused or "readonly" in str(exc) or "not authorized" in str(exc):
            raise ReadOnlyRefusal(
                f"refused: the statement would change the database or open another file "
                f"({refused or exc}); simmarket query only reads — copy the database and use "
                "the sqlite3 client to change it") from None
        raise AnalysisError(f"SQL error: {exc}") from None
    names = [d[0] for d in cur.description] if cur.description else []
    return names, rows


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
