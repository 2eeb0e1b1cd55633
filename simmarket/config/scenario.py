"""The scenario: what is simulated, section by section, every parameter with a documented default.

A scenario is the model's half of a TOML file (the other half, the run settings — seed, name,
output — is :mod:`simmarket.config.settings`). Sections mirror the layers of the model. Every
field has a default, so an empty file is a valid run of the baseline marketplace. Validation
is strict: an unknown key, a wrong type (no coercion: ``"5"`` is not a number, ``"off"`` not a
boolean), a non-finite number or an out-of-range value is refused with the field, the value
and what was expected.

Units: time in simulated days; money ("value") in the platform's value unit, in which a
connection to an item of quality 1 at full topic affinity is worth ``encounter.value_scale``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from simmarket.config.errors import ConfigError, describe
from simmarket.config.levers import LEVER_NAMES

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Pos = Annotated[float, Field(gt=0.0)]
NonNeg = Annotated[float, Field(ge=0.0)]


class Section(BaseModel):
    """A validated group of parameters: strict types, finite numbers, no unknown keys."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True,
                              allow_inf_nan=False)


class Users(Section):
    """User layer state at t = 0 (MODEL.md §3.1)."""

    @property
    def represented(self) -> int:
        """The people the agents stand for (MODEL.md §9.1)."""
        return self.represents if self.represents is not None else max(self.n, 1_000_000)

    n: int = Field(5000, ge=1, description="number of simulated users (agents)", le=10_000_000)
    represents: int | None = Field(
        None, ge=1, le=10_000_000_000,
        description="people in the marketplace the agents stand for, each agent carrying the "
                    "weight represents / n (default: 1,000,000, or users.n if larger)")
    topics: int = Field(12, ge=1, le=1000, description="number of interest topics T")
    knowledge_median: Pos = Field(1.0, description="median private knowledge k_i (lognormal)",
                                  le=1e6)
    knowledge_sigma: NonNeg = Field(0.5, description="lognormal sigma of k_i", le=5.0)
    sharing_a: Pos = Field(2.0, description="Beta(a, b) of the sharing propensity sigma_i", le=1e3)
    sharing_b: Pos = Field(3.0, description="Beta(a, b) of the sharing propensity sigma_i", le=1e3)
    activity_median: Pos = Field(0.25, description="median sessions per day lambda_i (lognormal)",
                                 le=100.0)
    activity_sigma: NonNeg = Field(1.6, description="lognormal sigma of lambda_i (heavy tail)",
                                   le=5.0)
    creator_a: Pos = Field(0.05, description="Beta(a, b) of the creator propensity pi_i", le=1e3)
    creator_b: Pos = Field(4.0, description="Beta(a, b) of the creator propensity pi_i", le=1e3)
    threshold_a: Pos = Field(
        2.0, le=1e3,
        description="Beta(a, b) of the sharing threshold theta_i (conditional cooperation)")
    threshold_b: Pos = Field(
        2.0, le=1e3,
        description="Beta(a, b) of the sharing threshold theta_i (conditional cooperation)")
    income_response: NonNeg = Field(
        1.0, description="creators respond to income: pi_i x (1 + response x tanh(recent "
                         "income / income_scale)), at most 1", le=100.0)
    income_scale: Pos = Field(
        5.0, description="recent income (value units per period) at which the response is "
                         "tanh(1) of its maximum", le=1e9)


class Production(Section):
    """Value production and the knowledge-sharing logic (MODEL.md §3.1, paper §4.2.1)."""

    absorption: NonNeg = Field(
        5.0, description="beta: weight of the per-capita shared stock S/N in kappa_i", le=1e3)
    production_time: Pos = Field(1.0, description="days to produce an item at kappa = 0",
                                 le=36_500.0)
    time_noise: NonNeg = Field(0.25, description="lognormal sigma of the production time", le=5.0)
    quality_half: Pos = Field(1.5, description="kappa at which expected quality is 1/2", le=1e6)
    quality_noise: NonNeg = Field(0.1, description="sd of the normal noise on quality", le=10.0)
    learning: NonNeg = Field(0.05, description="knowledge flow Delta-k per unit of quality", le=1e3)
    obsolescence: NonNeg = Field(0.01, description="rho: rate per day at which S obsolesces",
                                 le=100.0)
    reciprocity: NonNeg = Field(
        1.5, description="psi: how much a user's wish to share follows the sharing rate she "
                         "observed last period (conditional cooperation)", le=10.0)
    share_cost: NonNeg = Field(
        0.2, description="c: what sharing costs the sharer (lost exclusivity), in the units "
                          "of the sharing threshold", le=10.0)
    share_time: NonNeg = Field(
        0.1, description="days a shared knowledge flow takes to write up (the creator's next "
                         "item waits)", le=365.0)
    reputation: NonNeg = Field(
        0.02, description="weight of the reputation return: log(1 + community growth last "
                         "period) of the would-be sharer", le=10.0)
    adaptation: Unit = Field(
        0.3, description="share of the gap to the sharing decision closed per period")


