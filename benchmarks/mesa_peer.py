"""The issue-9 workload written as an idiomatic Mesa 3 model: the peer simmarket is timed against.

simmarket's user and platform layers (firms and government off), formulated the way a Mesa
user would write them, mechanism by mechanism as in ``simmarket/core/population.py``,
``simmarket/links/production.py`` and ``simmarket/links/encounter/*.py``:

- **Users** are ``mesa.Agent`` objects, built from simmarket's own
  ``Users(scenario, Streams(seed))`` arrays, so both sides start from identical users.
- **Time** advances in steps of ``encounter.refresh_days`` (a quarter day by default). Each step
  draws every user's number of sessions, Poisson(``activity x trust x dt``), in one NumPy call
  (as the Mesa docs suggest for per-agent draws), and the users with sessions act in random
  order (``AgentSet.shuffle_do("step")``). ``--all-agents`` instead steps every user and lets
  each draw its own count, the plainest Mesa form, to show what that costs.
- **A session** creates (w.p. the user's creator propensity) or browses.
- **Creation** draws the time to produce from effective knowledge
  ``kappa = k_i + absorption S / N``; the item is released at the first step after it is done,
  with quality ``kappa / (kappa + quality_half)`` plus noise; the creator learns
  ``learning x q`` and shares it into the stock S (which obsolesces at rate rho) w.p. sigma_i.
- **The platform** (the recommender) rebuilds its index at the start of every step: each item
  in four scopes, (own system, own topic), (any system, own topic), (own system, any topic)
  and all, each with cumulative popularity weights by rank share ``(x + floor)^-b``. A feed
  slot picks its topic scope (own w.p. ``topic_match``), its system scope (any w.p.
  ``interoperability``), its channel (popularity, recency over the items of the last R days,
  exploration) and a position; empty scopes are dropped, repeats kept.
- **A connection** happens w.p. ``(1 - hci) sigmoid(w_q q + w_a aff + w_s log(1 + c) - tau)``,
  once per user and item, never to one's own item; it is worth
  ``value_scale q aff (1 + eta log(1 + c))``, paid in full, ``1 - fee`` to the owner and
  ``fee`` to the platform (both added to a value-network edge dict), and the user joins the
  owner's community (once per owner).
- **Periods** (``period_days``): sharing propensities adapt (the public-goods dilemma) and
  trust follows privacy leaks, as simmarket does with the government off (the leaks are drawn
  from simmarket's ``("government", "leak")`` stream, so both sides share the trust path).
- **Events**: the same 8 columns and kinds as simmarket's log (impressions sampled the same
  systematic way), appended to a list and written with one ``executemany`` at the end of each
  step into a WAL-mode SQLite file.

Not modelled here because they are not part of the user and platform layers: the macro
economy, centrality at period close, final tables (users, items, connection curve) and the
indexes simmarket builds at the end. Event times are step times (Mesa's resolution).

    .venv/bin/python benchmarks/mesa_peer.py --users 10000 --days 60 --out /tmp/mesa.db
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import sys
import time
from bisect import bisect_right
from pathlib import Path

import mesa
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_common import INSERT_EVENT, WORKLOAD, open_events_db  # noqa: E402

MARKER = "PEER_RESULT "


class Item:
    """A content item on the platform (data, not an agent: it never acts)."""

    __slots__ = ("id", "owner", "topic", "system", "quality", "connections", "value")

    def __init__(self, id_: int, owner: int, topic: int, system: int, quality: float):
        self.id, self.owner, self.topic, self.system = id_, owner, topic, system
        self.quality = quality
        self.connections = 0
        self.value = 0.0


class Platform:
    """The recommender's index, rebuilt once a step, and the feeds drawn from it."""

    def __init__(self, model: PlatformModel):
        self.model = model
        sc = model.scenario
        enc = sc.encounter
        w = enc.w_popularity + enc.w_recency + enc.w_exploration
        self.p_pop = enc.w_popularity / w
        self.p_rec = (enc.w_popularity + enc.w_recency) / w
        self.topic_match, self.interop = enc.topic_match, sc.tech.interoperability
        self.recency_days, self.feed_size = enc.recency_days, enc.feed_size
        self.size = 0
        self.scopes: list[tuple] = []

    def refresh(self) -> None:
        """Every item in its four scopes, in id order (newest last), with cumulative weights."""
        m = self.model
        n_topics, n_systems = m.scenario.users.topics, m.scenario.tech.systems
        n = self.size = len(m.items)
        if n == 0:
            return
        conns = np.fromiter((it.connections for it in m.items), np.float64, n)
        enc = m.scenario.encounter
        topic = np.asarray(m.item_topic)
        system = np.asarray(m.item_system)

        fresh = np.asarray(m.item_t) >= m.t - self.recency_days

        def segment(mask: np.ndarray | None) -> tuple[list[int], list[float], int]:
            """A scope's items, the popularity channel's weights by rank share and how many
            of its items (the newest) are recent."""
            ids = np.arange(n) if mask is None else np.flatnonzero(mask)
            ranks = np.empty(len(ids))
            ranks[np.lexsort((-ids, -conns[ids]))] = np.arange(len(ids))
            share = (ranks + 0.5) / max(len(ids), 1)
            weights = (share + enc.rank_floor) ** -enc.rank_exponent
            return ids.tolist(), np.cumsum(weights).tolist(), int(fresh[ids].sum())

        everything = segment(None)
        by_topic = [segment(topic == k) for k in range(n_topics)]
        by_system = [segment(system == s) for s in range(n_systems)]
        self.scopes = [
            (segment((system == s) & (topic == k)), by_topic[k], by_system[s], everything)
            for s in range(n_systems) for k in range(n_topics)]

    def feed(self, group: int, rnd) -> list[tuple[int, float]]:
        """One feed for a user of (system, topic) group: (item, decision uniform) per slot."""
        scopes = self.scopes[group]
        tm, io, p_pop, p_rec = self.topic_match, self.interop, self.p_pop, self.p_rec
        feed = []
        for _ in range(self.feed_size):
            u_topic, u_channel, u_pos, u_system, u_decide = rnd(), rnd(), rnd(), rnd(), rnd()
            ids, cum, recent = scopes[(u_topic >= tm) * 2 + (u_system < io)]
            size = len(ids)
            if not size:
                continue  # nothing in this scope yet
            if u_channel < p_pop:
                pos = min(bisect_right(cum, u_pos * cum[-1]), size - 1)
            elif u_channel < p_rec:
                pos = size - 1 - int(u_pos * recent)
            else:
                pos = int(u_pos * size)
            feed.append((ids[pos], u_decide))  # an item may fill two slots, as in simmarket
        return feed


