"""End to end: a run writes a complete, reproducible, self-describing database."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys

import pytest
from helpers import SMALL, merge, run_small, scalar

import simmarket
from simmarket.store.schema import EVENT_KINDS
from simmarket.store.sqlite import StoreError

#: Levers set so that every mechanism fires within a short run. Firms (100 per 10,000 users:
#: about 6 among 600) hold enough capital to license and re-create (a firm's money is not
#: scaled by the market sampled: 60 buys about 20 derivatives), and running costs (1.2 a day,
#: 50 days of the median capital) break the poorer ones. Sharing starts near 1 and collapses
#: (sharing costs more than anything it returns, adaptation 1): the government withdraws after
#: the first period above target and re-enters after the next, below it.
EVERYTHING = {
    "firms": {"initial": 100.0, "capital_median": 60.0, "capital_sigma": 1.5,
              "financing_threshold": 0.0, "running_cost": 1.2, "outside_income": 0.0,
              "data_driven_share": 1.0},
    "users": {"sharing_a": 50.0, "sharing_b": 1.0},
    "production": {"share_cost": 2.0, "adaptation": 1.0},
    "regulation": {"leak_rate": 1.0, "privacy_protection": 0.0, "antitrust": 0.5},
    "government": {"target_sharing": 0.5, "withdraw_after": 1, "violation_rate": 0.3,
                   "moderation": 1.0},
    "policy": {"schedule": [{"day": 10, "lever": "tech.interoperability", "value": 0.9}]},
}


def _event_digest(path) -> str:
    conn = sqlite3.connect(path)
    h = hashlib.sha256()
    for row in conn.execute("SELECT * FROM events ORDER BY event_id"):
        h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()


def test_every_event_kind_appears_when_its_mechanism_fires(tmp_path):
    conn = run_small(tmp_path / "all.db", EVERYTHING)
    kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM events")}
    assert kinds == set(EVENT_KINDS), set(EVENT_KINDS) ^ kinds
    government = conn.execute("SELECT t, kind FROM events WHERE kind LIKE 'government_%' "
                              "ORDER BY event_id").fetchall()
    assert government[:2] == [(7.0, "government_withdrew"), (14.0, "government_reentered")]


def test_same_config_and_seed_give_identical_event_logs(tmp_path):
    run_small(tmp_path / "a.db", EVERYTHING).close()
    run_small(tmp_path / "b.db", EVERYTHING).close()
    assert _event_digest(tmp_path / "a.db") == _event_digest(tmp_path / "b.db")
    run_small(tmp_path / "c.db", merge(EVERYTHING, {"seed": 99})).close()
    assert _event_digest(tmp_path / "c.db") != _event_digest(tmp_path / "a.db")


def test_the_database_says_how_it_was_made(small_db):
    conn = sqlite3.connect(small_db)
    status, seed, config, version, schema, started, finished, events = conn.execute(
        "SELECT status, seed, config, version, schema_version, started_at, finished_at, events "
        "FROM runs").fetchone()
    assert status == "completed"
    resolved = json.loads(config)
    assert resolved["users"]["n"] == SMALL["users"]["n"] and resolved["seed"] == seed
    assert version == simmarket.__version__ and schema >= 1 and started <= finished
    assert events == scalar(conn, "SELECT COUNT(*) FROM events")
    assert scalar(conn, "PRAGMA integrity_check") == "ok"


def test_per_period_tables_cover_the_horizon(small_db):
    conn = sqlite3.connect(small_db)
    horizon, period = SMALL["horizon_days"], 7.0
    for table in ("period_production", "period_encounter", "period_transmission"):
        assert scalar(conn, f"SELECT COUNT(*) FROM {table}") == horizon / period
        assert scalar(conn, f"SELECT MAX(t_end) FROM {table}") == horizon
    assert scalar(conn, "SELECT COUNT(*) FROM macro") == horizon / period + 1
    alphas = scalar(conn, "SELECT COUNT(DISTINCT alpha) FROM centrality")
    assert alphas == 4


def test_accounting_identities_hold(small_db):
    """Users pay what owners and the platform receive; counts agree across tables."""
    conn = sqlite3.connect(small_db)
    paid = scalar(conn, "SELECT SUM(value) FROM events WHERE kind = 'payment'")
    value = scalar(conn, "SELECT SUM(value) FROM events WHERE kind = 'connection'")
    assert paid == pytest.approx(value, rel=1e-12)  # no consumer surplus
    assert scalar(conn, "SELECT SUM(connections) FROM items") == scalar(
        conn, "SELECT COUNT(*) FROM events WHERE kind = 'connection'")
    assert scalar(conn, "SELECT SUM(connections) FROM period_encounter") == scalar(
        conn, "SELECT SUM(connections) FROM connection_curve")
    assert scalar(conn, "SELECT SUM(items_created) FROM users") == scalar(
        conn, "SELECT COUNT(*) FROM events WHERE kind = 'content_created'")
    assert scalar(conn, "SELECT SUM(community_size) FROM users") + scalar(
        conn, "SELECT COALESCE(SUM(community_size), 0) FROM firms") == scalar(
        conn, "SELECT COUNT(*) FROM events WHERE kind = 'community_joined'")


def test_existing_database_is_refused_unless_forced(tmp_path):
    path = tmp_path / "run.db"
    run_small(path).close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="already exists"):
        simmarket.run(SMALL, out=path, handle_signals=False)
    assert path.read_bytes() == before
    proc = subprocess.run([sys.executable, "-m", "simmarket.cli", "run", "--users", "50",
                           "--days", "7", "--out", str(path), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--force" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "simmarket.cli", "run", "--users", "50",
                           "--days", "7", "--out", str(path), "--json", "--force"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "value encounter" in proc.stdout and str(path) in proc.stdout


def test_run_returns_summary_matching_sql(small_db):
    conn = sqlite3.connect(small_db)
    summary = json.loads(scalar(conn, "SELECT summary FROM runs"))
    assert summary["value encounter"]["connections"] == scalar(
        conn, "SELECT COUNT(*) FROM events WHERE kind = 'connection'")
    assert summary["value production"]["items_created"] == scalar(
        conn, "SELECT COUNT(*) FROM items WHERE owner_type = 'user'")


def test_an_internal_fault_marks_the_run_failed_without_traceback(tmp_path, monkeypatch, capsys):
    from simmarket.cli import main
    from simmarket.core import model

    def broken(self, **kwargs):
        self.env.run(until=3.0)
        raise RuntimeError("simulated fault")

    monkeypatch.setattr(model.Model, "run", broken)
    path = tmp_path / "broken.db"
    assert main(["run", "--users", "200", "--days", "14", "--out", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and "simulated fault" in err and "Traceback" not in err
    conn = sqlite3.connect(path)
    status, message, t_reached = conn.execute(
        "SELECT status, message, t_reached FROM runs").fetchone()
    assert status == "failed" and "simulated fault" in message and t_reached == 3.0
    assert scalar(conn, "PRAGMA integrity_check") == "ok"
