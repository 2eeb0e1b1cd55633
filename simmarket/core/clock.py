"""The period clock: closes each aggregation period of ``period_days``.

At each close it collects the links' figures, lets the government act on the closing period,
snapshots centrality, writes the per-period tables and opens the next period. The clock is
part of the model's wiring: it is the one place that reads every link, and it passes what one
link needs from another (the sharing rate to the government, the period's platform revenue
to the centrality snapshot) as values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simmarket.links.transmission.network import centrality_rows

if TYPE_CHECKING:
    from simmarket.core.model import Model


class PeriodClock:
    """Closes each aggregation period; the last one may be partial."""

    def __init__(self, model: Model):
        self.model = model
        env = model.env
        self.closing = env.event()
        self.done = env.event()
        self.period = 0
        self.t_start = 0.0

    def process(self):
        m = self.model
        env, horizon = m.env, m.scenario.horizon_days
        end = 0.0
        while end < horizon:
            # period k ends at (k + 1) x period_days: no float drift, no sliver of a period
            end = min((self.period + 1) * m.scenario.period_days, horizon)
            if horizon - end < 1e-9 * max(1.0, horizon):
                end = horizon
            yield env.timeout(max(end - env.now, 0.0))
            production = self._close_production()
            closing, self.closing = self.closing, env.event()
            closing.succeed(m.production.sharing_rate)
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
        rec, now = m.recorder, m.env.now
        stamp = {"period": self.period, "t_start": self.t_start, "t_end": now,
                 "partial": int(now - self.t_start < m.scenario.period_days - 1e-9)}
        rec.write_rows("period_production", [{**stamp, **production}])
        rec.write_rows("period_encounter", [{**stamp, **m.encounter.close_period()}])
        transmission = {**stamp, **m.firms.close_period(), **m.government.close_period(),
                        "network_nodes": None, "network_edges": None}
        if self.period % m.scenario.network.centrality_every == 0:
            rows, nodes, edges = self._centrality()
            rec.write_rows("centrality", rows)
            transmission["network_nodes"], transmission["network_edges"] = nodes, edges
        rec.write_rows("period_transmission", [transmission])
        rec.checkpoint(now)  # the log is never behind the period tables, even after a kill
        self.period += 1
        self.begin()

    def _centrality(self) -> tuple[list[dict], int, int]:
        m = self.model
        counters = m.world.counters
        return centrality_rows(
            m.world.network, m.world, self.period, m.env.now, m.scenario.network.alphas,
            government_period=counters.government_captured - m.government.captured_before,
            platform_period=m.encounter.platform_revenue)

    def begin(self) -> None:
        """Open a period: reset every link's period counters (at t = 0 and after a close)."""
        m = self.model
        self.t_start = m.env.now
        self._sessions0 = m.population.sessions
        self._creations0 = m.population.creation_sessions
        m.world.items.roll_snapshots()
        m.world.counters.period_first_item = m.world.items.n
        for link in (m.production, m.encounter, m.firms, m.government):
            link.start_period()
