"""The industrial counterfactual of the encounter (paper Fig. 1, the other corner).

Items are owned, not used: each has ``units_per_item`` rival units sold once each at a price
fixed at release, the utility of a user's m-th item of a topic falls as ``m^-diminishing``,
there is no network or community term, and the buyer keeps a consumer surplus ``v - price``.
"""

from __future__ import annotations

from simmarket.core.context import Context


class IndustrialMarket:
    """Rival units and diminishing marginal utility: a purchase or nothing."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        #: items of each topic a user owns, keyed user * topics + topic
        self.owned: dict[int, int] = {}

    def offer(self, user: int, j: int, aff: float) -> tuple[float, float] | None:
        """(perceived value, price) if the user buys a unit of item j, else None."""
        sc, items = self.ctx.scenario, self.ctx.world.items
        if items.units_left[j] <= 0:
            return None
        key = user * sc.users.topics + items.topic.item(j)
        owned = self.owned.get(key, 0)
        v = sc.encounter.value_scale * items.quality.item(j) * aff * (
            (owned + 1) ** -sc.industrial.diminishing)
        price = items.price.item(j)
        if v < price:
            return None
        items.units_left[j] -= 1
        self.owned[key] = owned + 1
        return v, price
