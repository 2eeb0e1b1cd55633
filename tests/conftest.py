"""Shared fixtures (helpers live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_small


@pytest.fixture(scope="session")
def small_db(tmp_path_factory) -> Path:
    """One default small run shared by read-only tests."""
    path = tmp_path_factory.mktemp("small") / "small.db"
    # enough firms, with enough capital, that licences and derivatives happen at this size
    # (a firm's capital is not scaled by the market sampled: 60 buys about 20 derivatives)
    run_small(path, {"firms": {"initial": 150.0, "capital_median": 60.0}}).close()
    return path
