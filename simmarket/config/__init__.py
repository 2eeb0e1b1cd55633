"""Configuration: the scenario (what is simulated) and the run settings (how it is run)."""

from simmarket.config.scenario import *  # noqa: F403
from simmarket.config.scenario import (  # noqa: F401
    Config,
    ConfigError,
    _describe,
    _expected,
    config_from_dict,
    load_config,
)