class Encounter(Section):
    """Value encounter on the platform and the community logic (MODEL.md §3.2)."""

    feed_size: int = Field(10, ge=1, le=100, description="F: items shown per browse session")
    w_popularity: NonNeg = Field(0.8, description="recommender: weight of the popularity channel",
                                 le=1e3)
    w_recency: NonNeg = Field(0.15, description="recommender: weight of the recency channel",
                              le=1e3)
    w_exploration: NonNeg = Field(0.05, description="recommender: weight of uniform exploration",
                                  le=1e3)
    w_subscription: NonNeg = Field(
        0.7, le=1e3,
        description="recommender: weight of the subscription channel (the newest item of the "
                    "creator whose community the user joined last; else as exploration)")
    topic_match: Unit = Field(
        0.4, description="share of feed slots the recommender keeps in the user's own topic "
                         "(a subscription slot shows the followed owner's item of any topic)")
    rank_exponent: NonNeg = Field(
        2.0, le=10.0,
        description="popularity channel: an item at rank share x of its scope (x = (r - 1/2) / "
                    "items, r = 1 the most connected) is picked with weight (x + floor)^-b")
    rank_floor: Pos = Field(
        0.1, le=1.0,
        description="the floor of the popularity channel's rank shares: with it, the top share "
                    "of items gets the same share of the channel whatever the number of items")
    recency_days: Pos = Field(
        3.0, le=36_500.0,
        description="recency channel: items of the scope released in the last R days")
    refresh_days: Pos = Field(0.25, description="days between recommender index refreshes",
                              ge=0.001, le=36_500.0)
    cold_start_days: NonNeg = Field(
        10.0, le=36_500.0,
        description="the platform's first days, before it ranks by engagement: popularity "
                    "slots pick uniformly within their scope")
    refresh_growth: float = Field(
        0.1, ge=0.0, le=100.0,
        description="the index is also rebuilt as soon as the catalogue has grown by this share "
                    "since the last rebuild (0: at every new item)")
    w_quality: float = Field(3.0, description="connection rule: weight of quality q_j",
                             ge=-1e3, le=1e3)
    w_affinity: float = Field(2.0, description="connection rule: weight of topic affinity",
                              ge=-1e3, le=1e3)
    w_social: float = Field(0.5, description="connection rule: community (social proof) effect",
                            ge=-1e3, le=1e3)
    w_community: float = Field(
        0.0, ge=-1e3, le=1e3,
        description="connection rule: bonus for a member of the owner's community")
    threshold: float = Field(8.0, description="tau: connection threshold in the logit",
                             ge=-1e3, le=1e3)
    affinity_scale: Pos = Field(1.5, description="topic affinity = exp(-ring distance / scale)",
                                le=1e3)
    value_scale: Pos = Field(1.0, description="value of a connection at q = 1, affinity 1", le=1e6)
    network_function: Literal["none", "log", "linear"] = Field(
        "log", description="n(c): none, log (Odlyzko-Tilly n log n), linear (Metcalfe)")
    network_effect: NonNeg = Field(0.1, description="eta in v = base x (1 + eta n(c_j))", le=1e3)
    platform_fee: Unit = Field(0.3, description="platform's share of each payment")
    impression_sample_rate: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.1, description="share of browse sessions whose impressions are written as events")


class Industrial(Section):
    """The industrial counterfactual: ownership, rivalry, diminishing marginal utility."""

    units_per_item: int = Field(50, ge=1, description="rival units of each item, each sold once",
                                le=1_000_000)
    diminishing: NonNeg = Field(
        0.7, description="utility of the m-th owned item of a topic falls as m^-diminishing",
        le=10.0)
    price_factor: Unit = Field(
        0.3, description="price = price_factor x value_scale x q (fixed at release)")


class Tech(Section):
    """Technology dilemma levers (seed 001, §2(1))."""

    access_share: Unit = Field(1.0, description="share of users with a device (~0.01 VR-only)")
    hci_friction: Unit = Field(0.1, description="share of would-be connections lost to HCI")
    systems: int = Field(
        4, ge=1, le=100, description="incompatible systems (devices, protocols, data formats)"
                                      " users and their content belong to")
    interoperability: Unit = Field(
        0.9, description="share of feed slots that may show content made in another system "
                         "(0 = separate worlds)")


