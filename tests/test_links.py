"""Each link of the model tested alone, on a small hand-made world state (no model run).

Every test builds a :class:`~simmarket.core.context.Context` from a fresh SimPy environment,
a scenario, purpose-keyed random streams, a :class:`~simmarket.core.world.World` and an
in-memory recorder keeping every event; sets the world's arrays by hand (users' knowledge,
sharing, topics; items released with ``world.release_item``; firms' capital) and checks one
mechanism against values computed by hand from its docstring. Noise is switched off and
decisions are made certain (probabilities 0 or 1, thresholds far away) wherever the mechanism
allows, so that exact values can be asserted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import simpy

from simmarket.config import config_from_dict
from simmarket.config.scenario import Economy
from simmarket.core.context import Context
from simmarket.core.items import OWNER_FIRM, OWNER_USER
from simmarket.core.population import Population
from simmarket.core.streams import Block, Streams
from simmarket.core.world import World
from simmarket.links.encounter import Recommender, ValueEncounter
from simmarket.links.production import ValueProduction
from simmarket.links.spillover import GrowthModel, ValueSpillover, steady_state_k_tilde
from simmarket.links.transmission.firms import FirmsLink
from simmarket.links.transmission.government import Government
from simmarket.links.transmission.network import ValueNetwork
from simmarket.store.memory import MemoryRecorder

SEED = 20240601


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def make_ctx(extra: dict[str, Any] | None = None, n: int = 20, seed: int = SEED) -> Context:
    """A context over a fresh world of `n` users; `extra` overrides scenario keys."""
    scenario = config_from_dict(_merge({"users": {"n": n}}, extra or {})).scenario
    streams = Streams(seed)
    world = World(scenario, streams, ValueNetwork(n))
    return Context(simpy.Environment(), scenario, world, streams, MemoryRecorder(events="all"))


def events(ctx: Context, kind: str):
    """The recorded events of one kind, in the order they were emitted."""
    df = ctx.recorder.events()
    return df[df.kind == kind].reset_index(drop=True)


def edge(ctx: Context, a: int, b: int) -> float:
    """Value accumulated on the value-network edge a - b."""
    return ctx.world.network.weight(a, b)


# == value production ==========================================================================

QUIET = {"production": {"time_noise": 0.0, "quality_noise": 0.0}}


def _create(ctx: Context, prod: ValueProduction, user: int) -> None:
    """Run one creation session of `user` to its end."""
    ctx.env.process(prod.create(user))
    ctx.env.run()


def test_production_time_quality_and_knowledge_flow():
    """Without noise an item takes T0 / (1 + kappa) days and has quality
    kappa / (kappa + kappa_half); the creator learns learning x q by doing. With S = 0,
    kappa is the user's own knowledge."""
    ctx = make_ctx(_merge(QUIET, {"production": {
        "production_time": 2.0, "quality_half": 1.5, "learning": 0.05}}))
    users = ctx.world.users
    users.knowledge[3] = 3.0
    users.sharing[3] = 0.0  # hides: S stays 0
    prod = ValueProduction(ctx)
    _create(ctx, prod, 3)
    q = 3.0 / (3.0 + 1.5)
    assert ctx.env.now == pytest.approx(2.0 / (1.0 + 3.0), rel=1e-12)
    items = ctx.world.items
    assert items.n == 1 and ctx.world.counters.items_released == 1
    assert items.quality[0] == pytest.approx(q, rel=1e-12)
    assert items.production_time[0] == pytest.approx(0.5, rel=1e-12)
    assert (items.owner[0], items.owner_type[0], items.topic[0]) == (3, OWNER_USER, users.topic[3])
    assert users.knowledge[3] == pytest.approx(3.0 + 0.05 * q, rel=1e-12)
    assert (users.items_created[3], users.created_period[3]) == (1, 1)
    created = events(ctx, "content_created")
    assert created.actor_id.tolist() == [3] and created.value[0] == pytest.approx(q)
    hidden = events(ctx, "knowledge_hidden")
    assert hidden.value.tolist() == pytest.approx([0.05 * q])
    assert prod.stock(ctx.env.now) == 0.0 and users.hides[3] == 1
    assert users.busy_until[3] == pytest.approx(0.5, rel=1e-12)  # busy while producing


def test_quality_is_clipped_to_its_range():
    """Quality is kappa / (kappa + kappa_half) plus noise, kept in [0.01, 1]."""
    ctx = make_ctx(_merge(QUIET, {"production": {"quality_half": 1.0}}))
    ctx.world.users.knowledge[:2] = (0.0, 1e9)
    prod = ValueProduction(ctx)
    for user in (0, 1):
        ctx.env.process(prod.create(user))
    ctx.env.run()
    by_owner = dict(zip(ctx.world.items.view("owner").tolist(),
                        ctx.world.items.view("quality").tolist()))
    assert by_owner[0] == 0.01
    assert by_owner[1] == pytest.approx(1.0, abs=1e-8)


def test_sharing_grows_the_stock_which_obsolesces_and_is_absorbed():
    """sigma = 1 shares the flow into S (event ``knowledge_shared``); S then decays as
    exp(-rho t); the next creator's kappa adds beta x S / N, which shortens production."""
    rho, beta, n = 0.1, 5.0, 20
    ctx = make_ctx(_merge(QUIET, {"production": {
        "obsolescence": rho, "absorption": beta, "learning": 0.5, "production_time": 1.0,
        "quality_half": 1.0}}), n=n)
    users = ctx.world.users
    users.knowledge[:] = 1.0
    users.sharing[0], users.sharing[1] = 1.0, 0.0
    prod = ValueProduction(ctx)
    _create(ctx, prod, 0)  # kappa = 1: takes 0.5 days, q = 1/2, flow 0.25
    t0, flow = ctx.env.now, 0.5 * 0.5
    assert t0 == pytest.approx(0.5)
    assert prod.stock(t0) == pytest.approx(flow, rel=1e-12)
    assert (users.shares[0], users.shares_period[0], prod.shares) == (1, 1, 1)
    shared = events(ctx, "knowledge_shared")
    assert shared.actor_id.tolist() == [0] and shared.value[0] == pytest.approx(flow)
    assert shared.item_id[0] == 0
    # writing the shared flow up keeps her busy share_time days more
    assert users.busy_until[0] == pytest.approx(t0 + ctx.scenario.production.share_time)
    # obsolescence at rate rho while nobody shares
    assert prod.stock(t0 + 10.0) == pytest.approx(flow * math.exp(-rho * 10.0), rel=1e-12)
    ctx.env.run(until=t0 + 10.0)
    stock = prod.stock(ctx.env.now)
    kappa = 1.0 + beta * stock / n
    assert prod.effective_knowledge(1, ctx.env.now) == pytest.approx(kappa, rel=1e-12)
    _create(ctx, prod, 1)
    assert ctx.env.now - (t0 + 10.0) == pytest.approx(1.0 / (1.0 + kappa), rel=1e-12)
    assert ctx.world.items.quality[1] == pytest.approx(kappa / (kappa + 1.0), rel=1e-12)
    assert users.hides[1] == 1 and prod.hides == 1  # sigma = 0 hides


def test_close_period_weighs_sharing_as_a_conditional_cooperator():
    """At a period's close each user weighs ``U_i = psi r + g + reputation log1p(growth_i) -
    share_cost`` (r the share of the period's creations whose knowledge was shared, g the
    guidance, growth_i the growth of her community in the period: an agent creator's
    community is that of each creator she stands for, MODEL.md §9.1), wishes to
    share when ``U_i >= theta_i`` and moves ``sigma_i += adaptation (wish_i - sigma_i)``; the
    row reports the period's figures."""
    ctx = make_ctx(_merge(QUIET, {"users": {"represents": 40}, "production": {
        "reciprocity": 1.0, "share_cost": 0.25, "reputation": 0.25, "adaptation": 0.25,
        "absorption": 0.0}}))  # kappa = k = 1; w = 2
    users = ctx.world.users
    users.knowledge[:] = 1.0
    users.sharing[:] = 0.5
    users.sharing[:4] = (1.0, 1.0, 0.0, 0.0)
    users.threshold[:] = 0.9
    users.threshold[0] = 0.25  # U = 1 x 1/2 - 0.25 = 0.25 exactly: wishes (U >= theta)
    users.threshold[1] = 0.2500001  # just above: does not
    # communities grew by 3: U = 0.25 + 0.25 log 4 = 0.597, whatever w (0.736 had reputation
    # read the agents' weight, log 7)
    users.community_size[[5, 6]] = 3
    users.threshold[[5, 6]] = (0.55, 0.65)
    prod = ValueProduction(ctx)
    assert ctx.world.counters.guidance == 0.0  # no government here
    for user in range(4):
        _create(ctx, prod, user)
    row = prod.close_period()
    r = 2 / 4
    assert (row["shares"], row["hides"], row["items_created"]) == (2, 2, 4)
    assert row["sharing_rate"] == pytest.approx(r)
    assert row["active_creators"] == 4
    assert row["mean_quality"] == pytest.approx(1.0 / 2.5)  # kappa = 1, kappa_half = 1.5
    assert row["mean_production_time"] == pytest.approx(0.5)
    assert row["value_produced"] == pytest.approx(4 * 0.4 * ctx.scenario.encounter.value_scale)
    start = np.full(users.n, 0.5)
    start[:4] = (1.0, 1.0, 0.0, 0.0)
    wish = np.zeros(users.n)
    wish[[0, 5]] = 1.0
    expected = start + 0.25 * (wish - start)
    np.testing.assert_allclose(users.sharing, expected, rtol=1e-12)
    assert row["mean_sharing_propensity"] == pytest.approx(expected.mean())
    assert (users.community_before == users.community_size).all()  # growth is per period
    # a period without creations keeps the last sharing rate; no community grew; guidance
    # of 0.5 makes U = 0.75 for all: everyone with theta <= 0.75 wishes
    prod.start_period()
    assert users.created_period.sum() == 0 and users.shares_period.sum() == 0
    ctx.world.counters.guidance = 0.5
    users.threshold[7] = 0.75
    row = prod.close_period()
    assert row["sharing_rate"] is None and prod.sharing_rate == pytest.approx(r)
    wish = np.zeros(users.n)
    wish[[0, 1, 5, 6, 7]] = 1.0
    np.testing.assert_allclose(users.sharing, expected + 0.25 * (wish - expected), rtol=1e-12)


