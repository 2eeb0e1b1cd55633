"""What every link is built from: the clock, the scenario, the world, the streams, the recorder.

A link (production, encounter, transmission, spillover) takes one :class:`Context` and
nothing else, so it can be built on a small hand-made world in a test, without a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from simmarket.config.scenario import Scenario
from simmarket.core.recorder import Recorder
from simmarket.core.streams import Streams
from simmarket.core.world import World


@dataclass
class Context:
    env: simpy.Environment
    scenario: Scenario
    world: World
    streams: Streams
    recorder: Recorder
