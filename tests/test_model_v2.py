"""Model v2 (issue 7, MODEL.md §9.2): every falsifiable mechanism, tested on both sides.

"Testable, not true by construction": for each mechanism the paper's claim must hold in one
documented parameter region and fail in another. Each test below runs the two regions on
small marketplaces with paired seeds (the same seed in both arms: common random numbers, so
the sessions — who comes, when, and whether she means to create — are the same) and checks
the claim's direction in each. Every parameter a claim depends on is set explicitly, so that
the recalibration of the defaults does not move these regions. The regions and the effects
measured when the tests were written are in ``docs/ODD.md`` §1.2 and §8.

To keep the file fast, runs use few users, a short feed (``encounter.feed_size``: browsing
is most of the cost and none of these claims is about the feed) and no event log unless a
claim is about events. The n = 1,000 vs 3,000 comparison of the represented population is
``slow`` (``pytest -m slow``).
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import merge

import simmarket

#: Every parameter the claims below depend on, pinned at the values the regions were found
#: with (the defaults of the model revision's first draft), so that recalibrating the
#: defaults moves no region. A test overrides what it varies. No event log unless asked.
PINNED: dict[str, Any] = {
    "period_days": 7.0, "ip_protection": 0.5, "output": {"events": "none"},
    "users": {"represents": 1_000_000, "topics": 12, "knowledge_median": 1.0,
              "knowledge_sigma": 0.5, "sharing_a": 2.0, "sharing_b": 3.0,
              "activity_median": 0.5, "activity_sigma": 0.3, "creator_a": 0.1,
              "creator_b": 2.0, "threshold_a": 2.0, "threshold_b": 2.0,
              "income_response": 0.0, "income_scale": 5.0},
    "production": {"absorption": 5.0, "production_time": 1.0, "time_noise": 0.25,
                   "quality_half": 1.5, "quality_noise": 0.1, "learning": 0.05,
                   "obsolescence": 0.01, "reciprocity": 1.0, "share_cost": 0.25,
                   "share_time": 0.1, "reputation": 0.0, "adaptation": 0.3},
    "encounter": {"feed_size": 3, "w_popularity": 0.6, "w_recency": 0.25,
                  "w_exploration": 0.15, "topic_match": 0.8, "rank_exponent": 2.0,
                  "rank_floor": 0.1, "recency_days": 3.0, "refresh_days": 0.25,
                  "w_quality": 3.0, "w_affinity": 2.0, "w_social": 0.5, "w_community": 0.0,
                  "threshold": 7.0, "affinity_scale": 1.5, "value_scale": 1.0,
                  "network_function": "log", "network_effect": 0.1, "platform_fee": 0.3},
    "industrial": {"units_per_item": 50, "diminishing": 0.7, "price_factor": 0.3},
    "tech": {"access_share": 1.0, "hci_friction": 0.1, "systems": 4, "interoperability": 0.5},
    "firms": {"initial": 16.0, "entry_rate": 0.0, "data_driven_share": 0.8,
              "scan_interval": 7.0, "scan_top": 5, "capital_median": 60.0,
              "capital_sigma": 0.6, "financing_threshold": 30.0, "running_cost": 1.5,
              "outside_income": 1.5, "data_cost": 0.5, "recreation_cost": 2.0,
              "quality_uplift": 0.3, "license_rate": 0.5, "license_minimum": 1.0,
              "revenue_horizon": 4.0},
    "capital": {"vc_supply": 1.0, "concentration": 1.0, "short_termism": 0.3},
    "regulation": {"lag": 0.2, "privacy_protection": 0.5, "antitrust": 0.0},
    "government": {"enabled": True, "reward": 0.2, "reward_boost": 0.2,
                   "violation_rate": 0.02, "moderation": 0.5, "penalty": 1.0,
                   "target_sharing": 0.5, "withdraw_after": 4},
}


def run(cfg: dict[str, Any]) -> simmarket.RunResult:
    result = simmarket.run(merge(PINNED, cfg), store="memory", handle_signals=False)
    assert result.status == "completed"
    return result


def total(result: simmarket.RunResult, table: str, column: str) -> float:
    return float(result.periods[table][column].sum())


# -- (a) knowledge raises output, when production time gates throughput -----------------

def knowledge_run(production_time: float, knowledge_median: float, seed: int):
    """Creators who create about every 4 days; only knowledge and production time vary.

    Income does not feed back (``income_response = 0``), sharing takes no time and the
    shared stock is not absorbed, so knowledge acts on output through production time alone.
    """
    return run({
        "seed": seed, "horizon_days": 60,
        "users": {"n": 300, "knowledge_median": knowledge_median, "knowledge_sigma": 0.3,
                  "activity_median": 0.5, "activity_sigma": 0.3,
                  "creator_a": 2.0, "creator_b": 2.0, "income_response": 0.0},
        "production": {"production_time": production_time, "time_noise": 0.25,
                       "share_time": 0.0, "absorption": 0.0, "quality_half": 1.5},
        "encounter": {"feed_size": 3},
        "government": {"enabled": False},
    })


def output_and_quality(result) -> tuple[float, float]:
    """Items per creator (users who made at least one item) and mean quality."""
    users, prod = result.tables["users"], result.periods["period_production"]
    creators = int((users["items_created"] > 0).sum())
    items = int(prod["items_created"].sum())
    quality = float((prod["mean_quality"] * prod["items_created"]).sum()) / items
    return items / creators, quality


def test_knowledge_raises_output_only_where_production_time_binds():
    """P1 (paper §4.2.1). A creator makes one item at a time, so more knowledge (faster
    production) means more items when production takes long (T0 = 20 days: 2.4 vs 6.6
    items per creator at knowledge 0.25 vs 4) — and no more items when it is quick
    (T0 = 0.01 days: the same creation sessions make the same items, 15.04 vs 15.08). Quality
    rises with knowledge in both regions: that part never depended on the gate."""
    seed = 20240601
    slow_low, slow_high = (output_and_quality(knowledge_run(20.0, k, seed)) for k in (0.25, 4.0))
    quick_low, quick_high = (output_and_quality(knowledge_run(0.01, k, seed))
                             for k in (0.25, 4.0))
    # holds: the gate binds, knowledge multiplies output
    assert slow_high[0] > 1.8 * slow_low[0]
    # fails: nothing waits on production, output is the same within noise
    assert quick_high[0] == pytest.approx(quick_low[0], rel=0.02)
    # quality follows knowledge either way
    assert slow_high[1] > slow_low[1] + 0.3
    assert quick_high[1] > quick_low[1] + 0.3


# -- (b) the sharing dilemma: self-sustaining, collapsing, decaying ------------------------

def sharing_run(seed: int, share_cost: float, *, government: bool = True,
                threshold: tuple[float, float] = (2.0, 2.0), days: float = 84.0):
    """Conditional cooperators with thresholds ~ Beta(2, 2), who follow the sharing rate one
    for one (psi = 1); no reputation term, so the tipping point is set by cost and guidance
    alone. The government guides with a boost of 0.45 until sharing has been above 0.5 for
    W = 2 periods, and re-enters after 2 periods below."""
    return run({
        "seed": seed, "horizon_days": days, "period_days": 7.0,
        "users": {"n": 250, "activity_median": 0.5, "activity_sigma": 0.3,
                  "creator_a": 2.0, "creator_b": 2.0, "income_response": 0.0,
                  "threshold_a": threshold[0], "threshold_b": threshold[1],
                  "sharing_a": 2.0, "sharing_b": 3.0},
        "production": {"reciprocity": 1.0, "share_cost": share_cost, "reputation": 0.0,
                       "adaptation": 0.5, "share_time": 0.1},
        "encounter": {"feed_size": 3},
        "government": {"enabled": government, "reward_boost": 0.45, "target_sharing": 0.5,
                       "withdraw_after": 2},
    })


def sharing_path(result) -> list[float]:
    return result.periods["period_production"]["sharing_rate"].tolist()


def government_counts(result) -> tuple[int, int]:
    trans = result.periods["period_transmission"]
    return int(trans["government_withdrawals"].sum()), int(trans["government_reentries"].sum())


@pytest.mark.parametrize("seed", [1, 2])
def test_sharing_sustains_itself_after_withdrawal_only_when_it_is_cheap(seed):
    """P6 (paper §4.2.1, §5). Guidance lifts sharing above target and the government
    withdraws in both regions. With no cost to sharing, sharing then keeps rising by
    itself (to about 1.0) and the government never returns; with a cost of 0.25 it
    collapses (to about 0.15-0.3) and the government re-enters (``government_reentered``)."""
    cheap, costly = sharing_run(seed, 0.0), sharing_run(seed, 0.25)
    target = 0.5
    for result in (cheap, costly):
        withdrawals, _ = government_counts(result)
        assert withdrawals == 1, "guidance should first lift sharing above its target"
    # holds: self-sustaining after the withdrawal, no re-entry
    path = sharing_path(cheap)
    assert government_counts(cheap)[1] == 0
    assert min(path[4:]) > target and path[-1] > 0.9
    # fails: after the withdrawal sharing falls below target and the government re-enters
    path = sharing_path(costly)
    assert government_counts(costly)[1] >= 1
    assert min(path[4:]) < 0.35
    assert int(costly.periods["period_transmission"]["government_active"].iloc[-1]) == 1


def test_without_government_sharing_decays_unless_thresholds_are_low():
    """Fischbacher & Gächter (2010): without incentives, conditional cooperators who undercut
    let sharing decay from its start (cost 0.25, thresholds ~ Beta(2, 2): 0.4 to 0.02 in six
    weeks). The claim is not built in: a population of low thresholds (Beta(1, 4)) with
    costless sharing raises sharing by itself (0.4 to 0.98)."""
    seed = 1
    decays = sharing_path(sharing_run(seed, 0.25, government=False, days=42.0))
    rises = sharing_path(sharing_run(seed, 0.0, government=False, threshold=(1.0, 4.0),
                                     days=42.0))
    assert decays[0] == pytest.approx(rises[0])  # the same start (common random numbers)
    assert all(b < a for a, b in zip(decays[:3], decays[1:4]))
    assert decays[-1] < 0.5 * decays[0]
    assert rises[-1] > 1.5 * rises[0]


# -- (c) IP protection: creator income, creation and derivatives ------------------------------

def ip_run(ip: float, income_response: float, seed: int):
    """Many data-driven firms (400 per 10,000 users, no entry, no data cost, viable offline,
    capital enough for the licences they want: 2,000 per 10,000 users of market) scanning
    twice a week; a royalty of 0.8 of a derivative's expected revenue at ip = 1;
    no government (its rewards and fines would be income too)."""
    return run({
        "seed": seed, "horizon_days": 56, "ip_protection": ip,
        "users": {"n": 500, "activity_median": 0.5, "activity_sigma": 0.3,
                  "creator_a": 0.5, "creator_b": 4.0,
                  "income_response": income_response, "income_scale": 50.0},
        "production": {"reputation": 0.0},
        "firms": {"initial": 400.0, "entry_rate": 0.0, "data_driven_share": 1.0,
                  "data_cost": 0.0, "outside_income": 1.5, "running_cost": 1.5,
                  "scan_interval": 3.5, "scan_top": 10, "license_rate": 0.8,
                  "license_minimum": 1.0, "recreation_cost": 2.0,
                  "capital_median": 2000.0, "capital_sigma": 0.0},
        "encounter": {"feed_size": 5},
        "government": {"enabled": False},
    })


def ip_outcomes(result) -> tuple[float, int, int]:
    """Creators' income, items users created, derivatives."""
    users = result.tables["users"]
    return (float(users["income"].sum()), int(users["items_created"].sum()),
            int(total(result, "period_transmission", "derivatives")))


