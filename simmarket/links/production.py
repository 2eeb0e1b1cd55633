"""User layer — value production under the knowledge-sharing logic (paper §3.3.1, §4.2.1).

Knowledge is the production factor. A creating user draws on effective knowledge
``kappa_i = k_i + beta * S / N``: private knowledge plus what it absorbs of the per-capita
shared *knowledge stock* S. Knowledge sets production efficiency (time to produce falls as
``T0 / (1 + kappa)``) and quality (``kappa / (kappa + kappa_half)`` plus noise, in [0.01, 1]).
The released item is data, handed to the platform (value encounter) through the world.

A creator makes one item at a time (the population process sends a creation session to
browsing while her last item is in production), so production time gates throughput: more
knowledge, faster production, more items.

Each creation yields a *knowledge flow* ``Delta-k = learning x q`` (learning by doing) to the
creator. With probability ``sigma_i`` the creator shares it — S grows in quantity and is
renewed in timeliness, S obsolescing at rate rho otherwise — or hides it (citizenship
behaviour vs. knowledge hiding). Sharing costs the sharer ``share_time`` days of writing up
(her next item waits) and exclusivity.

Sharing is a public-goods dilemma among heterogeneous conditional cooperators (Fischbacher &
Gächter 2010). Each period every user weighs sharing:
``U_i = psi r + g + reputation x log(1 + w x community growth_i) - share_cost``, with r the sharing
rate she observed last period and g the government's guidance (its reward's utility while it
guides), and wishes to share when ``U_i >= theta_i``, her personal threshold. Her propensity
moves toward the wish: ``sigma_i += adaptation x (wish_i - sigma_i)``. With ``theta ~ Beta`` the
population has a tipping point: above it sharing sustains itself (the government can
withdraw), below it sharing collapses; where the tipping point lies depends on psi, the cost
and guidance — the region where the paper's claim holds, and the one where it fails.

Creators respond to income: each period the creation propensity becomes
``pi_i x (1 + income_response x tanh(recent income_i / income_scale))``, at most 1, recent
income being the period's (connections, licence fees, rewards, less fines).

Random streams: ``("production", "time")`` and ``("production", "quality")`` for the noise,
``("production", "share")`` for the share-or-hide decision.
"""

from __future__ import annotations

import math

import numpy as np

from simmarket.core.context import Context
from simmarket.core.items import OWNER_USER


