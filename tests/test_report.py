"""``simmarket report``: the terminal report and real PNG plots, for completed, interrupted
and killed runs."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest

import simmarket
from simmarket.analysis.report import PLOTS
from simmarket.analysis.summary import HEADLINES
from simmarket.cli import main

SMALL = {"users": {"n": 400}, "horizon_days": 28}


@pytest.fixture(scope="module")
def interrupted_db(tmp_path_factory) -> Path:
    """A run stopped by a real SIGINT half-way (the API's clean stop)."""
    path = tmp_path_factory.mktemp("interrupted") / "interrupted.db"
    sent = []

    def progress(t: float, events: int) -> None:
        if t >= 10 and not sent:
            sent.append(t)
            os.kill(os.getpid(), signal.SIGINT)

    result = simmarket.run(SMALL, out=path, force=True, progress=progress)
    assert result.status == "interrupted"
    return path


@pytest.fixture(scope="module")
def killed_db(tmp_path_factory, small_db) -> Path:
    """A run whose process died: status still 'running', final tables never written."""
    path = tmp_path_factory.mktemp("killed") / "killed.db"
    shutil.copy(small_db, path)
    with sqlite3.connect(path) as c:
        c.execute("UPDATE runs SET status = 'running', finished_at = NULL, summary = NULL")
        for table in ("users", "items", "firms", "connection_curve"):
            c.execute(f"DELETE FROM {table}")
    return path


def report(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_report_shows_config_status_and_every_headline(small_db, capsys):
    code, out, _ = report(capsys, str(small_db))
    assert code == 0
    flat = " ".join(out.split())
    assert "simmarket report" in out and "completed" in out and "seed" in out
    for layer in HEADLINES:
        assert layer in out
    assert "What the views say" in out
    for view in ("v_connection_value_curve", "v_community_sizes", "v_inequality",
                 "v_closeness_correlation", "v_value_spillover"):
        assert view in flat


def test_report_plots_are_real_pngs_with_content(small_db, tmp_path, capsys):
    import matplotlib.image as mpimg

    code, out, _ = report(capsys, str(small_db), "--plots", str(tmp_path / "plots"))
    assert code == 0
    files = sorted((tmp_path / "plots").iterdir())
    assert [f.name for f in files] == sorted(PLOTS)
    for f in files:
        assert f.stat().st_size > 20_000, f.name
        assert png_size(f) == (1100, 700)
        img = mpimg.imread(f)[..., :3]
        ink = (img.mean(axis=2) < 0.6).mean()  # share of dark pixels: text, axes, data
        colour = (img.max(axis=2) - img.min(axis=2) > 0.3).mean()  # coloured data marks
        assert ink > 0.005, f"{f.name} looks blank"
        # a few dozen markers are enough: 600 agents have ~25 communities (few ever create)
        assert colour > 0.0005, f"{f.name} has no coloured data"
        assert f.name in out


def test_interrupted_run_still_reports_marked_as_such(interrupted_db, tmp_path, capsys):
    code, out, _ = report(capsys, str(interrupted_db), "--plots", str(tmp_path / "p"))
    assert code == 0
    flat = " ".join(out.split())
    assert "interrupted" in flat and "NOTE" in flat
    assert "the figures cover the simulated part only" in flat
    assert len(list((tmp_path / "p").glob("*.png"))) == len(PLOTS)


def test_killed_run_with_empty_final_tables_reports(killed_db, tmp_path, capsys):
    code, out, err = report(capsys, str(killed_db), "--plots", str(tmp_path / "k"))
    assert code == 0, err
    flat = " ".join(out.split())
    assert "did not finish (last committed day" in flat
    assert "no connections" in flat or "connections" in flat
    for f in (tmp_path / "k").glob("*.png"):
        assert np.asarray(png_size(f)).prod() > 0


def test_plots_dir_that_cannot_be_made_is_a_clear_error(small_db, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = report(capsys, str(small_db), "--plots", str(blocker / "plots"))
    assert code == 2 and "cannot create the plots directory" in err
    assert "Traceback" not in out + err


def test_report_lists_the_settings_that_differ_from_the_defaults():
    from simmarket.analysis.report import config_changes
    from simmarket.config import config_from_dict

    cfg = config_from_dict({"ip_protection": 0.9, "users": {"n": 10},
                            "tech": {"access_share": 0.01}}).resolved()
    text = config_changes(cfg)
    assert text.splitlines() == ["ip_protection = 0.9", "tech.access_share = 0.01"]
    assert "defaults" in config_changes(config_from_dict({}).resolved())