def test_sharing_does_not_drift_toward_reciprocity_times_the_rate():
    """The old rule (sigma -> psi r) is gone: with every threshold out of reach sharing
    falls toward 0 even when everyone shared (U = psi = 1/2); with every threshold at 0 it
    rises toward 1 even when nobody shared (U = 0 >= 0)."""
    for threshold, sharing, target in ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0)):
        ctx = make_ctx(_merge(QUIET, {"production": {
            "reciprocity": 0.5, "share_cost": 0.0, "reputation": 0.0, "adaptation": 0.5}}))
        users = ctx.world.users
        users.threshold[:] = threshold
        users.sharing[:] = sharing
        prod = ValueProduction(ctx)
        _create(ctx, prod, 0)
        prod.close_period()
        np.testing.assert_allclose(users.sharing, 0.5 * (sharing + target), rtol=1e-12)


def test_creation_propensity_responds_to_the_periods_income():
    """At a period's close ``creator_effective = min(1, pi (1 + income_response
    tanh(recent / income_scale)))``, recent the income earned in the period (a loss counts as
    none); a period without income brings it back to pi."""
    ctx = make_ctx({"users": {"income_response": 2.0, "income_scale": 5.0}})
    users = ctx.world.users
    users.creator[:] = 0.2
    users.creator[3] = 0.6
    users.income[1] = 5.0
    users.income[2] = -3.0  # fined
    users.income[3] = 1000.0
    users.income_before[4] = 10.0
    users.income[4] = 12.5  # 2.5 earned this period
    prod = ValueProduction(ctx)
    prod.close_period()
    expected = np.full(users.n, 0.2)
    expected[1] = 0.2 * (1.0 + 2.0 * math.tanh(1.0))
    expected[3] = 1.0  # 0.6 x (1 + 2 tanh(200)) capped
    expected[4] = 0.2 * (1.0 + 2.0 * math.tanh(0.5))
    np.testing.assert_allclose(users.creator_effective, expected, rtol=1e-12)
    np.testing.assert_array_equal(users.income_before, users.income)
    prod.start_period()
    prod.close_period()
    np.testing.assert_array_equal(users.creator_effective, users.creator)


# == value encounter ===========================================================================

#: Every shown item is connected to: no friction, a threshold far below any logit. One slot
#: per feed, so that a browse session is one impression (an item may fill several slots of a
#: feed: an agent item stands for w items of its kind).
CERTAIN = {"tech": {"hci_friction": 0.0, "systems": 1},
           "encounter": {"threshold": -1000.0, "topic_match": 0.0, "feed_size": 1}}


def _same_place(ctx: Context, topic: int = 0, system: int = 0) -> None:
    ctx.world.users.topic[:] = topic
    ctx.world.users.system[:] = system


def test_connection_value_payments_and_counts():
    """A certain connection realises ``v = value_scale q affinity (1 + eta log1p(c_j))``
    with c_j the agent item's connections before it, whatever w = represents / n (here 3:
    an agent item stands for w items of its kind, each with the community the agent item
    has, MODEL.md §9.1); the user pays v, the owner receives (1 - fee) v, the platform
    fee x v; c_j, the user's connections and the value network grow. The connection curve
    splits each within-item change into the network and audience-composition terms."""
    scale, q, eta, fee, w = 2.0, 0.8, 0.1, 0.3, 3.0
    ctx = make_ctx(_merge(CERTAIN, {"users": {"topics": 4, "represents": 60}, "encounter": {
        "value_scale": scale, "network_effect": eta, "network_function": "log",
        "platform_fee": fee, "affinity_scale": 1.5}}))
    assert ctx.world.weight == w
    _same_place(ctx)
    item = ctx.world.release_item(0.0, 0, OWNER_USER, 1, q, 1.0)  # topic 1, one ring step
    enc = ValueEncounter(ctx)
    for session, user in enumerate((1, 2, 3), start=1):
        enc.browse(user, session)
    aff = math.exp(-1.0 / 1.5)
    v = [scale * q * aff * (1.0 + eta * math.log1p(c)) for c in range(3)]  # no w
    conns = events(ctx, "connection")
    assert conns.actor_id.tolist() == [1, 2, 3]
    assert conns.value.tolist() == pytest.approx(v, rel=1e-12)
    assert (conns.counterpart_id == 0).all() and (conns.counterpart_type == "user").all()
    pays = events(ctx, "payment")
    to_owner = pays[pays.counterpart_type == "user"].value.tolist()
    to_platform = pays[pays.counterpart_type == "platform"].value.tolist()
    assert to_owner == pytest.approx([(1 - fee) * x for x in v], rel=1e-12)
    assert to_platform == pytest.approx([fee * x for x in v], rel=1e-12)
    items, users = ctx.world.items, ctx.world.users
    assert items.connections[item] == 3
    assert items.value[item] == pytest.approx(sum(v))
    assert users.income[0] == pytest.approx((1 - fee) * sum(v))
    assert users.connections_made[1:4].tolist() == [1, 1, 1]
    assert ctx.world.counters.connections == 3
    assert ctx.world.counters.platform_revenue == pytest.approx(fee * sum(v))
    assert edge(ctx, 2, 0) == pytest.approx(v[1])
    assert edge(ctx, 2, ctx.world.network.node("platform", 0)) == pytest.approx(fee * v[1])
    row = enc.close_period()
    assert row["connections"] == 3 and row["impressions"] == 3
    assert row["connection_value"] == pytest.approx(sum(v))
    assert row["paid"] == pytest.approx(sum(v)) and row["consumer_surplus"] == 0.0
    assert row["creator_income"] == pytest.approx((1 - fee) * sum(v))
    assert row["platform_revenue"] == pytest.approx(fee * sum(v))
    curve = enc.curve.columns()
    assert curve["connections"].tolist() == [1, 1, 1]
    # same affinity for all three: the within-item change is all network term
    delta = curve["within_item_change_sum"]
    assert delta == pytest.approx([0.0, v[1] - v[0], v[2] - v[1]], rel=1e-12)
    assert curve["network_term_sum"] == pytest.approx(delta, rel=1e-12)
    assert curve["composition_term_sum"] == pytest.approx([0.0] * 3, abs=1e-15)


def test_the_connection_curve_splits_network_and_audience_composition():
    """The change from an item's (c-1)-th to its c-th connection is
    ``value_scale q a_c eta (n(C_c) - n(C_{c-1})) + value_scale q (1 + eta n(C_{c-1}))
    (a_c - a_{c-1})``, C_c the agent item's connections (w = 2 does not enter): an
    off-topic second connector brings a negative composition term."""
    scale, q, eta = 1.0, 0.5, 0.2
    ctx = make_ctx(_merge(CERTAIN, {"users": {"topics": 4, "represents": 40}, "encounter": {
        "value_scale": scale, "network_effect": eta, "network_function": "linear",
        "affinity_scale": 1.0}}))
    _same_place(ctx)
    ctx.world.users.topic[2] = 2  # two ring steps from the item's topic 0
    ctx.world.release_item(0.0, 0, OWNER_USER, 0, q, 1.0)
    enc = ValueEncounter(ctx)
    enc.browse(1, 1)
    enc.browse(2, 2)
    a1, a2 = 1.0, math.exp(-2.0)
    v1, v2 = scale * q * a1, scale * q * a2 * (1.0 + eta * 1.0)
    assert events(ctx, "connection").value.tolist() == pytest.approx([v1, v2], rel=1e-12)
    network = scale * q * a2 * eta * (1.0 - 0.0)
    composition = scale * q * (1.0 + 0.0) * (a2 - a1)
    curve = enc.curve.columns()
    assert curve["network_term_sum"][1] == pytest.approx(network, rel=1e-12)
    assert curve["composition_term_sum"][1] == pytest.approx(composition, rel=1e-12)
    assert curve["within_item_change_sum"][1] == pytest.approx(v2 - v1, rel=1e-12)
    assert network + composition == pytest.approx(v2 - v1, rel=1e-12)


@pytest.mark.parametrize(("function", "n_of_c"), [("none", lambda c: 0.0),
                                                  ("linear", lambda c: float(c))])
def test_network_value_functions(function, n_of_c):
    """n(C) is 0 (no network effect) or C (Metcalfe) in ``v = base (1 + eta n(c_j))``, with
    c_j the agent item's connections, whatever w (here w = 40 / 20 = 2)."""
    ctx = make_ctx(_merge(CERTAIN, {"users": {"topics": 1, "represents": 40}, "encounter": {
        "network_function": function, "network_effect": 0.5}}))
    _same_place(ctx)
    ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    enc = ValueEncounter(ctx)
    for user in range(1, 5):
        enc.browse(user, user)
    expected = [0.5 * (1.0 + 0.5 * n_of_c(c)) for c in range(4)]
    assert events(ctx, "connection").value.tolist() == pytest.approx(expected, rel=1e-12)


#: Connections decided by one logit term: quality, affinity and friction out of the way; one
#: slot per feed (one impression per browse session).
BARE = {"tech": {"hci_friction": 0.0, "systems": 1}, "users": {"topics": 1},
        "encounter": {"topic_match": 0.0, "w_quality": 0.0, "w_affinity": 0.0,
                      "w_social": 0.0, "w_community": 0.0, "feed_size": 1}}


@pytest.mark.parametrize("represents", [None, 20])
@pytest.mark.parametrize(("c", "connects"), [(1, False), (9, True)])
def test_social_proof_reads_the_agent_items_connections(represents, c, connects):
    """The social-proof term is ``w_s log1p(c_j)``, c_j the agent item's connections, whatever
    w: an agent item stands for w items of its kind, each with the community the agent item
    has (MODEL.md §9.1). With w_s = 100 and tau = 150 the logit is 100 log1p(c_j) - 150: -81
    at c_j = 1 (nobody connects, at w = 50,000 as at w = 1; reading the represented w c_j
    would give +932 at the default 1,000,000 people for 20 agents) and +80 at c_j = 9
    (everyone does)."""
    ctx = make_ctx(_merge(BARE, {"users": {"represents": represents}, "encounter": {
        "w_social": 100.0, "threshold": 150.0}}))
    assert ctx.world.weight == (50_000.0 if represents is None else 1.0)
    _same_place(ctx)
    j = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    enc = ValueEncounter(ctx)
    for user in range(11, 11 + c):  # the item's first c connections
        enc._connect(user, j, 1.0)
    assert ctx.world.items.connections[j] == c
    for user in range(1, 11):
        enc.browse(user, user)
    assert enc.impressions == 10
    assert ctx.world.items.connections[j] == c + (10 if connects else 0)


