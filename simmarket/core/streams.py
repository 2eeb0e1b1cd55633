"""Random streams: one seeded generator per run, an independent stream per layer.

The run's seed feeds one :class:`numpy.random.SeedSequence`; ``spawn`` gives each layer its
own stream, so adding draws to one layer never shifts another's (common random numbers
across scenarios). Per-event draws come from :class:`Block`, which draws thousands of numbers
at once and hands them out one by one as Python floats: the cost of a draw is an index, not
a NumPy call.
"""

from __future__ import annotations

import numpy as np

LAYERS = ("population", "sessions", "production", "encounter", "transmission", "government",
          "spillover")


class Streams:
    """The generators of one run, by layer name."""

    def __init__(self, seed: int):
        children = np.random.SeedSequence(seed).spawn(len(LAYERS))
        self._gens = {name: np.random.default_rng(s) for name, s in zip(LAYERS, children)}

    def __getitem__(self, layer: str) -> np.random.Generator:
        return self._gens[layer]


class Block:
    """Uniform(0, 1) or standard-exponential draws, pre-drawn in blocks."""

    def __init__(self, rng: np.random.Generator, kind: str = "uniform", size: int = 8192):
        self._draw = rng.random if kind == "uniform" else rng.standard_exponential
        self._size = size
        self._values: list[float] = []
        self._i = 0

    def next(self) -> float:
        if self._i >= len(self._values):
            self._values = self._draw(self._size).tolist()
            self._i = 0
        v = self._values[self._i]
        self._i += 1
        return v
