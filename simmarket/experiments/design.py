"""An experiment's design: which runs to make, read from a TOML file.

A design declares *factors* (config keys and the values each takes) around a base scenario;
the layer does not know what the keys mean, it only combines them (EMA Workbench's
"uncertainties and levers" around a model). Every combination of factor values is a
*design point*; every point is simulated ``replications`` times. Replication r uses the same
seed at every point (common random numbers), so differences between points are paired.

    scenario = "../configs/baseline.toml"   # relative to this file; or [[scenarios]]
    replications = 5
    seed = 1                                # the root seed of every replication's seed
    events = "none"                         # event detail of each run's own database
    [set]                                   # applied to every run
    "users.n" = 800                         # quoted or dotted (users.n = 800): the same
    [[factors]]
    key = "tech.access_share"
    values = [0.3, 1.0]                     # or low/high ranges for sensitivity analysis
    [[factors]]                             # a policy from a day: each value becomes a
    key = "policy.regulation.antitrust"     # [[policy.schedule]] entry {day, lever, value}
    day = 60                                # appended to the scenario's schedule
    values = [0.0, 0.2]

Runs that differ only by a policy factor's value are identical before its day, which
:mod:`simmarket.experiments.fork` uses to simulate that prefix once.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simmarket.config import ConfigError, config_from_dict
from simmarket.config.levers import LEVERS

EVENT_DETAIL = ("all", "core", "none")
TOP_KEYS = {"name", "scenario", "scenarios", "replications", "seed", "events", "set",
            "factors"}


class DesignError(ValueError):
    """A design file that cannot be run; the message is one line naming what is wrong."""


@dataclass(frozen=True)
class Factor:
    """A config key that varies: over listed ``values``, or over a range ``low``..``high``.

    A *policy factor* has a ``day`` and a key ``policy.<lever>``: its value is the lever's
    value from that day on, a ``[[policy.schedule]]`` entry appended to the scenario's."""

    key: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    day: float | None = None

    @property
    def lever(self) -> str | None:
        """The lever a policy factor changes (None for a plain config key)."""
        return None if self.day is None else self.key.removeprefix("policy.")

    @property
    def is_range(self) -> bool:
        return self.low is not None

    @property
    def column(self) -> str:
        """The factor's column name in the experiment database (dots become underscores)."""
        return self.key.replace(".", "_")


@dataclass(frozen=True)
class Point:
    """One combination of a scenario and factor values."""

    index: int
    scenario: str
    values: dict[str, Any]
    named: bool = False  # the design has several scenarios: name this one in labels

    @property
    def label(self) -> str:
        parts = [f"{k}={_short(v)}" for k, v in self.values.items()]
        return ", ".join(([self.scenario] if self.named else []) + parts) or self.scenario


@dataclass(frozen=True)
class RunSpec:
    """One run: a point, a replication, its seed and its full config as plain data."""

    run_id: int
    point: int
    replication: int
    seed: int
    config: dict[str, Any]


