"""The README's first command, verbatim, in a fresh clone: install, run the baseline.

Slow (a virtual environment, an install and the full baseline), so it runs by hand:
``.venv/bin/pytest -m slow``.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time

import pytest
from helpers import ROOT

from simmarket.store.schema import EVENT_KINDS

#: Kinds whose mechanisms the baseline does not switch on (no policy schedule).
#: no policy schedule; the guided sharing holds after withdrawal, so no re-entry
NOT_IN_BASELINE = {"policy_changed", "government_reentered"}


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [b.strip() for b in blocks]


@pytest.mark.slow
def test_readme_first_command_makes_the_baseline_database(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    command = _readme_commands()[0]
    assert "configs/baseline.toml" in command
    start = time.monotonic()
    proc = subprocess.run(["bash", "-c", command], cwd=clone, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "value spillover" in proc.stdout and "results/baseline.db" in proc.stdout
    db = clone / "results" / "baseline.db"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM runs").fetchone()[0] == "completed"
    kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM events")}
    assert kinds == set(EVENT_KINDS) - NOT_IN_BASELINE
    seconds = conn.execute(  # reported, not asserted: speed is measured in benchmarks/
        "SELECT (julianday(finished_at) - julianday(started_at)) * 86400 FROM runs").fetchone()[0]
    print(f"install + run {time.monotonic() - start:.0f} s; simulation {seconds:.0f} s")
