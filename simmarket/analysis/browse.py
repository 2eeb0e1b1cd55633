"""``simmarket browse``: a run database in datasette, its views listed and described.

Datasette (the optional ``browse`` extra) serves the database read-only (``--immutable``)
on 127.0.0.1. Its metadata gives every table and view of the run its description, and each
column of the views its meaning and unit, from :data:`simmarket.store.views.VIEWS` and
:data:`simmarket.store.schema.EVENT_KINDS` — the same words as ``docs/schema.md``. The index
page lists the views (datasette's own list stops after five tables), and a small plugin
(:mod:`simmarket.analysis.browse_plugin`) shows floats to 6 digits and links ids to rows.

Datasette runs in a process group of its own, so that it is stopped as a whole (uvicorn and
anything it starts) when ``browse`` ends — on Ctrl-C, SIGTERM or SIGHUP, even when the shell
started ``browse`` with SIGINT ignored (a background job) — and, on Linux, the kernel sends
it SIGTERM if ``browse`` itself dies without a chance to clean up (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import html
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from simmarket.analysis.query import AnalysisError, RunInfo, open_run
from simmarket.store.views import VIEWS

#: the datasette plugin copied into the temporary ``--plugins-dir``
PLUGIN = Path(__file__).with_name("browse_plugin.py")
#: the signals that stop browsing (and datasette with it)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1

#: what each table of a run database holds (docs/schema.md has every column)
TABLE_DESCRIPTIONS = {
    "runs": "How the run was made (config, seed, version) and how it ended (status).",
    "events": "Every state change of the simulation, one row each (kinds in event_kinds).",
    "event_kinds": "What each event kind means: actor -> counterpart, and the value column.",
    "users": "Every user at the end of the run: knowledge, sharing, activity, income.",
    "items": "Every content item (users' and firms' derivatives) at the end of the run.",
    "firms": "Every firm that entered, at the end of the run (or at its exit).",
    "period_production": "Value production per period: items, quality, knowledge stock S.",
    "period_encounter": "Value encounter per period: impressions, connections, their value.",
    "period_transmission": "Value transmission per period: firms, licences, government.",
    "centrality": "Value-network centrality of firms, government and platform per snapshot.",
    "macro": "The growth model's state per economy step: D, u, g, Y, K, k_tilde.",
    "connection_curve": "The c-th connection of any item: how many, and their summed value.",
    "policy_changes": "Scheduled lever changes of the run's policy.",
}


def metadata(info: RunInfo) -> dict[str, Any]:
    """Datasette metadata for one run database: title, a description per table/view, and
    (as the index page's description) the list of views with links."""
    tables: dict[str, Any] = {
        name: {"description": text} for name, text in TABLE_DESCRIPTIONS.items()}
    for view in VIEWS.values():
        tables[view.name] = {"description": view.description, "columns": view.columns}
    status = "" if info.finished else f" — {info.status_note}"
    description = (f"{info.name} ({info.mode} mode, seed {info.seed}, "
                   f"{info.horizon_days:g} days){status}. Views starting with v_ answer "
                   "the paper's questions; see docs/schema.md.")
    return {
        "title": f"simmarket run: {info.name}",
        "description": description,
        "description_html": _index_html(description, info.path.stem),
        "databases": {info.path.stem: {"tables": tables}},
    }


def _index_html(description: str, database: str) -> str:
    """The index page's description: the run, then every view linked and described.

    Datasette's index lists at most five tables or views per database, tables first, so a
    run's views (the answers to the paper's questions) would never show there.
    """
    base = f"/{_url_name(database)}"
    items = "".join(
        f'<li><a href="{base}/{quote(v.name)}">{html.escape(v.name)}</a>: '
        f"{html.escape(v.description)}</li>" for v in VIEWS.values())
    return (f"<p>{html.escape(description)}</p>"
            f"<p>The views of this run, one per concept of the paper:</p><ul>{items}</ul>")


def _url_name(database: str) -> str:
    """A database name as datasette puts it in URLs (tilde-encoded)."""
    try:
        from datasette.utils import tilde_encode
    except ImportError:  # pragma: no cover - browse refuses to start without datasette
        return quote(database, safe="")
    return tilde_encode(database)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def datasette_command(db: Path, meta: Path, host: str, port: int,
                      open_browser: bool = False, immutable: bool = True,
                      plugins_dir: Path | None = None) -> list[str]:
    """The command line that serves ``db`` with ``meta`` read-only.

    A run nobody writes is served ``--immutable`` (no locking, exact row counts, no -shm
    left behind); a run being written, or one with pages left in its write-ahead log, is
    opened normally, which datasette does read-only (``mode=ro``) too.
    """
    cmd = [sys.executable, "-m", "datasette", "serve",
           *(["--immutable", str(db)] if immutable else [str(db)]),
           "--metadata", str(meta), "--host", host, "--port", str(port),
           "--setting", "sql_time_limit_ms", "10000"]
    if plugins_dir is not None:
        cmd += ["--plugins-dir", str(plugins_dir)]
    if open_browser:
        cmd.append("--open")
    return cmd


def browse(path: str | Path, *, host: str = "127.0.0.1", port: int | None = None,
           open_browser: bool = False, echo: Callable[[str], Any] = print) -> int:
    """Serve a run database with datasette until interrupted; returns the exit code."""
    from simmarket.analysis.query import open_mode

    conn, info = open_run(path)
    conn.close()
    if importlib.util.find_spec("datasette") is None:
        raise AnalysisError("browse needs datasette: install simmarket's 'browse' extra "
                            "(pip install datasette)")
    port = port or free_port(host)
    with tempfile.TemporaryDirectory(prefix="simmarket-browse-") as tmp:
        meta = Path(tmp) / "metadata.json"
        meta.write_text(json.dumps(metadata(info), indent=1), encoding="utf-8")
        plugins = Path(tmp) / "plugins"
        plugins.mkdir()
        shutil.copy(PLUGIN, plugins / PLUGIN.name)
        cmd = datasette_command(Path(path).resolve(), meta, host, port, open_browser,
                                immutable=open_mode(path) == "immutable", plugins_dir=plugins)
        echo(f"serving {path} at http://{host}:{port}/{info.path.stem} (Ctrl-C stops)")
        with _stop_signals_interrupt():
            proc = start_in_own_group(cmd)
            try:
                return proc.wait()
            except KeyboardInterrupt:
                return 0
            finally:
                stop_group(proc)


def start_in_own_group(cmd: list[str]) -> subprocess.Popen:
    """Start ``cmd`` as the leader of a new process group that dies with this process.

    Its own group keeps a terminal's Ctrl-C (sent to the foreground group) from reaching
    datasette behind our back, and lets :func:`stop_group` stop everything it started.
    """
    parent = os.getpid()
    libc = _libc()

    def die_with_parent() -> None:  # runs in the child, between fork and exec
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return subprocess.Popen(cmd, process_group=0, preexec_fn=die_with_parent)


def _libc() -> Any:
    """The C library, for ``prctl`` (Linux only; None elsewhere).

    Loaded in the parent: loading a library between fork and exec is not safe.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


@contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """While serving, SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread.

    Installed explicitly because a shell starts a background job with SIGINT ignored, and
    Python then never turns it into KeyboardInterrupt: ``browse`` would ignore it and leave
    datasette running. Outside the main thread nothing is installed (signals only reach it).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _raise_interrupt(signum, frame) -> None:  # noqa: ARG001
    """A stop signal stops browsing like Ctrl-C: the datasette group is stopped too."""
    raise KeyboardInterrupt


def stop_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop the process group led by ``proc``: SIGTERM, then SIGKILL after ``timeout`` s.

    Stop signals are ignored meanwhile, so that a second Ctrl-C cannot cut the clean-up
    short and leave the group running.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS} if main else {}
    try:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass  # the whole group has exited
