"""The terminal front end: a thin layer over the Python API (:mod:`simmarket.api`)."""

from simmarket.cli.main import main

__all__ = ["main"]
