"""``simmarket browse``: a run database in datasette, its views listed and described.

Datasette (the optional ``browse`` extra) serves the database read-only (``--immutable``)
on 127.0.0.1. Its metadata gives every table and view of the run its description, and each
column of the views its meaning and unit, from :data:`simmarket.views.VIEWS` and
:data:`simmarket.schema.EVENT_KINDS` — the same words as ``docs/schema.md``.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from simmarket.analysis.query import AnalysisError, RunInfo, open_run
from simmarket.store.views import VIEWS

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
    """Datasette metadata for one run database: title, and a description per table/view."""
    tables: dict[str, Any] = {
        name: {"description": text} for name, text in TABLE_DESCRIPTIONS.items()}
    for view in VIEWS.values():
        tables[view.name] = {"description": view.description, "columns": view.columns}
    status = "" if info.finished else f" — {info.status.upper()} at day {info.t_reached:g}"
    return {
        "title": f"simmarket run: {info.name}",
        "description": (f"{info.name} ({info.mode} mode, seed {info.seed}, "
                        f"{info.horizon_days:g} days){status}. Views starting with v_ answer "
                        "the paper's questions; see docs/schema.md."),
        "databases": {info.path.stem: {"tables": tables}},
    }


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def datasette_command(db: Path, meta: Path, host: str, port: int,
                      open_browser: bool = False, immutable: bool = True) -> list[str]:
    """The command line that serves ``db`` with ``meta`` read-only.

    A finished run is served ``--immutable`` (no locking, exact row counts); an unfinished
    one may still have pages in its write-ahead log, so it is opened normally, which
    datasette does read-only (``mode=ro``) too.
    """
    cmd = [sys.executable, "-m", "datasette", "serve",
           *(["--immutable", str(db)] if immutable else [str(db)]),
           "--metadata", str(meta), "--host", host, "--port", str(port),
           "--setting", "sql_time_limit_ms", "10000"]
    if open_browser:
        cmd.append("--open")
    return cmd


def browse(path: str | Path, *, host: str = "127.0.0.1", port: int | None = None,
           open_browser: bool = False, echo=print) -> int:
    """Serve a run database with datasette until interrupted; returns the exit code."""
    conn, info = open_run(path)
    conn.close()
    if importlib.util.find_spec("datasette") is None:
        raise AnalysisError("browse needs datasette: install simmarket's 'browse' extra "
                            "(pip install datasette)")
    port = port or free_port(host)
    with tempfile.TemporaryDirectory(prefix="simmarket-browse-") as tmp:
        meta = Path(tmp) / "metadata.json"
        meta.write_text(json.dumps(metadata(info), indent=1), encoding="utf-8")
        cmd = datasette_command(Path(path).resolve(), meta, host, port, open_browser,
                                immutable=info.finished)
        echo(f"serving {path} at http://{host}:{port}/{info.path.stem} (Ctrl-C stops)")
        proc = subprocess.Popen(cmd)
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _raise_interrupt) if main else None
        try:
            return proc.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            _stop(proc)
            if main:
                signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame) -> None:  # noqa: ARG001
    """SIGTERM stops browsing like Ctrl-C: the datasette child is stopped too."""
    raise KeyboardInterrupt


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
