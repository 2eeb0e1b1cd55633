"""Browse sessions compiled (Numba): the same rules as :mod:`.connection`, over arrays.

Between two scheduled events of the model (a creation finishing, a firm's scan, a period's
close) only browse sessions happen, and they see a frozen ranking index: nothing couples them
but item connection counts and who holds which use right. :func:`run_sessions` runs them in
time order, from the arrival due now to the last one before ``limit`` (the next scheduled
event): it draws nothing itself but reads the population's and the feed groups' pre-drawn
uniforms, applies :meth:`.connection.ValueEncounter.browse` rule by rule with the same
floating-point operations in the same order, and writes the events into column buffers with
integer codes. Whatever it cannot do (a creation session, a due index refresh, an empty
buffer of draws, a full output buffer) it hands back before touching anything, saying why,
so the driver (:mod:`.compiled`) can do it in Python and call again. The pure-Python path
stays the reference: ``tests/test_compiled.py`` requires byte-identical event logs.

Pair holdings (use rights, memberships, the industrial owned counts) live in open-addressing
hash tables of int64 keys (:class:`PairTable`), the kernel's version of
:class:`simmarket.core.pairs.Holdings`.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from simmarket.core.items import OWNER_FIRM, OWNER_TYPES, PLATFORM
from simmarket.core.population import D_CREATIONS, D_GAP, D_KIND, D_SESSIONS, D_WHO

#: Event kind codes written by the kernel (the driver names them).
KINDS = ("session_started", "impression", "connection", "payment", "community_joined")
SESSION, IMPRESSION, CONNECTION, PAYMENT, JOINED = range(5)
#: Actor/counterpart type codes: OWNER_TYPES, then the platform and NULL.
TYPES = (*OWNER_TYPES, "platform", None)
T_PLATFORM, T_NULL = len(OWNER_TYPES), len(OWNER_TYPES) + 1

#: What the kernel hands back. NEXT: the due arrival was handled and the next one falls at
#: or after the limit (or a buffer of gaps ran out): the driver waits for it in SimPy.
#: CREATE: the due arrival is a creation session (draws consumed). The others leave the due
#: arrival untouched: draw more (WHO, KIND, ROWS of a feed group), REFRESH the index, make
#: ROOM (flush the output buffers, grow a table).
NEXT, CREATE, WHO, KIND, REFRESH, ROWS, ROOM = range(7)

#: Slots of the int64 state array (the population's draw positions are in SessionDraws.at).
(S_EVENTS, S_EDGES, S_CURVE, S_IMPRESSIONS, S_CONNECTIONS, S_JOINS, S_COUNTER_CONNECTIONS,
 S_ARG, S_HELD, S_HELD_MORE, S_MEMBERS, S_MEMBERS_MORE, S_OWNED, S_OWNED_MORE) = range(14)
STATE_SIZE = 14
#: The fills of the three pair tables (key table, counts above one) in the state array.
TABLE_FILLS = ((S_HELD, S_HELD_MORE), (S_MEMBERS, S_MEMBERS_MORE), (S_OWNED, S_OWNED_MORE))
#: Slots of the float64 accumulator array (sums kept in the reference's order).
(A_VALUE, A_PAID, A_CREATOR_INCOME, A_PLATFORM, A_COUNTER_PLATFORM) = range(5)
ACC_SIZE = 5
#: Slots of the float64 parameter array.
(P_W_SOCIAL, P_REACH, P_W_COMMUNITY, P_WEIGHT, P_VALUE_SCALE, P_NETWORK_EFFECT, P_FEE,
 P_W_QUALITY, P_W_AFFINITY, P_THRESHOLD, P_TOPIC_MATCH, P_INTEROP, P_POP, P_REC,
 P_SAMPLE_RATE, P_REFRESH_DAYS, P_REFRESH_GROWTH, P_DIMINISHING, P_TOTAL_RATE,
 P_REFRESHED_AT, P_EXP) = range(21)
#: Slots of the int64 parameter array.
(I_PAIRS, I_TOPICS, I_NETWORK_FN, I_INDUSTRIAL, I_KEEP_DETAIL, I_KEEP_CORE, I_FEED_SIZE,
 I_ITEMS_N, I_ITEMS_SEEN, I_INDEX_SIZE, I_FIRM_NODE0, I_PLATFORM_NODE, I_MAX_SESSIONS) = range(13)
#: network-value function codes
NETWORK_FUNCTIONS = ("none", "log", "linear")
#: A table is grown once its fill passes this share of its slots.
MAX_LOAD = 0.7
EMPTY = -1
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _jit(function):
    """Compiled on first use and cached on disk (next to this file, else Numba's user-wide
    cache); where neither can be written (a read-only install run by a user without a home),
    compiled afresh in each process instead."""
    try:
        return njit(cache=True)(function)
    except RuntimeError:
        return njit(function)


# -- count tables ---------------------------------------------------------------------------
@_jit
def _slot(keys: np.ndarray, key: int) -> int:
    """The slot holding `key`, or the empty slot where it would go (linear probing)."""
    mask = len(keys) - 1
    i = np.int64((np.uint64(key) * GOLDEN) >> np.uint64(29)) & mask
    while keys[i] != key and keys[i] != EMPTY:
        i = (i + 1) & mask
    return i


@_jit
def table_count(keys: np.ndarray, counts: np.ndarray, key: int) -> int:
    """How many of the pair's represented instances are held (0 if none)."""
    i = _slot(keys, key)
    return counts[i] if keys[i] == key else 0


