"""Reading a configuration: a TOML file (or plain data) into a validated :class:`Config`.

A file holds a scenario and, optionally, run settings (top-level ``name`` and ``seed``, the
``[output]`` section). :func:`config_from_dict` splits and validates the two;
:func:`with_overrides` is the one way anything — the CLI's ``--set``, its shorthands, an
experiment's factors — changes a key: the result is validated exactly like a file.
"""

from __future__ import annotations

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