@dataclass(frozen=True)
class Design:
    """A validated design. ``scenarios`` maps a scenario name to its config data."""

    name: str
    scenarios: dict[str, dict[str, Any]]
    replications: int
    seed: int
    events: str
    overrides: dict[str, Any]
    factors: tuple[Factor, ...]
    source: str = ""
    explicit_points: tuple[dict[str, Any], ...] | None = field(default=None)

    def points(self) -> list[Point]:
        """Every scenario x full-factorial combination of the factors' values (or the
        explicit points a sampler gave, see :meth:`with_points`)."""
        combos = (list(self.explicit_points) if self.explicit_points is not None else
                  [dict(zip([f.key for f in self.factors], vals)) for vals in
                   itertools.product(*[f.values for f in self.factors])])
        named = len(self.scenarios) > 1
        pairs = [(s, c) for s in self.scenarios for c in combos]
        return [Point(i, s, c, named) for i, (s, c) in enumerate(pairs)]

    def with_points(self, combos: list[dict[str, Any]]) -> Design:
        """The same design over explicitly given factor values (a sampler's points)."""
        return Design(self.name, self.scenarios, self.replications, self.seed, self.events,
                      self.overrides, self.factors, self.source, tuple(combos))

    def seeds(self) -> list[int]:
        """Replication r's seed, the same at every point, spawned from the root seed."""
        children = np.random.SeedSequence(self.seed).spawn(self.replications)
        return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]

    def runs(self) -> list[RunSpec]:
        """Every run of the design, point-major."""
        seeds = self.seeds()
        return [RunSpec(p.index * self.replications + r, p.index, r, seeds[r],
                        self.config(p, seeds[r]))
                for p in self.points() for r in range(self.replications)]

    def config(self, point: Point, seed: int) -> dict[str, Any]:
        """The run's config: scenario, then ``[set]``, then the point's values, then seed."""
        data = copy.deepcopy(self.scenarios[point.scenario])
        policies = {f.key: f for f in self.factors if f.day is not None}
        values = {**self.overrides, **point.values}
        for key, value in values.items():
            if key not in policies:
                assign(data, key, value)
        for key, factor in policies.items():  # after [set]: a set schedule comes first
            if key in values:
                policy = data.setdefault("policy", {})
                policy["schedule"] = [*policy.get("schedule", []), {
                    "day": factor.day, "lever": factor.lever, "value": values[key]}]
        data["seed"] = seed
        return data

    def fingerprint(self) -> str:
        """A hash of everything that decides the runs' outcomes (not where they are run)."""
        spec = [(r.run_id, r.point, r.replication, r.config) for r in self.runs()]
        blob = json.dumps([spec, self.events], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def assign(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a dotted key in nested config data, creating sections as needed."""
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = copy.deepcopy(value)


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"users": {"n": 1}, "seed": 2}`` -> ``{"users.n": 1, "seed": 2}`` (lists are leaves).
    A key written both quoted and dotted is refused."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        items = flatten(value, name + ".") if isinstance(value, dict) else {name: value}
        for k, v in items.items():
            if k in out:
                raise DesignError(f"[set] gives {k} twice")
            out[k] = v
    return out


def load_design(path: str | Path) -> Design:
    """Read and validate a design file; :class:`DesignError` says what is wrong."""
    path = Path(path)
    data = _read_toml(path, "design")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise DesignError(f"{path}: unknown key {unknown[0]!r} (expected one of "
                          f"{', '.join(sorted(TOP_KEYS))})")
    design = Design(
        name=str(data.get("name", path.stem)),
        scenarios=_scenarios(data, path.parent),
        replications=_int(data, "replications", 1, path),
        seed=_int(data, "seed", 0, path, minimum=0),
        events=_events(data.get("events", "none"), path),
        overrides=flatten(_table(data.get("set", {}), "set", path)),
        factors=tuple(_factor(f, i, path) for i, f in enumerate(_factor_list(data, path))),
        source=path.read_text(encoding="utf-8"),
    )
    keys = [f.key for f in design.factors]
    if len(set(keys)) != len(keys):
        raise DesignError(f"{path}: a factor key appears twice")
    return design


def validate_configs(design: Design) -> None:
    """Validate every point's config against the schema (one clear line on the first bad one)."""
    seed = design.seeds()[0]
    for point in design.points():
        try:
            config_from_dict(design.config(point, seed))
        except ConfigError as exc:
            raise DesignError(f"design point {point.index} ({point.label}): {exc}") from None


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DesignError(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DesignError(f"cannot read {what} file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DesignError(f"{path} is not valid TOML: {exc}") from None


def _scenarios(data: dict[str, Any], here: Path) -> dict[str, dict[str, Any]]:
    if "scenario" in data and "scenarios" in data:
        raise DesignError("give either scenario or [[scenarios]], not both")
    if "scenarios" not in data:
        if "scenario" not in data:
            return {"defaults": {}}
        return {_stem(data["scenario"]): _scenario_file(data["scenario"], here)}
    entries = data["scenarios"]
    if not isinstance(entries, list) or not entries:
        raise DesignError("[[scenarios]] must be a non-empty list of tables with name, path")
    out: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "path" not in entry:
            raise DesignError(f"scenarios[{i}]: needs a path")
        name = str(entry.get("name", _stem(entry["path"])))
        if name in out:
            raise DesignError(f"scenarios[{i}]: the name {name!r} is used twice")
        out[name] = _scenario_file(entry["path"], here)
    return out


def _stem(path: Any) -> str:
    return Path(str(path)).stem


def _scenario_file(rel: Any, here: Path) -> dict[str, Any]:
    if not isinstance(rel, str):
        raise DesignError(f"a scenario path must be a string, not {rel!r}")
    path = (here / rel) if not Path(rel).is_absolute() else Path(rel)
    data = _read_toml(path, "scenario")
    data.setdefault("name", path.stem)
    return data


def _int(data: dict[str, Any], key: str, default: int, path: Path, minimum: int = 1) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DesignError(f"{path}: {key} = {value!r}: expected an integer >= {minimum}")
    return value


def _events(value: Any, path: Path) -> str:
    if value not in EVENT_DETAIL:
        raise DesignError(f"{path}: events = {value!r}: expected one of "
                          f"{', '.join(EVENT_DETAIL)}")
    return value


def _table(value: Any, name: str, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DesignError(f"{path}: [{name}] must be a table of keys")
    return value


def _factor_list(data: dict[str, Any], path: Path) -> list[Any]:
    factors = data.get("factors", [])
    if not isinstance(factors, list):
        raise DesignError(f"{path}: factors must be written [[factors]] (a list of tables)")
    return factors


def _factor(entry: Any, i: int, path: Path) -> Factor:
    where = f"{path}: factors[{i}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise DesignError(f"{where}: needs key = \"section.name\"")
    extra = sorted(set(entry) - {"key", "values", "low", "high", "day"})
    if extra:
        raise DesignError(f"{where}: unknown field {extra[0]!r} (key, values, low, high, "
                          "day)")
    key = entry["key"]
    if "day" in entry or (key.startswith("policy.") and key != "policy.schedule"):
        return _policy_factor(entry, key, where)
    if "values" in entry:
        values = entry["values"]
        if not isinstance(values, list) or not values:
            raise DesignError(f"{where} ({key}): values must be a non-empty list")
        return Factor(key, tuple(values))
    low, high = entry.get("low"), entry.get("high")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise DesignError(f"{where} ({key}): give values = [...] or numbers low and high")
    if not low < high:
        raise DesignError(f"{where} ({key}): low = {low} must be below high = {high}")
    return Factor(key, (), float(low), float(high))


def _policy_factor(entry: dict[str, Any], key: str, where: str) -> Factor:
    """``key = "policy.<lever>"``, ``day`` and ``values``: the lever from that day on."""
    lever = key.removeprefix("policy.")
    if not key.startswith("policy.") or lever not in LEVERS:
        raise DesignError(f"{where} ({key}): a factor with a day needs key = "
                          f"\"policy.<lever>\", a lever of {', '.join(LEVERS)}")
    day = entry.get("day")
    if day is None:
        raise DesignError(f"{where} ({key}): a policy factor needs day = <the day it "
                          "starts>")
    if isinstance(day, bool) or not isinstance(day, int | float) or not day >= 0:
        raise DesignError(f"{where} ({key}): day = {day!r}: expected a number >= 0")
    values = entry.get("values")
    if not isinstance(values, list) or not values or "low" in entry or "high" in entry:
        raise DesignError(f"{where} ({key}): a policy factor needs values = [...] "
                          "(no low/high)")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise DesignError(f"{where} ({key}): values must be numbers")
    return Factor(key, tuple(float(v) for v in values), day=float(day))


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
