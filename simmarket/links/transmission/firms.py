"""Stakeholder layer — firms: value transmission under the multi-stakeholder logic (paper
§3.3.3, §4.2.3).

Firms consume users' content a second time. Each firm is a SimPy process with capital and a
scan interval. A data-driven firm scans the platform, ranks items by a mix of recent
connections (weight ``short_termism``) and quality, and going down the ranking weighs the
revenue a derivative would earn against the licence fee and the cost of re-creation, taking
up to ``scan_top`` items worth it. The fee,
``ip x (license_rate x expected revenue + license_minimum)``, a royalty on what the firm
expects the derivative to earn, pays the original creator; strong IP protection also makes
re-creation costlier (``recreation_cost x (1 + ip)``), so derivatives get rarer, while weak
protection is free copying. A derivative is a new item (quality uplift, ``parent`` = the
original) that earns connection value for the firm. Every firm lives on its offline business
(outside income against running cost: a traditional firm is viable); a data-driven firm also
pays for its data infrastructure (``data_cost`` per day), which only derivatives can earn back,
so being data-driven must pay for itself. A firm whose capital falls below zero exits. In the
industrial counterfactual there is no platform to scan: value runs along a chain from
producer to buyer, with no licensing and no derivatives.

Firms are sampled like users (MODEL.md §9.1): ``firms.initial`` and ``firms.entry_rate`` are
per 10,000 users, so the simulated firms stand for the represented marketplace's firms in the
same proportion as the agents for its people. A firm's money (capital, financing threshold,
running cost, offline income, data cost) is not scaled: a sampled firm serves a sampled
market, whose items and audiences do not grow with n; what one derivative costs and earns
(re-creation cost, licence fee) is per item, as an item's audience is. An original is
re-created once: the first firm to take it (licensing it, or copying it where IP is
unprotected) fills its niche, so firms work down the ranking rather than crowding its top
items — and how deep they go depends on firms per item, a ratio that does not change with n.
Firms have no focus topic: with a few sampled firms for many topics (four for twelve at
n = 2,000), most topics of a small run would go unscanned. Entry is a Poisson process whose
rate rises with venture capital and falls with regulatory uncertainty; an entrant needs
capital above a financing threshold that rises with the concentration of firm revenue — its
Gini, which does not depend on how many firms are sampled, as the HHI (10,000 / k for k equal
firms) does.

Firm state lives in the world's firm columns (the encounter pays firms there; the government
bars them there). Random streams: ``("firms", "entry")`` for the entry times,
``("firms", "capital")``, ``("firms", "mindset")`` for an entrant's
draws, ``("firms", "count")`` for rounding the initial count and ``("firms", "conversion")``
for traditional firms turning data-driven.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from simmarket.core.context import Context
from simmarket.core.items import OWNER_FIRM, OWNER_USER
from simmarket.metrics import gini, hhi


class FirmsLink:
    """Firms: entry, scanning, licensing, re-creation, exit."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        s = ctx.streams
        self._gap = s.block("firms", "entry", kind="exponential")
        self._capital = s("firms", "capital")
        self._mindset = s.block("firms", "mindset")
        self._conversion = s.block("firms", "conversion")
        self.hhi_last = self.gini_last = 0.0
        self._per_10k = ctx.scenario.users.n / 10_000.0  # m: market sampled, per 10,000
        self._waiting = False
        self._entry_proc: simpy.Process | None = None
        self.start_period()

    def start_period(self) -> None:
        self.entries = self.entries_refused = self.exits = 0
        self.derivatives = self.licenses = 0
        self.license_fees = 0.0
        self.ctx.world.firms.revenue_period[:] = 0.0

    # -- entry ---------------------------------------------------------------------------
    def start(self) -> None:
        """The initial firms, then the entry process."""
        expected = self.ctx.scenario.firms.initial * self._per_10k
        whole = int(expected)
        count = whole + int(self.ctx.streams("firms", "count").random() < expected - whole)
        for _ in range(count):
            self._enter(self._draw_capital())
        self._entry_proc = self.ctx.env.process(self.entry())

    def _draw_capital(self) -> float:
        sc = self.ctx.scenario
        return float(self._capital.lognormal(
            math.log(sc.firms.capital_median * max(sc.capital.vc_supply, 1e-9)),
            sc.firms.capital_sigma))

    def entry_rate(self) -> float:
        """Entry attempts per day: venture capital up, regulatory uncertainty down."""
        sc = self.ctx.scenario
        return (sc.firms.entry_rate * self._per_10k * sc.capital.vc_supply
                * (1.0 - sc.regulation.lag))

    def entry(self):
        """SimPy process: Poisson entry attempts, each facing the financing threshold."""
        env, sc = self.ctx.env, self.ctx.scenario
        while True:
            rate = self.entry_rate()
            self._waiting = True
            try:
                if rate <= 0.0:
                    yield env.event()  # no entry until a lever change interrupts
                else:
                    yield env.timeout(self._gap.next() / rate)
            except simpy.Interrupt:
                continue
            self._waiting = False
            capital = self._draw_capital()
            threshold = sc.firms.financing_threshold * (
                1.0 + sc.capital.concentration * self.gini_last)
            if capital >= threshold:
                self._enter(capital)
            else:
                self.entries_refused += 1

    def entry_rate_changed(self) -> None:
        """Venture capital or regulatory lag changed: restart the wait at the new rate
        (exact, since the entry process is memoryless)."""
        if self._waiting and self._entry_proc is not None:
            self._waiting = False
            self._entry_proc.interrupt()

    def _enter(self, capital: float) -> None:
        env, sc = self.ctx.env, self.ctx.scenario
        firm = self.ctx.world.firms.append(
            t_entered=env.now, data_driven=self._mindset.next() < sc.firms.data_driven_share,
            capital=capital, initial_capital=capital)
        self.entries += 1
        self.ctx.recorder.emit(env.now, "firm_entered", firm, "firm", value=capital)
        env.process(self.run_firm(firm))

    # -- a firm's life ------------------------------------------------------------------
    def run_firm(self, firm: int):
        """SimPy process: scan, license and re-create, pay costs, exit when broke."""
        env, cfg, firms = self.ctx.env, self.ctx.scenario.firms, self.ctx.world.firms
        while firms.is_active(firm):
            yield env.timeout(cfg.scan_interval)
            # in the industrial chain there is no platform data to pay for, or to use
            driven = bool(firms.data_driven[firm]) and not self.ctx.world.industrial
            firms.capital[firm] += (
                cfg.outside_income - cfg.running_cost - cfg.data_cost * driven) * cfg.scan_interval
            if driven and not firms.barred[firm]:
                self.scan(firm)
            if firms.capital[firm] < 0.0:
                firms.t_exited[firm] = env.now
                self.exits += 1
                self.ctx.recorder.emit(env.now, "firm_exited", firm, "firm",
                                       value=float(firms.capital[firm]))

    def candidates(self) -> np.ndarray:
        """Users' items still on the platform and not yet re-created (firms scan only in
        metaverse mode: the industrial chain has no platform to scan)."""
        items = self.ctx.world.items
        ok = items.view("owner_type") == OWNER_USER
        ok &= ~items.view("removed") & ~items.view("recreated")
        return np.flatnonzero(ok)

    def scan(self, firm: int) -> None:
        """Re-create, best score first, up to ``scan_top`` items worth it that it can pay for."""
        sc, items = self.ctx.scenario, self.ctx.world.items
        ids = self.candidates()
        if len(ids) == 0:
            return
        recent = items.recent_connections(ids)
        s = sc.capital.short_termism
        score = s * _rank(recent) + (1.0 - s) * _rank(items.quality[ids])
        fee, cost, worth = self._terms(ids, recent)
        order = np.argsort(-score, kind="stable")
        taken = 0
        for k in order[worth[order]].tolist():
            if taken == sc.firms.scan_top:
                break
            if self.ctx.world.firms.capital[firm] >= fee[k] + cost:
                self._take(firm, int(ids[k]), float(fee[k]), cost)
                taken += 1

    def _terms(self, ids: np.ndarray, recent: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """Each item's licence fee, the re-creation cost, and whether the revenue a derivative
        is expected to earn covers both."""
        sc, items = self.ctx.scenario, self.ctx.world.items
        ip, fees = sc.ip_protection, sc.firms
        conns = items.connections[ids]
        per_conn = np.where(conns > 0, items.value[ids] / np.maximum(conns, 1),
                            0.5 * sc.encounter.value_scale * items.quality[ids])
        expected = ((1.0 - sc.encounter.platform_fee) * per_conn * (1.0 + fees.quality_uplift)
                    * (recent + 1) * fees.revenue_horizon)
        fee = ip * (fees.license_rate * expected + fees.license_minimum)
        cost = fees.recreation_cost * (1.0 + ip)
        return fee, cost, expected > fee + cost

    def _take(self, firm: int, j: int, fee: float, cost: float) -> None:
        """License (when IP is protected) and re-create item j."""
        items = self.ctx.world.items
        self.ctx.world.firms.capital[firm] -= fee + cost
        items.recreated[j] = True
        creator = int(items.owner[j])
        if fee > 0.0:
            self._license(firm, j, creator, fee)
        uplift = 1.0 + self.ctx.scenario.firms.quality_uplift
        self._recreate(firm, j, creator, min(1.0, float(items.quality[j]) * uplift))

    def _license(self, firm: int, j: int, creator: int, fee: float) -> None:
        world, t = self.ctx.world, self.ctx.env.now
        world.users.income[creator] += fee
        world.firms.licenses[firm] += 1
        world.firms.license_fees[firm] += fee
        self.licenses += 1
        self.license_fees += float(fee)
        self.ctx.recorder.emit(t, "license_paid", firm, "firm", j, creator, "user", fee)
        world.network.add((world.network.node("firm", firm), creator, fee))

    def _recreate(self, firm: int, j: int, creator: int, q: float) -> None:
        world, t = self.ctx.world, self.ctx.env.now
        d = world.release_item(t, firm, OWNER_FIRM, int(world.items.topic[j]), q, 0.0, parent=j)
        world.firms.derivatives[firm] += 1
        self.derivatives += 1
        self.ctx.recorder.emit(t, "derivative_created", firm, "firm", d, creator, "user", q)

    def convert_firms(self) -> None:
        """Training / mindset change: each active traditional firm turns data-driven with
        the probability that brings the data-driven share to the lever's new value."""
        firms, new = self.ctx.world.firms, self.ctx.scenario.firms.data_driven_share
        active = firms.active()
        traditional = active[~firms.data_driven[active]]
        old = 1.0 - len(traditional) / len(active) if len(active) else 0.0
        if new <= old:
            return
        chance = (new - old) / (1.0 - old)
        for f in traditional.tolist():
            if self._conversion.next() < chance:
                firms.data_driven[f] = True

    # -- once a period ------------------------------------------------------------------
    def close_period(self) -> dict:
        firms = self.ctx.world.firms
        period = firms.view("revenue_period")
        alive = np.isnan(firms.view("t_exited")) | (period > 0)
        self.hhi_last = hhi(period[alive]) if alive.any() else 0.0
        k = int(alive.sum())
        self.gini_last = gini(period[alive]) * k / (k - 1) if k > 1 else 0.0
        revenue = float(period.sum())
        return {
            "firms_active": len(firms.active()),
            "entries": self.entries, "entries_refused": self.entries_refused,
            "exits": self.exits, "derivatives": self.derivatives, "licenses": self.licenses,
            "license_fees": float(self.license_fees), "firm_revenue": revenue,
            "hhi_firm_revenue": self.hhi_last,
            "value_transmitted": revenue + float(self.license_fees),
        }


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties broken by position, deterministic)."""
    if len(x) < 2:
        return np.ones(len(x))
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r / (len(x) - 1)