class UserAgent(mesa.Agent):
    """A user: her attributes at t = 0 from simmarket's Users, her sessions each step."""

    def __init__(self, model: PlatformModel, index: int, topic: int, system: int,
                 knowledge: float, sharing: float, activity: float, creator: float):
        super().__init__(model)
        self.index, self.topic, self.system = index, topic, system
        self.group = system * model.scenario.users.topics + topic
        self.knowledge, self.sharing = knowledge, sharing
        self.activity, self.creator = activity, creator
        self.income = 0.0
        self.community_size = 0
        self.items_created = self.connections_made = 0
        self.sessions_due = 0

    # -- a step ---------------------------------------------------------------------------
    def step(self) -> None:
        """This step's sessions (drawn by the model), each creating or browsing."""
        m = self.model
        for _ in range(self.sessions_due):
            m.sessions += 1
            if self.random.random() < self.creator:
                m.creation_sessions += 1
                m.log.append((m.t, "session_started", self.index, "user", None, None, None,
                              1.0))
                self.create()
            else:
                m.log.append((m.t, "session_started", self.index, "user", None, None, None,
                              0.0))
                self.browse()

    def step_own_draw(self) -> None:
        """The plainest Mesa form (``--all-agents``): every user draws her own count."""
        self.sessions_due = self.model.rng.poisson(self.activity * self.model.rate_scale)
        if self.sessions_due:
            self.step()

    # -- value production -------------------------------------------------------------------
    def create(self) -> None:
        m = self.model
        cfg = m.scenario.production
        kappa = self.knowledge + cfg.absorption * m.stock() / m.n_users
        duration = cfg.production_time / (1.0 + kappa) * math.exp(
            cfg.time_noise * self.random.gauss(0.0, 1.0))
        m.schedule_release(m.t + duration, self, kappa, duration)

    def release(self, kappa: float) -> None:
        """The creation is done: release the item, learn, share or hide the knowledge."""
        m = self.model
        cfg = m.scenario.production
        q = kappa / (kappa + cfg.quality_half) + cfg.quality_noise * self.random.gauss(0.0, 1.0)
        q = min(1.0, max(0.01, q))
        j = m.release_item(self, q)
        self.items_created += 1
        m.log.append((m.t, "content_created", self.index, "user", j, None, None, q))
        flow = cfg.learning * q
        self.knowledge += flow
        if self.random.random() < self.sharing:
            m.add_to_stock(flow)
            m.shares += 1
            m.period_shares += 1
            m.log.append((m.t, "knowledge_shared", self.index, "user", j, None, None, flow))
        else:
            m.hides += 1
            m.period_hides += 1
            m.log.append((m.t, "knowledge_hidden", self.index, "user", j, None, None, flow))

    def adapt(self, rate: float, adaptation: float, reciprocity: float) -> None:
        """The sharing dilemma, once a period."""
        self.sharing = min(1.0, max(0.0, self.sharing + adaptation * (
            reciprocity * rate - self.sharing)))

    # -- value encounter ----------------------------------------------------------------------
    def browse(self) -> None:
        m = self.model
        platform = m.platform
        if platform.size == 0:
            return
        feed = platform.feed(self.group, self.random.random)
        m.impressions += len(feed)
        items, t, me = m.items, m.t, self.index
        s = m.sessions
        if int(s * m.sample_rate) != int((s - 1) * m.sample_rate):  # systematic sample
            for j, _ in feed:
                owner = items[j].owner
                m.log.append((t, "impression", me, "user", j, owner, "user", m.sample_weight))
        enc = m.scenario.encounter
        aff_row = m.affinity[self.topic]
        for j, u in feed:
            item = items[j]
            aff = aff_row[item.topic]
            logit = (enc.w_quality * item.quality + enc.w_affinity * aff - enc.threshold
                     + enc.w_social * math.log1p(item.connections))
            x = u * (1.0 + math.exp(-logit)) if logit >= -700.0 else math.inf
            if x >= m.reach:
                continue
            if item.owner == me:
                continue  # one's own item
            # simmarket's represented use rights: the person of the agent's class who meets
            # the item (of w people) holds one iff the pair's count exceeds her index
            person = x / m.reach * m.weight
            key = j * m.n_users + me
            if m.connected.get(key, 0) > person:
                continue  # the use right is already held
            m.connected[key] = m.connected.get(key, 0) + 1
            self.connect(item, aff, person)

    def connect(self, item: Item, aff: float, person: float) -> None:
        """A use-right connection: value, payments to owner and platform, community."""
        m = self.model
        enc = m.scenario.encounter
        c = item.connections
        v = enc.value_scale * item.quality * aff * (1.0 + enc.network_effect * math.log1p(c))
        item.connections = c + 1
        item.value += v
        self.connections_made += 1
        owner = m.users[item.owner]
        to_owner, to_platform = (1.0 - enc.platform_fee) * v, enc.platform_fee * v
        t, me, j = m.t, self.index, item.id
        m.log.append((t, "connection", me, "user", j, owner.index, "user", v))
        m.log.append((t, "payment", me, "user", j, owner.index, "user", to_owner))
        edge = (me, owner.index)
        m.network[edge] = m.network.get(edge, 0.0) + v
        if to_platform > 0.0:
            m.log.append((t, "payment", me, "user", j, 0, "platform", to_platform))
            edge = (me, -1)
            m.network[edge] = m.network.get(edge, 0.0) + to_platform
        owner.income += to_owner
        m.connections += 1
        m.connection_value += v
        m.platform_revenue += to_platform
        key = owner.index * m.n_users + me
        if m.members.get(key, 0) <= person:
            m.members[key] = m.members.get(key, 0) + 1
            owner.community_size += 1
            m.community_joins += 1
            m.log.append((t, "community_joined", me, "user", j, owner.index, "user",
                          float(owner.community_size)))


