"""The platform's recommender: which items a browsing user is shown (paper §3.3.2).

Each feed slot has a topic scope (the user's own topic w.p. ``topic_match``, else any) and a
system scope: users and their content live in one of ``tech.systems`` incompatible technical
systems (paper 001 §二(一)3), and a slot may show content from another system only w.p.
``interoperability`` — with none, the systems are separate worlds. A slot scoped to the
user's own topic while it has no content yet is filled from every topic (dropping it took
impressions from the first items at small n only); a slot with no compatible content stays
empty. Within its scope a slot comes from one of four channels: popularity, recency
(uniform over the scope's items released in the last R days), exploration (uniform) or
subscription: the newest item of the owner whose community the user joined last, if it
fits the slot's system scope (a member is shown her creator's new items, of any topic, as on
a platform's subscription feed), else the exploration item.
During the platform's first ``cold_start_days`` it has no engagement data to rank by, and
popularity picks uniformly: ranking by connections from the first hour let the first
handful of items lock in the top, and how many competed then grows with n. An item may fill
two slots of a feed: it stands for w items of its kind (MODEL.md §9.1).

Popularity ranks the scope's items by connections (ties: the newest first) and picks the one
at rank share ``x = (r - 1/2) / N`` with weight ``(x + rank_floor)^-rank_exponent``. The top
share of the items gets the same share of the channel whatever N, so exposure at a given rank
share does not change with the number of simulated users (recency is likewise defined by age,
not by a count of items). The floor keeps the top coarse: a scope's top item cannot take more
than the whole channel, and small scopes (small n, early days) would otherwise give their top
item less than large ones. Connection counts as weights (preferential attachment) were
tried and grew the top items with n. The ranking index is rebuilt every ``refresh_days``, as
platforms rank in batch, or sooner once the catalogue has grown by ``refresh_growth`` since
the last rebuild: otherwise, in the first hours, the few items of a young catalogue would take
every impression of a quarter day, a number that grows with n.

Common random numbers. The users of one (system, topic) group draw their feeds from that
group's own stream, ``("encounter", "feed", group)``, one row of uniforms per feed, in the
order the group's browse sessions happen: the k-th feed of a group always uses the k-th row,
whatever the index, the demand of other groups or the timing of refreshes. Feeds are computed
ahead in vectorised batches for speed; a batch computed from an index that has since changed
is recomputed from the same rows, never redrawn.
"""

from __future__ import annotations

import math
from itertools import compress

import numpy as np

from simmarket.core.context import Context

#: One feed: item ids, the static part of each item's connection logit (quality, affinity,
#: threshold), each item's topic affinity to the user, each decision's uniform draw, and
#: each slot's scope if it is a subscription slot (-1 if not): 0 own system and topic,
#: 1 own topic, 2 own system, 3 any (after an empty own-topic scope widened).
Feed = tuple[list[int], list[float], list[float], list[float], list[int]]
#: Rows of uniforms per feed: topic scope, channel, position, system scope, decision.
DRAWS = 5
MIN_BATCH, MAX_BATCH = 8, 4096


def topic_affinity(topics: int, scale: float) -> np.ndarray:
    """T x T affinity: exp(-d / scale), d the distance between topics on a ring."""
    idx = np.arange(topics)
    d = np.abs(idx[:, None] - idx[None, :])
    d = np.minimum(d, topics - d)
    return np.exp(-d / scale)


class _Group:
    """One (system, topic) group's pending uniform rows and the feeds computed from them."""

    __slots__ = ("rng", "rows", "feeds", "version", "used")

    def __init__(self, rng: np.random.Generator, feed_size: int):
        self.rng = rng
        self.rows = np.empty((0, DRAWS, feed_size))
        self.feeds: list[Feed] = []
        self.version = -1
        self.used = MIN_BATCH  # feeds taken since the last batch: sizes the next batch

    def take_rows(self, want: int) -> np.ndarray:
        """The next `want` unconsumed rows, drawing more from the group's stream if needed."""
        short = want - len(self.rows)
        if short > 0:
            more = self.rng.random((short, *self.rows.shape[1:]))
            self.rows = np.concatenate([self.rows, more])
        return self.rows[:want]