class ValueProduction:
    """Creation sessions, the knowledge flow and the shared knowledge stock S."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._time_noise = ctx.streams.block("production", "time", kind="normal")
        self._quality_noise = ctx.streams.block("production", "quality", kind="normal")
        self._share = ctx.streams.block("production", "share")
        self._stock = 0.0
        self._stock_t = 0.0
        users = ctx.world.users
        self.sharing_rate = float(np.mean(users.sharing)) if users.n else 0.0
        self.start_period()

    # -- the knowledge stock ------------------------------------------------------------
    def stock(self, t: float) -> float:
        """S at time t: obsolescence at rate rho since the last change."""
        rho = self.ctx.scenario.production.obsolescence
        if t > self._stock_t:
            self._stock *= math.exp(-rho * (t - self._stock_t))
            self._stock_t = t
        return self._stock

    def effective_knowledge(self, user: int, t: float) -> float:
        """kappa_i: own knowledge plus the absorbed per-capita shared stock."""
        users = self.ctx.world.users
        return float(users.knowledge[user]) + (
            self.ctx.scenario.production.absorption * self.stock(t) / users.n)

    # -- a creation session -------------------------------------------------------------
    def create(self, user: int):
        """SimPy process: produce one item, release it, then share or hide the knowledge."""
        env, cfg = self.ctx.env, self.ctx.scenario.production
        kappa = self.effective_knowledge(user, env.now)
        duration = cfg.production_time / (1.0 + kappa) * math.exp(
            cfg.time_noise * self._time_noise.next())
        self.ctx.world.users.busy_until[user] = env.now + duration
        yield env.timeout(duration)
        q = kappa / (kappa + cfg.quality_half) + cfg.quality_noise * self._quality_noise.next()
        item = self._release(user, min(1.0, max(0.01, q)), duration)
        self._knowledge_flow(user, item, cfg.learning * float(self.ctx.world.items.quality[item]))

    def _release(self, user: int, q: float, duration: float) -> int:
        world, t = self.ctx.world, self.ctx.env.now
        users = world.users
        item = world.release_item(t, user, OWNER_USER, int(users.topic[user]), q, duration)
        world.counters.creating_days += duration
        users.items_created[user] += 1
        users.created_period[user] += 1
        self.items += 1
        self.quality_sum += q
        self.time_sum += duration
        self.ctx.recorder.emit(t, "content_created", user, "user", item_id=item, value=q)
        return item

    def _knowledge_flow(self, user: int, item: int, flow: float) -> None:
        """Learning by doing; the flow is shared into S (w.p. sigma_i) or hidden."""
        users, t = self.ctx.world.users, self.ctx.env.now
        users.knowledge[user] += flow
        if self._share.next() < users.sharing[user]:
            self._stock = self.stock(t) + flow
            users.busy_until[user] = t + self.ctx.scenario.production.share_time
            users.shares[user] += 1
            users.shares_period[user] += 1
            self.shares += 1
            self.ctx.recorder.emit(t, "knowledge_shared", user, "user", item_id=item, value=flow)
        else:
            users.hides[user] += 1
            self.hides += 1
            self.ctx.recorder.emit(t, "knowledge_hidden", user, "user", item_id=item, value=flow)

    # -- the sharing dilemma, once a period --------------------------------------------
    def close_period(self) -> dict:
        """Update sharing propensities and return the period's production figures."""
        users = self.ctx.world.users
        decided = self.shares + self.hides
        if decided:
            self.sharing_rate = self.shares / decided
        self._weigh_sharing()
        self._respond_to_income()
        return {
            "items_created": self.items,
            "mean_quality": self.quality_sum / self.items if self.items else None,
            "mean_production_time": self.time_sum / self.items if self.items else None,
            "knowledge_stock": self.stock(self.ctx.env.now),
            "shares": self.shares, "hides": self.hides,
            "sharing_rate": self.sharing_rate if decided else None,
            "mean_sharing_propensity": float(users.sharing.mean()),
            "active_creators": int(np.count_nonzero(users.created_period)),
            "value_produced": self.quality_sum * self.ctx.scenario.encounter.value_scale,
        }

    def _weigh_sharing(self) -> None:
        """Conditional cooperation: move each sigma_i toward this period's wish to share."""
        cfg, world = self.ctx.scenario.production, self.ctx.world
        users = world.users
        # reputation: the audience a sharer gained (each creator the agent stands for, §9.1)
        growth = np.maximum(users.community_size - users.community_before, 0)
        utility = (cfg.reciprocity * self.sharing_rate + world.counters.guidance
                   + cfg.reputation * np.log1p(growth) - cfg.share_cost)
        wish = (utility >= users.threshold).astype(np.float64)
        users.sharing += cfg.adaptation * (wish - users.sharing)
        users.community_before[:] = users.community_size

    def _respond_to_income(self) -> None:
        """Creation propensity follows the period's income (bounded by 1)."""
        cfg, users = self.ctx.scenario.users, self.ctx.world.users
        recent = users.income - users.income_before
        np.minimum(1.0, users.creator * (1.0 + cfg.income_response * np.tanh(
            np.maximum(recent, 0.0) / cfg.income_scale)), out=users.creator_effective)
        users.income_before[:] = users.income

    def start_period(self) -> None:
        self.items = self.shares = self.hides = 0
        self.quality_sum = self.time_sum = 0.0
        self.ctx.world.users.created_period[:] = 0
        self.ctx.world.users.shares_period[:] = 0