def test_ip_protection_raises_creation_only_where_creators_respond_to_income():
    """IP protection (paper 001 §二(四)3). Strong protection (ip = 1 vs 0) pays creators
    licence fees and spares them free copies: creator income rises by over half and derivatives
    fall by about 90% in both regions. Only where creators respond to income
    (``income_response = 10``, ``income_scale = 50``) does it also raise creation (+3.7%,
    seed 1, paired: the same sessions); with ``income_response = 0`` the same sessions make
    exactly the same items."""
    seed = 1
    for response in (10.0, 0.0):
        (inc_open, items_open, der_open), (inc_ip, items_ip, der_ip) = (
            ip_outcomes(ip_run(ip, response, seed)) for ip in (0.0, 1.0))
        assert inc_ip > 1.5 * inc_open
        assert der_ip < 0.5 * der_open
        if response:
            assert items_ip > 1.02 * items_open  # holds: the upside reaches creation
        else:
            assert items_ip == items_open  # fails: income cannot move creation


# -- (d) firms' viability: traditional firms live offline, data must pay ----------------------

def firms_run(data_driven_share: float, outside_income: float, data_cost: float,
              recreation_cost: float = 2.0):
    """Nine firms (300 per 10,000 users of 300), no entry, running cost 1.5 a day."""
    return run({
        "seed": 1, "horizon_days": 70,
        "users": {"n": 300, "activity_median": 0.5, "activity_sigma": 0.3},
        "encounter": {"feed_size": 3},
        "firms": {"initial": 300.0, "entry_rate": 0.0, "data_driven_share": data_driven_share,
                  "running_cost": 1.5, "outside_income": outside_income,
                  "data_cost": data_cost, "recreation_cost": recreation_cost,
                  "capital_median": 60.0, "capital_sigma": 0.6},
    })


