"""The world state every link reads and writes: users, items, firms and shared counters.

Links never reach into one another. What one link produces and another consumes lives here,
as arrays indexed by id (users, items, firms) or as named running totals (:class:`Counters`).
The value network, which several links add value to, is held here too. Each link can
therefore be built and tested on a small hand-made world, and a compiled kernel can take the
arrays as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from simmarket.config.scenario import Scenario
from simmarket.core.columns import Columns
from simmarket.core.items import OWNER_USER, Items
from simmarket.core.streams import Streams

if TYPE_CHECKING:
    from simmarket.links.transmission.network import ValueNetwork

#: User attributes, each drawn from its own stream ``("users", attribute)``.
ATTRIBUTES = ("topic", "knowledge", "sharing", "activity", "creator", "access", "system",
              "threshold")


def stratified(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniforms, one in each stratum [k/n, (k+1)/n), in random order (Latin hypercube
    sampling): every attribute drawn from them by its inverse CDF has the represented
    population's distribution at any n, so the agents are a sample that does not drift with
    users.n (MODEL.md §9.1)."""
    return (rng.permutation(n) + rng.random(n)) / n


def lognormal_ppf(q: np.ndarray, median: float, sigma: float) -> np.ndarray:
    """The lognormal(log median, sigma) quantile function."""
    return median * np.exp(sigma * special.ndtri(q))


class Users:
    """State of every user, drawn at t = 0.

    Each attribute has its own stream, so that changing one distribution (say the sharing
    Beta, whose sampler consumes a variable number of draws) leaves every other attribute of
    every user unchanged: scenarios differ only where they are meant to.
    """

    def __init__(self, scenario: Scenario, streams: Streams):
        u = scenario.users
        n = self.n = u.n
        q = {a: stratified(streams("users", a), n) for a in ATTRIBUTES}
        self.topic = (q["topic"] * u.topics).astype(np.int64)
        self.knowledge = lognormal_ppf(q["knowledge"], u.knowledge_median, u.knowledge_sigma)
        self.knowledge_initial = self.knowledge.copy()
        self.sharing = special.betaincinv(u.sharing_a, u.sharing_b, q["sharing"])
        self.sharing_initial = self.sharing.copy()
        self.activity = lognormal_ppf(q["activity"], u.activity_median, u.activity_sigma)
        self.creator = special.betaincinv(u.creator_a, u.creator_b, q["creator"])
        # A fixed uniform per user: users with access_draw < access_share own a device, so a
        # rising access share (R&D promotion path) adds users without reshuffling the rest.
        self.access_draw = q["access"]
        # the technical system (device, protocol family) a user works in (paper 001 §二(一)3)
        self.system = (q["system"] * scenario.tech.systems).astype(np.int64)
        # conditional cooperation: a user wishes to share when the payoff of sharing (what
        # others share, guidance, reputation, minus the cost) reaches her threshold
        self.threshold = special.betaincinv(u.threshold_a, u.threshold_b, q["threshold"])
        # creation propensity as it stands, after the response to recent income
        self.creator_effective = self.creator.copy()
        self.busy_until = np.zeros(n, np.float64)  # a creator makes one item at a time
        for name in ("items_created", "shares", "hides", "shares_period", "created_period",
                     "connections_made", "community_size", "community_before"):
            setattr(self, name, np.zeros(n, np.int64))
        # subscriptions: the owner of the community the user joined last (a user's id, or
        # n plus a firm's id, as in the membership keys; -1 none) and each creator's newest
        # item (-1 none), which the recommender's subscription channel shows
        self.follows = np.full(n, -1, np.int64)
        self.newest_item = np.full(n, -1, np.int64)
        self.income = np.zeros(n, np.float64)
        self.income_before = np.zeros(n, np.float64)  # income at the period's start
        self.rewards = np.zeros(n, np.float64)

    def device_access(self, access_share: float) -> np.ndarray:
        return self.access_draw < access_share


