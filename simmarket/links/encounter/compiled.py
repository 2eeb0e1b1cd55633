"""The compiled browse sessions' driver: the kernel's buffers, and what it hands back.

:class:`CompiledSessions` is the population's ``sessions`` in a compiled run
(``engine = "compiled"``). Called when an arrival is due, it runs the kernel
(:func:`.kernel.run_sessions`) over the world's arrays from that arrival to the last one
before the next scheduled event, and does in Python what the kernel hands back: a creation
session (returned to the population), an index refresh, more draws, more room. After each
call it moves the clock to the last session handled, hands the events to the recorder and
the value-network increments to the network, and copies the period sums back to
:class:`.connection.ValueEncounter`, so everything else reads the same state as with the
Python sessions.
"""

from __future__ import annotations

import numpy as np

from simmarket.core.context import Context
from simmarket.core.population import Population, advance_to
from simmarket.links.encounter import kernel as k
from simmarket.links.encounter.connection import ValueEncounter
from simmarket.links.encounter.recommender import DRAWS

#: Events and value-network increments buffered per kernel call.
EVENT_ROWS, EDGE_ROWS = 1 << 15, 1 << 14
#: Sessions per kernel call at most (a call returns within a fraction of a second).
MAX_SESSIONS = 20_000
#: Bytes of feed uniforms drawn ahead for all (system, topic) groups together.
ROW_BYTES = 1 << 23