@pytest.mark.parametrize("bonus", [100.0, 0.0])
def test_members_of_the_owners_community_get_the_community_bonus(bonus):
    """A user who belongs to the owner's community adds w_community to the logit: with
    tau = 50 and nothing else in the logit only members connect (logit +50 vs -50), and
    without the bonus nobody does. Each agent is one person here (represents = n, w = 1),
    where the represented membership rule (member iff the pair's count > the person met)
    is the exact one."""
    ctx = make_ctx(_merge(BARE, {"users": {"represents": 20}, "encounter": {
        "w_community": bonus, "threshold": 50.0}}))
    assert ctx.world.weight == 1.0
    _same_place(ctx)
    a = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    b = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    enc = ValueEncounter(ctx)
    enc._join(1, a, 0.0)  # user 1 joined owner 0's community (as a connection to `a` would)
    assert ctx.world.users.community_size[0] == 1
    for session in range(1, 41):
        enc.browse(1 + session % 2, session)  # users 1 and 2 in turn
    conns = events(ctx, "connection")
    if bonus:
        assert conns.actor_id.tolist() == [1, 1] and sorted(conns.item_id) == [a, b]
    else:
        assert conns.empty


def test_a_use_right_is_acquired_once_and_ones_own_item_is_skipped():
    """With each agent one person (represents = n, w = 1) a user connects to an item at
    most once, however often it is shown; an owner never connects to her own item; a user
    joins an owner's community once, whatever the number of the owner's items she connects
    to. (With w > 1 see the next test.)"""
    ctx = make_ctx(_merge(CERTAIN, {"users": {"topics": 1, "represents": 20}}))
    assert ctx.world.weight == 1.0
    _same_place(ctx)
    a = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    b = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.7, 1.0)
    enc = ValueEncounter(ctx)
    for session in range(1, 31):  # owner 0 browses; so does user 1, again and again
        enc.browse(0, 2 * session - 1)
        enc.browse(1, 2 * session)
    conns = events(ctx, "connection")
    assert sorted(conns.item_id.tolist()) == [a, b]
    assert (conns.actor_id == 1).all()
    users, items = ctx.world.users, ctx.world.items
    assert users.connections_made[:2].tolist() == [0, 2]
    assert items.connections[a] == items.connections[b] == 1
    joins = events(ctx, "community_joined")
    assert joins.actor_id.tolist() == [1] and joins.counterpart_id.tolist() == [0]
    assert joins.value.tolist() == [1.0]
    assert users.community_size[0] == 1 and enc.community_joins == 1


def _recording_draws(enc: ValueEncounter) -> list[float]:
    """The decision uniforms of every feed `enc` is given, in order (one slot per feed)."""
    draws: list[float] = []
    next_feed = enc.recommender.next_feed

    def recorded(system: int, topic: int):
        feed = next_feed(system, topic)
        draws.extend(feed[3])
        return feed

    enc.recommender.next_feed = recorded
    return draws


def test_with_w_above_one_an_agent_holds_up_to_w_use_rights_of_an_item():
    """With w = represents / n > 1 the agent user stands for w people and the agent item for
    w items of its kind (MODEL.md §9.1). An impression that passes the connection rule with
    x = u (1 + exp(-logit)) < reach (here x = u, reach = 1) is met by person ``x w`` of the
    class; with k of the pair's use rights held she already holds one iff ``k > x w``, w.p.
    k / w, else she connects and k grows by one. So user 1, shown the one item 200 times
    with w = 4, connects exactly when the uniforms say, until all 4 people of her class hold
    a use right; each person also joins the owner's community, by the same rule. Over w
    impressions with w = 1,000 the rights held are distinct draws of w people with
    replacement: w (1 - (1 - 1/w)^w) = 632 expected (sd 10)."""
    ctx = make_ctx(_merge(CERTAIN, {"users": {"topics": 1, "represents": 80}, "encounter": {
        "value_scale": 1.0, "network_effect": 0.1, "network_function": "log"}}))
    assert ctx.world.weight == 4.0
    _same_place(ctx)
    j = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    enc = ValueEncounter(ctx)
    draws = _recording_draws(enc)
    made = []
    for session in range(1, 201):
        before = enc.connections
        enc.browse(1, session)
        made.append(enc.connections > before)
    assert len(draws) == 200 == enc.impressions
    held, expected = 0, []
    for u in draws:  # the rule by hand: connect unless person u w holds one (k > u w)
        expected.append(not held > u * 4.0)
        held += expected[-1]
    assert made == expected and held == 4
    last = max(i for i, m in enumerate(made) if m)
    assert made.count(True) == 4 and not all(made[:last + 1])  # a held one met before the 4th
    assert ctx.world.items.connections[j] == ctx.world.users.connections_made[1] == 4
    assert enc.connected.count(j * 20 + 1) == 4 and enc.members.count(0 * 20 + 1) == 4
    assert ctx.world.users.community_size[0] == 4 and enc.community_joins == 4
    values = events(ctx, "connection").value.tolist()  # the c-th right sees c before it
    assert values == pytest.approx([0.5 * (1.0 + 0.1 * math.log1p(c)) for c in range(4)])
    # many people: the share of impressions meeting a held right is k / w
    ctx = make_ctx(_merge(CERTAIN, {"users": {"topics": 1, "represents": 20_000}}))
    _same_place(ctx)
    j = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    enc = ValueEncounter(ctx)
    for session in range(1, 1001):
        enc.browse(1, session)
    w = ctx.world.weight
    assert w == 1000.0 and enc.impressions == 1000
    assert ctx.world.items.connections[j] == pytest.approx(w * (1 - (1 - 1 / w) ** w), abs=40)


def test_hci_friction_loses_every_connection_at_one():
    """A would-be connection is lost to HCI w.p. hci_friction: at 1, nothing connects."""
    ctx = make_ctx(_merge(CERTAIN, {"users": {"topics": 1}, "tech": {"hci_friction": 1.0}}))
    _same_place(ctx)
    ctx.world.release_item(0.0, 0, OWNER_USER, 0, 1.0, 1.0)
    enc = ValueEncounter(ctx)
    for user in range(1, 20):
        enc.browse(user, user)
    assert enc.impressions == 19 and enc.connections == 0
    assert ctx.world.items.connections[0] == 0


def test_firm_items_pay_the_firm():
    """A connection to a firm's derivative pays the firm (1 - fee) v and joins its community."""
    ctx = make_ctx(_merge(CERTAIN, {"users": {"topics": 1}, "encounter": {"platform_fee": 0.2}}))
    _same_place(ctx)
    ctx.world.firms.append(capital=10.0)
    original = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    ctx.world.items.removed[original] = True  # only the derivative is shown
    d = ctx.world.release_item(0.0, 0, OWNER_FIRM, 0, 0.6, 0.0, parent=original)
    enc = ValueEncounter(ctx)
    enc.browse(0, 1)  # user 0 owns the original, not the derivative: she connects
    firms = ctx.world.firms
    assert ctx.world.items.connections[d] == 1
    assert firms.capital[0] == pytest.approx(10.0 + 0.8 * 0.6)
    assert firms.revenue_period[0] == pytest.approx(0.8 * 0.6)
    assert firms.community_size[0] == 1 and ctx.world.users.community_size[0] == 0
    assert edge(ctx, 0, ctx.world.network.node("firm", 0)) == pytest.approx(0.6)


INDUSTRIAL = _merge(CERTAIN, {"mode": "industrial", "users": {"topics": 1},
                              "encounter": {"platform_fee": 0.3}})


def test_industrial_units_are_rival_and_priced_at_release():
    """In the industrial counterfactual each item has units_per_item units sold once each
    at price = price_factor x value_scale x q; the buyer's perceived value is v, the
    payments carry the price, and there is no community."""
    ctx = make_ctx(_merge(INDUSTRIAL, {"industrial": {
        "units_per_item": 2, "price_factor": 0.3}, "encounter": {"value_scale": 2.0}}))
    _same_place(ctx)
    j = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.6, 1.0)
    items = ctx.world.items
    price = 0.3 * 2.0 * 0.6
    assert items.price[j] == pytest.approx(price) and items.units_left[j] == 2
    enc = ValueEncounter(ctx)
    for user in (1, 2, 3):
        enc.browse(user, user)
    conns = events(ctx, "connection")
    assert conns.actor_id.tolist() == [1, 2]  # the third finds no unit left
    assert conns.value.tolist() == pytest.approx([2.0 * 0.6] * 2)
    assert items.units_left[j] == 0 and items.connections[j] == 2
    assert items.value[j] == pytest.approx(2 * price)
    assert ctx.world.users.income[0] == pytest.approx(2 * 0.7 * price)
    pays = events(ctx, "payment")
    assert pays.value.tolist() == pytest.approx([0.7 * price, 0.3 * price] * 2)
    assert events(ctx, "community_joined").empty
    row = enc.close_period()
    assert row["consumer_surplus"] == pytest.approx(2 * (2.0 * 0.6 - price))


def test_industrial_utility_diminishes_with_items_owned():
    """The m-th item of a topic a user owns is worth v = value_scale q affinity m^-d. Each
    agent is one person (represents = n), so she buys each item once."""
    ctx = make_ctx(_merge(INDUSTRIAL, {"users": {"represents": 20}, "industrial": {
        "diminishing": 0.7, "price_factor": 0.3}}))
    _same_place(ctx)
    for q in (0.6, 0.9, 0.8):
        ctx.world.release_item(0.0, 0, OWNER_USER, 0, q, 1.0)
    enc = ValueEncounter(ctx)
    for session in range(1, 40):
        enc.browse(1, session)
    conns = events(ctx, "connection")
    assert sorted(conns.item_id.tolist()) == [0, 1, 2]
    quality = ctx.world.items.quality
    expected = [quality[j] * m ** -0.7 for m, j in enumerate(conns.item_id.tolist(), start=1)]
    assert conns.value.tolist() == pytest.approx(expected, rel=1e-12)


