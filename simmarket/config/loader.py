"""Reading a configuration: a TOML file (or plain data) into a validated :class:`Config`.

A file holds a scenario and, optionally, run settings (top-level ``name`` and ``seed``, the
``[output]`` section). :func:`config_from_dict` splits and validates the two;
:func:`with_overrides` is the one way anything — the CLI's ``--set``, its shorthands, an
experiment's factors — changes a key: the result is validated exactly like a file.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from simmarket.config.errors import ConfigError, describe, did_you_mean, expected
from simmarket.config.scenario import Scenario
from simmarket.config.settings import SETTINGS_KEYS, RunSettings

#: A scenario file larger than this is not a scenario (``/dev/zero``, a database, ...).
MAX_FILE_BYTES = 4 * 1024 * 1024
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Config:
    """A validated scenario and the settings of the run that simulates it."""

    scenario: Scenario
    settings: RunSettings

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def db_path(self) -> Path:
        return self.settings.db_path

    def resolved(self) -> dict[str, Any]:
        """Everything as plain data, in the file's flat shape (stored with every run)."""
        return {**self.settings.model_dump(mode="json"), **self.scenario.model_dump(mode="json")}


def config_from_dict(data: Mapping[str, Any], name: str | None = None) -> Config:
    """Validate plain data (as read from TOML) into a :class:`Config`."""
    data = dict(data)
    if name is not None and "name" not in data:
        data["name"] = name
    settings = {k: v for k, v in data.items() if k in SETTINGS_KEYS}
    scenario = {k: v for k, v in data.items() if k not in SETTINGS_KEYS}
    problems = [p for p in (_validate(RunSettings, settings), _validate(Scenario, scenario))
                if isinstance(p, str)]
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))
    cfg = Config(scenario=Scenario.model_validate(scenario), settings=RunSettings(**settings))
    _check_schedule(cfg.scenario)
    return cfg


def _validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel | str:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return describe(exc, known=known_keys()).removeprefix("invalid config: ")
    except RecursionError:
        return "the configuration is nested too deeply"


def _check_schedule(scenario: Scenario) -> None:
    """Validate every scheduled lever value now, not when the run reaches its day."""
    for i, change in enumerate(scenario.policy.schedule):
        *parents, field = change.lever.split(".")
        probe: Any = scenario
        for part in parents:
            probe = getattr(probe, part)
        try:
            setattr(probe.model_copy(), field, change.value)
        except ValidationError as exc:
            raise ConfigError(
                f"invalid config: policy.schedule.{i}.value = {change.value!r}: expected "
                f"{expected(exc.errors()[0])} for {change.lever}") from None


def known_keys() -> list[str]:
    """Every dotted key a file (or ``--set``) may name."""
    return _keys(RunSettings) + _keys(Scenario)


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out += _keys(sub, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def with_overrides(config: Config | Mapping[str, Any], overrides: Mapping[str, Any]) -> Config:
    """A new validated config with dotted keys set (``{"users.n": 800, "seed": 3}``).

    ``None`` values are skipped, so optional CLI shorthands can be passed through unfiltered.
    """
    data = config.resolved() if isinstance(config, Config) else _deep_copy(config)
    for dotted, value in overrides.items():
        if value is not None:
            _set_dotted(data, dotted, value)
    return config_from_dict(data)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, last = dotted.split(".")
    for i, part in enumerate(parents):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"invalid config: {'.'.join(parents[:i + 1])} is a value, not a "
                              f"section, so {dotted} cannot be set")
    node[last] = value


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def parse_assignment(text: str) -> tuple[str, Any]:
    """``section.key=value`` as given to ``--set``; the value is a TOML literal (a bare word
    that is not one is taken as a string, so ``mode=industrial`` works unquoted)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"invalid --set {text!r}: expected section.key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    if key not in known_keys() and not key.startswith("policy."):
        raise ConfigError(f"invalid config: {key}: an unknown key{did_you_mean(key, known_keys())}")
    return key, value


def read_toml(path: str | Path) -> dict[str, Any]:
    """A scenario file's data, or a :class:`ConfigError` that says what the file is instead."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"cannot read config {path}: not a regular file")
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    if raw.startswith(SQLITE_MAGIC):
        raise ConfigError(f"{path} is a database, not a scenario: pass a .toml file "
                          "(to read a run database, use simmarket query/report)")
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MiB: not a scenario")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file: pass a .toml scenario") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be a scenario") from None


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                **dotted: Any) -> Config:
    """Read a TOML scenario (or the defaults when `path` is None) and apply overrides.

    Overrides use dotted names, as a mapping or keywords (``**{"users.n": 1000}``).
    """
    data = read_toml(path) if path is not None else {}
    cfg = config_from_dict(data, name=Path(path).stem if path is not None else None)
    return with_overrides(cfg, {**(overrides or {}), **dotted})


