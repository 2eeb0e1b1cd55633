"""External physical layer — value spillover under the economic logic (paper §3.3.4, §4.2.4).

The platform is a data-producing sector whose product, data, is a production factor of a
manufacturing economy. The paper's endogenous growth model, one step per economy period:

    (1)  Delta-D = g(uN) D,          g(uN) = B (uN)^lambda
    (2)  Y = F[K, (1 - u) D N] = A K^a ((1 - u) D N)^(1 - a)
    (3)  Delta-K = s Y - delta K     (data do not depreciate)

Step p produces ``Y_p`` from the stocks at its start, then updates D and K. With constant u
the effective labour ``E = (1 - u) D N`` grows at g, and ``k~ = K / E`` follows
``k~' = ((1 - delta) k~ + s A k~^a) / (1 + g)``, whose steady state is
``k~* = (s A / (g + delta))^(1 / (1 - a))``; on that balanced growth path Y grows at g.

In ``coupled`` mode (the default) D grows instead by the data the platform actually produced
in the step (items and connections), times the exportable share (firms' data-sharing mindset, cut by
privacy protection), and u is the share of users who created in the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from simmarket.config import Economy

if TYPE_CHECKING:
    from simmarket.core.model import Model


def steady_state_k_tilde(econ: Economy) -> float:
    """Closed-form steady state of k~ = K / ((1 - u) D N) in paper mode with constant u.

    With data depreciation d the effective labour grows at g - d, so that rate enters.
    """
    g = data_growth_rate(econ, econ.data_labour_share) - econ.data_depreciation
    a = econ.capital_share
    return (econ.saving_rate * econ.tfp / (g + econ.depreciation)) ** (1.0 / (1.0 - a))


def data_growth_rate(econ: Economy, u: float) -> float:
    """g(uN) = B (uN)^lambda: the growth rate of D by eq. (1), per economy period."""
    return econ.data_productivity * (u * econ.labour) ** econ.labour_elasticity


@dataclass
class GrowthModel:
    """The state of the manufacturing economy: data stock D and capital K."""

    econ: Economy
    D: float
    K: float
    Y_last: float | None = None

    @classmethod
    def initial(cls, econ: Economy) -> GrowthModel:
        return cls(econ, econ.initial_data, econ.initial_capital)

    def output(self, u: float) -> float:
        e = self.econ
        return e.tfp * self.K ** e.capital_share * (
            (1.0 - u) * self.D * e.labour) ** (1.0 - e.capital_share)

    def state(self, u: float, g: float, Y: float) -> dict:
        e = self.econ
        growth = Y / self.Y_last - 1.0 if self.Y_last else None
        return {"D": self.D, "u": u, "g": g, "Y": Y, "K": self.K,
                "k_tilde": self.K / ((1.0 - u) * self.D * e.labour), "N": e.labour,
                "output_growth": growth}

    def step(self, u: float, delta_d: float | None = None) -> dict:
        """One period: produce, then accumulate. `delta_d` overrides eq. (1) (coupled)."""
        e = self.econ
        Y = self.output(u)
        if delta_d is None:
            g = data_growth_rate(e, u)
            delta_d = g * self.D
        else:
            g = delta_d / self.D
        self.D += delta_d - e.data_depreciation * self.D
        self.K += e.saving_rate * Y - e.depreciation * self.K
        row = self.state(u, g, Y)
        self.Y_last = Y
        return row


class ValueSpillover:
    """The macro process: one growth-model step every economy period."""

    def __init__(self, model: Model):
        self.model = model
        self.economy = GrowthModel.initial(model.cfg.economy)
        self.items = 0
        self.connections = 0
        self.creators: set[int] = set()

    def exportable_share(self) -> float:
        cfg = self.model.cfg
        return cfg.firms.data_sharing * (
            1.0 - cfg.economy.privacy_export_cut * cfg.regulation.privacy_protection)

    def process(self):
        """SimPy process: write the initial state, then step every economy period."""
        m = self.model
        econ = m.cfg.economy
        u0 = econ.data_labour_share  # coupled mode too, until the platform has a step
        first = self.economy.state(u0, 0.0, self.economy.output(u0))
        self.economy.Y_last = first["Y"]
        self._write(0, first, 0.0)
        period = 0
        while True:
            yield m.env.timeout(econ.period_days)
            period += 1
            self._step(period)

    def _step(self, period: int) -> None:
        m = self.model
        econ = m.cfg.economy
        exported = self.exportable_share() * (
            econ.data_per_item * self.items + econ.data_per_connection * self.connections)
        if econ.mode == "paper":
            row = self.economy.step(econ.data_labour_share)
        else:
            u = min(len(self.creators) / m.users.n, 0.99)
            row = self.economy.step(u, delta_d=exported / econ.data_scale)
        self.items = self.connections = 0
        self.creators = set()
        m.store.emit(m.env.now, "data_exported", 0, "platform", counterpart_type="economy",
                     value=exported)
        m.store.emit(m.env.now, "macro_step", 0, "economy", value=row["Y"])
        self._write(period, row, exported)

    def _write(self, period: int, row: dict, exported: float) -> None:
        row = {"period": period, "t": self.model.env.now, **row, "data_exported": exported}
        self.model.store.write_rows("macro", [row])