@_jit
def table_add(keys: np.ndarray, counts: np.ndarray, key: int) -> int:
    """One more held; returns 1 if the key is new (the table's fill grows)."""
    i = _slot(keys, key)
    if keys[i] == key:
        counts[i] += 1
        return 0
    keys[i] = key
    counts[i] = 1
    return 1


@_jit
def _rehash(keys: np.ndarray, counts: np.ndarray, new_keys: np.ndarray,
            new_counts: np.ndarray) -> None:
    for i in range(len(keys)):
        if keys[i] != EMPTY:
            j = _slot(new_keys, keys[i])
            new_keys[j] = keys[i]
            new_counts[j] = counts[i]


@_jit
def _rehash_keys(keys: np.ndarray, new_keys: np.ndarray) -> None:
    for i in range(len(keys)):
        if keys[i] != EMPTY:
            new_keys[_slot(new_keys, keys[i])] = keys[i]


@_jit
def pair_count(keys: np.ndarray, more_keys: np.ndarray, more_counts: np.ndarray,
               key: int) -> int:
    """How many of the pair's represented instances are held: 0 if the key is absent, else
    1 plus its count above one."""
    if keys[_slot(keys, key)] != key:
        return 0
    return 1 + table_count(more_keys, more_counts, key)


@_jit
def pair_add(keys: np.ndarray, more_keys: np.ndarray, more_counts: np.ndarray,
             key: int) -> tuple[int, int]:
    """One more held; returns how much each of the two tables' fill grew (0 or 1)."""
    i = _slot(keys, key)
    if keys[i] != key:
        keys[i] = key
        return 1, 0
    return 0, table_add(more_keys, more_counts, key)


def _empty(size: int) -> np.ndarray:
    return np.full(size, EMPTY, np.int64)


def _grown(size: int, fill: int, more: int) -> int:
    """The table size, doubled until `more` new keys fit under the maximal load."""
    while fill + more > MAX_LOAD * size:
        size *= 2
    return size


class PairTable:
    """Holdings of int64 pair keys for the kernel, as :class:`simmarket.core.pairs.Holdings`:
    a key table (held at least once, 8 bytes a slot) and a small table of counts above one,
    which are rare (they need an agent standing for several people)."""

    def __init__(self, capacity: int = 1 << 12):
        self.keys, self.fill = _empty(capacity), 0
        self.more_keys, self.more_counts, self.more_fill = _empty(64), np.zeros(64, np.int64), 0

    def room(self, more: int) -> bool:
        """Whether `more` new keys fit both tables under the maximal load."""
        return (self.fill + more <= MAX_LOAD * len(self.keys)
                and self.more_fill + more <= MAX_LOAD * len(self.more_keys))

    def grow(self, more: int) -> None:
        """Grow each table until `more` new keys fit it."""
        size = _grown(len(self.keys), self.fill, more)
        if size > len(self.keys):
            keys = _empty(size)
            _rehash_keys(self.keys, keys)
            self.keys = keys
        size = _grown(len(self.more_keys), self.more_fill, more)
        if size > len(self.more_keys):
            keys, counts = _empty(size), np.zeros(size, np.int64)
            _rehash(self.more_keys, self.more_counts, keys, counts)
            self.more_keys, self.more_counts = keys, counts

    def count(self, key: int) -> int:
        return int(pair_count(self.keys, self.more_keys, self.more_counts, key))

    def add(self, key: int) -> None:
        new, new_more = pair_add(self.keys, self.more_keys, self.more_counts, key)
        self.fill += int(new)
        self.more_fill += int(new_more)


