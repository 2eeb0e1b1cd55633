"""External physical layer — value spillover under the economic logic (paper §3.3.4, §4.2.4).

The platform is a data-producing sector whose product, data, is a production factor of a
manufacturing economy. The paper's endogenous growth model, on an annual clock (MODEL.md
§9.5): rates are stated per year, Y is output per year, and a step of ``period_days`` lasts
``dt = period_days / 365`` years:

    (1)  Delta-D = g(uN) D dt,        g(uN) = B (uN)^lambda
    (2)  Y = F[K, (1 - u) D N] = A K^a ((1 - u) D N)^(1 - a)
    (3)  Delta-K = (s Y - delta K) dt     (data do not depreciate)

u is a share of labour *time*. Step p produces ``Y_p`` from the stocks at its start, then
updates D and K. With constant u the effective labour ``E = (1 - u) D N`` grows at g per year,
and ``k~ = K / E`` follows ``k~' = ((1 - delta dt) k~ + s A k~^a dt) / (1 + g dt)``, whose
steady state is ``k~* = (s A / (g + delta))^(1 / (1 - a))``; on that balanced growth path Y
grows at g a year. Convergence takes about ``1 / ((1 - a)(g + delta))`` years (an e-fold), so
runs of months report the transition, not the steady state.

In ``coupled`` mode (the default) D grows instead by the data the platform actually produced
in the step (items and connections, of the represented marketplace: each agent's counting
``users.represents / users.n`` times), times the exportable share (firms' data-sharing
mindset, cut by privacy protection); u is the share of users' time spent producing content
(summed production times over user-days). Nothing here is random.
"""

from __future__ import annotations

from dataclasses import dataclass

from simmarket.config.scenario import Economy
from simmarket.core.context import Context


def steady_state_k_tilde(econ: Economy) -> float:
    """Closed-form steady state of k~ = K / ((1 - u) D N) in paper mode with constant u.

    With data depreciation d the effective labour grows at g - d, so that rate enters.
    """
    g = data_growth_rate(econ, econ.data_labour_share) - econ.data_depreciation
    a = econ.capital_share
    return (econ.saving_rate * econ.tfp / (g + econ.depreciation)) ** (1.0 / (1.0 - a))


def data_growth_rate(econ: Economy, u: float) -> float:
    """g(uN) = B (uN)^lambda: the growth rate of D by eq. (1), per year."""
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

    @property
    def dt(self) -> float:
        """Years per step."""
        return self.econ.period_days / 365.0

    def step(self, u: float, delta_d: float | None = None) -> dict:
        """One step: produce, then accumulate. `delta_d` overrides eq. (1) (coupled); the
        row's g is then the data growth it implies, per year."""
        e, dt = self.econ, self.dt
        Y = self.output(u)
        if delta_d is None:
            g = data_growth_rate(e, u)
            delta_d = g * self.D * dt
        else:
            g = delta_d / (self.D * dt)
        self.D += delta_d - e.data_depreciation * self.D * dt
        self.K += (e.saving_rate * Y - e.depreciation * self.K) * dt
        row = self.state(u, g, Y)
        self.Y_last = Y
        return row


class ValueSpillover:
    """The macro process: one growth-model step every economy period.

    It reads what the platform produced in the step from the world's running totals (items
    released, connections) and who created (users whose item count rose).
    """

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.economy = GrowthModel.initial(ctx.scenario.economy)
        self._mark()

    def _mark(self) -> None:
        """Remember the running totals at the start of a step."""
        world = self.ctx.world
        self._items0 = world.counters.items_released
        self._connections0 = world.counters.connections
        self._creating0 = world.counters.creating_days

    def exportable_share(self) -> float:
        sc = self.ctx.scenario
        return sc.firms.data_sharing * (
            1.0 - sc.economy.privacy_export_cut * sc.regulation.privacy_protection)

    def process(self):
        """SimPy process: write the initial state, then step every economy period."""
        econ = self.ctx.scenario.economy
        u0 = econ.data_labour_share  # coupled mode too, until the platform has a step
        first = self.economy.state(u0, 0.0, self.economy.output(u0))
        self.economy.Y_last = first["Y"]
        self._write(0, first, 0.0)
        period = 0
        while True:
            yield self.ctx.env.timeout(econ.period_days)
            period += 1
            self._step(period)

    def _step(self, period: int) -> None:
        world, econ = self.ctx.world, self.ctx.scenario.economy
        items = world.counters.items_released - self._items0
        connections = world.counters.connections - self._connections0
        exported = self.exportable_share() * world.weight * (
            econ.data_per_item * items + econ.data_per_connection * connections)
        if econ.mode == "paper":
            row = self.economy.step(econ.data_labour_share)
        else:
            creating = world.counters.creating_days - self._creating0
            u = min(creating / (world.users.n * econ.period_days), 0.99)
            row = self.economy.step(u, delta_d=exported / econ.data_scale)
        self._mark()
        rec, t = self.ctx.recorder, self.ctx.env.now
        rec.emit(t, "data_exported", 0, "platform", counterpart_type="economy", value=exported)
        rec.emit(t, "macro_step", 0, "economy", value=row["Y"])
        self._write(period, row, exported)

    def _write(self, period: int, row: dict, exported: float) -> None:
        self.ctx.recorder.write_rows("macro", [
            {"period": period, "t": self.ctx.env.now, **row, "data_exported": exported}])
