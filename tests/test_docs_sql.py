"""Every SQL query in README.md and docs/schema.md runs, verbatim, in the real ``sqlite3``
command-line client against a freshly made run database; and docs/schema.md documents every
table, column, view and event kind that such a database has, and the headline queries.

Under CI (``CI=true``) a missing ``sqlite3`` client fails the tests instead of skipping them:
``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from simmarket.analysis.summary import HEADLINES
from simmarket.store.schema import EVENT_KINDS
from simmarket.store.views import VIEWS

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "schema.md"]
SCHEMA_MD = ROOT / "docs" / "schema.md"
FENCE = re.compile(r"^```sql[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def sql_blocks(experiment: bool = False) -> list[tuple[str, int, str]]:
    """(file name, line number, SQL) of every ```sql block of the documents: about a run
    database, or (``experiment``) under a heading "## Experiment..." about experiment.db."""
    out = []
    for doc in DOCS:
        if not doc.exists():
            continue
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            heads = re.findall(r"^## (.*)$", text[:m.start()], re.MULTILINE)
            if (bool(heads) and heads[-1].startswith("Experiment")) == experiment:
                out.append((doc.name, text.count("\n", 0, m.start()) + 1, m.group(1)))
    return out


BLOCKS = sql_blocks()
EXPERIMENT_BLOCKS = sql_blocks(experiment=True)


def sqlite3_client() -> str:
    exe = shutil.which("sqlite3")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the sqlite3 command-line client is missing (.ci/run installs it)")
        pytest.skip("the sqlite3 command-line client is not installed")
    return exe


@pytest.fixture(scope="module")
def fresh_db(small_db, tmp_path_factory) -> Path:
    """A private copy of a freshly made run (the client must not touch the shared one)."""
    path = tmp_path_factory.mktemp("docs") / "fresh.db"
    shutil.copy(small_db, path)
    return path


def test_the_documents_have_sql_to_run():
    assert SCHEMA_MD.exists()
    names = {name for name, _, _ in BLOCKS}
    assert "schema.md" in names
    assert len([b for b in BLOCKS if b[0] == "schema.md"]) >= 10


@pytest.mark.parametrize("doc,line,sql", BLOCKS, ids=[f"{d}:{n}" for d, n, _ in BLOCKS])
def test_sql_block_runs_in_the_sqlite3_client(fresh_db, doc, line, sql):
    exe = sqlite3_client()
    before = fresh_db.read_bytes()
    p = subprocess.run([exe, "-bail", "-readonly", str(fresh_db)], input=sql,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and not p.stderr.strip(), (
        f"{doc} line {line}: sqlite3 failed\n{sql}\n--- stderr ---\n{p.stderr}")
    assert p.stdout.strip(), f"{doc} line {line}: the query printed nothing\n{sql}"
    assert fresh_db.read_bytes() == before


@pytest.fixture(scope="module")
def experiment_dbs(tmp_path_factory) -> dict[str, Path]:
    """Real experiment databases made by simmarket.experiments: a tiny propositions suite
    (runs, outcomes, summary, paired, per-period tables, propositions) and a tiny Morris
    analysis (sensitivity_morris)."""
    from simmarket.experiments.design import load_design
    from simmarket.experiments.evaluators import PoolEvaluator
    from simmarket.experiments.propositions import run_suite
    from simmarket.experiments.sensitivity import run_sensitivity

    base = tmp_path_factory.mktemp("experiments")
    design = base / "sa.toml"
    design.write_text('[set]\n"users.n" = 100\nhorizon_days = 14\n[[factors]]\n'
                      'key = "tech.access_share"\nlow = 0.3\nhigh = 1.0\n', encoding="utf-8")
    pool = PoolEvaluator(2)
    try:
        run_suite(base / "props", pool, reps=2, users=100, days=7)
        run_sensitivity(load_design(design), "morris", 2, base / "sa", pool)
    finally:
        pool.close()
    return {"experiment": base / "props" / "experiment.db",
            "sensitivity": base / "sa" / "experiment.db"}


@pytest.mark.parametrize("doc,line,sql", EXPERIMENT_BLOCKS,
                         ids=[f"{d}:{n}" for d, n, _ in EXPERIMENT_BLOCKS])
def test_experiment_sql_block_runs_in_the_sqlite3_client(experiment_dbs, doc, line, sql):
    exe = sqlite3_client()
    db = experiment_dbs["sensitivity" if "sensitivity_" in sql else "experiment"]
    p = subprocess.run([exe, "-bail", "-readonly", str(db)], input=sql,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and not p.stderr.strip(), (
        f"{doc} line {line}: sqlite3 failed\n{sql}\n--- stderr ---\n{p.stderr}")
    assert p.stdout.strip(), f"{doc} line {line}: the query printed nothing\n{sql}"


def test_schema_md_documents_every_experiment_table_and_column(experiment_dbs):
    text = SCHEMA_MD.read_text(encoding="utf-8")
    section = text[text.index("## Experiment database"):]
    missing = []
    for db in experiment_dbs.values():
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            if f"`{name}`" not in section:
                missing.append(name)
            elif not name.startswith(("period_", "centrality", "macro", "policy_")):
                missing += [f"{name}.{r[1]}" for r in conn.execute(f"PRAGMA table_info({name})")
                            if f"`{r[1]}`" not in section]
        conn.close()
    assert not missing, f"docs/schema.md, Experiment database, lacks: {missing}"


def test_a_broken_query_fails_in_the_client(fresh_db):
    """The check above can fail: a misspelt column makes the client exit non-zero."""
    exe = sqlite3_client()
    p = subprocess.run([exe, "-bail", "-readonly", str(fresh_db)],
                       input="SELECT no_such_column FROM v_inequality;\n",
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "no such column" in p.stderr


# -- docs/schema.md documents the whole database -------------------------------------------------

def sections(text: str) -> dict[str, str]:
    """Text under each ``### `name` `` heading, up to the next heading of level <= 3."""
    out = {}
    heads = list(re.finditer(r"^#{2,3} .*$", text, re.MULTILINE))
    for k, h in enumerate(heads):
        m = re.match(r"^### `([A-Za-z_0-9]+)`", h.group(0))
        if m:
            end = heads[k + 1].start() if k + 1 < len(heads) else len(text)
            out[m.group(1)] = text[h.end():end]
    return out


def test_schema_md_documents_every_table_view_and_column(small_db):
    text = SCHEMA_MD.read_text(encoding="utf-8")
    parts = sections(text)
    conn = sqlite3.connect(f"file:{small_db}?mode=ro", uri=True)
    objects = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                           "AND name NOT LIKE 'sqlite_%'").fetchall()
    missing = []
    for (name,) in objects:
        if name not in parts:
            missing.append(f"section for {name}")
            continue
        for col in (r[1] for r in conn.execute(f"PRAGMA table_info({name})")):
            if f"`{col}`" not in parts[name]:
                missing.append(f"{name}.{col}")
    conn.close()
    assert not missing, f"docs/schema.md lacks: {missing}"
    assert set(VIEWS) <= set(parts)


def test_schema_md_documents_every_event_kind():
    text = SCHEMA_MD.read_text(encoding="utf-8")
    kinds = sections(text).get("events", "") + text
    missing = [k for k in EVENT_KINDS if f"`{k}`" not in kinds]
    assert not missing, f"docs/schema.md lacks event kinds {missing}"


def normalise(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";")


def test_schema_md_has_every_headline_query_verbatim():
    blocks = {normalise(sql) for name, _, sql in BLOCKS if name == "schema.md"}
    missing = [layer for layer, (sql, _) in HEADLINES.items() if normalise(sql) not in blocks]
    assert not missing, f"docs/schema.md lacks the headline SQL of {missing} (summary.py)"


def test_every_view_column_in_the_docs_matches_sqlite(small_db):
    """The views' columns in simmarket.views are the ones SQLite reports."""
    conn = sqlite3.connect(f"file:{small_db}?mode=ro", uri=True)
    for name, view in VIEWS.items():
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
        assert cols == list(view.columns), name
    conn.close()