def test_industrial_no_purchase_below_price():
    """A buyer whose diminished utility falls below the price does not buy."""
    ctx = make_ctx(_merge(INDUSTRIAL, {"industrial": {"diminishing": 5.0, "price_factor": 0.5}}))
    _same_place(ctx)
    for _ in range(2):
        ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.6, 1.0)
    enc = ValueEncounter(ctx)
    for session in range(1, 40):  # 2nd item: v = 0.6 x 2^-5 < price 0.3
        enc.browse(1, session)
    assert len(events(ctx, "connection")) == 1
    assert ctx.world.items.view("units_left").sum() == 2 * 50 - 1


# -- the recommender -----------------------------------------------------------------------

def _feeds(rec: Recommender, system: int, topic: int, k: int) -> list[list[int]]:
    return [rec.next_feed(system, topic)[0] for _ in range(k)]


def _rec_world(extra: dict, per_place: int = 3) -> tuple[Context, Recommender]:
    """Items in every (system, topic) place, `per_place` each."""
    ctx = make_ctx(extra)
    sc, users = ctx.scenario, ctx.world.users
    for system in range(sc.tech.systems):
        for topic in range(sc.users.topics):
            owner = system  # any user of the system: content lives in its maker's system
            users.system[owner] = system
            for _ in range(per_place):
                ctx.world.release_item(0.0, owner, OWNER_USER, topic, 0.5, 1.0)
    rec = Recommender(ctx)
    rec.refresh()
    return ctx, rec


def test_without_interoperability_feeds_stay_in_the_users_system():
    """With interoperability = 0 every slot is scoped to the user's own system; at 1 other
    systems' content is shown too."""
    extra = {"users": {"topics": 3}, "tech": {"systems": 3, "interoperability": 0.0}}
    ctx, rec = _rec_world(extra)
    system = ctx.world.items.system
    shown = [j for f in _feeds(rec, 1, 0, 200) for j in f]
    assert shown and set(system[shown].tolist()) == {1}
    ctx, rec = _rec_world(_merge(extra, {"tech": {"interoperability": 1.0}}))
    shown = [j for f in _feeds(rec, 1, 0, 200) for j in f]
    assert set(ctx.world.items.system[shown].tolist()) == {0, 1, 2}


def test_topic_match_one_shows_only_the_users_topic():
    """With topic_match = 1 every slot is scoped to the user's own topic; at 0 any topic."""
    extra = {"users": {"topics": 4}, "tech": {"systems": 2, "interoperability": 1.0},
             "encounter": {"topic_match": 1.0}}
    ctx, rec = _rec_world(extra)
    shown = [j for f in _feeds(rec, 0, 2, 200) for j in f]
    assert shown and set(ctx.world.items.topic[shown].tolist()) == {2}
    ctx, rec = _rec_world(_merge(extra, {"encounter": {"topic_match": 0.0}}))
    shown = [j for f in _feeds(rec, 0, 2, 200) for j in f]
    assert set(ctx.world.items.topic[shown].tolist()) == {0, 1, 2, 3}


def test_a_feed_fills_its_feed_size_and_an_item_may_fill_several_slots():
    """A feed has feed_size slots, each filled while its scope has content; an item may fill
    several slots of one feed (an agent item stands for w items of its kind), so 6 slots
    over 4 items always repeat one."""
    extra = {"users": {"topics": 1}, "tech": {"systems": 1}, "encounter": {"feed_size": 6}}
    ctx, rec = _rec_world(extra, per_place=4)
    for feed in _feeds(rec, 0, 0, 100):
        assert len(feed) == 6 and set(feed) <= {0, 1, 2, 3} and len(set(feed)) < 6


def test_feed_rows_are_per_group_and_survive_refreshes():
    """Common random numbers: a group's k-th feed uses its k-th row of its own stream, so it
    does not depend on other groups' demand, nor on an index refresh that changed nothing."""
    extra = {"users": {"topics": 2}, "tech": {"systems": 2, "interoperability": 0.5}}
    _, alone = _rec_world(extra)
    reference = _feeds(alone, 0, 1, 12)
    _, busy = _rec_world(extra)
    mixed = []
    for _ in range(12):
        mixed += _feeds(busy, 0, 1, 1)
        _feeds(busy, 1, 0, 37)  # another group's heavy demand in between
    assert mixed == reference
    _, refreshed = _rec_world(extra)
    first = _feeds(refreshed, 0, 1, 5)
    refreshed.refresh()  # a new version: the pending batch is recomputed from the same rows
    assert first + _feeds(refreshed, 0, 1, 7) == reference


def test_an_empty_own_topic_widens_to_every_topic_but_systems_stay_apart():
    """A slot scoped to the user's own topic while that topic has no content yet is filled
    from every topic (of its system scope): with one item, of topic 1, a user of topic 0 at
    topic_match = 1 sees it in all 10 slots — at small n, when many topics are still empty,
    dropping such slots took impressions from the first items. Systems do not widen:
    without interoperability a user of another system sees nothing."""
    ctx = make_ctx({"users": {"topics": 2}, "tech": {"systems": 2, "interoperability": 0.0},
                    "encounter": {"topic_match": 1.0, "feed_size": 10}})
    ctx.world.users.system[0] = 0
    ctx.world.release_item(0.0, 0, OWNER_USER, 1, 0.5, 1.0)
    rec = Recommender(ctx)
    rec.refresh()
    assert all(f == [0] * 10 for f in _feeds(rec, 0, 0, 50))
    assert not any(_feeds(rec, 1, 0, 50))


def test_during_the_cold_start_popularity_slots_pick_uniformly():
    """Before ``cold_start_days`` the platform has no engagement data to rank by: the
    popularity channel picks uniformly within the scope (the top tenth by connections gets
    a tenth of it), and by rank share from the first refresh after."""
    ctx = make_ctx(_merge(ONE_SCOPE, {"encounter": {"w_popularity": 1.0,
                                                    "cold_start_days": 5.0}}))
    for _ in range(100):
        ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    ctx.world.items.connections[:100] = np.arange(100)
    rec = Recommender(ctx)
    rec.refresh()
    shown = [j for f in _feeds(rec, 0, 0, 4000) for j in f]
    assert sum(j >= 90 for j in shown) / 4000 == pytest.approx(0.1, abs=0.02)
    ctx.env.run(until=5.0)
    rec.refresh()
    shown = [j for f in _feeds(rec, 0, 0, 4000) for j in f]
    assert sum(j >= 90 for j in shown) / 4000 == pytest.approx(
        _rank_shares(100, 10, 0.1, 2.0), abs=0.025)


#: One slot per feed, one scope: every slot shows the whole (single-topic, single-system) index.
ONE_SCOPE = {"users": {"topics": 1}, "tech": {"systems": 1},
             "encounter": {"feed_size": 1, "w_popularity": 0.0, "w_recency": 0.0,
                           "w_exploration": 0.0, "w_subscription": 0.0,
                           "cold_start_days": 0.0}}


#: Every slot a subscription slot, in one scope.
SUBSCRIPTIONS = _merge(ONE_SCOPE, {"encounter": {"feed_size": 4, "w_subscription": 1.0}})


def _subscribed_feeds(rec: Recommender, user: int, k: int) -> list[list[int]]:
    """The next k feeds of `user` (system 0, topic 0), subscription slots resolved as a
    browse session resolves them."""
    feeds = []
    for _ in range(k):
        feed = rec.next_feed(0, 0)
        rec.subscribe(user, feed)
        feeds.append(feed[0])
    return feeds


def test_a_subscription_slot_shows_the_followed_creators_newest_item():
    """The subscription channel shows the newest item of the community owner the user
    joined last (a creator or a firm); a slot whose user follows no one, or whose followed
    owner's newest item was taken down, keeps its exploration item (uniform in the scope)."""
    ctx = make_ctx(SUBSCRIPTIONS)
    world = ctx.world
    for owner in (0, 0, 1, 0, 1):  # items 0..4: creator 0's newest is 3, creator 1's is 4
        world.release_item(0.0, owner, OWNER_USER, 0, 0.5, 1.0)
    firm = world.firms.append(t_entered=0.0)
    world.release_item(0.0, firm, OWNER_FIRM, 0, 0.5, 0.0, parent=0)  # item 5
    rec = Recommender(ctx)
    rec.refresh()
    n = world.users.n
    world.users.follows[[2, 3, 4]] = [0, 1, n + firm]
    assert _subscribed_feeds(rec, 2, 5) == [[3] * 4] * 5
    assert _subscribed_feeds(rec, 3, 5) == [[4] * 4] * 5
    assert _subscribed_feeds(rec, 4, 5) == [[5] * 4] * 5
    unfollowed = [j for f in _subscribed_feeds(rec, 5, 100) for j in f]
    assert set(unfollowed) == set(range(6))  # exploration over the scope
    world.items.removed[3] = True
    rec.refresh()  # the exploration items come from the index, which now leaves it out
    assert 3 not in [j for f in _subscribed_feeds(rec, 2, 100) for j in f]


def test_a_subscription_slot_keeps_to_its_system_not_to_its_topic():
    """A subscription slot kept to the user's system shows the followed owner's newest item
    only if it lives there: without interoperability systems stay separate worlds, through
    firms too (a firm's derivatives live in their originals' systems). The topic scope is
    the recommender's matching, not the member's: with topic_match = 1 she still sees her
    creator's item of another topic."""
    extra = {"users": {"topics": 2}, "tech": {"systems": 2, "interoperability": 0.0},
             "encounter": {"feed_size": 4, "w_popularity": 0.0, "w_recency": 0.0,
                           "w_exploration": 0.0, "w_subscription": 1.0, "topic_match": 1.0}}
    ctx = make_ctx(extra)
    world = ctx.world
    world.users.system[[0, 1, 3]] = [0, 1, 0]
    world.users.topic[3] = 0
    for owner, topic in ((0, 0), (0, 0), (1, 0), (0, 1)):  # items 0..3 (3: creator 0, topic 1)
        world.release_item(0.0, owner, OWNER_USER, topic, 0.5, 1.0)
    firm = world.firms.append(t_entered=0.0)
    world.release_item(0.0, firm, OWNER_FIRM, 0, 0.5, 0.0, parent=2)  # 4, in system 1
    rec = Recommender(ctx)
    rec.refresh()
    world.users.follows[3] = 0
    assert _subscribed_feeds(rec, 3, 20) == [[3] * 4] * 20  # another topic, her system
    world.users.follows[3] = world.users.n + firm
    shown = {j for f in _subscribed_feeds(rec, 3, 50) for j in f}
    assert shown == {0, 1}  # system 0's items of her topic: exploration, not the firm's