class CompiledSessions:
    """Runs browse sessions in the kernel for one model."""

    def __init__(self, ctx: Context, encounter: ValueEncounter):
        self.ctx, self.encounter = ctx, encounter
        self.recommender = encounter.recommender
        self.recommender.batches = False
        sc = ctx.scenario
        fs, groups = sc.encounter.feed_size, sc.tech.systems * sc.users.topics
        per_group = max(1, min(256, ROW_BYTES // (8 * DRAWS * fs * groups)))
        self.rows = np.empty((groups, per_group, DRAWS, fs))
        self.rows_at = np.full(groups, per_group, np.int64)
        self.tables = [k.PairTable() for _ in range(3)]  # held, members, owned
        self.st = np.zeros(k.STATE_SIZE, np.int64)
        self.acc = np.zeros(k.ACC_SIZE)
        self.out = k.Output(np.empty((EVENT_ROWS, 2)), np.empty((EVENT_ROWS, 5), np.int64),
                            np.empty((EDGE_ROWS, 3)), encounter.curve.data)
        self._empty_index = k.Index(np.zeros(1, np.int64), np.zeros(1), np.zeros(2, np.int64),
                                    np.zeros((1, 1, 4, 2), np.int64), self.recommender.affinity)

    def __call__(self, population: Population) -> int:
        """Sessions from the arrival due now: the user of a creation session, or -1."""
        env = self.ctx.env
        limit = env.peek()
        while True:
            self._load()
            status, t = k.run_sessions(
                env.now, limit, self._draws(population), self.rows, self.rows_at,
                self._index(), self._items(), self._users(), self._firms(),
                self._fpar(population), self._ipar(), self.st, self.acc, self._tables(),
                self.out)
            advance_to(env, t)
            self._store()
            if status == k.NEXT:
                return -1
            if status == k.CREATE:
                return int(self.st[k.S_ARG])
            self._serve(status, population)

    def _serve(self, status: int, population: Population) -> None:
        """What the kernel handed back before touching the due arrival."""
        if status == k.WHO:
            population.draws.refill_who(population.cum, population.total_rate)
        elif status == k.KIND:
            population.draws.refill_kinds()
        elif status == k.REFRESH:
            self.recommender.refresh()
        elif status == k.ROWS:
            g = int(self.st[k.S_ARG])
            self.rows[g] = self.ctx.streams("encounter", "feed", g).random(self.rows.shape[1:])
            self.rows_at[g] = 0
        else:
            self._make_room()

    def _make_room(self) -> None:
        fs = self.ctx.scenario.encounter.feed_size
        for table in self.tables:
            if not table.room(fs):
                table.grow(fs)
        curve = self.encounter.curve
        if curve.length + fs >= curve.data.shape[1]:
            curve.grow(curve.length + fs + 1)
            self.out = self.out._replace(curve=curve.data)

    # -- state in and out ---------------------------------------------------------------
    def _load(self) -> None:
        """The period sums and fills as the Python side holds them."""
        enc, counters, st, acc = self.encounter, self.ctx.world.counters, self.st, self.acc
        st[k.S_EVENTS] = st[k.S_EDGES] = 0
        st[k.S_CURVE] = enc.curve.length
        st[k.S_IMPRESSIONS], st[k.S_CONNECTIONS] = enc.impressions, enc.connections
        st[k.S_JOINS], st[k.S_COUNTER_CONNECTIONS] = enc.community_joins, counters.connections
        for table, (slot, more) in zip(self.tables, k.TABLE_FILLS):
            st[slot], st[more] = table.fill, table.more_fill
        acc[:] = (enc.connection_value, enc.paid, enc.creator_income, enc.platform_revenue,
                  counters.platform_revenue)

    def _store(self) -> None:
        """The kernel's sums back to the encounter, its rows to the recorder and network."""
        enc, counters, st, acc = self.encounter, self.ctx.world.counters, self.st, self.acc
        enc.curve.length = int(st[k.S_CURVE])
        enc.impressions, enc.connections = int(st[k.S_IMPRESSIONS]), int(st[k.S_CONNECTIONS])
        enc.community_joins = int(st[k.S_JOINS])
        counters.connections = int(st[k.S_COUNTER_CONNECTIONS])
        for table, (slot, more) in zip(self.tables, k.TABLE_FILLS):
            table.fill, table.more_fill = int(st[slot]), int(st[more])
        (enc.connection_value, enc.paid, enc.creator_income, enc.platform_revenue,
         counters.platform_revenue) = acc.tolist()
        if n := int(st[k.S_EVENTS]):
            f, i = self.out.ev_f[:n], self.out.ev_i[:n]
            self.ctx.recorder.emit_columns(f[:, 0], i[:, 0], i[:, 1], 0, i[:, 2], i[:, 3],
                                           i[:, 4], f[:, 1], kinds=k.KINDS, types=k.TYPES)
        if m := int(st[k.S_EDGES]):
            self.ctx.world.network.add_block(self.out.edges[:m])

    # -- the arrays the kernel reads ------------------------------------------------------
    @staticmethod
    def _draws(population: Population) -> tuple:
        d = population.draws
        return d.gaps, d.who, d.kinds, d.at

    def _index(self) -> k.Index:
        rec = self.recommender
        if not rec.size:
            return self._empty_index
        return k.Index(rec.ids, rec.cum, rec._fresh, rec._scopes, rec.affinity)

    def _items(self) -> k.ItemArrays:
        it = self.ctx.world.items
        return k.ItemArrays(it.connections, it.owner, it.owner_type, it.units_left, it.topic,
                            it.system, it.quality, it.last_value, it.last_affinity, it.value,
                            it.price, it.removed)

    def _users(self) -> k.UserArrays:
        u = self.ctx.world.users
        return k.UserArrays(u.creator_effective, u.busy_until, u.system, u.topic, u.income,
                            u.connections_made, u.community_size, u.follows, u.newest_item)

    def _firms(self) -> k.FirmArrays:
        f = self.ctx.world.firms
        return k.FirmArrays(f.capital, f.revenue, f.revenue_period, f.community_size,
                            f.newest_item)

    def _tables(self) -> k.Tables:
        return k.Tables(*(a for t in self.tables for a in (t.keys, t.more_keys, t.more_counts)))

    def _fpar(self, population: Population) -> np.ndarray:
        sc, rec = self.ctx.scenario, self.recommender
        enc, industrial = sc.encounter, self.ctx.world.industrial
        return np.array([
            0.0 if industrial else enc.w_social, 1.0 - sc.tech.hci_friction,
            0.0 if industrial else enc.w_community, self.ctx.world.weight, enc.value_scale,
            enc.network_effect, enc.platform_fee, enc.w_quality, enc.w_affinity,
            enc.threshold, enc.topic_match, sc.tech.interoperability, rec.p_pop, rec.p_rec,
            enc.impression_sample_rate, enc.refresh_days, enc.refresh_growth,
            sc.industrial.diminishing, population.total_rate, rec.refreshed_at, rec.p_exp])

    def _ipar(self) -> np.ndarray:
        sc, world, rec = self.ctx.scenario, self.ctx.world, self.recommender
        recorder = self.ctx.recorder
        return np.array([
            world.users.n, sc.users.topics,
            k.NETWORK_FUNCTIONS.index(sc.encounter.network_function), int(world.industrial),
            int(recorder.keeps("session_started")), int(recorder.keeps("connection")),
            sc.encounter.feed_size, world.items.n, rec.items_seen, rec.size,
            self.encounter._firm_node0, self.encounter._platform_node, MAX_SESSIONS],
            np.int64)