# -- what the kernel reads and writes ----------------------------------------------------
#: The items' columns, as the world holds them (no copies).
ItemArrays = namedtuple("ItemArrays", "connections owner owner_type units_left topic system "
                                      "quality last_value last_affinity value price removed")
#: The users' arrays the sessions read (who creates, whose group) and write.
UserArrays = namedtuple("UserArrays", "creator busy_until system topic income "
                                      "connections_made community_size follows newest_item")
#: The firms' columns a connection to a derivative pays into, and their communities.
FirmArrays = namedtuple("FirmArrays", "capital revenue revenue_period community_size "
                                      "newest_item")
#: The recommender's index (Recommender.refresh) and the topic affinity matrix.
Index = namedtuple("Index", "ids cum fresh scopes affinity")
#: The pair tables: use rights held, community memberships, industrial items owned.
Tables = namedtuple("Tables", "held held_more held_counts members members_more "
                              "members_counts owned owned_more owned_counts")
#: Output buffers: events (float columns t, value; int columns kind, actor, item,
#: counterpart, counterpart type), value-network edges (a, b, w), the connection curve.
Output = namedtuple("Output", "ev_f ev_i edges curve")


# -- the rules ------------------------------------------------------------------------------
@_jit
def _odds(logit: float, u: float) -> float:
    """u / sigmoid(logit), as :func:`.connection._odds`."""
    if logit >= -700.0:
        return u * (1.0 + math.exp(-logit))
    return math.inf


@_jit
def _network_value(c: int, function: int) -> float:
    """n(c), as :func:`.connection.network_value` (function coded by NETWORK_FUNCTIONS)."""
    if function == 1:
        return math.log1p(c)
    if function == 2:
        return float(c)
    return 0.0


@_jit
def _followed(user, users, firms, items, ipar) -> int:
    """Recommender.followed: the newest item of the community owner the user follows, if
    still eligible, else -1."""
    owner = users.follows[user]
    if owner < 0:
        return -1
    n = ipar[I_PAIRS]
    j = users.newest_item[owner] if owner < n else firms.newest_item[owner - n]
    if j < 0 or items.removed[j] or (ipar[I_INDUSTRIAL] and items.units_left[j] <= 0):
        return -1
    return j


@_jit
def _draw_feed(row, user, system, topic, fpar, ipar, index, items, users, firms, feed, static,
               aff, draw) -> int:
    """One feed from one row of uniforms, slot by slot as Recommender._draw_feeds, its
    subscription slots (the followed owner's newest item where it fits the slot's system
    scope) as Recommender.subscribe; returns how many slots are kept (their
    item, static logit, affinity and decision uniform)."""
    cum, scopes = index.cum, index.scopes
    k = 0
    for s in range(row.shape[1]):
        u2 = row[2, s]
        scope = (2 if row[0, s] >= fpar[P_TOPIC_MATCH] else 0) + (
            1 if row[3, s] < fpar[P_INTEROP] else 0)
        if scope < 2 and scopes[system, topic, scope, 1] == scopes[system, topic, scope, 0]:
            scope += 2  # an own-topic scope with no content widens to every topic
        start, end = scopes[system, topic, scope, 0], scopes[system, topic, scope, 1]
        if end - start <= 0:
            continue  # a scope with no compatible content: the slot stays empty
        channel = row[1, s]
        if channel < fpar[P_POP]:
            base = cum[start - 1] if start > 0 else 0.0
            target = base + u2 * (cum[end - 1] - base)
            pos = min(np.searchsorted(cum, target, side="right"), end - 1)
        elif channel < fpar[P_REC]:
            pos = end - 1 - np.int64(u2 * (index.fresh[end] - index.fresh[start]))
        else:  # exploration, and a subscription slot's item when the user follows none
            pos = start + np.int64(u2 * (end - start))
        j = index.ids[pos]
        if channel >= fpar[P_EXP]:
            followed = _followed(user, users, firms, items, ipar)
            if followed >= 0 and (scope % 2 == 1 or items.system[followed] == system):
                j = followed
        a = index.affinity[topic, items.topic[j]]
        feed[k] = j
        aff[k] = a
        static[k] = (fpar[P_W_QUALITY] * items.quality[j] + fpar[P_W_AFFINITY] * a
                     - fpar[P_THRESHOLD])
        draw[k] = row[4, s]
        k += 1
    return k


