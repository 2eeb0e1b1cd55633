"""The model object: owns the SimPy environment, the random streams, the event store and the
four layers, and runs them together.

Processes (MODEL.md §1): the population process (sessions), one creation process per
creation session, one process per firm, firm entry, the government, the macro economy, the
policy schedule and the period clock. At each period's close the clock collects the layers'
figures, lets the government act, snapshots centrality and writes the per-period tables.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from simmarket.config import Config
from simmarket.core.items import OWNER_TYPES, OWNER_USER, Items
from simmarket.core.population import Population, Users
from simmarket.core.streams import Streams
from simmarket.links.encounter.connection import ValueEncounter
from simmarket.links.policy import policy_process
from simmarket.links.production import ValueProduction
from simmarket.links.spillover import ValueSpillover
from simmarket.links.transmission.firms import Government, ValueTransmission
from simmarket.links.transmission.network import ValueNetwork
from simmarket.store.sqlite import EventStore


class PeriodClock:
    """Closes each aggregation period of ``period_days``."""

    def __init__(self, model: Model):
        self.model = model
        env = model.env
        self.closing = env.event()
        self.done = env.event()
        self.period = 0
        self.t_start = 0.0

    def process(self):
        m = self.model
        env, horizon = m.env, m.cfg.horizon_days
        end = 0.0
        while end < horizon:
            # period k ends at (k + 1) x period_days: no float drift, no sliver of a period
            end = min((self.period + 1) * m.cfg.period_days, horizon)
            if horizon - end < 1e-9 * max(1.0, horizon):
                end = horizon
            yield env.timeout(max(end - env.now, 0.0))
            production = self._close_production()
            closing, self.closing = self.closing, env.event()
            closing.succeed(self.period)
            yield env.timeout(0)  # the government acts on the closing period
            self._close_rest(production)
        self.done.succeed()

    def close_partial(self) -> None:
        """Close an interrupted period (the government does not act on it)."""
        if self.model.env.now > self.t_start:
            self._close_rest(self._close_production())

    def _close_production(self) -> dict:
        m = self.model
        row = m.production.close_period()
        row["sessions"] = m.population.sessions - self._sessions0
        row["creation_sessions"] = m.population.creation_sessions - self._creations0
        return row

    def _close_rest(self, production: dict) -> None:
        m = self.model
        env, store = m.env, m.store
        stamp = {"period": self.period, "t_start": self.t_start, "t_end": env.now}
        store.write_rows("period_production", [{**stamp, **production}])
        store.write_rows("period_encounter", [{**stamp, **m.encounter.close_period()}])
        transmission = {**stamp, **m.transmission.close_period(),
                        **m.government.close_period()}
        transmission["network_nodes"] = transmission["network_edges"] = None
        if self.period % m.cfg.network.centrality_every == 0:
            rows, nodes, edges = m.transmission.centrality_rows(self.period)
            store.write_rows("centrality", rows)
            transmission["network_nodes"], transmission["network_edges"] = nodes, edges
        store.write_rows("period_transmission", [transmission])
        store.flush()  # the log is never behind the period tables, even after a hard kill
        self.start_period()

    def start_period(self) -> None:
        self.period += 1
        self.begin()

    def begin(self) -> None:
        """Reset the period's counters (at t = 0 and after each close)."""
        m = self.model
        self.t_start = m.env.now
        self._sessions0 = m.population.sessions
        self._creations0 = m.population.creation_sessions
        m.items.roll_snapshots()
        m.period_first_item = m.items.n
        m.production.start_period()
        m.encounter.start_period()
        m.transmission.start_period()
        m.government.start_period()
        m.users.shares_period[:] = 0


