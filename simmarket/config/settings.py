"""Run settings: how a scenario is run, not what it models.

The seed, the run's name and where and how much of the run is recorded are settings of one
run; they never reach the model's mechanisms. A TOML file may hold them next to the scenario
(top-level ``name`` and ``seed``, the ``[output]`` section); :mod:`simmarket.config.loader`
splits the two.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from simmarket.config.scenario import Section

#: Event detail levels: which events reach the recorder (docs/schema.md, "Event detail").
EVENT_LEVELS = ("all", "core", "none")
#: Event kinds left out at the "core" level: the two that make up most of a full log.
DETAIL_KINDS = frozenset({"impression", "session_started"})


class Output(Section):
    """Where and how much of a run is recorded."""

    path: str = Field("results/{name}.db", description="database path; {name} = config stem")
    batch_size: int = Field(50_000, ge=1, le=10_000_000,
                            description="events per write transaction")
    events: Literal["all", "core", "none"] = Field(
        "all", description="event detail: all; core (no impressions or session starts); none "
                           "(per-period, final tables and the run row only)")

    @field_validator("path")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        """Only ``{name}`` may be substituted; a stray brace would fail at run time."""
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as exc:
            raise ValueError(f"a path with at most the placeholder {{name}} ({exc})") from None
        if fields - {"name"}:
            raise ValueError("a path with at most the placeholder {name}")
        return value


class RunSettings(Section):
    """The settings of one run: its name, its seed and its output."""

    name: str = Field("baseline", min_length=1, max_length=200,
                      description="scenario name (defaults to the file's stem)")
    seed: int = Field(20240601, ge=0, lt=2**63,
                      description="root seed: every random stream is spawned from it")
    output: Output = Field(default_factory=Output)
    engine: Literal["compiled", "python"] = Field(
        "compiled", description="how browse sessions run: compiled (Numba, fast) or python "
                                "(the reference); both give the same event log")

    @property
    def db_path(self) -> Path:
        return Path(self.output.path.format(name=self.name))


#: Top-level keys of a file that belong to the run settings rather than the scenario.
SETTINGS_KEYS = frozenset(RunSettings.model_fields)
