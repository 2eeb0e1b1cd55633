"""User layer — value production under the knowledge-sharing logic (paper §3.3.1, §4.2.1).

Knowledge is the production factor. A creating user draws on effective knowledge
``kappa_i = k_i + beta * S / N``: private knowledge plus what it absorbs of the per-capita
shared *knowledge stock* S. Knowledge sets production efficiency (time to produce falls as
``T0 / (1 + kappa)``) and quality (``kappa / (kappa + kappa_half)`` plus noise, in [0.01, 1]).
The released item is data, handed to the platform (value encounter).

Each creation yields a *knowledge flow* ``Delta-k = learning x q`` (learning by doing) to the
creator. With probability ``sigma_i`` the creator shares it — S grows in quantity and is
renewed in timeliness, S obsolescing at rate rho otherwise — or hides it (citizenship
behaviour vs. knowledge hiding). Sharing propensities follow a public-goods dilemma: each
period ``sigma_i += adaptation * (reciprocity * r - sigma_i)`` with r the period's sharing
rate, so with reciprocity below 1 (conditional cooperators who undercut, Fischbacher &
Gächter 2010) sharing decays unless rewarded by the government.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from simmarket.core.items import OWNER_USER
from simmarket.core.streams import Block

if TYPE_CHECKING:
    from simmarket.core.model import Model


class ValueProduction:
    """Creation sessions, the knowledge flow and the shared knowledge stock S."""

    def __init__(self, model: Model):
        self.model = model
        rng = model.streams["production"]
        self._u = Block(rng)
        self._rng = rng
        self._normals: list[float] = []
        self._stock = 0.0
        self._stock_t = 0.0
        self.sharing_rate = float(np.mean(model.users.sharing)) if model.users.n else 0.0
        self._reset_period()

    def _reset_period(self) -> None:
        self.items = 0
        self.quality_sum = 0.0
        self.time_sum = 0.0
        self.shares = 0
        self.hides = 0

    def _normal(self) -> float:
        if not self._normals:
            self._normals = self._rng.standard_normal(8192).tolist()
        return self._normals.pop()

    # -- the knowledge stock ------------------------------------------------------------
    def stock(self, t: float) -> float:
        """S at time t: obsolescence at rate rho since the last change."""
        rho = self.model.cfg.production.obsolescence
        if t > self._stock_t:
            self._stock *= math.exp(-rho * (t - self._stock_t))
            self._stock_t = t
        return self._stock

    def effective_knowledge(self, user: int, t: float) -> float:
        m = self.model
        return float(m.users.knowledge[user]) + (
            m.cfg.production.absorption * self.stock(t) / m.users.n)

    # -- a creation session -------------------------------------------------------------
    def create(self, user: int):
        """SimPy process: produce one item, release it, then share or hide the knowledge."""
        m = self.model
        env, cfg, users = m.env, m.cfg.production, m.users
        kappa = self.effective_knowledge(user, env.now)
        duration = cfg.production_time / (1.0 + kappa) * math.exp(cfg.time_noise * self._normal())
        yield env.timeout(duration)
        t = env.now
        q = kappa / (kappa + cfg.quality_half) + cfg.quality_noise * self._normal()
        q = min(1.0, max(0.01, q))
        topic = int(users.topic[user])
        item = m.release_item(t, user, OWNER_USER, topic, q, duration)
        users.items_created[user] += 1
        users.created_period[user] += 1
        m.spillover.creators.add(user)
        self.items += 1
        self.quality_sum += q
        self.time_sum += duration
        emit = m.store.emit
        emit(t, "content_created", user, "user", item_id=item, value=q)
        flow = cfg.learning * q
        users.knowledge[user] += flow
        if self._u.next() < users.sharing[user]:
            self._stock = self.stock(t) + flow
            users.shares[user] += 1
            users.shares_period[user] += 1
            self.shares += 1
            emit(t, "knowledge_shared", user, "user", item_id=item, value=flow)
        else:
            users.hides[user] += 1
            self.hides += 1
            emit(t, "knowledge_hidden", user, "user", item_id=item, value=flow)

    # -- the sharing dilemma, once a period --------------------------------------------
    def close_period(self) -> dict:
        """Update sharing propensities and return the period's production figures."""
        m = self.model
        cfg, users = m.cfg.production, m.users
        decided = self.shares + self.hides
        if decided:
            self.sharing_rate = self.shares / decided
        target = cfg.reciprocity * self.sharing_rate
        users.sharing += cfg.adaptation * (target - users.sharing)
        np.clip(users.sharing, 0.0, 1.0, out=users.sharing)
        row = {
            "creation_sessions": None,  # filled by the clock from the population process
            "items_created": self.items,
            "mean_quality": self.quality_sum / self.items if self.items else None,
            "mean_production_time": self.time_sum / self.items if self.items else None,
            "knowledge_stock": self.stock(m.env.now),
            "shares": self.shares, "hides": self.hides,
            "sharing_rate": self.sharing_rate if decided else None,
            "mean_sharing_propensity": float(users.sharing.mean()),
            "active_creators": int(np.count_nonzero(users.created_period)),
            "value_produced": self.quality_sum * m.cfg.encounter.value_scale,
        }
        return row

    def start_period(self) -> None:
        self._reset_period()
        self.model.users.created_period[:] = 0