class Model:
    """One simulated marketplace, from a validated :class:`Config`."""

    def __init__(self, cfg: Config, store: EventStore):
        self.cfg = cfg.model_copy(deep=True)  # policies change levers on this copy
        self.env = simpy.Environment()
        self.streams = Streams(self.cfg.seed)
        self.store = store
        self.industrial = self.cfg.mode == "industrial"
        self.trust = self.trust_target()
        self.period_first_item = 0
        self.users = Users(self.cfg, self.streams["population"])
        self.items = Items(max(1024, self.cfg.users.n // 4))
        self.network = ValueNetwork(self.users.n)
        self.population = Population(self)
        self.production = ValueProduction(self)
        self.encounter = ValueEncounter(self)
        self.transmission = ValueTransmission(self)
        self.government = Government(self)
        self.spillover = ValueSpillover(self)
        self.clock = PeriodClock(self)

    # -- shared services of the layers ------------------------------------------------
    def release_item(self, t: float, owner: int, owner_type: int, topic: int, quality: float,
                     production_time: float, parent: int = -1) -> int:
        """Put a new item on the platform (priced and stocked in industrial mode)."""
        cfg = self.cfg
        price = (cfg.industrial.price_factor * cfg.encounter.value_scale * quality
                 if self.industrial else 0.0)
        units = cfg.industrial.units_per_item if self.industrial else 0
        violation = owner_type == OWNER_USER and self.government.violates()
        # content lives in its maker's system; a derivative in its original's
        system = (self.users.system[owner] if owner_type == OWNER_USER
                  else self.items.system[parent])
        item = self.items.add(t, owner, owner_type, topic, quality, production_time,
                              parent=parent, price=price, units=units, violation=violation,
                              system=int(system))
        self.spillover.items += 1
        return item

    def trust_target(self) -> float:
        """Participation users settle at without leaks: privacy protection builds trust."""
        reg = self.cfg.regulation
        return 1.0 - reg.privacy_trust * (1.0 - reg.privacy_protection)

    def set_trust(self, trust: float) -> None:
        """Users' trust scales participation (session rates)."""
        if trust != self.trust:
            self.trust = trust
            self.population.rates_changed()

    def levers_changed(self, lever: str, old: float, new: float) -> None:
        """A policy changed a lever: recompute what is cached from it (other levers are
        read where they act). Nothing else is touched, so a policy that changes nothing
        leaves the run identical to one without it."""
        if old == new:
            return
        if lever == "tech.access_share":
            self.population.rates_changed()
        elif lever == "tech.interoperability":
            self.encounter.recommender.levers_changed()
        elif lever in ("capital.vc_supply", "regulation.lag"):
            self.transmission.entry_rate_changed()
        elif lever == "firms.data_driven_share":
            self.transmission.convert_firms(old, new)

    # -- running ------------------------------------------------------------------------
    def run(self, on_progress: Callable[[float, int], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> str:
        """Run to the horizon; returns "completed" or "interrupted" (final tables written)."""
        env = self.env
        self.clock.begin()
        self.transmission.start()
        self.population.proc = env.process(self.population.process())
        for proc in (self.clock.process(), self.government.process(),
                     self.spillover.process(), policy_process(self)):
            env.process(proc)
        horizon = self.cfg.horizon_days
        chunk = horizon / 400.0
        status = "completed"
        while not self.clock.done.triggered:
            if should_stop():
                status = "interrupted"
                self.clock.close_partial()
                break
            target = env.now + chunk
            env.run(until=self.clock.done if target >= horizon else target)
            if on_progress:
                on_progress(env.now, self.store.events_emitted)
        self.write_final_tables()
        return status

    def write_final_tables(self) -> None:
        """Users, items and firms as they stand at the end (or at the interruption)."""
        u, it, store = self.users, self.items, self.store
        store.write_columns("users", {
            "user_id": np.arange(u.n), "topic": u.topic, "system": u.system,
            "knowledge_initial": u.knowledge_initial, "knowledge": u.knowledge,
            "sharing_initial": u.sharing_initial, "sharing": u.sharing,
            "activity_rate": u.activity, "creator_propensity": u.creator,
            "device_access": u.device_access(self.cfg.tech.access_share).astype(np.int64),
            "items_created": u.items_created, "shares": u.shares, "hides": u.hides,
            "connections_made": u.connections_made, "income": u.income,
            "rewards": u.rewards, "community_size": u.community_size,
        })
        n = it.n
        parent = it.view("parent")
        store.write_columns("items", {
            "item_id": np.arange(n), "t_created": it.view("t_created"),
            "owner_id": it.view("owner"),
            "owner_type": np.array(OWNER_TYPES)[it.view("owner_type")],
            "parent_id": np.where(parent >= 0, parent, None),
            "topic": it.view("topic"), "system": it.view("system"),
            "quality": it.view("quality"),
            "production_time": it.view("production_time"),
            "price": np.where(it.view("price") > 0, it.view("price"), None),
            "connections": it.view("connections"), "value": it.view("value"),
            "removed": it.view("removed").astype(np.int64),
        })
        store.write_rows("firms", [{
            "firm_id": f.firm_id, "t_entered": f.t_entered, "t_exited": f.t_exited,
            "topic": f.topic, "data_driven": int(f.data_driven),
            "initial_capital": f.initial_capital, "capital": f.capital, "revenue": f.revenue,
            "derivatives": f.derivatives, "licenses": f.licenses,
            "license_fees": f.license_fees,
            "community_size": self.encounter.firm_community.get(f.firm_id, 0),
        } for f in self.transmission.firms])
        enc = self.encounter
        store.write_columns("connection_curve", {
            "c": np.arange(1, len(enc.curve_n) + 1), "connections": enc.curve_n,
            "value_sum": enc.curve_value, "value_per_quality_sum": enc.curve_relative,
            "within_item_change_sum": enc.curve_delta})