@_jit
def _event(out, st, t, kind, actor, item, counterpart, counterpart_type, value):
    n = st[S_EVENTS]
    out.ev_f[n, 0] = t
    out.ev_f[n, 1] = value
    out.ev_i[n, 0] = kind
    out.ev_i[n, 1] = actor
    out.ev_i[n, 2] = item
    out.ev_i[n, 3] = counterpart
    out.ev_i[n, 4] = counterpart_type
    st[S_EVENTS] = n + 1


@_jit
def _edge(out, st, a, b, w):
    n = st[S_EDGES]
    out.edges[n, 0] = a
    out.edges[n, 1] = b
    out.edges[n, 2] = w
    st[S_EDGES] = n + 1


@_jit
def curve_add(curve, length, c, v, q, last, network, composition) -> int:
    """The c-th connection (0-based) of an item of quality q, worth v, into the connection
    curve's sums (rows of ``ConnectionCurve.ROWS``): returns the curve's new length. Used by
    :class:`.connection.ConnectionCurve` and by the compiled sessions alike."""
    curve[0, c] += 1.0
    curve[1, c] += v
    curve[2, c] += v / q
    if c:
        curve[3, c] += v - last
        curve[4, c] += network
        curve[5, c] += composition
    return max(length, c + 1)


@_jit
def _settle(t, user, j, v, price, items, users, firms, fpar, ipar, st, acc, out):
    """ValueEncounter._settle: the connection, the payments, owner and platform shares."""
    fee = fpar[P_FEE]
    owner, kind = items.owner[j], items.owner_type[j]
    to_owner, to_platform = (1.0 - fee) * price, fee * price
    items.last_value[j] = v
    items.connections[j] += 1
    items.value[j] += price
    users.connections_made[user] += 1
    if ipar[I_KEEP_CORE]:
        _event(out, st, t, CONNECTION, user, j, owner, kind, v)
        _event(out, st, t, PAYMENT, user, j, owner, kind, to_owner)
    _edge(out, st, user, owner if kind != OWNER_FIRM else ipar[I_FIRM_NODE0] + owner, price)
    if to_platform > 0.0:
        if ipar[I_KEEP_CORE]:
            _event(out, st, t, PAYMENT, user, j, PLATFORM, T_PLATFORM, to_platform)
        _edge(out, st, user, ipar[I_PLATFORM_NODE], to_platform)
    if kind == OWNER_FIRM:
        firms.capital[owner] += to_owner
        firms.revenue[owner] += to_owner
        firms.revenue_period[owner] += to_owner
    else:
        users.income[owner] += to_owner
        acc[A_CREATOR_INCOME] += to_owner
    st[S_CONNECTIONS] += 1
    acc[A_VALUE] += v
    acc[A_PAID] += price
    acc[A_PLATFORM] += to_platform
    acc[A_COUNTER_PLATFORM] += to_platform
    st[S_COUNTER_CONNECTIONS] += 1


@_jit
def _join(t, user, j, person, items, users, firms, ipar, st, tables, out):
    """ValueEncounter._join: the person joins the owner's community unless a member."""
    n = ipar[I_PAIRS]
    owner, kind = items.owner[j], items.owner_type[j]
    community = owner if kind != OWNER_FIRM else n + owner
    key = community * n + user
    if pair_count(tables.members, tables.members_more, tables.members_counts, key) > person:
        return
    new, more = pair_add(tables.members, tables.members_more, tables.members_counts, key)
    st[S_MEMBERS] += new
    st[S_MEMBERS_MORE] += more
    users.follows[user] = community
    if kind == OWNER_FIRM:
        firms.community_size[owner] += 1
        size = firms.community_size[owner]
    else:
        users.community_size[owner] += 1
        size = users.community_size[owner]
    st[S_JOINS] += 1
    if ipar[I_KEEP_CORE]:
        _event(out, st, t, JOINED, user, j, owner, kind, float(size))


