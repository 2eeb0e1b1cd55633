"""Value encounter: impressions become connections, connections realise value (paper §3.3.2).

Each impression becomes a *connection* with probability
``(1 - hci_friction) x sigmoid(w_q q_j + w_a affinity + w_s log(1 + c_j) - tau)``; ``w_s`` is the
community (social-proof) effect on the item's community c_j. A connection is a use right, not
ownership: the item gains a connection, the user joins the owner's community, and value is
realised, ``v_ij = value_scale x q_j x affinity x (1 + eta n(c_j))`` with ``n`` the
network-value function of the community (none, log = Odlyzko-Tilly, linear = Metcalfe).

The agents are a sample of the represented marketplace (MODEL.md §9.1): an agent stands for
``w = users.represents / users.n`` people and an agent item for w items of its kind, so c_j,
the agent item's connections, is the community each of those items has, and it does not grow
with n. A use right is acquired once per person and item: the impression is met by person
``p = (x / reach) w`` of the agent's class (x / reach, the decision's uniform over the
connection probability, is uniform given a connection: no draw is added), who already holds
one iff the pair's count exceeds p — probability k / w — and who joins the owner's community
unless its (owner, user) count exceeds p. A member gets ``w_community`` added to the logit
(loyalty; off by default: acting on agent pairs, it would shrink as w grows). With
``users.represents = users.n`` these are the exact once-per-user rules.

The connection curve keeps, by c, the value of an item's c-th connection and its change from
the same item's (c-1)-th, split exactly into the *network term*
``value_scale q a_c eta (n(C_c) - n(C_{c-1}))`` and the *audience composition* term
``value_scale q (1 + eta n(C_{c-1})) (a_c - a_{c-1})`` (later connectors' affinity) — the two
readings of Proposition 2 (MODEL.md §9.3). There is no
consumer surplus (connection-value theory): the user pays exactly ``v_ij``; the owner receives
``(1 - platform_fee) v_ij`` and the platform the rest.

In the industrial counterfactual (:mod:`.industrial`) the connection is a purchase: the
connection event records the buyer's perceived value v; payments, the item's value and the
value network carry the price paid, the value transmitted along the chain.
"""

from __future__ import annotations

import math

import numpy as np

from simmarket.core.context import Context
from simmarket.core.items import OWNER_FIRM, OWNER_TYPES, PLATFORM
from simmarket.core.pairs import Holdings
from simmarket.links.encounter.industrial import IndustrialMarket
from simmarket.links.encounter.kernel import curve_add
from simmarket.links.encounter.recommender import Recommender
from simmarket.metrics import gini


def network_value(c: int, function: str) -> float:
    """n(c): the per-connection network term of a community of size c."""
    if function == "log":
        return math.log1p(c)
    if function == "linear":
        return float(c)
    return 0.0


def _odds(logit: float, u: float) -> float:
    """u / sigmoid(logit): the connection rule is ``_odds < reach`` (no overflow of exp)."""
    return u * (1.0 + math.exp(-logit)) if logit >= -700.0 else math.inf


class ConnectionCurve:
    """Value of an item's c-th connection, summed over items by c (final table).

    Kept raw, per unit of the item's quality (which removes the selection of good items into
    high c), and within items (v of the c-th minus v of the same item's (c-1)-th). One row of
    ``data`` per sum (``ROWS``), one column per c, added to by :func:`.kernel.curve_add` (the
    compiled sessions call it on the same array).
    """

    ROWS = ("connections", "value_sum", "value_per_quality_sum", "within_item_change_sum",
            "network_term_sum", "composition_term_sum")

    def __init__(self, capacity: int = 256) -> None:
        self.data = np.zeros((len(self.ROWS), capacity))
        self.length = 0

    def add(self, c: int, v: float, quality: float, last: float, network: float = 0.0,
            composition: float = 0.0) -> None:
        """The c-th connection (0-based) of an item: its value, and the change from the last
        one split into the network term and the audience composition term."""
        if c >= self.data.shape[1]:
            self.grow(c + 1)
        self.length = int(curve_add(self.data, self.length, c, v, quality, last, network,
                                    composition))

    def grow(self, columns: int) -> None:
        """Room for at least `columns` values of c (capacity doubles)."""
        size = self.data.shape[1]
        while size < columns:
            size *= 2
        data = np.zeros((len(self.ROWS), size))
        data[:, :self.data.shape[1]] = self.data
        self.data = data

    def columns(self) -> dict:
        n = self.length
        sums = {name: self.data[i, :n] for i, name in enumerate(self.ROWS)}
        sums["connections"] = sums["connections"].astype(np.int64)
        return {"c": np.arange(1, n + 1), **sums}


