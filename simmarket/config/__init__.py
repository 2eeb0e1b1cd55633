"""Configuration: the scenario (what is simulated) and the run settings (how it is run).

    scenario.py  the model's parameters, section by section (validated, documented defaults)
    settings.py  seed, name, output path and event detail of one run
    levers.py    the lever registry: what a policy may change, and what that invalidates
    loader.py    TOML and plain data -> Config; the one override helper; warnings
"""

from simmarket.config.errors import ConfigError
from simmarket.config.levers import LEVERS, Lever
from simmarket.config.loader import (
    Config,
    config_from_dict,
    config_warnings,
    known_keys,
    load_config,
    parse_assignment,
    with_overrides,
)
from simmarket.config.scenario import Economy, Scenario
from simmarket.config.settings import EVENT_LEVELS, Output, RunSettings

__all__ = [
    "EVENT_LEVELS", "LEVERS", "Config", "ConfigError", "Economy", "Lever", "Output",
    "RunSettings", "Scenario", "config_from_dict", "config_warnings", "known_keys",
    "load_config", "parse_assignment", "with_overrides",
]
