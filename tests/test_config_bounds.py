"""Issue 10, defect 7: every number has bounds a run can honour, and what a run would need is
estimated and refused up front, before any file is made."""

from __future__ import annotations

import typing

import annotated_types
import pytest
from pydantic import BaseModel

from simmarket.cli import main
from simmarket.config import ConfigError, Scenario, config_from_dict
from simmarket.config.loader import check_resources, estimate_memory

GIB = 2 ** 30


def numeric_fields(model: type[BaseModel], prefix: str = ""):
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from numeric_fields(ann, f"{prefix}{name}.")
            continue
        args = [typing.get_origin(a) is typing.Annotated and a.__origin__ or a
                for a in typing.get_args(ann)]
        if ann in (int, float) or (float in args and type(None) in args):
            yield prefix + name, info


def test_every_number_of_a_scenario_has_an_upper_and_a_lower_bound():
    unbounded = []
    for path, info in numeric_fields(Scenario):
        if path == "policy.schedule.value":  # checked against the lever it sets
            continue
        kinds = {type(m) for m in info.metadata}
        if not kinds & {annotated_types.Le, annotated_types.Lt}:
            unbounded.append(f"{path} (no upper bound)")
        if not kinds & {annotated_types.Ge, annotated_types.Gt}:
            unbounded.append(f"{path} (no lower bound)")
    assert unbounded == []


@pytest.mark.parametrize(("assignment", "field"), [
    ("horizon_days=inf", "horizon_days"),
    ("horizon_days=1e9", "horizon_days"),
    ("users.activity_sigma=30", "users.activity_sigma"),
    ("users.activity_sigma=1e30", "users.activity_sigma"),
    ("users.knowledge_sigma=50", "users.knowledge_sigma"),
    ("firms.entry_rate=inf", "firms.entry_rate"),
    ("firms.entry_rate=1000", "firms.entry_rate"),
    ("firms.initial=100000", "firms.initial"),
    ("network.alphas=[inf]", "network.alphas.0"),
    ("network.alphas=[11.0]", "network.alphas.0"),
    ("network.alphas=[0,1,2,3,4,5,6,7,8]", "network.alphas"),
    ("users.n=1000000000000", "users.n"),
    ("users.topics=10000", "users.topics"),
    ("tech.systems=1000", "tech.systems"),
    ("encounter.feed_size=1000", "encounter.feed_size"),
    ("encounter.threshold=nan", "encounter.threshold"),
    ("encounter.threshold=-1e6", "encounter.threshold"),
    ("encounter.w_quality=1e300", "encounter.w_quality"),
    ("encounter.refresh_days=1e-300", "encounter.refresh_days"),
    ("period_days=1e-9", "period_days"),
    ("seed=9223372036854775808", "seed"),
    ('output.path="{name"', "output.path"),
])
def test_values_the_model_cannot_run_are_refused_in_one_line(tmp_path, capsys, assignment,
                                                             field):
    out = tmp_path / "x.db"
    assert main(["run", "--quiet", "--set", assignment, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert f"{field} = " in lines[0] or f"{field}:" in lines[0], err
    assert list(tmp_path.iterdir()) == []


def test_the_memory_estimate_is_small_for_the_defaults_and_grows_with_what_drives_it():
    base = config_from_dict({}).scenario
    assert 1_000_000 < estimate_memory(base) < 200 * 2 ** 20
    for key, value in [("users", {"n": 50_000}), ("users", {"topics": 1000}),
                       ("users", {"activity_sigma": 3.0}), ("horizon_days", 3650.0),
                       ("firms", {"entry_rate": 50.0})]:
        bigger = config_from_dict({key: value}).scenario
        assert estimate_memory(bigger) > estimate_memory(base), key


def test_a_run_that_would_exhaust_memory_is_refused_naming_the_fields():
    sc = config_from_dict({"users": {"n": 1_000_000}, "horizon_days": 3650}).scenario
    check_resources(sc, memory=2 ** 50)  # a big enough machine runs it
    with pytest.raises(ConfigError, match=r"would need about .* of memory.*users\.n"):
        check_resources(sc, memory=8 * GIB)
    heavy_tail = config_from_dict({"users": {"activity_sigma": 5.0}}).scenario
    with pytest.raises(ConfigError, match="users.activity_sigma"):
        check_resources(heavy_tail, memory=64 * GIB)
    firms = config_from_dict({"firms": {"entry_rate": 100.0, "scan_interval": 0.01},
                              "capital": {"vc_supply": 100.0},
                              "horizon_days": 36_500}).scenario
    with pytest.raises(ConfigError, match="firms.entry_rate"):
        check_resources(firms, memory=64 * GIB)


@pytest.mark.parametrize("argv", [
    ["--set", "users.n=10000000", "--set", "users.activity_sigma=5"],
    ["--set", "period_days=0.01", "--days", "36500"],
    ["--set", "encounter.refresh_days=0.001", "--days", "36500"],
])
def test_run_and_validate_refuse_what_no_machine_can_run(tmp_path, capsys, argv):
    out = tmp_path / "x.db"
    assert main(["run", "--quiet", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "memory" in err or "a run can take" in err
    assert list(tmp_path.iterdir()) == []
    cfg = tmp_path / "c.toml"
    cfg.write_text("")
    sets = " ".join(argv).replace("--days ", "--set horizon_days=").split()
    assert main(["validate", str(cfg), *sets]) == 2
    assert "memory" in capsys.readouterr().err or "a run can take" in err


def test_the_defaults_and_the_shipped_configs_are_within_bounds():
    from helpers import ROOT

    from simmarket.config import load_config

    for path in sorted((ROOT / "configs").glob("*.toml")):
        check_resources(load_config(path).scenario)
