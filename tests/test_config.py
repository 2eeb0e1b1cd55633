"""Scenarios are validated data: defaults everywhere, clear errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT

from simmarket.cli import main
from simmarket.config import ConfigError, Scenario, config_from_dict, load_config


def test_empty_config_is_a_valid_run_of_the_defaults(tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    cfg = load_config(empty).scenario
    assert cfg.users.n == Scenario().users.n
    assert cfg.economy.period_days == cfg.period_days  # filled from the top level


def test_baseline_config_is_the_defaults():
    """configs/baseline.toml spells out the defaults: `simmarket run` == the baseline."""
    base = load_config(ROOT / "configs" / "baseline.toml").resolved()
    assert base == config_from_dict({"name": "baseline"}).resolved()


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_validates_and_cites_the_paper(path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("#"), "each scenario opens with a comment on what it models"
    if path.stem.startswith(("dilemma_", "path_")):
        assert "seed 001" in text and "§" in text


@pytest.mark.parametrize(("data", "needle"), [
    ({"users": {"nn": 5}}, "users.nn"),
    ({"users": {"n": "many"}}, "users.n = 'many'"),
    ({"users": {"n": 0}}, "greater than or equal to 1"),
    ({"encounter": {"platform_fee": 1.5}}, "encounter.platform_fee = 1.5"),
    ({"mode": "feudal"}, "'metaverse' or 'industrial'"),
    ({"economy": {"mode": "magic"}}, "economy.mode"),
    ({"policy": {"schedule": [{"day": 3, "lever": "tech.nothing", "value": 1}]}},
     "policy.schedule.0.lever"),
])
def test_invalid_values_name_field_value_and_expectation(data, needle):
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert needle in str(err.value)


def test_policy_changes_are_validated_like_the_file():
    cfg = Scenario()
    with pytest.raises(ConfigError, match="access_share"):
        cfg.set_lever("tech.access_share", 2.0)
    cfg.set_lever("tech.access_share", 0.3)
    assert cfg.lever("tech.access_share") == 0.3


def test_overrides_use_dotted_names():
    cfg = load_config(None, **{"users.n": 77, "seed": 5, "horizon_days": None})
    sc = cfg.scenario
    assert (sc.users.n, cfg.seed, sc.horizon_days) == (77, 5, Scenario().horizon_days)


@pytest.mark.parametrize(("text", "needle"), [
    ("seed = [", "not valid TOML"),
    ("[users]\nn = -3\n", "users.n = -3"),
    ("[tech]\naccess = 1\n", "tech.access: an unknown key"),
    ("[[policy.schedule]]\nday = 50\nlever = \"tech.access_share\"\nvalue = 1.5\n",
     "policy.schedule.0.value = 1.5: expected less than or equal to 1 for tech.access_share"),
])
def test_cli_refuses_bad_config_without_traceback(tmp_path, text, needle):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "simmarket.cli", "run", str(bad), "--out", str(tmp_path / "x.db")],
        capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "x.db").exists()


def test_missing_config_file_is_a_clear_error(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml"), "--quiet"]) == 2
    assert "config file not found" in capsys.readouterr().err