class PlatformModel(mesa.Model):
    """Users on a platform, one step a recommender refresh, every event into SQLite."""

    def __init__(self, scenario, seed: int, db_path: str | Path, all_agents: bool = False):
        super().__init__(seed=seed)
        from simmarket.core.streams import Streams
        from simmarket.core.world import Users

        self.scenario = sc = scenario
        streams = Streams(seed)
        users = Users(scenario, streams)  # the very users simmarket starts from
        # privacy leaks from simmarket's own stream: both sides follow the same trust path
        self._leak = streams.block("government", "leak")
        self.n_users = users.n
        self.dt = sc.encounter.refresh_days
        self.t = 0.0
        self.all_agents = all_agents
        self.trust_target = 1.0 - sc.regulation.privacy_trust * (
            1.0 - sc.regulation.privacy_protection)
        self.trust = self.trust_target
        self.rate_scale = self.trust * self.dt
        access = users.device_access(sc.tech.access_share)
        self.rates = users.activity * access
        UserAgent.create_agents(
            self, users.n, list(range(users.n)), users.topic.tolist(), users.system.tolist(),
            users.knowledge.tolist(), users.sharing.tolist(),
            (users.activity * access).tolist(), users.creator.tolist())
        self.user_set = self.agents_by_type[UserAgent]
        self.users: list[UserAgent] = sorted(self.user_set, key=lambda a: a.index)
        # the platform and its items
        idx = np.arange(sc.users.topics)
        d = np.abs(idx[:, None] - idx[None, :])
        d = np.minimum(d, sc.users.topics - d)
        self.affinity = np.exp(-d / sc.encounter.affinity_scale).tolist()
        self.items: list[Item] = []
        self.item_topic: list[int] = []
        self.item_system: list[int] = []
        self.item_t: list[float] = []
        self.platform = Platform(self)
        self.reach = 1.0 - sc.tech.hci_friction
        self.sample_rate = sc.encounter.impression_sample_rate
        self.sample_weight = 1.0 / self.sample_rate
        self.connected: dict[int, int] = {}  # (item, user) -> use rights held
        self.members: dict[int, int] = {}  # (owner, user) -> people of her class who joined
        self.weight = sc.users.represented / max(1, users.n)  # people per agent
        self.network: dict[tuple[int, int], float] = {}
        self._pending: list[tuple[float, int, UserAgent, float]] = []
        self._seq = 0
        self._stock, self._stock_t = 0.0, 0.0
        self.sharing_rate = float(np.mean(users.sharing))
        # totals
        self.sessions = self.creation_sessions = self.impressions = 0
        self.connections = self.community_joins = self.shares = self.hides = 0
        self.connection_value = self.platform_revenue = 0.0
        self.period_shares = self.period_hides = 0
        self.events = 0
        self.leaks = 0
        self.log: list[tuple] = []
        self.conn = open_events_db(db_path)
        self.steps_per_period = max(1, round(sc.period_days / self.dt))

    # -- the knowledge stock S --------------------------------------------------------------
    def stock(self) -> float:
        rho = self.scenario.production.obsolescence
        if self.t > self._stock_t:
            self._stock *= math.exp(-rho * (self.t - self._stock_t))
            self._stock_t = self.t
        return self._stock

    def add_to_stock(self, flow: float) -> None:
        self._stock = self.stock() + flow

    # -- items ----------------------------------------------------------------------------
    def schedule_release(self, due: float, user: UserAgent, kappa: float,
                         duration: float) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (due, self._seq, user, kappa))

    def release_item(self, user: UserAgent, quality: float) -> int:
        j = len(self.items)
        self.items.append(Item(j, user.index, user.topic, user.system, quality))
        self.item_topic.append(user.topic)
        self.item_system.append(user.system)
        self.item_t.append(self.t)
        return j

    # -- a step -----------------------------------------------------------------------------
    def step(self) -> None:
        self.t = (self.steps - 1) * self.dt  # Mesa counts steps from 1
        pending = self._pending
        while pending and pending[0][0] <= self.t:  # creations finished by now
            _, _, user, kappa = heapq.heappop(pending)
            user.release(kappa)
        self.platform.refresh()
        if self.all_agents:
            self.user_set.shuffle_do("step_own_draw")
        else:
            counts = self.rng.poisson(self.rates * self.rate_scale)
            active = [self.users[i] for i in np.flatnonzero(counts).tolist()]
            for agent, c in zip(active, counts[counts > 0].tolist()):
                agent.sessions_due = c
            mesa.agent.AgentSet(active, random=self.random).shuffle_do("step")
        self.flush()
        if self.steps % self.steps_per_period == 0:
            self.close_period()

    def flush(self) -> None:
        if self.log:
            self.conn.execute("BEGIN")
            self.conn.executemany(INSERT_EVENT, self.log)
            self.conn.execute("COMMIT")
            self.events += len(self.log)
            self.log.clear()

    def close_period(self) -> None:
        """Sharing adapts to last period's sharing rate; trust follows privacy leaks."""
        cfg, reg = self.scenario.production, self.scenario.regulation
        decided = self.period_shares + self.period_hides
        if decided:
            self.sharing_rate = self.period_shares / decided
        self.period_shares = self.period_hides = 0
        self.user_set.do("adapt", self.sharing_rate, cfg.adaptation, cfg.reciprocity)
        trust = self.trust + reg.trust_recovery * (self.trust_target - self.trust)
        if self._leak.next() < reg.leak_rate * (1.0 - reg.privacy_protection) * (1.0 + reg.lag):
            trust *= 1.0 - reg.leak_trust_loss
            self.leaks += 1
            self.log.append((self.t, "privacy_leak", 0, "platform", None, None, None,
                             reg.leak_trust_loss))
            self.flush()
        self.trust = trust
        self.rate_scale = self.trust * self.dt

    def run(self, days: float) -> None:
        for _ in range(round(days / self.dt)):
            self.step()
        self.flush()
        self.conn.execute("PRAGMA journal_mode=DELETE")  # as simmarket leaves its database
        self.conn.close()

    def totals(self) -> dict:
        return {"sessions": self.sessions, "creation_sessions": self.creation_sessions,
                "items": len(self.items), "impressions": self.impressions,
                "connections": self.connections, "community_joins": self.community_joins,
                "connection_value": self.connection_value, "events": self.events,
                "shares": self.shares, "hides": self.hides,
                "connections_per_impression": (self.connections / self.impressions
                                               if self.impressions else None)}


def workload_scenario(users: int, days: float):
    """The issue-9 workload as a simmarket config (scenario, seed)."""
    from simmarket.config import load_config

    cfg = load_config(None, **{"users.n": users, "horizon_days": days, **WORKLOAD})
    return cfg.scenario, cfg.seed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--days", type=float, default=60.0)
    p.add_argument("--out", default="results/bench/mesa_peer.db")
    p.add_argument("--all-agents", action="store_true",
                   help="step every user each step, each drawing her own session count")
    args = p.parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    scenario, seed = workload_scenario(args.users, args.days)
    t0, c0 = time.perf_counter(), time.process_time()
    model = PlatformModel(scenario, seed, args.out, all_agents=args.all_agents)
    built = time.perf_counter()
    model.run(args.days)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(MARKER + json.dumps({"side": "mesa", "users": args.users, "days": args.days,
                               "run_seconds": wall, "run_cpu_seconds": cpu,
                               "setup_seconds": built - t0, **model.totals()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