def test_without_the_subscription_channel_no_slot_is_a_subscription():
    """w_subscription = 0 (the other weights unchanged): no slot resolves to the followed
    creator's item beyond what the other channels show."""
    ctx = make_ctx(_merge(ONE_SCOPE, {"encounter": {"feed_size": 4, "w_exploration": 1.0,
                                                    "w_subscription": 0.0}}))
    for _ in range(50):
        ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    rec = Recommender(ctx)
    rec.refresh()
    ctx.world.users.follows[1] = 0
    feeds = [rec.next_feed(0, 0) for _ in range(100)]
    assert all(scope == -1 for f in feeds for scope in f[4])
    shown = [j for f in feeds for j in f[0]]
    assert shown.count(49) < 30  # about 400 / 50 = 8, not every slot


def test_joining_a_community_follows_its_owner():
    """A user follows the owner of the community she joined last: a creator by id, a firm
    as users.n plus its id (as in the membership keys); joining again changes nothing."""
    ctx = make_ctx()
    enc, world = ValueEncounter(ctx), ctx.world
    a = world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    firm = world.firms.append(t_entered=0.0)
    b = world.release_item(0.0, firm, OWNER_FIRM, 0, 0.5, 0.0, parent=a)
    assert world.users.follows[5] == -1
    enc._join(5, a, 0.0)
    assert world.users.follows[5] == 0
    enc._join(5, b, 0.0)
    assert world.users.follows[5] == world.users.n + firm
    enc._join(5, a, 0.0)  # a member already: no join, still following the firm
    assert world.users.follows[5] == world.users.n + firm


def _rank_shares(items: int, top: int, floor: float, exponent: float) -> float:
    """The popularity channel's share of the `top` most connected of `items` items, by hand."""
    weights = [((r - 0.5) / items + floor) ** -exponent for r in range(1, items + 1)]
    return sum(weights[:top]) / sum(weights)


