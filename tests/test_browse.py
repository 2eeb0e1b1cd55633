"""``simmarket browse``: a real datasette on 127.0.0.1 serves the views, described.

The test starts the real command on a free loopback port, fetches one view as JSON and the
metadata, stops the command with SIGTERM and checks that datasette went down with it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from simmarket.analysis.browse import free_port, metadata
from simmarket.analysis.query import open_run
from simmarket.store.views import VIEWS

if os.environ.get("CI") != "true":
    pytest.importorskip("datasette", reason="the browse extra is not installed")


def fetch(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as resp:  # 127.0.0.1 only
        return json.loads(resp.read().decode())


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"browse exited early: {proc.communicate()}")
        try:
            return fetch(url)
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.25)
    pytest.fail(f"datasette did not answer {url} in {timeout} s")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_metadata_describes_every_view_and_its_columns(small_db):
    conn, info = open_run(small_db)
    conn.close()
    meta = metadata(info)
    tables = meta["databases"][small_db.stem]["tables"]
    for name, view in VIEWS.items():
        assert tables[name]["description"] == view.description
        assert tables[name]["columns"] == view.columns
    assert "events" in tables and "runs" in tables


def test_browse_serves_a_view_as_json_on_loopback(small_db):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simmarket.cli", "browse", str(small_db), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/{small_db.stem}"
        rows = wait_for(f"{base}/v_inequality.json?_shape=array", proc)
        want = sqlite3.connect(small_db).execute(
            "SELECT period, gini_creator_income FROM v_inequality ORDER BY period").fetchall()
        assert [(r["period"], r["gini_creator_income"]) for r in rows] == want
        meta = fetch(f"http://127.0.0.1:{port}/-/metadata.json")
        views = meta["databases"][small_db.stem]["tables"]
        assert views["v_connection_value_curve"]["description"].startswith(
            "The connection value curve")
        listed = fetch(f"{base}.json")
        assert set(VIEWS) <= {v["name"] for v in listed["views"]}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"http://127.0.0.1:{port}/{small_db.stem}" in err
    deadline = time.monotonic() + 10
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not port_open(port), "datasette kept running after browse stopped"