@_jit
def _purchase(t, user, j, a, items, users, firms, fpar, ipar, st, acc, tables, out) -> bool:
    """The industrial counterfactual: IndustrialMarket.offer, then the settlement."""
    if items.units_left[j] <= 0:
        return False
    key = user * ipar[I_TOPICS] + items.topic[j]
    owned = pair_count(tables.owned, tables.owned_more, tables.owned_counts, key)
    v = fpar[P_VALUE_SCALE] * items.quality[j] * a * ((owned + 1) ** -fpar[P_DIMINISHING])
    price = items.price[j]
    if v < price:
        return False
    items.units_left[j] -= 1
    new, more = pair_add(tables.owned, tables.owned_more, tables.owned_counts, key)
    st[S_OWNED] += new
    st[S_OWNED_MORE] += more
    st[S_CURVE] = curve_add(out.curve, st[S_CURVE], items.connections[j], v, items.quality[j],
                            items.last_value[j], 0.0, 0.0)
    _settle(t, user, j, v, price, items, users, firms, fpar, ipar, st, acc, out)
    return True


@_jit
def _connect(t, user, j, a, person, items, users, firms, fpar, ipar, st, acc, tables,
             out) -> bool:
    """ValueEncounter._connect: a use-right connection, or an industrial purchase."""
    if ipar[I_INDUSTRIAL]:
        return _purchase(t, user, j, a, items, users, firms, fpar, ipar, st, acc, tables, out)
    c, q = items.connections[j], items.quality[j]
    eta, fn = fpar[P_NETWORK_EFFECT], ipar[I_NETWORK_FN]
    base = fpar[P_VALUE_SCALE] * q
    n_now = eta * _network_value(c, fn)
    v = base * a * (1.0 + n_now)
    if c:
        n_before = eta * _network_value(c - 1, fn)
        st[S_CURVE] = curve_add(out.curve, st[S_CURVE], c, v, q, items.last_value[j],
                                base * a * (n_now - n_before),
                                base * (1.0 + n_before) * (a - items.last_affinity[j]))
    else:
        st[S_CURVE] = curve_add(out.curve, st[S_CURVE], c, v, q, 0.0, 0.0, 0.0)
    items.last_affinity[j] = a
    _settle(t, user, j, v, v, items, users, firms, fpar, ipar, st, acc, out)
    _join(t, user, j, person, items, users, firms, ipar, st, tables, out)
    return True


@_jit
def _browse(t, user, session, k, feed, static, aff, draw, items, users, firms, fpar, ipar,
            st, acc, tables, out):
    """ValueEncounter.browse once the feed is drawn: a connection decision per item."""
    st[S_IMPRESSIONS] += k
    rate = fpar[P_SAMPLE_RATE]
    if ipar[I_KEEP_DETAIL] and np.int64(session * rate) != np.int64((session - 1) * rate):
        for i in range(k):  # a systematic sample of impressions
            j = feed[i]
            _event(out, st, t, IMPRESSION, user, j, items.owner[j], items.owner_type[j],
                   1.0 / rate)
    w_s, reach, w_m, w = fpar[P_W_SOCIAL], fpar[P_REACH], fpar[P_W_COMMUNITY], fpar[P_WEIGHT]
    n = ipar[I_PAIRS]
    for i in range(k):
        j, u = feed[i], draw[i]
        logit = static[i] + w_s * math.log1p(items.connections[j])
        x = _odds(logit, u)
        if w_m != 0.0:  # loyalty: membership matters only where the bonus flips the decision
            bonus = _odds(logit + w_m, u)
            if (x < reach) != (bonus < reach):
                owner = items.owner[j] if items.owner_type[j] != OWNER_FIRM else (
                    n + items.owner[j])
                if pair_count(tables.members, tables.members_more, tables.members_counts,
                              owner * n + user) > min(x, bonus) / reach * w:
                    x = bonus
        if x >= reach or items.removed[j]:
            continue
        if items.owner[j] == user and items.owner_type[j] != OWNER_FIRM:
            continue  # one's own item
        person = x / reach * w
        key = j * n + user
        if pair_count(tables.held, tables.held_more, tables.held_counts, key) > person:
            continue  # this person holds the use right already
        if _connect(t, user, j, aff[i], person, items, users, firms, fpar, ipar, st, acc,
                    tables, out):
            new, more = pair_add(tables.held, tables.held_more, tables.held_counts, key)
            st[S_HELD] += new
            st[S_HELD_MORE] += more


