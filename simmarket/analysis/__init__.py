"""Post-hoc analysis of run databases: query, frames, summary, compare, report, browse."""

from simmarket.analysis.frames import *  # noqa: F403
from simmarket.analysis.frames import __all__  # noqa: F401