def exits(result) -> tuple[int, int]:
    return len(result.tables["firms"]), int(total(result, "period_transmission", "exits"))


def test_traditional_firms_survive_when_offline_income_covers_running_cost():
    """MODEL.md §9.2: traditional firms are viable on their offline business. Outside income
    1.5 = running cost 1.5: none of 9 exits in 70 days; outside income 0 (the earlier
    model's shortfall, made larger): 6 of 9 exit (capital median 60, so about 40 days)."""
    firms, out = exits(firms_run(0.0, 1.5, 0.0))
    assert firms >= 5 and out == 0
    firms, out = exits(firms_run(0.0, 0.0, 0.0))
    assert out > firms / 2


def test_data_driven_firms_must_earn_their_data_cost():
    """Being data-driven is earned: with no way to earn it back (re-creation priced out, so
    no derivatives and no revenue) a data cost of 3 a day drives 8 of 9 firms out; with no
    data cost the same firms all survive."""
    costly = firms_run(1.0, 1.5, 3.0, recreation_cost=1e6)
    free = firms_run(1.0, 1.5, 0.0, recreation_cost=1e6)
    for result in (costly, free):
        assert total(result, "period_transmission", "firm_revenue") == 0.0
    firms, out = exits(free)
    assert firms >= 5 and out == 0
    firms, out = exits(costly)
    assert out > firms / 2


