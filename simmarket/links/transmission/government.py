"""Stakeholder layer — the government: reward, moderate, regulate, withdraw (paper §3.3.3,
§4.2.1, §5).

A SimPy process that acts at the close of each period, on the figures of the period that
closes: while it guides it rewards knowledge sharers (a payment, and ``reward_boost`` added to
the utility of sharing that users weigh — the guidance); it moderates rule violations among
the period's new items, bars firms above the antitrust cap, lives with privacy leaks, and
withdraws once sharing has stayed above its target for W periods — the paper's "guide, then
withdraw when self-governing". Should sharing then stay below the target for W periods, it
re-enters (MODEL.md §9.2).

Random streams: ``("government", "violation")`` (does a new item break the rules),
``("government", "moderation")`` (is a violation caught) and ``("government", "leak")`` (a
privacy leak this period) — separate, so that how many items are made never moves the leaks.
"""

from __future__ import annotations

import numpy as np

from simmarket.core.context import Context
from simmarket.core.items import OWNER_USER


class Government:
    """The government: acts once a period on the period that closes."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        s = ctx.streams
        self._violation = s("government", "violation")
        self._moderation = s("government", "moderation")
        self._leak = s.block("government", "leak")
        self.active = ctx.scenario.government.enabled
        ctx.world.counters.guidance = ctx.scenario.government.reward_boost * self.active
        self.streak = 0
        self.withdrew_at: float | None = None
        self.start_period()

    def start_period(self) -> None:
        self.captured_before = self.ctx.world.counters.government_captured
        self.rewards = self.penalties = self.leaks = self.withdrawals = self.reentries = 0
        self.reward_paid = 0.0

    def act(self, sharing_rate: float) -> None:
        """The closing period's decisions, given the sharing rate production reports."""
        enabled = self.ctx.scenario.government.enabled
        if self.active:
            self._reward()
        if enabled:
            self._moderate()
            self._antitrust()
        self._privacy()
        self._withdraw_or_reenter(sharing_rate)
        self.ctx.world.counters.guidance = (
            self.ctx.scenario.government.reward_boost if self.active else 0.0)

    def _reward(self) -> None:
        world, cfg = self.ctx.world, self.ctx.scenario.government
        users = world.users
        sharers = np.flatnonzero(users.shares_period)
        if len(sharers) == 0:
            return
        self.rewards += len(sharers)
        if cfg.reward > 0.0:
            users.income[sharers] += cfg.reward
            users.rewards[sharers] += cfg.reward
            self.reward_paid += cfg.reward * len(sharers)
            world.network.add_many(sharers, world.network.node("government", 0), cfg.reward)
        self.ctx.recorder.emit_many(
            self.ctx.env.now, "reward", np.zeros(len(sharers), np.int64), "government",
            counterpart_ids=sharers, counterpart_type="user", values=cfg.reward)

    def _moderate(self) -> None:
        """Among the period's new users' items, some break the rules; caught ones are removed
        and their creators fined."""
        world, cfg = self.ctx.world, self.ctx.scenario.government
        items = world.items
        new = np.arange(world.counters.period_first_item, items.n)
        new = new[items.owner_type[new] == OWNER_USER]
        bad = new[self._violation.random(len(new)) < cfg.violation_rate]
        caught = bad[self._moderation.random(len(bad)) < cfg.moderation]
        caught = caught[~items.removed[caught]]
        if len(caught) == 0:
            return
        items.removed[caught] = True
        owners = items.owner[caught]
        np.subtract.at(world.users.income, owners, cfg.penalty)
        self.penalties += len(caught)
        world.counters.government_captured += cfg.penalty * len(caught)
        if cfg.penalty > 0.0:
            world.network.add_many(owners, world.network.node("government", 0), cfg.penalty)
        self.ctx.recorder.emit_many(
            self.ctx.env.now, "penalty", np.zeros(len(caught), np.int64), "government",
            item_ids=caught, counterpart_ids=owners, counterpart_type="user",
            values=cfg.penalty)

    def _antitrust(self) -> None:
        """Bar firms whose revenue share exceeds 1 - antitrust for a period; fine them."""
        world, reg = self.ctx.world, self.ctx.scenario.regulation
        firms = world.firms
        firms.barred[:] = False
        active = firms.active()
        total = float(firms.revenue_period[active].sum())
        cap = 1.0 - reg.antitrust
        if cap >= 1.0 or total <= 0.0:
            return
        for f in active[firms.revenue_period[active] / total > cap].tolist():
            fine = reg.antitrust_fine * float(firms.revenue_period[f])
            firms.capital[f] -= fine
            firms.barred[f] = True
            world.counters.government_captured += fine
            self.penalties += 1
            world.network.add((world.network.node("firm", f),
                               world.network.node("government", 0), fine))
            self.ctx.recorder.emit(self.ctx.env.now, "penalty", 0, "government", None, f,
                                   "firm", fine)

    def _privacy(self) -> None:
        """Leaks happen more where privacy protection is weak and institutions lag; trust
        recovers toward what privacy protection earns."""
        world, reg = self.ctx.world, self.ctx.scenario.regulation
        chance = reg.leak_rate * (1.0 - reg.privacy_protection) * (1.0 + reg.lag)
        trust = world.trust + reg.trust_recovery * (world.trust_target() - world.trust)
        if self._leak.next() < chance:
            trust *= 1.0 - reg.leak_trust_loss
            self.leaks += 1
            self.ctx.recorder.emit(self.ctx.env.now, "privacy_leak", 0, "platform",
                                   value=reg.leak_trust_loss)
        world.set_trust(trust)

    def _withdraw_or_reenter(self, rate: float) -> None:
        """Count periods on the side of the target that would change the government's mind:
        above it while guiding (then withdraw), below it while withdrawn (then re-enter)."""
        cfg = self.ctx.scenario.government
        if not cfg.enabled:
            return
        now = self.ctx.env.now
        self.streak = self.streak + 1 if (rate >= cfg.target_sharing) == self.active else 0
        if self.streak < cfg.withdraw_after:
            return
        self.streak = 0
        self.active = not self.active
        if self.active:
            self.reentries += 1
            self.ctx.recorder.emit(now, "government_reentered", 0, "government", value=rate)
        else:
            self.withdrawals += 1
            self.withdrew_at = now
            self.ctx.recorder.emit(now, "government_withdrew", 0, "government", value=rate)

    def close_period(self) -> dict:
        return {"rewards": self.rewards, "reward_paid": self.reward_paid,
                "penalties": self.penalties, "government_active": int(self.active),
                "government_withdrawals": self.withdrawals,
                "government_reentries": self.reentries,
                "privacy_leaks": self.leaks, "trust": self.ctx.world.trust}