class Recommender:
    """The ranking index (rebuilt every ``refresh_days``) and the feeds drawn from it."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        sc = ctx.scenario
        self.affinity = topic_affinity(sc.users.topics, sc.encounter.affinity_scale)
        self.size = 0
        self.items_seen = 0
        self.refreshed_at = -math.inf
        self.version = 0
        self._groups: dict[int, _Group] = {}
        #: compute feeds ahead in batches (the Python path); the compiled sessions draw
        #: each feed themselves from the index and the groups' streams
        self.batches = True
        self.levers_changed()

    # -- the index ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the index: eligible items in four orders, with cumulative weights.

        One array holds four segments of the eligible items — grouped by (system, topic), by
        topic, by system, and all of them — each group in id order (newest last), with one
        cumulative-weight array across all four, so one ``searchsorted`` serves every slot of
        a feed whatever its scope.
        """
        sc, items = self.ctx.scenario, self.ctx.world.items
        n_topics, n_systems = sc.users.topics, sc.tech.systems
        eligible = ~items.view("removed")
        if self.ctx.world.industrial:
            eligible &= items.view("units_left") > 0
        ids = np.flatnonzero(eligible)
        n = self.size = len(ids)
        self.items_seen = items.n
        topic = items.view("topic")[ids].astype(np.int64)
        system = items.view("system")[ids].astype(np.int64)
        keys = (system * n_topics + topic, topic, system, np.zeros(n, np.int64))
        orders = [np.argsort(k, kind="stable") for k in keys[:3]] + [np.arange(n)]
        best = np.lexsort((-ids, -items.view("connections")[ids]))  # most connected first
        enc = sc.encounter
        self.ids = np.concatenate([ids[o] for o in orders])
        if self.ctx.env.now < enc.cold_start_days:  # no engagement data yet: all alike
            self.cum = np.arange(1.0, 4 * n + 1.0)
        else:
            self.cum = np.cumsum(np.concatenate(
                [(_ranks(k, best)[o] + enc.rank_floor) ** -enc.rank_exponent
                 for k, o in zip(keys, orders)]))
        # running count of recent items along ids: a scope's recent items end its segment
        fresh = items.view("t_created")[self.ids] >= self.ctx.env.now - sc.encounter.recency_days
        self._fresh = np.concatenate([[0], np.cumsum(fresh)])
        #: [system, topic, scope] -> (start, end) in ids, for the four scopes: (own system,
        #: own topic), (any system, own topic), (own system, any topic), (any system, any)
        scopes = np.empty((n_systems, n_topics, 4, 2), np.int64)
        scopes[:, :, 0] = _bounds(keys[0][orders[0]], n_systems * n_topics, 0).reshape(
            n_systems, n_topics, 2)
        scopes[:, :, 1] = _bounds(keys[1][orders[1]], n_topics, n)[None, :, :]
        scopes[:, :, 2] = _bounds(keys[2][orders[2]], n_systems, 2 * n)[:, None, :]
        scopes[:, :, 3] = (3 * n, 4 * n)
        self._scopes = scopes
        self.refreshed_at = self.ctx.env.now
        self._new_version()

    def levers_changed(self) -> None:
        """Channel shares, own-topic share and interoperability follow the levers."""
        enc = self.ctx.scenario.encounter
        w = enc.w_popularity + enc.w_recency + enc.w_exploration + enc.w_subscription
        self.p_pop = enc.w_popularity / w
        self.p_rec = (enc.w_popularity + enc.w_recency) / w
        self.p_exp = (enc.w_popularity + enc.w_recency + enc.w_exploration) / w
        self._new_version()

    def _new_version(self) -> None:
        """Feeds computed so far are stale; recompute every group's next batch at once."""
        self.version += 1
        if self.size and self.batches:
            self._fill(list(self._groups))

    # -- feeds ------------------------------------------------------------------------------
    def next_feed(self, system: int, topic: int) -> Feed:
        """The next feed for a user of (`system`, `topic`)."""
        g = system * self.ctx.scenario.users.topics + topic
        group = self._groups.get(g)
        if group is None or group.version != self.version or not group.feeds:
            self._fill([g])
            group = self._groups[g]
        group.used += 1
        group.rows = group.rows[1:]
        return group.feeds.pop()

    def _group(self, g: int) -> _Group:
        group = self._groups.get(g)
        if group is None:
            group = self._groups[g] = _Group(self.ctx.streams("encounter", "feed", g),
                                             self.ctx.scenario.encounter.feed_size)
        return group

    def _fill(self, groups: list[int]) -> None:
        """Compute the next batch of feeds of each group, in one vectorised call."""
        n_topics = self.ctx.scenario.users.topics
        batches, rows = [], []
        for g in groups:
            group = self._group(g)
            want = min(MAX_BATCH, max(MIN_BATCH, group.used + group.used // 8))
            group.used = 0
            rows.append(group.take_rows(want))
            batches.append(want)
        if not rows:
            return
        g_rows = np.repeat(np.array(groups), batches)
        feeds = self._draw_feeds(g_rows // n_topics, g_rows % n_topics, np.concatenate(rows))
        start = 0
        for g, want in zip(groups, batches):
            group = self._groups[g]
            group.feeds = feeds[start:start + want][::-1]
            group.version = self.version
            start += want

    def _draw_feeds(self, systems: np.ndarray, topics: np.ndarray, u: np.ndarray) -> list[Feed]:
        """One feed per row for users of (`systems[r]`, `topics[r]`), from uniforms `u[r]`.

        Each slot: its topic scope (the user's topic w.p. topic_match), its system scope (any
        system w.p. interoperability, else the user's own), its channel and position; then
        the slot's static part of the connection logit and the uniform its decision will use.
        Slots whose scope is empty are dropped.
        """
        sc = self.ctx.scenario
        enc = sc.encounter
        u = np.moveaxis(u, 1, 0)  # (DRAWS, rows, feed_size)
        cum = self.cum
        scope = (u[0] >= enc.topic_match).astype(np.int64) * 2 + (
            u[3] < sc.tech.interoperability)
        scopes = self._scopes[systems, topics]  # (rows, 4, 2)
        # an own-topic scope with no content yet widens to every topic (same system scope)
        empty = scopes[:, :, 1] == scopes[:, :, 0]
        scope = np.where((scope < 2) & np.take_along_axis(empty, scope, axis=1), scope + 2, scope)
        bounds = np.take_along_axis(scopes, scope[..., None], axis=1)
        s, e = bounds[..., 0], bounds[..., 1]
        size = e - s
        base = np.where(s > 0, cum[s - 1], 0.0)
        target = base + u[2] * (cum[np.maximum(e - 1, 0)] - base)
        popular = np.minimum(np.searchsorted(cum, target, side="right"), e - 1)
        recent = e - 1 - (u[2] * (self._fresh[e] - self._fresh[s])).astype(np.int64)
        explore = s + (u[2] * size).astype(np.int64)
        pos = np.where(u[1] < self.p_pop, popular, np.where(u[1] < self.p_rec, recent, explore))
        keep = size > 0  # a slot whose scope has no content yet stays empty
        # an item may fill two slots: the agent item stands for w items of its kind
        item = self.ids[np.where(keep, pos, 0)]
        items = self.ctx.world.items
        aff = self.affinity[topics[:, None], items.topic[item]]
        static = _static_logit(enc, items.quality[item], aff)
        subscribed = np.where((u[1] >= self.p_exp) & keep, scope, -1)
        return _as_feeds(item, static, aff, u[4], subscribed, keep)

    def subscribe(self, user: int, feed: Feed) -> None:
        """Put in the feed's subscription slots the newest item of the owner whose community
        the user joined last, where there is one still on the platform and it fits the
        slot's system scope (whatever its topic: the topic scope is the recommender's
        matching, a subscription is the member's); such a slot keeps its exploration item
        otherwise. Resolved as the session starts, since it depends on the user, not only on
        her group."""
        j = self.followed(user)
        if j < 0:
            return
        item, static, aff, _, scopes = feed
        world = self.ctx.world
        items, users = world.items, world.users
        same_system = users.system.item(user) == items.system.item(j)
        a = self.affinity.item(users.topic.item(user), items.topic.item(j))
        logit = _static_logit(self.ctx.scenario.encounter, items.quality.item(j), a)
        for s, scope in enumerate(scopes):
            if scope >= 0 and (scope % 2 or same_system):
                item[s], static[s], aff[s] = j, logit, a

    def followed(self, user: int) -> int:
        """The newest item of the community owner the user follows, if still eligible."""
        world = self.ctx.world
        owner = world.users.follows.item(user)
        if owner < 0:
            return -1
        n = world.users.n
        j = (world.users.newest_item.item(owner) if owner < n
             else world.firms.newest_item.item(owner - n))
        if j < 0 or world.items.removed.item(j) or (
                world.industrial and world.items.units_left.item(j) <= 0):
            return -1
        return j


def _static_logit(enc, quality, affinity):
    """The part of an impression's connection logit known when the feed is drawn (arrays or
    floats alike): ``w_q q + w_a A − τ``."""
    return enc.w_quality * quality + enc.w_affinity * affinity - enc.threshold


def _as_feeds(item, static, aff, draw, subscribed, keep) -> list[Feed]:
    """Rows of arrays as feeds of Python lists (the per-impression loop is plain Python)."""
    whole = keep.all(axis=1).tolist()
    rows = zip(item.tolist(), static.tolist(), aff.tolist(), draw.tolist(),
               subscribed.tolist(), keep.tolist())
    return [(i, st, a, d, sub) if full else
            (list(compress(i, k)), list(compress(st, k)), list(compress(a, k)),
             list(compress(d, k)), list(compress(sub, k)))
            for full, (i, st, a, d, sub, k) in zip(whole, rows)]


def _ranks(keys: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Each item's rank within its group of `keys` as a share of the group, (r - 1/2) / size
    with r = 1 the most connected (ties to the newest), given `best`, all items ordered most
    connected first."""
    by_rank = best[np.argsort(keys[best], kind="stable")]
    grouped = keys[by_rank]
    start = np.searchsorted(grouped, grouped, "left")
    size = np.searchsorted(grouped, grouped, "right") - start
    ranks = np.empty(len(keys))
    ranks[by_rank] = (np.arange(len(keys)) - start + 0.5) / size
    return ranks


def _bounds(sorted_keys: np.ndarray, groups: int, offset: int) -> np.ndarray:
    """(start, end) of each key 0 .. groups-1 in sorted_keys, shifted by offset: (groups, 2)."""
    keys = np.arange(groups)
    return np.stack([np.searchsorted(sorted_keys, keys, side="left"),
                     np.searchsorted(sorted_keys, keys, side="right")], axis=1) + offset
