"""The lever registry: the scenario parameters a policy may change during a run.

Seed 001's dilemmas and promotion paths are scenario levers (MODEL.md §4). This registry is
the one place they are declared: the config validates ``[[policy.schedule]]`` entries against
it (names here, bounds from the scenario's own schema), the policy schedule applies them, and
the model reads :attr:`Lever.recompute` to know which cached quantities to rebuild when a lever
moves. Any other lever is read where it acts, so nothing needs recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass

#: What a lever change may invalidate; the model wires each to the link that caches it.
SESSION_RATES = "session_rates"  # who can come, and how often (device access)
FEED_SCOPES = "feed_scopes"  # the recommender's slot scopes and channel shares
ENTRY_RATE = "entry_rate"  # the firms' Poisson entry rate
FIRM_MINDSET = "firm_mindset"  # traditional firms turning data-driven


@dataclass(frozen=True)
class Lever:
    """A scenario parameter a policy may change, and what its change invalidates."""

    path: str
    acts_on: str
    recompute: tuple[str, ...] = ()


LEVERS: dict[str, Lever] = {lever.path: lever for lever in (
    Lever("tech.access_share", "who can participate (device access)", (SESSION_RATES,)),
    Lever("tech.hci_friction", "share of would-be connections lost to HCI"),
    Lever("tech.interoperability", "feed slots that may cross systems", (FEED_SCOPES,)),
    Lever("firms.data_driven_share", "share of firms that scan the platform", (FIRM_MINDSET,)),
    Lever("firms.data_sharing", "share of platform data firms let be exported"),
    Lever("regulation.lag", "entry uncertainty and leak risk", (ENTRY_RATE,)),
    Lever("regulation.privacy_protection", "leaks, trust and exportable data"),
    Lever("regulation.antitrust", "cap on a firm's revenue share"),
    Lever("capital.vc_supply", "firm entry and initial capital", (ENTRY_RATE,)),
    Lever("capital.concentration", "the financing threshold"),
    Lever("capital.short_termism", "what firms re-create"),
    Lever("ip_protection", "licence fees and the cost of re-creation"),
    Lever("production.absorption", "how much of the shared stock creators absorb"),
    Lever("government.reward", "payment per knowledge sharer"),
)}

#: The lever names, in declaration order (the schema's ``Literal``).
LEVER_NAMES = tuple(LEVERS)
