"""Random streams keyed by purpose: common random numbers by construction.

Every random decision of the model draws from a stream named for what it decides —
``streams("government", "violation")``, ``streams("population", "arrivals")``,
``streams("encounter", "feed", group)`` — and each stream is seeded from the run's root seed
and its name alone (``SeedSequence(seed, spawn_key=hash(name))``). A stream therefore does
not depend on which other streams exist, in which order they were made, or how many numbers
they consumed: a change that alters how much one mechanism draws (more items, more feeds)
never shifts the numbers of another. That is what makes paired comparisons of scenarios
(common random numbers) meaningful; docs/ODD.md ("Stochasticity") states the guarantee.

Per-event draws come from :class:`Block`, which draws thousands of numbers at once and hands
them out one by one as Python floats. NumPy fills an array from the bit generator in order, so
drawing in blocks yields exactly the sequence one-at-a-time draws would.
"""

from __future__ import annotations

import hashlib

import numpy as np

Purpose = tuple[str | int, ...]


def _key(part: str | int) -> int:
    """A stable 64-bit integer for one component of a stream's name."""
    if isinstance(part, int):
        return part
    return int.from_bytes(hashlib.blake2b(part.encode(), digest_size=8).digest(), "little")


class Streams:
    """The random streams of one run, each made on first use from the root seed and its name."""

    def __init__(self, seed: int):
        self.seed = seed
        self._gens: dict[Purpose, np.random.Generator] = {}

    def __call__(self, *purpose: str | int) -> np.random.Generator:
        gen = self._gens.get(purpose)
        if gen is None:
            seq = np.random.SeedSequence(self.seed, spawn_key=tuple(_key(p) for p in purpose))
            gen = self._gens[purpose] = np.random.default_rng(seq)
        return gen

    def block(self, *purpose: str | int, kind: str = "uniform") -> Block:
        """Pre-drawn Python floats from the named stream."""
        return Block(self(*purpose), kind)

    @property
    def purposes(self) -> list[Purpose]:
        """The streams this run has used so far (for documentation and tests)."""
        return list(self._gens)


class Block:
    """Uniform(0, 1), standard-exponential or standard-normal draws, pre-drawn in blocks."""

    def __init__(self, rng: np.random.Generator, kind: str = "uniform", size: int = 8192):
        self._draw = {"uniform": rng.random, "exponential": rng.standard_exponential,
                      "normal": rng.standard_normal}[kind]
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