class Firms(Columns):
    """Every firm that has entered; a firm has exited when ``t_exited`` is set."""

    FIELDS = {
        "t_entered": (np.float64, 0.0),
        "t_exited": (np.float64, np.nan),
        "data_driven": (np.bool_, False),
        "initial_capital": (np.float64, 0.0),
        "capital": (np.float64, 0.0),
        "revenue": (np.float64, 0.0),
        "revenue_period": (np.float64, 0.0),
        "derivatives": (np.int64, 0),
        "licenses": (np.int64, 0),
        "license_fees": (np.float64, 0.0),
        "barred": (np.bool_, False),
        "community_size": (np.int64, 0),
        "newest_item": (np.int64, -1),
    }

    def active(self) -> np.ndarray:
        """Ids of the firms still in the market."""
        return np.flatnonzero(np.isnan(self.view("t_exited")))

    def is_active(self, firm: int) -> bool:
        return bool(np.isnan(self.t_exited[firm]))

    def receive(self, firm: int, amount: float) -> None:
        """A connection to one of the firm's derivatives paid it `amount`."""
        self.capital[firm] += amount
        self.revenue[firm] += amount
        self.revenue_period[firm] += amount


@dataclass
class Counters:
    """Running totals one link keeps and others read (the spillover, centrality)."""

    items_released: int = 0
    connections: int = 0
    #: days users spent producing items (summed production times of released items)
    creating_days: float = 0.0
    #: the utility the government's guidance adds to sharing (0 when it does not guide)
    guidance: float = 0.0
    platform_revenue: float = 0.0
    government_captured: float = 0.0
    #: id of the first item released in the current period (moderation looks from here)
    period_first_item: int = 0


class World:
    """Users, items, firms, counters and the value network of one marketplace."""

    def __init__(self, scenario: Scenario, streams: Streams, network: ValueNetwork):
        self.scenario = scenario
        self.users = Users(scenario, streams)
        self.items = Items(max(1024, scenario.users.n // 4))
        self.firms = Firms()
        self.counters = Counters()
        self.network = network
        self.industrial = scenario.mode == "industrial"
        #: people each agent stands for (MODEL.md §9.1): absolute sizes use represented counts
        self.weight = scenario.users.represented / max(1, scenario.users.n)
        self.trust = self.trust_target()
        self._rate_listeners: list[Callable[[], None]] = []

    def release_item(self, t: float, owner: int, owner_type: int, topic: int, quality: float,
                     production_time: float, parent: int = -1) -> int:
        """Put a new item on the platform (priced and stocked in industrial mode).

        Content lives in its maker's system; a derivative in its original's.
        """
        sc = self.scenario
        price = (sc.industrial.price_factor * sc.encounter.value_scale * quality
                 if self.industrial else 0.0)
        units = sc.industrial.units_per_item if self.industrial else 0
        system = (self.users.system[owner] if owner_type == OWNER_USER
                  else self.items.system[parent])
        self.counters.items_released += 1
        j = self.items.add(t, owner, owner_type, topic, quality, production_time,
                           parent=parent, price=price, units=units, system=int(system))
        (self.users if owner_type == OWNER_USER else self.firms).newest_item[owner] = j
        return j

    # -- participation: trust and session rates -------------------------------------------
    def trust_target(self) -> float:
        """Participation users settle at without leaks: privacy protection builds trust."""
        reg = self.scenario.regulation
        return 1.0 - reg.privacy_trust * (1.0 - reg.privacy_protection)

    def set_trust(self, trust: float) -> None:
        """Users' trust scales participation (session rates)."""
        if trust != self.trust:
            self.trust = trust
            self.rates_changed()

    def on_rates_changed(self, listener: Callable[[], None]) -> None:
        self._rate_listeners.append(listener)

    def rates_changed(self) -> None:
        """Session rates changed (trust, device access): tell whoever draws sessions."""
        for listener in self._rate_listeners:
            listener()