@_jit
def _room(st, out, tables, fs) -> bool:
    """Whether one more session fits the output buffers and the tables' maximal load."""
    return (st[S_EVENTS] + 2 + 5 * fs <= len(out.ev_f)
            and st[S_EDGES] + 2 * fs <= len(out.edges)
            and st[S_CURVE] + fs < out.curve.shape[1]
            and st[S_HELD] + fs <= MAX_LOAD * len(tables.held)
            and st[S_HELD_MORE] + fs <= MAX_LOAD * len(tables.held_more)
            and st[S_MEMBERS] + fs <= MAX_LOAD * len(tables.members)
            and st[S_MEMBERS_MORE] + fs <= MAX_LOAD * len(tables.members_more)
            and st[S_OWNED] + fs <= MAX_LOAD * len(tables.owned)
            and st[S_OWNED_MORE] + fs <= MAX_LOAD * len(tables.owned_more))


@_jit
def run_sessions(t, limit, draws, rows, rows_at, index, items, users, firms,
                 fpar, ipar, st, acc, tables, out):
    """Sessions from the arrival due at `t` to the last before `limit`: (status, t).

    As Population.process and ValueEncounter.browse would: the session's user and kind
    from the population's draws, a creation session handed back, the index refreshed when
    due, the feed from the user's group's next row of uniforms, then the decisions; the
    next arrival ``t + gap / total rate`` is taken here while it falls before `limit`.
    """
    fs = ipar[I_FEED_SIZE]
    feed = np.empty(fs, np.int64)
    static, aff, draw = np.empty(fs), np.empty(fs), np.empty(fs)
    size = ipar[I_INDEX_SIZE]
    gaps, who, kinds, at = draws
    handled = 0
    while True:
        if at[D_WHO] >= len(who):
            return WHO, t
        if at[D_KIND] >= len(kinds):
            return KIND, t
        user = who[at[D_WHO]]
        if kinds[at[D_KIND]] < users.creator[user] and users.busy_until[user] <= t:
            at[D_WHO] += 1
            at[D_KIND] += 1
            at[D_SESSIONS] += 1
            at[D_CREATIONS] += 1
            st[S_ARG] = user
            return CREATE, t
        if t - fpar[P_REFRESHED_AT] >= fpar[P_REFRESH_DAYS] or (
                ipar[I_ITEMS_N] > ipar[I_ITEMS_SEEN] * (1.0 + fpar[P_REFRESH_GROWTH])):
            return REFRESH, t
        system, topic = users.system[user], users.topic[user]
        g = system * ipar[I_TOPICS] + topic
        if size and rows_at[g] >= rows.shape[1]:
            st[S_ARG] = g
            return ROWS, t
        if not _room(st, out, tables, fs):
            return ROOM, t
        at[D_WHO] += 1
        at[D_KIND] += 1
        at[D_SESSIONS] += 1
        if ipar[I_KEEP_DETAIL]:
            _event(out, st, t, SESSION, user, -1, -1, T_NULL, 0.0)
        if size:
            k = _draw_feed(rows[g, rows_at[g]], user, system, topic, fpar, ipar, index, items,
                           users, firms, feed, static, aff, draw)
            rows_at[g] += 1
            _browse(t, user, at[D_SESSIONS], k, feed, static, aff, draw, items, users, firms,
                    fpar, ipar, st, acc, tables, out)
        handled += 1
        if at[D_GAP] >= len(gaps) or handled >= ipar[I_MAX_SESSIONS]:
            return NEXT, t
        t_next = t + gaps[at[D_GAP]] / fpar[P_TOTAL_RATE]
        if t_next >= limit:
            return NEXT, t
        at[D_GAP] += 1
        t = t_next