def test_popularity_weighs_the_rank_share_of_connections():
    """The popularity channel picks the item of rank r among the N of its scope (r = 1 the
    most connected, ties to the newest) with weight ``((r - 1/2) / N + rank_floor)^-b``: a
    weight of the item's rank share, not of its count, so that the top 10% of items get the
    same share of the channel, (1/f - 1/(0.1 + f)) / (1/f - 1/(1 + f)) = 0.55 at f = 0.1 and
    b = 2, with 50 items as with 500 (0.5451 and 0.5499 by the formula)."""
    floor, b = 0.1, 2.0
    shares = []
    for n_items in (50, 500):
        ctx = make_ctx(_merge(ONE_SCOPE, {"encounter": {
            "w_popularity": 1.0, "rank_floor": floor, "rank_exponent": b}}))
        for _ in range(n_items):
            ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
        conns = np.random.default_rng(n_items).permutation(n_items)  # ranks not in id order
        ctx.world.items.connections[:n_items] = conns
        top = set(np.flatnonzero(conns >= n_items - n_items // 10).tolist())
        rec = Recommender(ctx)
        rec.refresh()
        shown = [j for f in _feeds(rec, 0, 0, 8000) for j in f]
        assert len(shown) == 8000
        share = sum(j in top for j in shown) / 8000  # binomial sd 0.006
        expected = _rank_shares(n_items, n_items // 10, floor, b)
        assert share == pytest.approx(expected, abs=0.025)
        assert expected == pytest.approx(0.55, abs=0.006)
        shares.append(share)
    assert shares[0] == pytest.approx(shares[1], abs=0.03)
    # two items without connections: the newer (id 1) ranks first
    ctx = make_ctx(_merge(ONE_SCOPE, {"encounter": {
        "w_popularity": 1.0, "rank_floor": floor, "rank_exponent": b}}))
    for _ in range(2):
        ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    rec = Recommender(ctx)
    rec.refresh()
    shown = [j for f in _feeds(rec, 0, 0, 4000) for j in f]
    newest = (0.25 + floor) ** -b / ((0.25 + floor) ** -b + (0.75 + floor) ** -b)  # 0.855
    assert shown.count(1) / 4000 == pytest.approx(newest, abs=0.02)


def test_recency_shows_the_items_of_the_last_recency_days():
    """The recency channel is uniform over the scope's items released in the last R days."""
    ctx = make_ctx(_merge(ONE_SCOPE, {"encounter": {"w_recency": 1.0, "recency_days": 3.0}}))
    for t in (0.0, 5.0, 10.0, 11.0):
        ctx.world.release_item(t, 0, OWNER_USER, 0, 0.5, 1.0)
    ctx.env.run(until=12.0)
    rec = Recommender(ctx)
    rec.refresh()
    shown = [j for f in _feeds(rec, 0, 0, 400) for j in f]
    assert set(shown) == {2, 3}
    assert shown.count(2) / 400 == pytest.approx(0.5, abs=0.1)


# == value transmission: firms =================================================================

#: m: the market a run of 20 agents samples, per 10,000 users: firm counts and entry scale
#: with it; a firm's money does not (a sampled firm serves a sampled market, MODEL.md §9.1).
M = 20 / 10_000
#: firms.initial is per 10,000 users: 500 of them make exactly one firm among 20 agents.
ONE_FIRM = 500.0
FIRM = {"firms": {"initial": ONE_FIRM, "entry_rate": 0.0, "quality_uplift": 0.3,
                  "license_rate": 0.5, "license_minimum": 1.0, "revenue_horizon": 4.0,
                  "recreation_cost": 2.0},
        "encounter": {"platform_fee": 0.3}, "users": {"topics": 2}}


def _firm_world(ip: float, capital: float = 100.0, extra: dict | None = None):
    """One data-driven firm and one popular user item: q = 0.5, nine connections worth 0.5
    each."""
    ctx = make_ctx(_merge(_merge(FIRM, {"ip_protection": ip}), extra or {}))
    link = FirmsLink(ctx)
    link.start()
    firms = ctx.world.firms
    firms.capital[0], firms.data_driven[0] = capital, True
    j = ctx.world.release_item(0.0, 5, OWNER_USER, 0, 0.5, 1.0)
    ctx.world.items.connections[j] = 9
    ctx.world.items.value[j] = 9 * 0.5
    return ctx, link, j


def test_a_firm_licenses_and_recreates_a_popular_item():
    """expected = (1 - fee) x value per connection x (1 + uplift) x (recent + 1) x horizon;
    licence = ip (license_rate expected + license_minimum), paid to the creator; cost =
    recreation_cost (1 + ip) — per item, not scaled by the market sampled (an item's audience
    does not grow with n). The derivative is the firm's, with parent and quality uplift; the
    original is marked re-created."""
    ip = 0.5
    ctx, link, j = _firm_world(ip)
    assert ctx.world.firms.n == 1
    link.scan(0)
    expected = 0.7 * 0.5 * 1.3 * (9 + 1) * 4.0
    fee = ip * (0.5 * expected + 1.0)
    cost = 2.0 * (1.0 + ip)
    firms, items, users = ctx.world.firms, ctx.world.items, ctx.world.users
    assert firms.capital[0] == pytest.approx(100.0 - fee - cost, rel=1e-12)
    assert users.income[5] == pytest.approx(fee, rel=1e-12)
    assert (firms.licenses[0], firms.derivatives[0]) == (1, 1)
    assert firms.license_fees[0] == pytest.approx(fee)
    d = items.n - 1
    assert (items.parent[d], items.owner[d], items.owner_type[d]) == (j, 0, OWNER_FIRM)
    assert items.quality[d] == pytest.approx(0.5 * 1.3)
    assert (items.topic[d], items.system[d]) == (items.topic[j], items.system[j])
    assert items.recreated[j] and not items.recreated[d]
    lic = events(ctx, "license_paid")
    assert lic[["actor_id", "item_id", "counterpart_id"]].values.tolist() == [[0, j, 5]]
    assert lic.value[0] == pytest.approx(fee)
    made = events(ctx, "derivative_created")
    assert made.item_id.tolist() == [d] and made.value[0] == pytest.approx(0.65)
    assert edge(ctx, ctx.world.network.node("firm", 0), 5) == pytest.approx(fee)
    # the item is re-created once; the derivative (a firm's item) is no candidate
    link.scan(0)
    assert items.n == d + 1 and firms.licenses[0] == 1
    row = link.close_period()
    assert (row["licenses"], row["derivatives"]) == (1, 1)
    assert row["license_fees"] == pytest.approx(fee)


def test_an_original_is_re_created_once_whichever_firm_takes_it():
    """The first firm to take an original fills its niche: a second firm passes over it to
    the next item of the ranking (here by recent connections: 9, then 5)."""
    ctx, link, j = _firm_world(0.5, extra={"firms": {"initial": 2 * ONE_FIRM, "scan_top": 1},
                                           "capital": {"short_termism": 1.0}})
    firms, items = ctx.world.firms, ctx.world.items
    firms.capital[1], firms.data_driven[1] = 100.0, True
    other = ctx.world.release_item(0.0, 6, OWNER_USER, 0, 0.5, 1.0)
    items.connections[other] = 5
    items.value[other] = 5 * 0.5
    link.scan(0)
    link.scan(1)
    parents = items.view("parent")
    assert parents[parents >= 0].tolist() == [j, other]
    assert items.owner[[2, 3]].tolist() == [0, 1]
    assert firms.derivatives[:2].tolist() == [1, 1]
    link.scan(0)
    link.scan(1)  # nothing left to take
    assert items.n == 4 and items.recreated[[j, other]].all()


def test_without_ip_protection_copying_is_free():
    """ip = 0: no licence fee (no event, no income for the creator), cost recreation_cost;
    the copied original is taken (re-created) all the same."""
    ctx, link, j = _firm_world(0.0)
    link.scan(0)
    assert ctx.world.firms.capital[0] == pytest.approx(100.0 - 2.0)
    assert ctx.world.users.income[5] == 0.0 and ctx.world.firms.licenses[0] == 0
    assert events(ctx, "license_paid").empty
    assert ctx.world.firms.derivatives[0] == 1 and ctx.world.items.recreated[j]


def test_no_derivative_when_it_does_not_pay_or_cannot_be_paid():
    """A derivative is made only if expected revenue exceeds fee + cost and the firm holds
    fee + cost."""
    ctx, link, j = _firm_world(0.5, capital=5.0)  # fee + cost = 5.05 + 3 > 5
    link.scan(0)
    assert ctx.world.items.n == 1 and ctx.world.firms.capital[0] == 5.0
    assert not ctx.world.items.recreated[j]
    ctx, link, j = _firm_world(0.5)
    ctx.world.items.connections[j] = 0  # expected = 0.7 x 0.25 x 1.3 x 4 = 0.91 < cost 3
    ctx.world.items.value[j] = 0.0
    link.scan(0)
    assert ctx.world.items.n == 1 and ctx.world.firms.capital[0] == 100.0


@pytest.mark.parametrize(("short_termism", "chosen"), [(1.0, "popular"), (0.0, "good")])
def test_scan_ranks_by_recent_connections_or_quality(short_termism, chosen):
    """A scan goes down the whole platform's ranking by short_termism x rank(recent
    connections) + (1 - short_termism) x rank(quality), of any topic, and re-creates the
    first scan_top items worth it: the best item by quality, of another topic and with no
    connections, would not pay (expected 0.7 x 0.5 x 1.3 x 4 = 1.82 < cost 2) and is
    passed over."""
    ctx, link, popular = _firm_world(0.0, extra={"firms": {"scan_top": 1},
                                                 "capital": {"short_termism": short_termism}})
    good = ctx.world.release_item(0.0, 6, OWNER_USER, 0, 0.9, 1.0)
    best = ctx.world.release_item(0.0, 7, OWNER_USER, 1, 1.0, 1.0)
    ctx.world.items.connections[good] = 3
    ctx.world.items.value[good] = 3 * 0.9
    link.scan(0)
    parents = ctx.world.items.view("parent")
    assert parents[parents >= 0].tolist() == [{"popular": popular, "good": good}[chosen]]
    assert not ctx.world.items.recreated[best]


def test_a_scan_takes_at_most_scan_top_items_and_items_of_every_topic():
    """Firms have no focus topic (a sampled firm would leave most topics of a small run
    unscanned, MODEL.md §9.1): three items worth it, of two topics, and scan_top = 2."""
    ctx, link, j = _firm_world(0.0, extra={"firms": {"scan_top": 2},
                                           "capital": {"short_termism": 1.0}})
    for topic, conns in ((1, 10), (0, 2)):  # ranked: topic 1's (10), j (9), topic 0's (2)
        k = ctx.world.release_item(0.0, 6, OWNER_USER, topic, 0.5, 1.0)
        ctx.world.items.connections[k], ctx.world.items.value[k] = conns, 0.5 * conns
    link.scan(0)
    assert ctx.world.firms.derivatives[0] == 2
    assert ctx.world.items.recreated[:3].tolist() == [True, True, False]


def test_a_broke_firm_exits_at_its_scan():
    """Every scan_interval days a firm's capital changes by (outside_income - running_cost)
    x scan_interval; below zero it exits (``firm_exited``) and leaves the active firms."""
    extra = {"firms": {"initial": 2 * ONE_FIRM, "scan_interval": 7.0, "running_cost": 1.5,
                       "outside_income": 1.0}}
    ctx, link, _ = _firm_world(0.0, extra=extra)
    firms = ctx.world.firms
    assert firms.n == 2
    firms.capital[:2] = (1.0, 100.0)
    firms.data_driven[:2] = False
    ctx.env.run(until=7.5)
    assert firms.t_exited[0] == 7.0 and firms.is_active(1)
    assert firms.capital[:2].tolist() == pytest.approx([1.0 - 3.5, 100.0 - 3.5])
    assert firms.active().tolist() == [1]
    gone = events(ctx, "firm_exited")
    assert gone.actor_id.tolist() == [0] and gone.value[0] == pytest.approx(-2.5)
    ctx.env.run(until=30.0)
    assert firms.t_exited[0] == 7.0 and link.exits == 1  # an exited firm stops its process
    assert firms.capital[:2].tolist() == pytest.approx([-2.5, 100.0 - 4 * 3.5])


def test_traditional_firms_live_on_their_offline_business_and_data_costs_extra():
    """With outside income = running cost a traditional firm's capital holds; a data-driven
    firm also pays data_cost a day, which only derivatives can earn back (here it has
    nothing to scan: its topic has no items)."""
    extra = {"firms": {"initial": 2 * ONE_FIRM, "scan_interval": 7.0, "running_cost": 1.5,
                       "outside_income": 1.5, "data_cost": 0.5}}
    ctx, link, j = _firm_world(0.0, extra=extra)
    firms = ctx.world.firms
    ctx.world.items.removed[j] = True  # nothing to re-create
    firms.capital[:2] = (20.0, 20.0)  # four scans of data cost, 14, leave the first 6
    firms.data_driven[:2] = (True, False)
    ctx.env.run(until=29.0)  # four scans
    assert firms.capital[:2].tolist() == pytest.approx([20.0 - 4 * 7 * 0.5, 20.0])
    assert link.exits == 0 and link.derivatives == 0


def test_firms_are_counted_per_10000_users_and_rounded_stochastically():
    """The initial count is ``initial x n / 10,000``, its fraction rounded up w.p. the
    fraction (stream ("firms", "count")); the entry rate scales with m = n / 10,000, a firm's
    capital does not."""
    counts = []
    for seed in range(200):
        ctx = make_ctx({"firms": {"initial": 750.0, "entry_rate": 0.0, "capital_sigma": 0.0,
                                  "capital_median": 40.0}}, seed=seed)  # 1.5 firms expected
        link = FirmsLink(ctx)
        link.start()
        up = Streams(seed)("firms", "count").random() < 0.5
        assert ctx.world.firms.n == 1 + up
        counts.append(ctx.world.firms.n)
        assert ctx.world.firms.view("capital") == pytest.approx(40.0)
    assert np.mean(counts) == pytest.approx(1.5, abs=0.1)
    ctx = make_ctx({"firms": {"entry_rate": 0.3}, "capital": {"vc_supply": 2.0},
                    "regulation": {"lag": 0.25}})
    assert FirmsLink(ctx).entry_rate() == pytest.approx(0.3 * M * 2.0 * 0.75, rel=1e-12)


def test_industrial_firms_do_not_scan():
    """In the industrial counterfactual value runs along a chain: a data-driven firm makes no
    derivative of the very item it re-creates in metaverse mode, and pays for no platform data
    it could not use (only the metaverse firm pays the data cost)."""
    for mode, made in (("metaverse", 1), ("industrial", 0)):
        ctx, link, _ = _firm_world(0.0, extra={"mode": mode,
                                               "firms": {"scan_interval": 1.0}})
        ctx.env.run(until=1.5)
        firms = ctx.world.firms
        assert firms.derivatives[0] == link.derivatives == made
        assert events(ctx, "derivative_created").shape[0] == made
        pay = firms.capital[0] - 100.0 + (2.0 if made else 0.0)
        data_cost = ctx.scenario.firms.data_cost if made else 0.0
        assert pay == pytest.approx(-data_cost, rel=1e-9, abs=1e-12)


def test_convert_firms_brings_traditional_firms_to_the_levers_share():
    """Raising data_driven_share converts each active traditional firm with probability
    (new - old) / (1 - old); exited firms are left alone; a lower share converts none."""
    ctx = make_ctx({"firms": {"data_driven_share": 1.0}})
    link = FirmsLink(ctx)
    firms = ctx.world.firms
    for k in range(4):
        firms.append(data_driven=(k == 0))
    firms.t_exited[3] = 1.0
    link.convert_firms()  # old share 1/3, new 1: chance 1
    assert firms.data_driven[:4].tolist() == [True, True, True, False]

    ctx = make_ctx({"firms": {"data_driven_share": 0.5}})
    link = FirmsLink(ctx)
    firms = ctx.world.firms
    for k in range(2000):
        firms.append(data_driven=(k % 5 == 0))  # old share 0.2
    link.convert_firms()
    assert firms.view("data_driven").mean() == pytest.approx(0.5, abs=0.03)
    before = firms.view("data_driven").copy()
    ctx.scenario.firms.data_driven_share = 0.3
    link.convert_firms()
    assert (firms.view("data_driven") == before).all()


# == value transmission: government ============================================================

CALM = {"regulation": {"leak_rate": 0.0, "antitrust": 0.0},
        "government": {"violation_rate": 0.0}}


def test_reward_pays_the_periods_sharers_and_guidance_is_a_utility():
    """Each user who shared this period gets `reward`; sharing propensities are not touched
    (the old ``sigma += boost (1 - sigma)`` is gone): while the government guides, the world
    carries ``reward_boost`` as the guidance users add to the utility of sharing."""
    ctx = make_ctx(_merge(CALM, {"government": {"reward": 0.2, "reward_boost": 0.1}}))
    users = ctx.world.users
    users.sharing[:] = 0.4
    users.shares_period[[2, 5]] = (1, 3)
    gov = Government(ctx)
    assert ctx.world.counters.guidance == 0.1
    gov.act(0.0)
    np.testing.assert_array_equal(users.sharing, np.full(users.n, 0.4))
    assert ctx.world.counters.guidance == 0.1
    assert users.income[[2, 5]].tolist() == [0.2, 0.2] and users.income.sum() == 0.4
    assert users.rewards.sum() == pytest.approx(0.4)
    rewards = events(ctx, "reward")
    assert rewards.counterpart_id.tolist() == [2, 5]
    assert rewards.value.tolist() == [0.2, 0.2]
    assert (gov.rewards, gov.reward_paid) == (2, pytest.approx(0.4))
    assert edge(ctx, 5, ctx.world.network.node("government", 0)) == pytest.approx(0.2)
    # a disabled government gives no guidance at all
    ctx = make_ctx(_merge(CALM, {"government": {"enabled": False, "reward_boost": 0.1}}))
    Government(ctx).act(0.0)
    assert ctx.world.counters.guidance == 0.0 and events(ctx, "reward").empty


def test_guidance_reaches_the_sharing_decision():
    """Production reads the government's guidance: with r = 0, share_cost 0 and every
    threshold at 0.15, sharing rises only while the government (boost 0.2) guides."""
    for enabled, wish in ((True, 1.0), (False, 0.0)):
        ctx = make_ctx(_merge(CALM, {
            "government": {"enabled": enabled, "reward_boost": 0.2},
            "production": {"share_cost": 0.0, "reputation": 0.0, "adaptation": 0.5}}))
        users = ctx.world.users
        users.sharing[:] = 0.0
        users.threshold[:] = 0.15
        gov, prod = Government(ctx), ValueProduction(ctx)
        _create(ctx, prod, 0)  # hides: r = 0
        prod.close_period()
        gov.act(prod.sharing_rate)
        np.testing.assert_allclose(users.sharing, 0.5 * wish)


def test_moderation_removes_caught_violations_and_fines_owners():
    """With violation_rate = moderation = 1 every user item of the period is removed and its
    owner fined `penalty`; earlier periods' items and firms' items are untouched."""
    ctx = make_ctx(_merge(CALM, {"government": {
        "violation_rate": 1.0, "moderation": 1.0, "penalty": 1.5}}))
    world = ctx.world
    world.firms.append(capital=1.0)
    old = world.release_item(0.0, 1, OWNER_USER, 0, 0.5, 1.0)
    world.counters.period_first_item = world.items.n
    a = world.release_item(1.0, 2, OWNER_USER, 0, 0.5, 1.0)
    b = world.release_item(1.0, 2, OWNER_USER, 0, 0.5, 1.0)
    c = world.release_item(1.0, 3, OWNER_USER, 0, 0.5, 1.0)
    d = world.release_item(1.0, 0, OWNER_FIRM, 0, 0.5, 0.0, parent=old)
    gov = Government(ctx)
    gov.act(0.0)
    removed = world.items.view("removed")
    assert np.flatnonzero(removed).tolist() == [a, b, c]
    assert not removed[old] and not removed[d]
    assert world.users.income[[1, 2, 3]].tolist() == [0.0, -3.0, -1.5]
    assert world.counters.government_captured == pytest.approx(4.5)
    fines = events(ctx, "penalty")
    assert fines.item_id.tolist() == [a, b, c] and fines.counterpart_id.tolist() == [2, 2, 3]
    assert gov.penalties == 3
    assert edge(ctx, 2, world.network.node("government", 0)) == pytest.approx(3.0)
    gov.act(0.0)  # already removed: not fined twice
    assert gov.penalties == 3 and world.users.income[2] == -3.0


def test_a_removed_item_earns_no_more_connections():
    """Moderation removes an item from the platform: from then on nobody connects to it."""
    ctx = make_ctx(_merge(CERTAIN, {"users": {"topics": 1}, "regulation": {"leak_rate": 0.0},
                                    "government": {"violation_rate": 1.0, "moderation": 1.0}}))
    _same_place(ctx)
    j = ctx.world.release_item(0.0, 0, OWNER_USER, 0, 0.5, 1.0)
    enc = ValueEncounter(ctx)
    enc.browse(1, 1)
    assert ctx.world.items.connections[j] == 1
    Government(ctx).act(0.0)
    assert ctx.world.items.removed[j]
    enc.browse(2, 2)  # same instant: the index has not been refreshed yet
    assert ctx.world.items.connections[j] == 1


def test_antitrust_bars_and_fines_a_firm_above_the_cap():
    """A firm whose share of the period's firm revenue exceeds 1 - antitrust is fined
    antitrust_fine x its period revenue and barred until the next act."""
    ctx = make_ctx(_merge(CALM, {"regulation": {"antitrust": 0.5, "antitrust_fine": 0.1}}))
    firms = ctx.world.firms
    for revenue in (8.0, 2.0):
        f = firms.append(capital=10.0)
        firms.revenue_period[f] = revenue
    gov = Government(ctx)
    gov.act(0.0)
    assert firms.barred[:2].tolist() == [True, False]
    assert firms.capital[:2].tolist() == pytest.approx([10.0 - 0.8, 10.0])
    assert ctx.world.counters.government_captured == pytest.approx(0.8)
    fines = events(ctx, "penalty")
    assert fines.counterpart_id.tolist() == [0] and (fines.counterpart_type == "firm").all()
    firms.revenue_period[:2] = (5.0, 5.0)
    gov.act(0.0)
    assert not firms.barred[:2].any()


def test_a_barred_firm_does_not_scan():
    """The firms link reads the government's bar from the world: no derivative while barred."""
    ctx, link, _ = _firm_world(0.0, extra={"firms": {"scan_interval": 1.0}})
    ctx.world.firms.barred[0] = True
    ctx.env.run(until=1.5)
    assert ctx.world.firms.derivatives[0] == 0
    ctx.world.firms.barred[0] = False
    ctx.env.run(until=2.5)
    assert ctx.world.firms.derivatives[0] == 1


def test_a_privacy_leak_lowers_trust_and_tells_the_rate_listeners():
    """Leak chance leak_rate (1 - privacy_protection)(1 + lag): at 1 a leak happens, trust
    (first recovering toward 1 - privacy_trust (1 - protection)) falls by leak_trust_loss."""
    ctx = make_ctx({"regulation": {"leak_rate": 1.0, "privacy_protection": 0.0, "lag": 0.0,
                                   "leak_trust_loss": 0.1, "privacy_trust": 0.15,
                                   "trust_recovery": 0.2}})
    calls = []
    ctx.world.on_rates_changed(lambda: calls.append(ctx.world.trust))
    assert ctx.world.trust == pytest.approx(0.85)
    gov = Government(ctx)
    gov.act(0.0)
    assert ctx.world.trust == pytest.approx(0.85 * 0.9, rel=1e-12)
    assert calls == [ctx.world.trust] and gov.leaks == 1
    leak = events(ctx, "privacy_leak")
    assert len(leak) == 1 and leak.value[0] == pytest.approx(0.1)
    assert gov.close_period()["trust"] == ctx.world.trust


def test_trust_recovers_without_leaks():
    """Without leaks trust closes trust_recovery of its gap to the target each period."""
    ctx = make_ctx({"regulation": {"leak_rate": 0.0, "privacy_protection": 0.5,
                                   "privacy_trust": 0.2, "trust_recovery": 0.25}})
    ctx.world.set_trust(0.5)
    Government(ctx).act(0.0)
    assert ctx.world.trust == pytest.approx(0.5 + 0.25 * (0.9 - 0.5), rel=1e-12)


def test_the_government_withdraws_after_w_periods_above_target():
    """W consecutive periods at or above target_sharing: the government withdraws
    (``government_withdrew``), stops rewarding and its guidance ends; a period below target
    resets the count."""
    ctx = make_ctx(_merge(CALM, {"government": {"withdraw_after": 3, "target_sharing": 0.5}}))
    gov = Government(ctx)
    for rate in (0.6, 0.4, 0.6, 0.5):
        gov.act(rate)
    assert gov.active and events(ctx, "government_withdrew").empty
    ctx.env.run(until=3.0)
    gov.act(0.7)
    assert not gov.active and gov.withdrew_at == 3.0
    assert ctx.world.counters.guidance == 0.0
    gone = events(ctx, "government_withdrew")
    assert gone.value.tolist() == [0.7] and gone.t.tolist() == [3.0]
    ctx.world.users.shares_period[1] = 1
    gov.act(0.9)
    assert events(ctx, "reward").empty and gov.withdrawals == 1
    assert gov.close_period()["government_active"] == 0


def test_the_government_re_enters_after_w_periods_below_target():
    """Once withdrawn, W consecutive periods below target_sharing bring the government back
    (``government_reentered``): it rewards and guides again; a period at target resets the
    count; it may withdraw again."""
    ctx = make_ctx(_merge(CALM, {"government": {"withdraw_after": 2, "target_sharing": 0.5,
                                                "reward_boost": 0.3}}))
    gov = Government(ctx)
    users = ctx.world.users
    for rate in (0.6, 0.6):
        gov.act(rate)
    assert not gov.active and gov.withdrawals == 1
    for rate in (0.4, 0.5, 0.4):  # the 0.5 resets the count
        gov.act(rate)
    assert not gov.active and events(ctx, "government_reentered").empty
    ctx.env.run(until=6.0)
    users.shares_period[4] = 1
    gov.act(0.1)
    assert gov.active and ctx.world.counters.guidance == 0.3
    back = events(ctx, "government_reentered")
    assert back.value.tolist() == [0.1] and back.t.tolist() == [6.0]
    assert events(ctx, "reward").empty  # it rewards from the next period on
    gov.act(0.7)
    assert events(ctx, "reward").counterpart_id.tolist() == [4]
    row = gov.close_period()
    assert (row["government_reentries"], row["government_withdrawals"]) == (1, 1)
    gov.act(0.7)  # two periods above target again: withdraws again
    assert not gov.active and gov.withdrawals == 2


# == value spillover ===========================================================================

def test_growth_model_one_step_by_hand():
    """Eqs. (1)-(3) on an annual clock, dt = period_days / 365: Y = A K^a ((1-u) D N)^(1-a)
    (per year) from the stocks at the step's start; then D += B (uN)^lambda D dt and
    K += (s Y - delta K) dt."""
    econ = Economy(tfp=1.2, capital_share=0.3, saving_rate=0.25, depreciation=0.05,
                   data_productivity=0.2, labour_elasticity=1.0, labour=2.0,
                   initial_data=1.5, initial_capital=3.0, period_days=73.0)
    m = GrowthModel.initial(econ)
    dt = 73.0 / 365.0
    assert m.dt == dt
    u = 0.1
    Y = 1.2 * 3.0 ** 0.3 * ((1 - u) * 1.5 * 2.0) ** 0.7
    g = 0.2 * (u * 2.0)
    row = m.step(u)
    D, K = 1.5 + g * 1.5 * dt, 3.0 + (0.25 * Y - 0.05 * 3.0) * dt
    assert row["Y"] == pytest.approx(Y, rel=1e-12) and row["g"] == pytest.approx(g)
    assert (m.D, m.K) == (pytest.approx(D, rel=1e-12), pytest.approx(K, rel=1e-12))
    assert row["k_tilde"] == pytest.approx(K / ((1 - u) * D * 2.0), rel=1e-12)
    assert row["output_growth"] is None
    row2 = m.step(u)
    Y2 = 1.2 * K ** 0.3 * ((1 - u) * D * 2.0) ** 0.7
    assert row2["output_growth"] == pytest.approx(Y2 / Y - 1.0, rel=1e-12)
    D2 = D + g * D * dt
    assert m.D == pytest.approx(D2, rel=1e-12)
    # coupled: D grows by the given amount; the row's g is the annual rate it implies
    row3 = m.step(0.2, delta_d=0.5)
    assert row3["g"] == pytest.approx(0.5 / (D2 * dt), rel=1e-12)
    assert m.D == pytest.approx(D2 + 0.5, rel=1e-12)


def test_the_steady_state_is_a_balanced_growth_path():
    """At k~* = (s A / (g + delta))^(1/(1-a)), rates per year, a step of dt years leaves k~
    unchanged and Y grows by g dt."""
    econ = Economy(data_labour_share=0.1, period_days=7.0)
    u = econ.data_labour_share
    k_star = steady_state_k_tilde(econ)
    m = GrowthModel(econ, D=2.0, K=k_star * (1 - u) * 2.0 * econ.labour)
    first = m.step(u)
    second = m.step(u)
    assert first["k_tilde"] == pytest.approx(k_star, rel=1e-12)
    assert second["k_tilde"] == pytest.approx(k_star, rel=1e-12)
    assert second["output_growth"] == pytest.approx(first["g"] * 7.0 / 365.0, rel=1e-12)


def test_coupled_spillover_reads_the_worlds_counters_since_the_last_step():
    """Each step exports exportable x w x (data_per_item items + data_per_connection
    connections) made since the last step (w = represents / n: the represented marketplace's
    data), D grows by exported / data_scale, and u is the share of users' time spent
    producing (production days over user-days)."""
    n = 20
    ctx = make_ctx({"users": {"represents": 200},
                    "economy": {"mode": "coupled", "period_days": 7.0, "data_per_item": 1.0,
                                "data_per_connection": 0.1, "data_scale": 100.0,
                                "privacy_export_cut": 0.5},
                    "firms": {"data_sharing": 0.7}, "regulation": {"privacy_protection": 0.5}},
                   n=n)
    world = ctx.world
    spill = ValueSpillover(ctx)
    ctx.env.process(spill.process())
    for _ in range(10):
        world.release_item(0.0, 1, OWNER_USER, 0, 0.5, 1.0)
    world.counters.connections += 100
    world.counters.creating_days += 28.0  # of 20 users x 7 days
    ctx.env.run(until=7.5)
    share = 0.7 * (1 - 0.5 * 0.5)
    exported = share * 10.0 * (10 * 1.0 + 100 * 0.1)
    u = 28.0 / (n * 7.0)
    econ = ctx.scenario.economy
    Y = econ.tfp * econ.initial_capital ** econ.capital_share * (
        (1 - u) * econ.initial_data * econ.labour) ** (1 - econ.capital_share)
    macro = ctx.recorder.tables["macro"]
    assert [r["period"] for r in macro] == [0, 1]
    row = macro[1]
    assert row["data_exported"] == pytest.approx(exported, rel=1e-12)
    assert row["u"] == pytest.approx(u)
    assert row["Y"] == pytest.approx(Y, rel=1e-12)
    assert row["D"] == pytest.approx(econ.initial_data + exported / 100.0, rel=1e-12)
    assert events(ctx, "data_exported").value.tolist() == pytest.approx([exported])
    ctx.env.run(until=14.5)  # nothing happened in the second step
    assert macro[2]["data_exported"] == 0.0 and macro[2]["u"] == 0.0


# == population ================================================================================

def _population(ctx: Context):
    created, browsed = [], []

    def create(user):
        created.append((ctx.env.now, user))
        yield ctx.env.timeout(0)

    pop = Population(ctx, create, lambda user, session: browsed.append((ctx.env.now, user)))
    pop.start()
    return pop, created, browsed


def test_sessions_are_the_superposed_poisson_stream():
    """With all activity on one user every session is hers, at gaps of Exp(1) / (lambda x
    access x trust) drawn from ("population", "arrivals"); creator propensity 0 browses."""
    ctx = make_ctx({})
    users = ctx.world.users
    users.activity[:] = 0.0
    users.activity[7] = 2.0
    users.creator[:] = 0.0
    pop, created, browsed = _population(ctx)
    ctx.env.run(until=50.0)
    rate = 2.0 * ctx.world.trust
    gaps = Streams(SEED)("population", "arrivals").standard_exponential(1000) / rate
    expected = np.cumsum(gaps)
    expected = expected[expected < 50.0]
    assert not created and {u for _, u in browsed} == {7}
    np.testing.assert_allclose([t for t, _ in browsed], expected, rtol=1e-9)
    started = events(ctx, "session_started")
    assert len(started) == pop.sessions == len(expected) and (started.actor_id == 7).all()
    assert (started.value == 0.0).all()


def test_session_users_are_drawn_in_proportion_to_rates_and_creators_create():
    """The user of an arrival is drawn in proportion to her rate; a current creator
    propensity (``creator_effective``) of 1 makes every session of an idle user a creation
    session."""
    ctx = make_ctx({})
    users = ctx.world.users
    users.activity[:] = 0.0
    users.activity[[2, 9]] = (1.0, 3.0)
    users.creator_effective[:] = (np.arange(users.n) == 9).astype(float)
    pop, created, browsed = _population(ctx)
    ctx.env.run(until=400.0)
    assert {u for _, u in browsed} == {2} and {u for _, u in created} == {9}
    assert len(created) / pop.sessions == pytest.approx(0.75, abs=0.03)
    assert pop.creation_sessions == len(created)


def test_a_busy_creator_browses_instead_of_creating():
    """A creator makes one item at a time: a creation session that starts before her last
    item is done (``busy_until``) is a browse session, so production time gates throughput."""
    ctx = make_ctx({})
    users = ctx.world.users
    users.activity[:] = 0.0
    users.activity[9] = 1.0
    users.creator_effective[:] = 0.0
    users.creator_effective[9] = 1.0
    created, browsed = [], []

    def create(user):  # production takes 3 days
        created.append(ctx.env.now)
        users.busy_until[user] = ctx.env.now + 3.0
        yield ctx.env.timeout(3.0)

    pop = Population(ctx, create, lambda user, session: browsed.append(ctx.env.now))
    pop.start()
    ctx.env.run(until=200.0)
    started = events(ctx, "session_started")
    free_at, kinds = 0.0, []
    for t in started.t:
        kinds.append(1.0 if t >= free_at else 0.0)
        if t >= free_at:
            free_at = t + 3.0
    assert started.value.tolist() == kinds
    assert len(created) == sum(kinds) and len(browsed) == len(kinds) - sum(kinds) > 10
    assert np.diff(created).min() >= 3.0


def test_zero_trust_stops_arrivals_until_it_returns():
    """A rate change (``world.set_trust``) restarts the wait at the new total rate: at trust
    0 no session arrives; when trust returns, sessions do."""
    ctx = make_ctx({})
    ctx.world.users.creator[:] = 0.0
    pop, _, browsed = _population(ctx)

    def policy():
        yield ctx.env.timeout(10.0)
        ctx.world.set_trust(0.0)
        yield ctx.env.timeout(10.0)
        ctx.world.set_trust(0.9)

    ctx.env.process(policy())
    ctx.env.run(until=30.0)
    times = np.array([t for t, _ in browsed])
    assert (times < 10.0).sum() > 0 and (times > 20.0).sum() > 0
    assert not ((times > 10.0) & (times <= 20.0)).any()


def test_users_without_a_device_have_no_sessions():
    """Only users whose access draw is below tech.access_share have sessions."""
    ctx = make_ctx({"tech": {"access_share": 0.5}})
    users = ctx.world.users
    users.creator[:] = 0.0
    _, _, browsed = _population(ctx)
    ctx.env.run(until=200.0)
    seen = {u for _, u in browsed}
    assert seen and seen <= set(np.flatnonzero(users.access_draw < 0.5).tolist())


# == streams ===================================================================================

def test_a_stream_does_not_depend_on_other_streams():
    """A stream's numbers depend on the seed and its name only: not on which streams were
    made before it, nor on how many numbers they drew."""
    alone = Streams(5)("government", "leak").random(20)
    crowded = Streams(5)
    crowded("government", "violation").random(10_000)
    crowded("encounter", "feed", 3).random(77)
    assert (crowded("government", "leak").random(20) == alone).all()
    again = Streams(5)
    assert again("government", "leak") is again("government", "leak")  # one stream per name
    others = [Streams(5)("government", "violation").random(20),
              Streams(5)("encounter", "feed", 3).random(20),
              Streams(5)("encounter", "feed", 4).random(20),
              Streams(6)("government", "leak").random(20)]
    assert all(not np.array_equal(o, alone) for o in others)


@pytest.mark.parametrize(("kind", "method"), [("uniform", "random"),
                                              ("exponential", "standard_exponential"),
                                              ("normal", "standard_normal")])
def test_a_block_in_chunks_equals_one_big_draw(kind, method):
    """Pre-drawing in blocks hands out exactly the numbers of one big draw, across chunk
    boundaries, for every kind."""
    block = Block(Streams(9)("x", "y"), kind, size=7)
    drawn = [block.next() for _ in range(50)]
    big = getattr(Streams(9)("x", "y"), method)(50)
    assert drawn == big.tolist()
    default = Streams(9).block("x", "y", kind=kind)  # the default size, 8192
    assert [default.next() for _ in range(9000)] == getattr(
        Streams(9)("x", "y"), method)(9000).tolist()
