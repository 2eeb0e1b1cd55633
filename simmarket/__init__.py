"""simmarket: a discrete-event simulator of value creation in a metaverse-style marketplace.

The four links of the value-creation model (value production, value encounter, value
transmission, value spillover) run as SimPy processes; every event is written to SQLite.

    >>> import simmarket
    >>> result = simmarket.run("configs/baseline.toml")      # doctest: +SKIP
    >>> result.db_path, result.summary["value encounter"]     # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("simmarket")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from simmarket.api import RunResult, run  # noqa: E402
from simmarket.config import Config, ConfigError, load_config  # noqa: E402

__all__ = ["Config", "ConfigError", "RunResult", "__version__", "load_config", "run"]
