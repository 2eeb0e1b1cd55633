"""``simmarket query``: read-only, formats for people and pipes, clear refusals.

The databases are real run databases (copies of the shared small run, so that nothing here
can touch what other tests read); bad inputs are real files of the wrong kind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from simmarket.analysis.query import AnalysisError, open_run
from simmarket.cli import main
from simmarket.store.schema import SCHEMA_VERSION


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite_%'")]
    out = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    conn.close()
    return out


@pytest.fixture()
def db(small_db, tmp_path) -> Path:
    """A private copy of the small run."""
    path = tmp_path / "run.db"
    shutil.copy(small_db, path)
    return path


def flat(text: str) -> str:
    """Text with rich's line wrapping undone."""
    return " ".join(text.split())


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """The CLI in this process: (exit code, stdout, stderr with wrapping undone)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, flat(err)


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    """The real command line, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "simmarket.cli", *argv], capture_output=True,
                          text=True, timeout=120)


# -- reading -----------------------------------------------------------------------------------

def test_query_prints_a_table(db, capsys):
    code, out, _ = cli(capsys, "query", str(db), "SELECT period, t_end FROM v_inequality")
    assert code == 0
    assert "period" in out and "t_end" in out
    n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM v_inequality").fetchone()[0]
    assert f"{n} rows" in out


