"""Stakeholder layer — value transmission under the multi-stakeholder logic (paper §3.3.3,
§4.2.3).

Firms consume users' content a second time. Each firm is a SimPy process with capital, a
focus topic and a scan interval. A data-driven firm scans its topic, ranks items by a mix of
recent connections (weight ``short_termism``) and quality, and for the top ones weighs the
revenue a derivative would earn against the licence fee and the cost of re-creation. The fee,
``ip x (license_rate x expected revenue + license_minimum)``, a royalty on what the firm
expects the derivative to earn, pays the original creator; strong IP
protection also makes re-creation costlier (``recreation_cost x (1 + ip)``), so derivatives get
rarer, while weak protection is free copying. A derivative is a new item (quality uplift,
``parent`` = the original) that earns connection value for the firm. Firms pay running costs
net of offline income and exit when their capital falls below zero.

Entry is a Poisson process whose rate rises with venture capital and falls with regulatory
uncertainty; an entrant needs capital above a financing threshold that rises with the
concentration of firm revenue (HHI).

The government is a SimPy process that acts at the close of each period: it rewards
knowledge sharers, moderates rule violations, bars firms above the antitrust cap, lives with
privacy leaks, and withdraws once sharing has stayed above its target for W periods — the
paper's "guide, then withdraw when self-governing".

Every period the value network is snapshotted and, for every firm, the government and the
platform, degree, strength, Opsahl's generalised degree and weighted closeness (raw Freeman
form and harmonic) are computed for each alpha (``simmarket.metrics``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import simpy

from simmarket.core.items import OWNER_FIRM, OWNER_USER
from simmarket.core.streams import Block
from simmarket.metrics import closeness_csgraph, hhi, strength_degree_csgraph

if TYPE_CHECKING:
    from simmarket.core.model import Model


@dataclass
class Firm:
    """One firm of the stakeholder layer."""

    firm_id: int
    topic: int
    data_driven: bool
    capital: float
    t_entered: float
    initial_capital: float = 0.0
    t_exited: float | None = None
    revenue: float = 0.0
    revenue_period: float = 0.0
    derivatives: int = 0
    licenses: int = 0
    license_fees: float = 0.0
    licensed: set[int] = field(default_factory=set)

    @property
    def active(self) -> bool:
        return self.t_exited is None


class ValueTransmission:
    """Firms: entry, scanning, licensing, re-creation, exit."""

    def __init__(self, model: Model):
        self.model = model
        rng = model.streams["transmission"]
        self._rng = rng
        self._u = Block(rng)
        self._gap = Block(rng, "exponential")
        self.firms: list[Firm] = []
        self.hhi_last = 0.0
        self._reset_period()

    def _reset_period(self) -> None:
        self.entries = 0
        self.entries_refused = 0
        self.exits = 0
        self.derivatives = 0
        self.licenses = 0
        self.license_fees = 0.0
        self.revenue = 0.0

    # -- entry ---------------------------------------------------------------------------
    def start(self) -> None:
        for _ in range(self.model.cfg.firms.initial):
            self._enter(self._draw_capital())
        self._waiting = False
        self._entry_proc = self.model.env.process(self.entry())

    def _draw_capital(self) -> float:
        cfg = self.model.cfg
        return float(self._rng.lognormal(
            math.log(cfg.firms.capital_median * max(cfg.capital.vc_supply, 1e-9)),
            cfg.firms.capital_sigma))

    def entry_rate(self) -> float:
        """Entry attempts per day: venture capital up, regulatory uncertainty down."""
        cfg = self.model.cfg
        return cfg.firms.entry_rate * cfg.capital.vc_supply * (1.0 - cfg.regulation.lag)

    def entry(self):
        """SimPy process: Poisson entry attempts, each facing the financing threshold."""
        m = self.model
        cfg = m.cfg
        while True:
            rate = self.entry_rate()
            self._waiting = True
            try:
                if rate <= 0.0:
                    yield m.env.event()  # no entry until a lever change interrupts
                else:
                    yield m.env.timeout(self._gap.next() / rate)
            except simpy.Interrupt:
                continue
            self._waiting = False
            capital = self._draw_capital()
            threshold = cfg.firms.financing_threshold * (
                1.0 + cfg.capital.concentration * self.hhi_last / 10_000.0)
            if capital >= threshold:
                self._enter(capital)
            else:
                self.entries_refused += 1

    def entry_rate_changed(self) -> None:
        """Venture capital or regulatory lag changed: restart the wait at the new rate."""
        if self._waiting:
            self._waiting = False
            self._entry_proc.interrupt()

    def _enter(self, capital: float) -> None:
        m = self.model
        cfg = m.cfg
        firm = Firm(firm_id=len(self.firms),
                    topic=int(self._rng.integers(cfg.users.topics)),
                    data_driven=self._u.next() < cfg.firms.data_driven_share,
                    capital=capital, initial_capital=capital, t_entered=m.env.now)
        self.firms.append(firm)
        self.entries += 1
        m.store.emit(m.env.now, "firm_entered", firm.firm_id, "firm", value=capital)
        m.env.process(self.run_firm(firm))

    # -- a firm's life ------------------------------------------------------------------
    def run_firm(self, firm: Firm):
        """SimPy process: scan, license and re-create, pay costs, exit when broke."""
        m = self.model
        cfg = m.cfg.firms
        while firm.active:
            yield m.env.timeout(cfg.scan_interval)
            firm.capital += (cfg.outside_income - cfg.running_cost) * cfg.scan_interval
            if firm.data_driven and not m.government.barred(firm):
                self.scan(firm)
            if firm.capital < 0.0:
                firm.t_exited = m.env.now
                self.exits += 1
                m.store.emit(m.env.now, "firm_exited", firm.firm_id, "firm",
                             value=firm.capital)

    def scan(self, firm: Firm) -> None:
        """Take the top items of the firm's topic and re-create those worth it."""
        m = self.model
        rec = m.encounter.recommender
        if rec.size == 0:
            return
        lo, hi = int(rec.start[firm.topic]), int(rec.end[firm.topic])
        ids = rec.ids[lo:hi]
        items = m.items
        ids = ids[items.owner_type[ids] == OWNER_USER]
        if len(ids) == 0:
            return
        recent = items.recent_connections(ids)
        s = m.cfg.capital.short_termism
        score = s * _rank(recent) + (1.0 - s) * _rank(items.quality[ids])
        order = np.argsort(-score, kind="stable")
        fresh = [k for k in order[: m.cfg.firms.scan_top + len(firm.licensed)].tolist()
                 if int(ids[k]) not in firm.licensed]
        for k in fresh[: m.cfg.firms.scan_top]:
            self._consider(firm, int(ids[k]), int(recent[k]))

    def _consider(self, firm: Firm, j: int, recent: int) -> None:
        """License and re-create item j if the expected revenue covers fee and cost."""
        m = self.model
        cfg, items = m.cfg, m.items
        ip = cfg.ip_protection
        fees = cfg.firms
        conns = int(items.connections[j])
        per_conn = (items.value[j] / conns if conns else
                    0.5 * cfg.encounter.value_scale * items.quality[j])
        uplift = 1.0 + fees.quality_uplift
        expected = ((1.0 - cfg.encounter.platform_fee) * per_conn * uplift * (recent + 1)
                    * fees.revenue_horizon)
        fee = ip * (fees.license_rate * expected + fees.license_minimum)
        cost = fees.recreation_cost * (1.0 + ip)
        if expected <= fee + cost or firm.capital < fee + cost:
            return
        t = m.env.now
        creator = int(items.owner[j])
        firm.capital -= fee + cost
        firm.licensed.add(j)
        emit = m.store.emit
        if fee > 0.0:
            m.users.income[creator] += fee
            firm.licenses += 1
            firm.license_fees += fee
            self.licenses += 1
            self.license_fees += fee
            emit(t, "license_paid", firm.firm_id, "firm", j, creator, "user", fee)
            m.network.add((m.network.node("firm", firm.firm_id), creator, fee))
        q = min(1.0, float(items.quality[j]) * uplift)
        d = m.release_item(t, firm.firm_id, OWNER_FIRM, int(items.topic[j]), q, 0.0,
                           parent=j)
        firm.derivatives += 1
        self.derivatives += 1
        emit(t, "derivative_created", firm.firm_id, "firm", d, creator, "user", q)

    def convert_firms(self, old: float, new: float) -> None:
        """Training / mindset change: traditional firms turn data-driven so that the share
        of data-driven firms moves from `old` to `new` (each converts w.p. (new-old)/(1-old))."""
        if new <= old or old >= 1.0:
            return
        chance = (new - old) / (1.0 - old)
        for f in self.firms:
            if f.active and not f.data_driven and self._u.next() < chance:
                f.data_driven = True

    def firm_revenue(self, firm_id: int, amount: float) -> None:
        """A connection to one of the firm's derivatives paid it `amount`."""
        firm = self.firms[firm_id]
        firm.capital += amount
        firm.revenue += amount
        firm.revenue_period += amount
        self.revenue += amount

    # -- once a period ------------------------------------------------------------------
    def close_period(self) -> dict:
        revenues = [f.revenue_period for f in self.firms if f.active or f.revenue_period > 0]
        self.hhi_last = hhi(np.array(revenues)) if revenues else 0.0
        return {
            "firms_active": sum(f.active for f in self.firms),
            "entries": self.entries, "entries_refused": self.entries_refused,
            "exits": self.exits, "derivatives": self.derivatives, "licenses": self.licenses,
            "license_fees": self.license_fees, "firm_revenue": self.revenue,
            "hhi_firm_revenue": self.hhi_last,
            "value_transmitted": self.revenue + self.license_fees,
        }

    def start_period(self) -> None:
        for f in self.firms:
            f.revenue_period = 0.0
        self._reset_period()

    def centrality_rows(self, period: int) -> tuple[list[dict], int, int]:
        """Centrality of every active firm, the government and the platform."""
        m = self.model
        net = m.network
        graph = net.graph(len(self.firms))
        gov = m.government
        actors = [("government", 0, gov.captured, gov.captured - gov.captured_before),
                  ("platform", 0, m.encounter.platform_total, m.encounter.platform_revenue)]
        actors += [("firm", f.firm_id, f.revenue, f.revenue_period)
                   for f in self.firms if f.active]
        sources = np.array([net.node(kind, i) for kind, i, *_ in actors], dtype=np.int64)
        degree, strength = strength_degree_csgraph(graph, sources)
        rows = []
        for alpha in m.cfg.network.alphas:
            raw, harmonic = closeness_csgraph(graph, sources, alpha)
            gen = np.zeros(len(sources))
            linked = degree > 0
            gen[linked] = degree[linked] ** (1.0 - alpha) * strength[linked] ** alpha
            for k, (kind, i, captured, in_period) in enumerate(actors):
                rows.append({
                    "period": period, "t": m.env.now, "node": i, "node_type": kind,
                    "alpha": alpha, "degree": int(degree[k]), "strength": float(strength[k]),
                    "generalized_degree": float(gen[k]), "closeness": float(raw[k]),
                    "harmonic_closeness": float(harmonic[k]),
                    "captured_value": float(captured), "captured_period": float(in_period),
                })
        nodes = int(np.count_nonzero(np.diff(graph.indptr)))
        return rows, nodes, graph.nnz // 2


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties broken by position, deterministic)."""
    if len(x) < 2:
        return np.ones(len(x))
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r / (len(x) - 1)


class Government:
    """The government: a SimPy process acting at the close of each period."""

    def __init__(self, model: Model):
        self.model = model
        rng = model.streams["government"]
        self._rng = rng
        self._u = Block(rng)
        self.active = model.cfg.government.enabled
        self.streak = 0
        self.captured = 0.0
        self.withdrew_at: float | None = None
        self._barred: set[int] = set()
        self._reset_period()

    def _reset_period(self) -> None:
        self.captured_before = self.captured
        self.rewards = 0
        self.reward_paid = 0.0
        self.penalties = 0
        self.leaks = 0

    def violates(self) -> bool:
        """Whether a newly released item breaks the rules."""
        return self._u.next() < self.model.cfg.government.violation_rate

    def barred(self, firm: Firm) -> bool:
        return firm.firm_id in self._barred

    def process(self):
        """SimPy process: wake at each period's close (signalled by the clock) and act."""
        m = self.model
        while True:
            yield m.clock.closing
            self.act()

    def act(self) -> None:
        m = self.model
        if self.active:
            self._reward()
        if m.cfg.government.enabled:
            self._moderate()
            self._antitrust()
        self._privacy()
        self._maybe_withdraw()

    def _reward(self) -> None:
        m = self.model
        cfg = m.cfg.government
        users = m.users
        sharers = np.flatnonzero(users.shares_period)
        if len(sharers) == 0:
            return
        users.sharing[sharers] += cfg.reward_boost * (1.0 - users.sharing[sharers])
        self.rewards += len(sharers)
        if cfg.reward > 0.0:
            users.income[sharers] += cfg.reward
            users.rewards[sharers] += cfg.reward
            self.reward_paid += cfg.reward * len(sharers)
            m.network.add_many(sharers, m.network.node("government", 0), cfg.reward)
        m.store.emit_many(m.env.now, "reward", np.zeros(len(sharers), np.int64), "government",
                          counterpart_ids=sharers, counterpart_type="user", values=cfg.reward)

    def _moderate(self) -> None:
        """Catch rule violations among the period's new items; fine and remove them."""
        m = self.model
        cfg, items = m.cfg.government, m.items
        new = np.arange(m.period_first_item, items.n)
        bad = new[items.violation[new] & ~items.removed[new]
                  & (items.owner_type[new] == OWNER_USER)]
        if len(bad) == 0:
            return
        caught = bad[self._rng.random(len(bad)) < cfg.moderation]
        if len(caught) == 0:
            return
        items.removed[caught] = True
        owners = items.owner[caught]
        np.subtract.at(m.users.income, owners, cfg.penalty)
        self.penalties += len(caught)
        self.captured += cfg.penalty * len(caught)
        if cfg.penalty > 0.0:
            m.network.add_many(owners, m.network.node("government", 0), cfg.penalty)
        m.store.emit_many(m.env.now, "penalty", np.zeros(len(caught), np.int64), "government",
                          item_ids=caught, counterpart_ids=owners, counterpart_type="user",
                          values=cfg.penalty)

    def _antitrust(self) -> None:
        """Bar firms whose revenue share exceeds 1 - antitrust from licensing; fine them."""
        m = self.model
        cap = 1.0 - m.cfg.regulation.antitrust
        firms = [f for f in m.transmission.firms if f.active]
        total = sum(f.revenue_period for f in firms)
        self._barred = set()
        if cap >= 1.0 or total <= 0.0:
            return
        for f in firms:
            if f.revenue_period / total > cap:
                fine = m.cfg.regulation.antitrust_fine * f.revenue_period
                f.capital -= fine
                self.captured += fine
                self.penalties += 1
                self._barred.add(f.firm_id)
                m.network.add((m.network.node("firm", f.firm_id),
                               m.network.node("government", 0), fine))
                m.store.emit(m.env.now, "penalty", 0, "government", None, f.firm_id, "firm",
                             fine)

    def _privacy(self) -> None:
        """Leaks happen more where privacy protection is weak and institutions lag."""
        m = self.model
        reg = m.cfg.regulation
        chance = reg.leak_rate * (1.0 - reg.privacy_protection) * (1.0 + reg.lag)
        target = m.trust_target()
        trust = m.trust + reg.trust_recovery * (target - m.trust)
        if self._u.next() < chance:
            trust *= 1.0 - reg.leak_trust_loss
            self.leaks += 1
            m.store.emit(m.env.now, "privacy_leak", 0, "platform", value=reg.leak_trust_loss)
        m.set_trust(trust)

    def _maybe_withdraw(self) -> None:
        m = self.model
        cfg = m.cfg.government
        if not self.active:
            return
        rate = m.production.sharing_rate
        self.streak = self.streak + 1 if rate >= cfg.target_sharing else 0
        if self.streak >= cfg.withdraw_after:
            self.active = False
            self.withdrew_at = m.env.now
            m.store.emit(m.env.now, "government_withdrew", 0, "government", value=rate)

    def close_period(self) -> dict:
        return {"rewards": self.rewards, "reward_paid": self.reward_paid,
                "penalties": self.penalties, "government_active": int(self.active),
                "privacy_leaks": self.leaks, "trust": self.model.trust}

    def start_period(self) -> None:
        self._reset_period()