def config_warnings(cfg: Config) -> list[str]:
    """Valid but probably unintended: what ``validate`` and ``run`` warn about."""
    sc = cfg.scenario
    out = [f"policy.schedule.{i}: day {c.day:g} is past horizon_days = {sc.horizon_days:g}; "
           "it never takes effect"
           for i, c in enumerate(sc.policy.schedule) if c.day >= sc.horizon_days]
    if sc.period_days > sc.horizon_days:
        out.append(f"period_days = {sc.period_days:g} is longer than horizon_days = "
                   f"{sc.horizon_days:g}: the run is one partial period")
    return out


# -- what a run will need ------------------------------------------------------------------
#: Bytes per user (about twenty arrays of 8 bytes, the sampling tables, the final table).
BYTES_PER_USER = 200
#: Bytes per item in memory (its columns, its snapshots, its place in the ranking index).
BYTES_PER_ITEM = 300
#: Bytes per browse session that may connect (the pair set of who connected to what).
BYTES_PER_SESSION = 16
#: Bytes per firm (its columns and its node in the value network).
BYTES_PER_FIRM = 400
#: At most this many periods, economy steps and index refreshes in one run.
MAX_STEPS = {"periods": 100_000, "economy steps": 100_000, "index refreshes": 10_000_000}


def expected_sessions(sc: Scenario) -> float:
    """Sessions the population will draw, in expectation: N x E[lambda] x horizon (the
    lognormal mean, median x exp(sigma^2 / 2), so a heavy tail counts fully)."""
    u = sc.users
    return u.n * u.activity_median * math.exp(u.activity_sigma ** 2 / 2) * sc.horizon_days


def memory_parts(sc: Scenario) -> dict[str, tuple[float, str]]:
    """The run's memory, part by part: bytes and the fields that drive each part."""
    u, f = sc.users, sc.firms
    sessions = expected_sessions(sc)
    creator = u.creator_a / (u.creator_a + u.creator_b)
    firms = f.initial + f.entry_rate * sc.capital.vc_supply * sc.horizon_days
    derivatives = firms * f.scan_top * sc.horizon_days / f.scan_interval
    return {
        "users": (u.n * BYTES_PER_USER, "users.n"),
        "topic affinity": (u.topics ** 2 * 48, "users.topics"),
        "recommender scopes": (sc.tech.systems * u.topics * 64, "tech.systems, users.topics"),
        "items": (sessions * creator * BYTES_PER_ITEM,
                  "users.n, users.activity_median, users.activity_sigma, horizon_days, "
                  "users.creator_a/b"),
        "connections": (sessions * BYTES_PER_SESSION,
                        "users.n, users.activity_median, users.activity_sigma, horizon_days"),
        "firms": (firms * BYTES_PER_FIRM + derivatives * BYTES_PER_ITEM,
                  "firms.initial, firms.entry_rate, capital.vc_supply, firms.scan_top, "
                  "firms.scan_interval, horizon_days"),
    }


def estimate_memory(scenario: Scenario) -> int:
    """Bytes a run of `scenario` is expected to hold in memory (a rough upper estimate; the
    event log goes to the database, not memory)."""
    total = sum(b for b, _ in memory_parts(scenario).values())
    return int(min(total, 2.0 ** 62))


def physical_memory() -> int:
    """This machine's memory in bytes (or the control group's limit, if lower)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 2 ** 40
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def check_resources(scenario: Scenario, memory: int | None = None) -> None:
    """Refuse, before anything is created, a scenario no run can honour: more memory than
    half of this machine's, or absurdly many periods, steps or index refreshes."""
    sc = scenario
    steps = {"periods": (sc.horizon_days / sc.period_days, "horizon_days / period_days"),
             "economy steps": (sc.horizon_days / (sc.economy.period_days or sc.period_days),
                               "horizon_days / economy.period_days"),
             "index refreshes": (sc.horizon_days / sc.encounter.refresh_days,
                                 "horizon_days / encounter.refresh_days")}
    for name, (count, fields) in steps.items():
        if count > MAX_STEPS[name]:
            raise ConfigError(f"invalid config: {fields} = {count:,.0f} {name}: at most "
                              f"{MAX_STEPS[name]:,} a run can take")
    available = (memory if memory is not None else physical_memory()) // 2
    need = estimate_memory(sc)
    if need > available:
        parts = sorted(memory_parts(sc).items(), key=lambda kv: -kv[1][0])
        part, (_, fields) = parts[0]
        raise ConfigError(
            f"invalid config: the run would need about {_size(need)} of memory, more than "
            f"half of this machine's {_size(available * 2)}; most of it for {part} "
            f"(driven by {fields}): lower them")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} PiB"