def test_query_csv_and_json_carry_every_row_exactly(db, capsys):
    sql = "SELECT c, items, marginal_value FROM v_connection_value_curve ORDER BY c"
    want = sqlite3.connect(db).execute(sql).fetchall()
    code, out, _ = cli(capsys, "query", str(db), sql, "--csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["c", "items", "marginal_value"]
    assert [(int(c), int(n), float(v)) for c, n, v in rows[1:]] == want
    code, out, _ = cli(capsys, "query", str(db), sql, "--json")
    assert code == 0
    assert [(r["c"], r["items"], r["marginal_value"]) for r in json.loads(out)] == want


def test_query_reads_pragmas_and_recursive_ctes(db, capsys):
    code, out, _ = cli(capsys, "query", str(db), "PRAGMA table_info(runs)", "--json")
    assert code == 0 and "schema_version" in out
    code, out, _ = cli(capsys, "query", str(db), "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL "
                       "SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r", "--csv")
    assert out.split() == ["n", "1", "2", "3"]
    code, out, _ = cli(capsys, "query", str(db),
                       "SELECT name FROM pragma_table_info('runs') LIMIT 1", "--csv")
    assert code == 0 and out.split() == ["name", "run_id"]


# -- it cannot write ----------------------------------------------------------------------------

WRITES = {
    "DELETE": "DELETE FROM events",
    "DROP": "DROP TABLE events",
    "DROP VIEW": "DROP VIEW v_inequality",
    "UPDATE": "UPDATE runs SET seed = 0",
    "INSERT": "INSERT INTO event_kinds VALUES ('x', 'y')",
    "ATTACH": "ATTACH DATABASE '{tmp}/other.db' AS other",
    "VACUUM INTO": "VACUUM INTO '{tmp}/copy.db'",
    "CREATE": "CREATE TABLE t (a)",
    "CREATE TEMP": "CREATE TEMP TABLE t (a)",
    "PRAGMA write": "PRAGMA user_version = 7",
    "writable_schema": "PRAGMA writable_schema = ON",
    "BEGIN": "BEGIN IMMEDIATE",
    "REINDEX": "REINDEX",
    "ALTER": "ALTER TABLE runs ADD COLUMN x",
}


@pytest.mark.parametrize("sql", list(WRITES.values()), ids=list(WRITES))
def test_a_statement_that_writes_is_refused_and_nothing_changes(db, tmp_path, capsys, sql):
    sql = sql.format(tmp=tmp_path)
    before_hash, before_counts = sha256(db), counts(db)
    code, out, err = cli(capsys, "query", str(db), sql)
    assert code == 2
    assert "refused" in err and "only reads" in err
    assert "Traceback" not in err + out
    assert sha256(db) == before_hash
    assert counts(db) == before_counts
    assert not (tmp_path / "other.db").exists() and not (tmp_path / "copy.db").exists()


def test_a_write_hidden_after_a_read_is_refused(db, capsys):
    before = sha256(db)
    code, _, err = cli(capsys, "query", str(db), "SELECT 1; DELETE FROM events")
    assert code == 2 and "one statement" in err
    assert sha256(db) == before


def test_real_cli_refuses_writes_without_a_traceback(db):
    before_hash, before_counts = sha256(db), counts(db)
    for sql in ("DELETE FROM events", "DROP TABLE events", "UPDATE runs SET status = 'x'",
                f"ATTACH DATABASE '{db.parent}/a.db' AS a"):
        p = run_cli("query", str(db), sql)
        assert p.returncode == 2, p.stderr
        assert "refused" in flat(p.stderr) and "Traceback" not in p.stderr
    assert sha256(db) == before_hash and counts(db) == before_counts
    assert not (db.parent / "a.db").exists()


def test_sql_errors_are_one_clear_line(db, capsys):
    code, _, err = cli(capsys, "query", str(db), "SELECT * FROM nope")
    assert code == 2 and "no such table: nope" in err
    code, _, err = cli(capsys, "query", str(db), "SELEC 1")
    assert code == 2 and "syntax error" in err


# -- bad input ----------------------------------------------------------------------------------

def make_old(db: Path) -> Path:
    with sqlite3.connect(db) as c:
        c.execute("UPDATE runs SET schema_version = ?", (SCHEMA_VERSION - 1,))
    return db


def make_other_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE things (a)")
    return path


@pytest.mark.parametrize("case", ["missing", "directory", "text", "other sqlite", "empty runs",
                                  "older schema", "newer schema"])
def test_bad_databases_get_a_clear_message_and_exit_2(db, tmp_path, capsys, case):
    if case == "missing":
        path, want = tmp_path / "nope.db", "no such database"
    elif case == "directory":
        path, want = tmp_path, "is a directory"
    elif case == "text":
        path = tmp_path / "notes.db"
        path.write_text("not a database\n")
        want = "not a simmarket database (not an SQLite file)"
    elif case == "other sqlite":
        path, want = make_other_sqlite(tmp_path), "not a simmarket database"
    elif case == "empty runs":
        with sqlite3.connect(db) as c:
            c.execute("DELETE FROM runs")
        path, want = db, "no run recorded"
    elif case == "older schema":
        path, want = make_old(db), "older simmarket"
    else:
        with sqlite3.connect(db) as c:
            c.execute("UPDATE runs SET schema_version = ?", (SCHEMA_VERSION + 1,))
        path, want = db, "newer simmarket"
    for command in (["query", str(path), "SELECT 1"], ["report", str(path)],
                    ["compare", str(path), str(path)], ["browse", str(path)]):
        code, out, err = cli(capsys, *command)
        assert code == 2, (command, out, err)
        assert want in err, err
        assert "Traceback" not in out + err


def test_real_cli_bad_input_has_no_traceback(db, tmp_path):
    text = tmp_path / "x.db"
    text.write_text("hello")
    for path, want in ((tmp_path / "nope.db", "no such database"),
                       (text, "not a simmarket database"), (make_old(db), "older simmarket")):
        p = run_cli("query", str(path), "SELECT 1")
        assert p.returncode == 2
        assert want in flat(p.stderr) and "Traceback" not in p.stderr


def test_an_unfinished_run_is_queried_with_a_note(db, capsys):
    with sqlite3.connect(db) as c:
        c.execute("UPDATE runs SET status = 'interrupted', t_reached = 20")
    code, out, err = cli(capsys, "query", str(db), "SELECT COUNT(*) AS n FROM events", "--csv")
    assert code == 0 and out.startswith("n\n")
    assert "interrupted at day 20" in err


def test_open_run_describes_the_run(small_db):
    conn, info = open_run(small_db)
    conn.close()
    assert info.status == "completed" and info.finished and info.status_note == ""
    assert info.schema_version == SCHEMA_VERSION and info.events > 0
    assert info.config["horizon_days"] == info.horizon_days
    with pytest.raises(AnalysisError):
        open_run(small_db.parent / "missing.db")


def test_wide_results_print_one_block_per_row_in_a_narrow_terminal(small_db, monkeypatch, capsys):
    """No column is squeezed to an ellipsis: too wide for the terminal, rows go vertical."""
    from simmarket.cli import main

    monkeypatch.setenv("COLUMNS", "60")
    assert main(["query", str(small_db), "SELECT * FROM v_value_encounter LIMIT 2"]) == 0
    out = capsys.readouterr().out
    assert "row 1" in out and "row 2" in out and "connection_rate" in out and "…" not in out
    assert main(["query", str(small_db), "SELECT period FROM v_inequality LIMIT 2"]) == 0
    out = capsys.readouterr().out
    assert "row 1" not in out and "period" in out