class ValueEncounter:
    """Browse sessions: feeds, impressions, connections and connection value."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.recommender = Recommender(ctx)
        self.industrial = IndustrialMarket(ctx) if ctx.world.industrial else None
        net = ctx.world.network
        self._platform_node = net.node("platform", PLATFORM)
        self._firm_node0 = net.node("firm", 0)
        # (owner, user) -> members, (item, user) -> use rights, of the user's represented class
        self.members = Holdings()
        self.connected = Holdings()
        self.curve = ConnectionCurve()
        rec = ctx.recorder
        self._impression = rec.channel("impression")
        self._record = rec.record
        self._pairs = ctx.world.users.n
        self.start_period()

    def start_period(self) -> None:
        self.impressions = self.connections = self.community_joins = 0
        self.connection_value = self.paid = 0.0
        self.creator_income = self.platform_revenue = 0.0

    # -- a browse session -------------------------------------------------------------------
    def browse(self, user: int, session: int) -> None:
        """One browse session: a feed, then a connection decision per item."""
        world, enc = self.ctx.world, self.ctx.scenario.encounter
        rec = self.recommender
        now = self.ctx.env.now
        if now - rec.refreshed_at >= enc.refresh_days or (
                world.items.n > rec.items_seen * (1.0 + enc.refresh_growth)):
            rec.refresh()
        if rec.size == 0:
            return
        users, items = world.users, world.items
        drawn = rec.next_feed(int(users.system[user]), int(users.topic[user]))
        if drawn[4] and max(drawn[4]) >= 0:
            rec.subscribe(user, drawn)
        feed, static, affinity, draws, _ = drawn
        self.impressions += len(feed)
        rate = enc.impression_sample_rate
        if int(session * rate) != int((session - 1) * rate):  # a systematic sample
            self._sample_impressions(user, feed, 1.0 / rate)
        w_s = 0.0 if world.industrial else enc.w_social
        reach = 1.0 - self.ctx.scenario.tech.hci_friction
        conns, connected, removed = items.connections, self.connected, items.removed
        w_m = 0.0 if world.industrial else enc.w_community
        owners, kinds, members, n = items.owner, items.owner_type, self.members, self._pairs
        # Which of the w people the agent stands for meets the item (MODEL.md §9.1): person
        # share x w of the class, share = x / reach being the decision's uniform over the
        # connection probability (uniform given a connection), so no draw is added. She holds
        # a use right, or is a member, iff her index is below the pair's count; with w = 1
        # this is the exact connect-once rule.
        w = world.weight
        for j, logit, a, u in zip(feed, static, affinity, draws):
            logit += w_s * math.log1p(conns.item(j))  # the live community effect
            x = _odds(logit, u)
            # membership is looked up only when the loyalty bonus would change the decision
            if w_m and (x < reach) != ((bonus := _odds(logit + w_m, u)) < reach):
                owner = owners.item(j) if kinds.item(j) != OWNER_FIRM else n + owners.item(j)
                if members.count(owner * n + user) > min(x, bonus) / reach * w:
                    x = bonus
            if x >= reach:
                continue
            if removed.item(j):
                continue  # taken down by moderation since the index was built
            if items.owner.item(j) == user and items.owner_type.item(j) != OWNER_FIRM:
                continue  # one's own item
            person = x / reach * w
            key = j * n + user
            if connected.count(key) > person:
                continue  # the use right is already held: seeing it again adds nothing
            if self._connect(user, j, a, person):
                connected.add(key)

    def _sample_impressions(self, user: int, feed: list[int], weight: float) -> None:
        items, t = self.ctx.world.items, self.ctx.env.now
        for j in feed:
            self._impression((t, "impression", user, "user", j, items.owner.item(j),
                              OWNER_TYPES[items.owner_type.item(j)], weight))

    def _connect(self, user: int, j: int, aff: float, person: float = 0.0) -> bool:
        """A use-right connection (value v, paid in full), or an industrial purchase."""
        if self.industrial is not None:
            deal = self.industrial.offer(user, j, aff)
            if deal is None:
                return False
            self.curve.add(self.ctx.world.items.connections.item(j), deal[0],
                           self.ctx.world.items.quality.item(j),
                           self.ctx.world.items.last_value.item(j))
            self._settle(user, j, *deal)
            return True
        sc, items = self.ctx.scenario.encounter, self.ctx.world.items
        c, base = items.connections.item(j), sc.value_scale * items.quality.item(j)
        n_now = sc.network_effect * network_value(c, sc.network_function)
        v = base * aff * (1.0 + n_now)
        if c:
            n_before = sc.network_effect * network_value(c - 1, sc.network_function)
            last_aff = items.last_affinity.item(j)
            self.curve.add(c, v, items.quality.item(j), items.last_value.item(j),
                           base * aff * (n_now - n_before),
                           base * (1.0 + n_before) * (aff - last_aff))
        else:
            self.curve.add(c, v, items.quality.item(j), 0.0)
        items.last_affinity[j] = aff
        self._settle(user, j, v, v)
        self._join(user, j, person)
        return True

    def _settle(self, user: int, j: int, v: float, price: float) -> None:
        """Record a connection of perceived value v paid at `price`, split owner/platform."""
        world, t, record = self.ctx.world, self.ctx.env.now, self._record
        items = world.items
        fee = self.ctx.scenario.encounter.platform_fee
        owner, owner_kind = items.owner.item(j), items.owner_type.item(j)
        owner_type = OWNER_TYPES[owner_kind]
        to_owner, to_platform = (1.0 - fee) * price, fee * price
        c = items.connections.item(j)
        items.last_value[j] = v
        items.connections[j] = c + 1
        items.value[j] += price  # value paid for the item (= v in metaverse mode)
        world.users.connections_made[user] += 1
        record((t, "connection", user, "user", j, owner, owner_type, v))
        record((t, "payment", user, "user", j, owner, owner_type, to_owner))
        net_add = world.network.add
        net_add((user, owner if owner_kind != OWNER_FIRM else self._firm_node0 + owner, price))
        if to_platform > 0.0:
            record((t, "payment", user, "user", j, PLATFORM, "platform", to_platform))
            net_add((user, self._platform_node, to_platform))
        if owner_kind == OWNER_FIRM:
            world.firms.receive(owner, to_owner)
        else:
            world.users.income[owner] += to_owner
            self.creator_income += to_owner
        self.connections += 1
        self.connection_value += v
        self.paid += price
        self.platform_revenue += to_platform
        world.counters.platform_revenue += to_platform
        world.counters.connections += 1

    def _join(self, user: int, j: int, person: float) -> None:
        """The person joins the community of the item's owner, unless already a member."""
        world = self.ctx.world
        items, n = world.items, self._pairs
        owner, kind = items.owner.item(j), items.owner_type.item(j)
        community = owner if kind != OWNER_FIRM else n + owner
        key = community * n + user
        if self.members.count(key) > person:
            return
        self.members.add(key)
        world.users.follows[user] = community
        sizes = world.firms.community_size if kind == OWNER_FIRM else world.users.community_size
        sizes[owner] += 1
        self.community_joins += 1
        self._record((self.ctx.env.now, "community_joined", user, "user", j, owner,
                      OWNER_TYPES[kind], float(sizes[owner])))

    # -- once a period ------------------------------------------------------------------------
    def close_period(self) -> dict:
        world = self.ctx.world
        sizes = world.users.community_size
        firm_sizes = world.firms.view("community_size")
        return {
            "impressions": self.impressions,
            "connections": self.connections,
            "connection_value": self.connection_value,
            "paid": self.paid,
            "creator_income": self.creator_income,
            "platform_revenue": self.platform_revenue,
            "consumer_surplus": self.connection_value - self.paid,
            "community_joins": self.community_joins,
            "communities": int(np.count_nonzero(sizes)) + int(np.count_nonzero(firm_sizes)),
            "largest_community": int(max(sizes.max(initial=0), firm_sizes.max(initial=0))),
            "gini_creator_income": gini(np.maximum(world.users.income, 0.0)),
            "value_encountered": self.connection_value,
        }
