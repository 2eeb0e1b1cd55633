"""simmarket: a discrete-event simulator of value creation in a metaverse-style marketplace.

The four links of the value-creation model (value production, value encounter, value
transmission, value spillover) run as SimPy processes; every event is written to SQLite.

    >>> import simmarket
    >>> result = simmarket.run("configs/baseline.toml")      # doctest: +SKIP
    >>> result.db_path, result.summary["value encounter"]     # doctest: +SKIP

The public names are imported on first use (PEP 562), so ``import simmarket.cli`` stays
light and the command line can take charge of Ctrl-C before the model's imports begin.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simmarket.api import RunResult, run
    from simmarket.config import Config, ConfigError, load_config

__all__ = ["Config", "ConfigError", "RunResult", "__version__", "load_config", "run"]

_LAZY = {"run": "simmarket.api", "RunResult": "simmarket.api", "Config": "simmarket.config",
         "ConfigError": "simmarket.config", "load_config": "simmarket.config"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("simmarket")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0+source"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = _version()
    elif name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'simmarket' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