# -- (e) the industrial counterfactual is a chain ----------------------------------------------

def test_industrial_mode_is_a_chain_without_licences_derivatives_or_communities():
    """MODEL.md §9.2: in industrial mode a producer sells rival units to buyers — no
    licensing, no derivatives, no communities, no firm revenue. The same marketplace in
    metaverse mode (same seed) has all of them, so the test can fail."""
    counts = {}
    for mode in ("metaverse", "industrial"):
        result = run({
            "seed": 1, "horizon_days": 42, "mode": mode, "ip_protection": 0.5,
            "users": {"n": 400}, "encounter": {"feed_size": 10},
            "firms": {"initial": 300.0, "entry_rate": 0.5, "data_driven_share": 1.0,
                      "data_cost": 0.0, "outside_income": 1.5, "running_cost": 1.5},
            "output": {"events": "core"},
        })
        kinds = result.events_log["kind"].value_counts()
        counts[mode] = {k: int(kinds.get(k, 0)) for k in
                        ("license_paid", "derivative_created", "community_joined", "connection")}
        counts[mode]["firm_revenue"] = total(result, "period_transmission", "firm_revenue")
        counts[mode]["firms"] = len(result.tables["firms"])
    metaverse, industrial = counts["metaverse"], counts["industrial"]
    assert all(metaverse[k] > 0 for k in metaverse), metaverse
    assert industrial["connection"] > 0 and industrial["firms"] > 0  # buyers buy, firms exist
    for k in ("license_paid", "derivative_created", "community_joined", "firm_revenue"):
        assert industrial[k] == 0, (k, industrial[k])


# -- (f) a represented population: --users is a precision knob ---------------------------------

@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "known, issue 7: conversion per impression is 10-15% lower at 1,000 agents than at 3,000 "
    "(0.058 vs 0.065 seed 1, 0.056 vs 0.064 seed 2) and in this region, near a sharing "
    "tipping point, the sharing rate is 0.14 vs 0.18 (seed 1); see docs/ODD.md §8"))
@pytest.mark.parametrize("seed", [1, 2])
def test_intensive_outcomes_do_not_depend_on_the_number_of_agents(seed):
    """MODEL.md §9.1: n = 1,000 and n = 3,000 agents standing for the same marketplace of
    1,000,000 people give the same conversion per impression and sharing rate within 15%."""
    figures = {}
    for n in (1000, 3000):
        result = run({
            "seed": seed, "horizon_days": 84,
            "users": {"n": n, "represents": 1_000_000},
            "encounter": {"rank_exponent": 2.0, "rank_floor": 0.1, "recency_days": 3.0,
                          "w_social": 0.5,
                          "network_function": "log", "network_effect": 0.1},
            "firms": {"initial": 16.0, "entry_rate": 0.2},
        })
        connections = total(result, "period_encounter", "connections")
        impressions = total(result, "period_encounter", "impressions")
        shares = total(result, "period_production", "shares")
        hides = total(result, "period_production", "hides")
        figures[n] = (connections / impressions, shares / (shares + hides))
    (conv_small, share_small), (conv_large, share_large) = figures[1000], figures[3000]
    assert conv_large == pytest.approx(conv_small, rel=0.15), figures
    assert share_large == pytest.approx(share_small, rel=0.15), figures
