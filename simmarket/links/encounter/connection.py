"""Platform layer — value encounter under the community logic (paper §3.3.2, §4.2.2).

A browsing user is shown a feed of F items by the platform's recommender. Each feed slot has
a topic scope (the user's own topic w.p. ``topic_match``, else any) and a system scope: users
and their content live in one of ``tech.systems`` incompatible technical systems (paper 001
§二(一)3), and a slot may show content from another system only w.p. ``interoperability`` —
with none, the systems are separate worlds. A slot whose scope has no content yet stays empty.
Within its scope a slot comes from one of three channels: popularity (item j with weight
``(c_j + 1)^gamma``, preferential), recency (the newest R items) or exploration (uniform).
The recommender recomputes its ranking index every ``refresh_days``, as platforms rank in
batch.

Each impression becomes a *connection* with probability
``(1 - hci_friction) x sigmoid(w_q q_j + w_a affinity + w_s log(1 + c_j) - tau)``; ``w_s`` is the
community (social-proof) effect. A connection is a use right, not ownership, acquired once
per user and item: the item gains a connection (so ``c_j`` counts its community), the user
joins the owner's community, and value is realised,
``v_ij = value_scale x q_j x affinity x (1 + eta n(c_j))`` with ``n`` the network-value function
of the item's community size (none, log = Odlyzko-Tilly, linear = Metcalfe). There is no
consumer surplus (connection-value theory): the user pays exactly ``v_ij``; the owner receives
``(1 - platform_fee) v_ij`` and the platform the rest.

In the industrial counterfactual (paper Fig. 1, the other corner) items are owned, not used:
each has ``units_per_item`` rival units sold once each at a price fixed at release, the
utility of a user's m-th item of a topic falls as ``m^-diminishing``, there is no network or
community term, and the buyer keeps a consumer surplus ``v - price``. The connection event
records the buyer's perceived value v; payments, the item's value and the value network carry
the price paid, the value transmitted along the chain.
"""

from __future__ import annotations

import math
from itertools import compress
from typing import TYPE_CHECKING

import numpy as np

from simmarket.core.items import OWNER_FIRM, OWNER_TYPES
from simmarket.core.pairs import PairSet

if TYPE_CHECKING:
    from simmarket.core.model import Model

PLATFORM = 0
#: Feeds drawn per topic in the first batch; later batches follow each topic's demand.
FEED_BATCH = 32
#: One feed: item ids, the static part of each item's connection logit (quality, affinity,
#: threshold), each item's topic affinity to the user, and each decision's uniform draw.
Feed = tuple[list[int], list[float], list[float], list[float]]


def topic_affinity(topics: int, scale: float) -> np.ndarray:
    """T x T affinity: exp(-d / scale), d the distance between topics on a ring."""
    idx = np.arange(topics)
    d = np.abs(idx[:, None] - idx[None, :])
    d = np.minimum(d, topics - d)
    return np.exp(-d / scale)


def network_value(c: int, function: str) -> float:
    """n(c): the per-connection network term of a community of size c."""
    if function == "log":
        return math.log1p(c)
    if function == "linear":
        return float(c)
    return 0.0


