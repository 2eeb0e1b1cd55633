"""Promotion paths (seed 001, §3) as scheduled lever changes.

A scenario's ``[[policy.schedule]]`` entries say: from ``day`` on, ``lever`` takes ``value``.
A ramp is a sequence of entries. Each change is an event (``policy_changed``) and a row of
``policy_changes``, so a database alone says which policy was in force when. What a change
invalidates is declared once, in the lever registry (:mod:`simmarket.config.levers`); the
model passes the hooks that rebuild it. A change to the value a lever already has does
nothing at all, so a policy that changes nothing leaves the run identical.
"""

from __future__ import annotations

from collections.abc import Callable

from simmarket.config.levers import LEVERS
from simmarket.core.context import Context


def policy_process(ctx: Context, recompute: dict[str, Callable[[], None]]):
    """SimPy process: apply each scheduled change at its day, in order."""
    env, sc = ctx.env, ctx.scenario
    for change in sorted(sc.policy.schedule, key=lambda c: c.day):
        if change.day > env.now:
            yield env.timeout(change.day - env.now)
        old = sc.lever(change.lever)
        sc.set_lever(change.lever, change.value)
        ctx.recorder.emit(env.now, "policy_changed", 0, "government", value=change.value)
        ctx.recorder.write_rows("policy_changes", [{
            "t": env.now, "lever": change.lever, "old_value": old, "new_value": change.value}])
        if old != change.value:
            for hook in LEVERS[change.lever].recompute:
                recompute[hook]()
