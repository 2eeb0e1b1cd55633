"""Issue 10, the analysis commands: ``compare`` with many runs, ``browse`` (a real datasette
on 127.0.0.1, stopped by a real SIGINT to the parent only, or orphaned by SIGKILL) and
matplotlib as a dependency of ``report --plots``."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from simmarket.analysis.compare import NOT_RATIO_SCALE, compare
from simmarket.analysis.summary import HEADLINES
from simmarket.cli import main
from simmarket.store.views import VIEWS

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def copy_run(small_db: Path, path: Path, seed: int, withdrew: float | None = None) -> Path:
    """A copy of the small run under another seed (and, if given, a government withdrawal)."""
    shutil.copy(small_db, path)
    with sqlite3.connect(path) as c:
        c.execute("UPDATE runs SET seed = ?", (seed,))
        if withdrew is not None:  # as the event, and as the period table counts it
            c.execute("INSERT INTO events (t, kind, actor_type, value) "
                      "VALUES (?, 'government_withdrew', 'government', 0.5)", (withdrew,))
            columns = [r[1] for r in c.execute("PRAGMA table_info(period_transmission)")]
            if "government_withdrawals" in columns:
                c.execute("UPDATE period_transmission SET government_withdrawals = "
                          "(t_end = ?)", (withdrew,))
    return path


# -- 5. compare: many runs in a long table, no ratio of a day number ---------------------------

@pytest.fixture(scope="module")
def three(small_db, tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("three")
    return [copy_run(small_db, out / f"run{k}.db", seed=k, withdrew=14.0 * (k + 1))
            for k in range(3)]


@pytest.mark.parametrize("columns", ["160", "80"])
def test_compare_of_three_runs_is_long_and_cuts_no_label(three, capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    code, out, err = cli(capsys, "compare", *map(str, three))
    assert code == 0, err
    assert "…" not in out, "a label or value was cut"
    lines = out.splitlines()
    width = max(len(line) for line in lines)
    assert width <= int(columns)
    labels = [label for _, labels in HEADLINES.values() for label in labels.values()]
    flat = " ".join(out.split())
    if columns == "160":  # wide enough for every label on one line: each is there in full
        for label in labels:
            assert label in flat, label
    # long format: one row per run and figure, A then B then C
    runs = [m.group(1) for m in re.finditer(r"│\s+([ABC])\s+│", out)]
    figures = len(compare(three, within_item=False).figure_rows())
    assert runs == ["A", "B", "C"] * figures
    assert "B − A" not in out  # not the wide table's 3n columns


def test_no_ratio_of_a_day_number_or_a_signed_rate(three, capsys, monkeypatch):
    c = compare(three[:2], within_item=False)
    rows = {row.name: row for row in c.figure_rows()}
    day = rows["government_withdrew_day"]
    assert day.values == [14.0, 28.0]  # the ends of the periods of the withdrawals
    assert day.difference(1) == 14.0 and day.ratio(1) is None
    assert rows["connections"].ratio(1) == 1.0
    for name in NOT_RATIO_SCALE:
        assert rows[name].ratio(1) is None, name
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli(capsys, "compare", str(three[0]), str(three[1]))
    assert code == 0 and "B / A" in out
    line = next(x for x in out.splitlines() if "day the government withdrew" in x)
    cells = [x.strip() for x in line.split("│") if x.strip()]
    assert cells[-4:] == ["14", "28", "14", "—"]
    code, out, _ = cli(capsys, "compare", str(three[0]), str(three[1]), "--long")
    assert code == 0 and "B / A" not in out and "/ A" in out


# -- 6. browse: views on the index page, rounded floats, linked ids, stopped with its parent --

needs_datasette = pytest.mark.skipif(
    importlib.util.find_spec("datasette") is None and os.environ.get("CI") != "true",
    reason="the browse extra is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:  # 127.0.0.1 only
        return resp.read().decode()


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"browse exited early: {proc.communicate()}")
        try:
            return get(url)
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    pytest.fail(f"datasette did not answer {url} in {timeout} s")


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (an orphan nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def start_browse(db: Path, port: int) -> subprocess.Popen:
    """``simmarket browse`` as a shell starts a background job: with SIGINT ignored."""
    return subprocess.Popen(
        [sys.executable, "-m", "simmarket.cli", "browse", str(db), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))


def wait_for_datasette(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """The pid of browse's datasette child, once it runs datasette (past fork and exec)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for pid in children(proc.pid):
            try:
                if b"datasette" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except FileNotFoundError:
                pass
        time.sleep(0.05)
    pytest.fail("browse did not start datasette")


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(),
                                reason="needs /proc to find datasette's process")


@needs_datasette
@needs_proc
def test_browse_pages_and_sigint_to_the_parent_only_stops_datasette(small_db):
    port = free_port()
    proc = start_browse(small_db, port)
    base, db = f"http://127.0.0.1:{port}", small_db.stem
    child = None
    try:
        index = wait_for(f"{base}/", proc)
        child = children(proc.pid)[0]
        for view in VIEWS:
            assert f'href="/{db}/{view}"' in index, f"{view} is not on the index page"
        events = get(f"{base}/{db}/events?actor_type=user&_size=20")
        linked = re.findall(rf'class="col-actor_id[^"]*"><a href="/{db}/users/(\d+)">(\d+)</a>',
                            events)
        assert linked and all(a == b for a, b in linked)
        user = get(f"{base}/{db}/users/{linked[0][0]}")
        assert f"/{db}/users/{linked[0][0]}" in user  # the link leads to a real row
        exact = [r["gini_creator_income"] for r in json.loads(
            get(f"{base}/{db}/v_inequality.json?_shape=array"))]
        value = next(v for v in exact if isinstance(v, float) and len(repr(v)) > 9)
        page = get(f"{base}/{db}/v_inequality")
        assert f">{value:.6g}<" in page and f">{value!r}<" not in page
    finally:
        os.kill(proc.pid, signal.SIGINT)  # the parent only, not its group
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert child is not None and wait_gone(child), "datasette kept running"


@needs_datasette
@needs_proc
def test_datasette_dies_with_a_killed_browse(small_db):
    proc = start_browse(small_db, free_port())
    try:
        child = wait_for_datasette(proc)
    finally:
        proc.kill()  # SIGKILL: browse has no chance to clean up
        proc.communicate(timeout=30)
    if not wait_gone(child):
        os.kill(child, signal.SIGKILL)
        pytest.fail("datasette outlived its killed parent")


@needs_datasette
def test_plugin_links_ids_to_the_rows_they_name():
    from simmarket.analysis.browse_plugin import link_target

    assert link_target({"actor_type": "user"}, "actor_id", "events") == "users"
    assert link_target({"actor_type": "firm"}, "actor_id", "events") == "firms"
    assert link_target({"actor_type": "government"}, "actor_id", "events") is None
    assert link_target({"counterpart_type": "item"}, "counterpart_id", "events") == "items"
    assert link_target({}, "actor_id", "v_x") is None  # no actor_type in the result
    assert link_target({}, "item_id", "events") == "items"
    assert link_target({}, "item_id", "items") is None  # the row's own key


# -- 7. plots are part of the analysis: matplotlib is a dependency -----------------------------

def test_matplotlib_is_a_core_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0] for d in project["dependencies"]]
    assert "matplotlib" in names
    source = (ROOT / "simmarket" / "analysis" / "report.py").read_text()
    assert "plots need matplotlib" not in source