class Firms(Section):
    """Firms of the stakeholder layer (MODEL.md §3.3)."""

    initial: NonNeg = Field(
        16.0, description="firms present at t = 0 per 10,000 users (the simulated count is "
                          "rounded stochastically)", le=10_000)
    entry_rate: NonNeg = Field(
        0.2, description="entry attempts per day per 10,000 users at vc_supply = 1", le=100.0)
    data_driven_share: Unit = Field(0.8, description="share of firms that scan the platform")
    data_sharing: Unit = Field(0.7, description="share of platform data firms let be exported")
    scan_interval: Pos = Field(7.0, description="days between a firm's scans", ge=0.01, le=36_500.0)
    scan_top: int = Field(
        5, ge=1, le=1000,
        description="most items a firm re-creates per scan (best first, of the whole platform)")
    capital_median: Pos = Field(60.0, description="median initial capital (lognormal)", le=1e9)
    capital_sigma: NonNeg = Field(0.6, description="lognormal sigma of initial capital", le=5.0)
    financing_threshold: NonNeg = Field(
        30.0, le=1e9, description="minimum capital to enter when firm revenue is equal")
    running_cost: NonNeg = Field(1.5, description="cost per day of a firm", le=1e9)
    outside_income: NonNeg = Field(
        1.5, description="offline income per day of a firm (covers the running cost: "
                         "traditional firms are viable)", le=1e9)
    data_cost: NonNeg = Field(
        0.5, description="cost per day of being data-driven (data infrastructure), earned "
                         "back only through derivatives", le=1e6)
    recreation_cost: NonNeg = Field(2.0, description="cost of re-creating an item (ip = 0)", le=1e9)
    quality_uplift: NonNeg = Field(0.3, description="relative quality gain of a derivative",
                                   le=100.0)
    license_rate: Unit = Field(
        0.5, description="licence fee = ip x (license_rate x the derivative's expected revenue"
                         " + license_minimum)")
    license_minimum: NonNeg = Field(1.0, description="minimum licence fee at ip = 1", le=1e9)
    revenue_horizon: Pos = Field(
        4.0, description="multiples of the original's recent connections a firm expects a "
                         "derivative to earn", le=1e3)


class Capital(Section):
    """Capital dilemma levers (seed 001, §2(4))."""

    vc_supply: NonNeg = Field(1.0, description="venture-capital supply: scales entry and capital",
                              le=100.0)
    concentration: NonNeg = Field(
        1.0, description="financing threshold x (1 + concentration x Gini of firm revenue)", le=1e3)
    short_termism: Unit = Field(0.3, description="weight firms put on popularity over quality")


class Regulation(Section):
    """Institutional levers (seed 001, §2(3))."""

    lag: Unit = Field(0.2, description="institutional lag: entry uncertainty and leak risk")
    privacy_protection: Unit = Field(0.5, description="privacy: fewer leaks, less exportable data")
    antitrust: Annotated[float, Field(ge=0.0, le=0.95)] = Field(
        0.0, description="a firm whose revenue share exceeds 1 - antitrust is fined and may "
                         "not scan, license or re-create in the next period")
    antitrust_fine: NonNeg = Field(0.1, description="fine as a share of the period's revenue",
                                   le=100.0)
    leak_rate: Unit = Field(0.15, description="chance of a privacy leak per period, unprotected")
    leak_trust_loss: Unit = Field(0.1, description="share of participation lost to a leak")
    trust_recovery: Unit = Field(0.2, description="share of lost trust regained per period")
    privacy_trust: Unit = Field(
        0.15, description="trust (participation) = 1 - privacy_trust x (1 - privacy_protection)"
                          " without leaks")


class Government(Section):
    """The government of the stakeholder layer: reward, moderate, regulate, withdraw."""

    enabled: bool = Field(True, description="whether a government acts at all")
    reward: NonNeg = Field(0.2, description="payment per knowledge sharer per period", le=1e9)
    reward_boost: Unit = Field(
        0.2, description="while the government guides, the utility of sharing rises by this "
                         "(in the units of the sharing threshold)")
    violation_rate: Unit = Field(0.02, description="share of new items that break the rules")
    moderation: Unit = Field(0.5, description="chance that a violation is caught")
    penalty: NonNeg = Field(1.0, description="fine per caught violation", le=1e9)
    target_sharing: Unit = Field(0.5, description="sharing rate at which the platform self-governs")
    withdraw_after: int = Field(
        4, ge=1, description="W: periods above target before the government withdraws, and "
                             "below target before it re-enters", le=10_000)


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("distinct values")
    return values


class Network(Section):
    """The value network and its centrality measures (MODEL.md §3.3)."""

    alphas: Annotated[list[Annotated[float, Field(ge=0.0, le=10.0)]],
                      AfterValidator(_distinct)] = Field(
        default_factory=lambda: [0.0, 0.5, 1.0, 1.5], description="Opsahl's alpha values",
        min_length=1, max_length=8)
    centrality_every: int = Field(1, ge=1, description="periods between centrality snapshots",
                                  le=10_000)