class Recommender:
    """The platform's ranking index, rebuilt every ``refresh_days``."""

    def __init__(self, model: Model):
        self.model = model
        self._rng = model.streams["encounter"]
        self.size = 0
        self._used: list[int] = []
        self.items_seen = 0
        self.refreshed_at = -math.inf

    def refresh(self) -> None:
        """Rebuild the index: eligible items in four orders, with cumulative weights.

        One array holds four segments of the eligible items — grouped by (system, topic), by
        topic, by system, and all of them — each group in id order (newest last), with one
        cumulative-weight array across all four, so one ``searchsorted`` serves every slot of
        a feed whatever its scope.
        """
        m = self.model
        items, cfg = m.items, m.cfg.encounter
        n_topics, n_systems = m.cfg.users.topics, m.cfg.tech.systems
        eligible = ~items.view("removed")
        if m.industrial:
            eligible &= items.view("units_left") > 0
        ids = np.flatnonzero(eligible)
        n = self.size = len(ids)
        self.items_seen = items.n
        weights = (items.view("connections")[ids] + 1.0) ** cfg.popularity_exponent
        topic = items.view("topic")[ids].astype(np.int64)
        system = items.view("system")[ids].astype(np.int64)
        keys = (system * n_topics + topic, topic, system)
        orders = [np.argsort(k, kind="stable") for k in keys] + [np.arange(n)]
        self.ids = np.concatenate([ids[o] for o in orders])
        self.cum = np.cumsum(np.concatenate([weights[o] for o in orders]))
        by_topic = _bounds(keys[1][orders[1]], n_topics, n)
        #: [system, topic, scope] -> (start, end) in ids, for the four scopes: (own system,
        #: own topic), (any system, own topic), (own system, any topic), (any system, any)
        scopes = np.empty((n_systems, n_topics, 4, 2), np.int64)
        scopes[:, :, 0] = _bounds(keys[0][orders[0]], n_systems * n_topics, 0).reshape(
            n_systems, n_topics, 2)
        scopes[:, :, 1] = by_topic[None, :, :]
        scopes[:, :, 2] = _bounds(keys[2][orders[2]], n_systems, 2 * n)[:, None, :]
        scopes[:, :, 3] = (3 * n, 4 * n)
        self._scopes = scopes
        #: topic bounds (absolute positions in ids), as firms scan a topic across systems
        self.start, self.end = by_topic[:, 0], by_topic[:, 1]
        self.refreshed_at = m.env.now
        self.levers_changed()

    def _reset_buffers(self) -> None:
        """Discard pre-drawn feeds (the index or a lever changed); size the next batches by
        each (system, topic) group's demand since the last reset."""
        groups = self.model.cfg.users.topics * self.model.cfg.tech.systems
        used = self._used if len(self._used) == groups else [FEED_BATCH] * groups
        self._batch = np.maximum(8, np.array(used) + np.array(used) // 8)
        self._used = [0] * groups
        self._buffers: list[list[Feed]] = []

    def next_feed(self, system: int, topic: int) -> Feed:
        """The next feed for a user of (`system`, `topic`), from that group's buffer."""
        n_topics = self.model.cfg.users.topics
        if not self._buffers:
            self._fill_buffers(n_topics)
        g = system * n_topics + topic
        buffer = self._buffers[g]
        if not buffer:  # demand above the last interval's: top this group up
            size = max(8, int(self._batch[g]) // 4)
            buffer = self._buffers[g] = self._draw_feeds(
                np.full(size, system), np.full(size, topic))
        self._used[g] += 1
        return buffer.pop()

    def _fill_buffers(self, n_topics: int) -> None:
        """Draw every group's batch in one vectorised call (after each reset)."""
        groups = np.arange(len(self._batch))
        rows = np.repeat(groups, self._batch)
        feeds = self._draw_feeds(rows // n_topics, rows % n_topics)
        cuts = np.cumsum(self._batch)[:-1].tolist()
        self._buffers = [feeds[a:b] for a, b in zip([0] + cuts, cuts + [len(feeds)])]

    def _draw_feeds(self, systems: np.ndarray, topics: np.ndarray) -> list[Feed]:
        """Draw one feed per row for users of (`systems[r]`, `topics[r]`), vectorised.

        A feed depends only on the index (fixed until the next refresh), the user's system
        and topic, and random draws, so feeds are drawn in batches. Each slot: its topic scope
        (the user's topic w.p. topic_match), its system scope (any system w.p.
        interoperability, else the user's own), its channel and position; then the slot's
        static part of the connection logit and the uniform its decision will use. Duplicate
        items within a feed and slots whose scope is empty are dropped.
        """
        m = self.model
        cfg = m.cfg.encounter
        u = self._rng.random((5, len(topics), cfg.feed_size))
        cum = self.cum
        scope = (u[0] >= cfg.topic_match).astype(np.int64) * 2 + (
            u[3] < m.cfg.tech.interoperability)
        bounds = self._scopes[systems[:, None], topics[:, None], scope]
        s, e = bounds[..., 0], bounds[..., 1]
        size = e - s
        base = np.where(s > 0, cum[s - 1], 0.0)
        target = base + u[2] * (cum[np.maximum(e - 1, 0)] - base)
        popular = np.minimum(np.searchsorted(cum, target, side="right"), e - 1)
        recent = e - 1 - (u[2] * np.minimum(size, cfg.recency_window)).astype(np.int64)
        explore = s + (u[2] * size).astype(np.int64)
        pos = np.where(u[1] < self.p_pop, popular, np.where(u[1] < self.p_rec, recent, explore))
        keep = size > 0  # a slot whose scope has no content yet stays empty
        item = self.ids[np.where(keep, pos, 0)]
        order = np.argsort(item, axis=1, kind="stable")
        ranked = np.take_along_axis(item, order, axis=1)
        repeat = np.zeros_like(keep)
        np.put_along_axis(repeat, order[:, 1:], ranked[:, 1:] == ranked[:, :-1], axis=1)
        keep &= ~repeat
        items = m.items
        aff = self.model.encounter.affinity[topics[:, None], items.topic[item]]
        static = cfg.w_quality * items.quality[item] + cfg.w_affinity * aff - cfg.threshold
        whole = keep.all(axis=1).tolist()
        rows = zip(item.tolist(), static.tolist(), aff.tolist(), u[4].tolist(), keep.tolist())
        return [(i, st, a, d) if full else
                (list(compress(i, k)), list(compress(st, k)), list(compress(a, k)),
                 list(compress(d, k)))
                for full, (i, st, a, d, k) in zip(whole, rows)]

    def levers_changed(self) -> None:
        """Channel shares and the own-topic share follow the (policy-driven) levers."""
        m = self.model
        self._reset_buffers()
        cfg = m.cfg.encounter
        w = cfg.w_popularity + cfg.w_recency + cfg.w_exploration
        self.p_pop = cfg.w_popularity / w
        self.p_rec = (cfg.w_popularity + cfg.w_recency) / w


def _bounds(sorted_keys: np.ndarray, groups: int, offset: int) -> np.ndarray:
    """(start, end) of each key 0 .. groups-1 in sorted_keys, shifted by offset: (groups, 2)."""
    keys = np.arange(groups)
    return np.stack([np.searchsorted(sorted_keys, keys, side="left"),
                     np.searchsorted(sorted_keys, keys, side="right")], axis=1) + offset


class ValueEncounter:
    """Browse sessions: feeds, impressions, connections and connection value."""

    def __init__(self, model: Model):
        self.model = model
        cfg = model.cfg
        self.recommender = Recommender(model)
        self.affinity = topic_affinity(cfg.users.topics, cfg.encounter.affinity_scale)
        self._affinity = self.affinity.tolist()
        self._platform_node = model.network.node("platform", PLATFORM)
        self._firm_node0 = model.network.node("firm", 0)
        self.members = PairSet()  # (owner, user): community membership, once per owner
        self.connected = PairSet()  # (item, user): a user connects to an item once
        self.firm_community: dict[int, int] = {}
        self.platform_total = 0.0
        # the connection value curve: value of the c-th connection of an item, summed by c,
        # raw and per unit of the item's quality (which removes the selection of good items
        # into high c, isolating the network term or diminishing utility)
        self.curve_n: list[int] = []
        self.curve_value: list[float] = []
        self.curve_relative: list[float] = []
        # within items: v of the c-th connection minus v of the same item's (c-1)-th, summed
        self.curve_delta: list[float] = []
        # industrial mode: items of each topic a user owns, keyed user * topics + topic
        self.owned: dict[int, int] = {}
        self._reset_period()

    def _reset_period(self) -> None:
        self.impressions = 0
        self.connections = 0
        self.connection_value = 0.0
        self.paid = 0.0
        self.creator_income = 0.0
        self.platform_revenue = 0.0
        self.community_joins = 0

    def browse(self, user: int, session: int) -> None:
        """One browse session: a feed, then a connection decision per item."""
        m = self.model
        env, cfg = m.env, m.cfg.encounter
        rec = self.recommender
        if env.now - rec.refreshed_at >= cfg.refresh_days or (
                rec.size == 0 and m.items.n > rec.items_seen):  # first content: show it now
            rec.refresh()
        if rec.size == 0:
            return
        topic = int(m.users.topic[user])
        feed, static, affinity, draws = rec.next_feed(int(m.users.system[user]), topic)
        items = m.items
        self.impressions += len(feed)
        rate = cfg.impression_sample_rate
        if int(session * rate) != int((session - 1) * rate):  # a systematic sample
            record, t, weight = m.store.record, env.now, 1.0 / rate
            for j in feed:
                record((t, "impression", user, "user", j, items.owner.item(j),
                        OWNER_TYPES[items.owner_type.item(j)], weight))
        w_s = 0.0 if m.industrial else cfg.w_social
        reach = 1.0 - m.cfg.tech.hci_friction
        conns, n_users, connected = items.connections, m.users.n, self.connected
        for j, logit, a, u in zip(feed, static, affinity, draws):
            logit += w_s * math.log1p(conns.item(j))  # the live community effect
            if logit < -700.0 or u * (1.0 + math.exp(-logit)) >= reach:
                continue
            if items.owner.item(j) == user and items.owner_type.item(j) != OWNER_FIRM:
                continue  # one's own item
            key = j * n_users + user
            if key in connected:
                continue  # the use right is already held: seeing it again adds nothing
            if m.industrial and not self._purchase(user, j, a):
                continue
            if not m.industrial:
                self._connect(user, j, a)
            connected.add(key)

    def _connect(self, user: int, j: int, aff: float) -> None:
        """A use-right connection: value v, paid in full (no consumer surplus)."""
        m = self.model
        cfg, items = m.cfg.encounter, m.items
        v = cfg.value_scale * items.quality.item(j) * aff * (
            1.0 + cfg.network_effect * network_value(items.connections.item(j),
                                                     cfg.network_function))
        self._settle(user, j, v, v)
        self._join(user, j)

    def _purchase(self, user: int, j: int, aff: float) -> bool:
        """Industrial mode: buy one rival unit if its utility covers the price."""
        m = self.model
        cfg, items = m.cfg, m.items
        if items.units_left[j] <= 0:
            return False
        key = user * m.cfg.users.topics + items.topic.item(j)
        owned = self.owned.get(key, 0)
        v = cfg.encounter.value_scale * float(items.quality[j]) * aff * (
            (owned + 1) ** -cfg.industrial.diminishing)
        price = float(items.price[j])
        if v < price:
            return False
        items.units_left[j] -= 1
        self.owned[key] = owned + 1
        self._settle(user, j, v, price)
        return True

    def _settle(self, user: int, j: int, v: float, price: float) -> None:
        """Record a connection of perceived value v paid at `price`, split owner/platform."""
        m = self.model
        items, t, record = m.items, m.env.now, m.store.record
        fee = m.cfg.encounter.platform_fee
        owner, owner_kind = items.owner.item(j), items.owner_type.item(j)
        owner_type = OWNER_TYPES[owner_kind]
        to_owner, to_platform = (1.0 - fee) * price, fee * price
        c = items.connections.item(j)
        if c == len(self.curve_n):
            self.curve_n.append(0)
            self.curve_value.append(0.0)
            self.curve_relative.append(0.0)
            self.curve_delta.append(0.0)
        self.curve_n[c] += 1
        self.curve_value[c] += v
        self.curve_relative[c] += v / items.quality.item(j)
        if c:
            self.curve_delta[c] += v - items.last_value.item(j)
        items.last_value[j] = v
        items.connections[j] = c + 1
        items.value[j] += price  # value paid for the item (= v in metaverse mode)
        m.users.connections_made[user] += 1
        record((t, "connection", user, "user", j, owner, owner_type, v))
        record((t, "payment", user, "user", j, owner, owner_type, to_owner))
        owner_node = owner if owner_kind != OWNER_FIRM else self._firm_node0 + owner
        m.network.add((user, owner_node, price))
        if to_platform > 0.0:
            record((t, "payment", user, "user", j, PLATFORM, "platform", to_platform))
            m.network.add((user, self._platform_node, to_platform))
        if owner_kind == OWNER_FIRM:
            m.transmission.firm_revenue(owner, to_owner)
        else:
            m.users.income[owner] += to_owner
            self.creator_income += to_owner
        self.connections += 1
        self.connection_value += v
        self.paid += price
        self.platform_revenue += to_platform
        self.platform_total += to_platform
        m.spillover.connections += 1

    def _join(self, user: int, j: int) -> None:
        """The user joins the community of the item's owner (once per owner)."""
        m = self.model
        items = m.items
        owner, kind = items.owner.item(j), items.owner_type.item(j)
        key = ((owner if kind != OWNER_FIRM else m.users.n + owner) * m.users.n) + user
        if key in self.members:
            return
        self.members.add(key)
        if kind == OWNER_FIRM:
            size = self.firm_community.get(owner, 0) + 1
            self.firm_community[owner] = size
        else:
            m.users.community_size[owner] += 1
            size = int(m.users.community_size[owner])
        self.community_joins += 1
        m.store.record((m.env.now, "community_joined", user, "user", j, owner,
                        OWNER_TYPES[kind], float(size)))

    def close_period(self) -> dict:
        from simmarket.metrics import gini

        m = self.model
        sizes = m.users.community_size
        row = {
            "impressions": self.impressions,
            "connections": self.connections,
            "connection_value": self.connection_value,
            "paid": self.paid,
            "creator_income": self.creator_income,
            "platform_revenue": self.platform_revenue,
            "consumer_surplus": self.connection_value - self.paid,
            "community_joins": self.community_joins,
            "communities": int(np.count_nonzero(sizes)) + len(self.firm_community),
            "largest_community": int(max(sizes.max(initial=0),
                                         max(self.firm_community.values(), default=0))),
            "gini_creator_income": gini(np.maximum(m.users.income, 0.0)),
            "value_encountered": self.connection_value,
        }
        return row

    def start_period(self) -> None:
        self._reset_period()
