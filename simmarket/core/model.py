"""The model object: owns the SimPy environment, the random streams, the world and the links,
and wires them together (Mesa's shape: one object owns schedule, agents and randomness).

Processes (MODEL.md §1): the population process (sessions), one creation process per
creation session, one process per firm, firm entry, the government, the macro economy, the
policy schedule and the period clock. The model never sees the run settings: it gets a
scenario, a seed, a recorder and the engine of its browse sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import simpy

from simmarket.config.levers import ENTRY_RATE, FEED_SCOPES, FIRM_MINDSET, SESSION_RATES
from simmarket.config.scenario import Scenario
from simmarket.core.clock import PeriodClock
from simmarket.core.context import Context
from simmarket.core.items import OWNER_TYPES
from simmarket.core.population import Population
from simmarket.core.recorder import Recorder
from simmarket.core.streams import Streams
from simmarket.core.world import World
from simmarket.links.encounter import ValueEncounter
from simmarket.links.encounter.compiled import CompiledSessions
from simmarket.links.policy import policy_process
from simmarket.links.production import ValueProduction
from simmarket.links.spillover import ValueSpillover
from simmarket.links.transmission.firms import FirmsLink
from simmarket.links.transmission.government import Government
from simmarket.links.transmission.network import ValueNetwork

#: Wall seconds one slice of ``env.run`` may take: a stop request is seen between slices.
SLICE_SECONDS = 0.2


def _next_chunk(chunk: float, took: float, longest: float) -> float:
    """The next slice of simulated time: halved while a slice takes longer than
    SLICE_SECONDS of wall time (large populations), grown back up to `longest` (1/400 of
    the horizon) when slices are quick. Slicing changes nothing in what is simulated."""
    if took > SLICE_SECONDS:
        return chunk / 2.0
    return min(longest, chunk * 2.0) if took < SLICE_SECONDS / 4.0 else chunk


class Model:
    """One simulated marketplace: a scenario, a seed and a recorder."""

    def __init__(self, scenario: Scenario, seed: int, recorder: Recorder,
                 engine: str = "compiled"):
        self.scenario = scenario.model_copy(deep=True)  # policies change levers on this copy
        self.env = simpy.Environment()
        self.streams = Streams(seed)
        self.recorder = recorder
        self.world = World(self.scenario, self.streams, ValueNetwork(self.scenario.users.n))
        self.ctx = Context(self.env, self.scenario, self.world, self.streams, recorder)
        self.production = ValueProduction(self.ctx)
        self.encounter = ValueEncounter(self.ctx)
        self.firms = FirmsLink(self.ctx)
        self.government = Government(self.ctx)
        self.spillover = ValueSpillover(self.ctx)
        sessions = CompiledSessions(self.ctx, self.encounter) if engine == "compiled" else None
        self.population = Population(self.ctx, self.production.create, self.encounter.browse,
                                     sessions)
        self.clock = PeriodClock(self)
        #: what the lever registry's recompute names mean in this model
        self.recompute: dict[str, Callable[[], None]] = {
            SESSION_RATES: self.world.rates_changed,
            FEED_SCOPES: self.encounter.recommender.levers_changed,
            ENTRY_RATE: self.firms.entry_rate_changed,
            FIRM_MINDSET: self.firms.convert_firms,
        }

    def _government_process(self):
        """SimPy process: wake at each period's close (signalled by the clock) and act."""
        while True:
            sharing_rate = yield self.clock.closing
            self.government.act(sharing_rate)

    # -- running ------------------------------------------------------------------------
    def run(self, on_progress: Callable[[float, int], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False, *,
            pause_at: float | None = None,
            on_pause: Callable[[Model], None] | None = None) -> str:
        """Run to the horizon; returns "completed" or "interrupted" (final tables written).

        With ``pause_at`` and ``on_pause``, the run stops once every event strictly before
        ``pause_at`` is processed (a policy change at that day has not happened yet), calls
        ``on_pause(self)`` and goes on. Where the chunks of ``env.run`` end changes nothing
        in what is simulated, so a paused run is the run that was not paused (what forking
        at a policy date relies on, :mod:`simmarket.experiments.fork`)."""
        env = self.env
        self.clock.begin()
        self.firms.start()
        self.population.start()
        for proc in (self.clock.process(), self._government_process(),
                     self.spillover.process(), policy_process(self.ctx, self.recompute)):
            env.process(proc)
        horizon = self.scenario.horizon_days
        chunk = horizon / 400.0
        if pause_at is None or pause_at >= horizon:
            on_pause = None  # nothing to pause for
        status = "completed"
        while not self.clock.done.triggered:
            if should_stop():
                status = "interrupted"
                self.clock.close_partial()
                break
            target = env.now + chunk
            if on_pause is not None and target >= pause_at:
                if pause_at > env.now:
                    env.run(until=pause_at)
                on_pause(self)
                on_pause = None
                continue
            started = time.perf_counter()
            env.run(until=self.clock.done if target >= horizon else target)
            chunk = _next_chunk(chunk, time.perf_counter() - started, horizon / 400.0)
            if on_progress:
                on_progress(env.now, self.recorder.events_emitted)
        self.write_final_tables()
        return status

    def write_final_tables(self) -> None:
        """Users, items, firms and the connection curve as they stand at the end."""
        rec, u, it, f = self.recorder, self.world.users, self.world.items, self.world.firms
        rec.write_columns("users", {
            "user_id": np.arange(u.n), "topic": u.topic, "system": u.system,
            "knowledge_initial": u.knowledge_initial, "knowledge": u.knowledge,
            "sharing_initial": u.sharing_initial, "sharing": u.sharing,
            "activity_rate": u.activity, "creator_propensity": u.creator,
            "creator_effective": u.creator_effective, "sharing_threshold": u.threshold,
            "device_access": u.device_access(self.scenario.tech.access_share).astype(np.int64),
            "items_created": u.items_created, "shares": u.shares, "hides": u.hides,
            "connections_made": u.connections_made, "income": u.income,
            "rewards": u.rewards, "community_size": u.community_size,
        })
        parent, price = it.view("parent"), it.view("price")
        rec.write_columns("items", {
            "item_id": np.arange(it.n), "t_created": it.view("t_created"),
            "owner_id": it.view("owner"),
            "owner_type": np.array(OWNER_TYPES)[it.view("owner_type")],
            "parent_id": np.where(parent >= 0, parent, None),
            "topic": it.view("topic"), "system": it.view("system"),
            "quality": it.view("quality"), "production_time": it.view("production_time"),
            "price": np.where(price > 0, price, None),
            "connections": it.view("connections"), "value": it.view("value"),
            "removed": it.view("removed").astype(np.int64),
        })
        exited = f.view("t_exited")
        rec.write_columns("firms", {
            "firm_id": np.arange(f.n), "t_entered": f.view("t_entered"),
            "t_exited": np.where(np.isnan(exited), None, exited),
            "data_driven": f.view("data_driven").astype(np.int64),
            **{c: f.view(c) for c in ("initial_capital", "capital", "revenue", "derivatives",
                                      "licenses", "license_fees", "community_size")},
        })
        rec.write_columns("connection_curve", self.encounter.curve.columns())