class Economy(Section):
    """Value spillover: the endogenous growth model (MODEL.md §3.4, paper eqs. 1-3)."""

    mode: Literal["paper", "coupled"] = Field(
        "coupled", description="coupled: D grows by the platform's exported data; paper: "
                               "eq. (1) with constant u")
    tfp: Pos = Field(1.0, description="A in Y = A K^a ((1-u) D N)^(1-a)", le=1e6)
    capital_share: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(0.33, description="a")
    saving_rate: Unit = Field(0.2, description="s, the share of (annual) output saved")
    depreciation: Unit = Field(0.06, description="delta, capital depreciation per year")
    data_productivity: NonNeg = Field(
        0.2, description="B in g(uN) = B (uN)^lambda, per year", le=1e3)
    labour_elasticity: NonNeg = Field(1.0, description="lambda (1: endogenous, <1: Jones 1995)",
                                      le=10.0)
    data_labour_share: Unit = Field(
        0.1, description="u, the share of labour time producing data (paper mode)")
    labour: Pos = Field(1.0, description="N", le=1e9)
    initial_data: Pos = Field(1.0, description="D at t = 0", le=1e12)
    initial_capital: Pos = Field(1.0, description="K at t = 0", le=1e12)
    period_days: Pos | None = Field(None, description="days per step (default: period_days)",
                                    ge=0.01, le=36_500.0)
    data_depreciation: Unit = Field(
        0.0, description="data depreciation per year (off in the paper)")
    data_per_item: NonNeg = Field(1.0, description="coupled: data units per item created", le=1e6)
    data_per_connection: NonNeg = Field(0.1, description="coupled: data units per connection",
                                        le=1e6)
    data_scale: Pos = Field(
        10_000_000.0, description="coupled: exported data units (of the represented "
                                  "marketplace) per unit of D", le=1e12)
    privacy_export_cut: Unit = Field(
        0.5, description="share of exportable data removed at privacy_protection = 1")


class PolicyChange(Section):
    """One scheduled change of a lever: from `day` on, `lever` takes `value`."""

    day: Annotated[NonNeg, Field(le=36_500.0)]
    lever: Literal[LEVER_NAMES]  # type: ignore[valid-type]
    value: float


class Policy(Section):
    """Promotion paths (seed 001, §3) as schedules of lever changes."""

    schedule: list[PolicyChange] = Field(default_factory=list)


class Scenario(Section):
    """A whole scenario. Top level: horizon, aggregation period, mode and IP protection."""

    horizon_days: Pos = Field(180.0, description="simulated days", le=36_500.0)
    period_days: Pos = Field(7.0, description="days per aggregation period", ge=0.01, le=36_500.0)
    mode: Literal["metaverse", "industrial"] = Field("metaverse")
    ip_protection: Unit = Field(0.5, description="IP protection of creators' content")
    users: Users = Field(default_factory=Users)
    production: Production = Field(default_factory=Production)
    encounter: Encounter = Field(default_factory=Encounter)
    industrial: Industrial = Field(default_factory=Industrial)
    tech: Tech = Field(default_factory=Tech)
    firms: Firms = Field(default_factory=Firms)
    capital: Capital = Field(default_factory=Capital)
    regulation: Regulation = Field(default_factory=Regulation)
    government: Government = Field(default_factory=Government)
    network: Network = Field(default_factory=Network)
    economy: Economy = Field(default_factory=Economy)
    policy: Policy = Field(default_factory=Policy)

    @model_validator(mode="after")
    def _represented(self) -> Scenario:
        if self.users.represents is not None and self.users.represents < self.users.n:
            raise ValueError(f"users.represents = {self.users.represents} is below users.n = "
                             f"{self.users.n}: the agents cannot stand for fewer people")
        return self

    @model_validator(mode="after")
    def _fill_economy_period(self) -> Scenario:
        if self.economy.period_days is None:
            self.economy.period_days = self.period_days
        return self

    def lever(self, dotted: str) -> float:
        """The current value of a lever (or any number) named by its dotted path."""
        obj: Any = self
        for part in dotted.split("."):
            obj = getattr(obj, part)
        return float(obj)

    def set_lever(self, dotted: str, value: float) -> None:
        """Set a lever in place (validated like the file was): policies act on the run's copy."""
        *path, last = dotted.split(".")
        obj: Any = self
        for part in path:
            obj = getattr(obj, part)
        try:
            setattr(obj, last, value)
        except ValidationError as exc:
            raise ConfigError(describe(exc, prefix=".".join(path))) from None
