"""Promotion paths (seed 001, §3) as scheduled lever changes.

A scenario's ``[[policy.schedule]]`` entries say: from ``day`` on, ``lever`` takes ``value``.
A ramp is a sequence of entries. Each change is an event (``policy_changed``) and a row of
``policy_changes``, so a database alone says which policy was in force when.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simmarket.core.model import Model


def policy_process(model: Model):
    """SimPy process: apply each scheduled change at its day, in order."""
    env = model.env
    for change in sorted(model.cfg.policy.schedule, key=lambda c: c.day):
        if change.day > env.now:
            yield env.timeout(change.day - env.now)
        old = model.cfg.lever(change.lever)
        model.cfg.set_lever(change.lever, change.value)
        model.store.emit(env.now, "policy_changed", 0, "government", value=change.value)
        model.store.write_rows("policy_changes", [{
            "t": env.now, "lever": change.lever, "old_value": old, "new_value": change.value}])
        model.levers_changed(change.lever, old, change.value)
