"""SQL views of a run database: one question a reader of the paper asks, one view.

Every run database gets these views when it is created (:func:`create_views`, called by
``simmarket.store.schema.create_schema``). They are plain SQL over the run's tables, so they work in
the ``sqlite3`` client, in datasette and from pandas alike, and they stay cheap on large runs:
all but the item-level cross-check read the small per-period and final tables, never the
event log.

:data:`VIEWS` holds, for each view, what it answers and what each column means (with its
unit); ``docs/schema.md`` and the datasette metadata of ``simmarket browse`` are written from
the same words, and a test checks that the columns listed here are the columns SQLite reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils


@dataclass(frozen=True)
class View:
    """A named SELECT, what it answers, and the meaning (and unit) of each column."""

    name: str
    description: str
    columns: dict[str, str]
    sql: str


_PERIOD = {
    "period": "aggregation period (0, 1, ...; the last may be partial)",
    "t_start": "start of the period (day)",
    "t_end": "end of the period (day)",
    "days": "length of the period (days)",
}

V_VALUE_PRODUCTION = View(
    "v_value_production",
    "Value production (user layer, knowledge-sharing logic), per period: the value users "
    "created and the knowledge that drives it — the shared knowledge stock S and the "
    "sharing rate.",
    {
        **_PERIOD,
        "value_produced": "value produced: sum of item quality x value_scale (value units)",
        "value_produced_cum": "value produced since day 0 (value units)",
        "items_created": "items created by users (count)",
        "active_creators": "users who created at least one item in the period (count)",
        "creation_sessions": "sessions spent creating (count)",
        "sessions": "all sessions (count)",
        "mean_quality": "mean quality q of the period's items (0-1)",
        "mean_production_time": "mean time to produce an item (days)",
        "knowledge_stock": "shared knowledge stock S at the period's end (knowledge units)",
        "knowledge_stock_change": "change of S over the period: shared flows minus "
                                  "obsolescence (knowledge units)",
        "shares": "knowledge flows shared (count)",
        "hides": "knowledge flows hidden (count)",
        "sharing_rate": "shares / (shares + hides) in the period (0-1; NULL: no creation)",
        "mean_sharing_propensity": "mean sharing propensity sigma_i at the period's end (0-1)",
    },
    """
SELECT period, t_start, t_end, t_end - t_start AS days,
       value_produced,
       SUM(value_produced) OVER (ORDER BY period) AS value_produced_cum,
       items_created, active_creators, creation_sessions, sessions,
       mean_quality, mean_production_time,
       knowledge_stock,
       knowledge_stock - COALESCE(LAG(knowledge_stock) OVER (ORDER BY period), 0)
         AS knowledge_stock_change,
       shares, hides, sharing_rate, mean_sharing_propensity
FROM period_production""",
)

V_VALUE_ENCOUNTER = View(
    "v_value_encounter",
    "Value encounter (platform layer, community logic), per period: connection value and "
    "what drives it — impressions, connections, the value per connection and the growth "
    "of communities.",
    {
        **_PERIOD,
        "value_encountered": "value encountered: connection value realised (value units)",
        "value_encountered_cum": "value encountered since day 0 (value units)",
        "impressions": "items shown in feeds (count, all feeds, not only the sampled ones)",
        "connections": "connections made (count; purchases in industrial mode)",
        "connection_rate": "connections / impressions (0-1)",
        "value_per_connection": "mean perceived value of a connection (value units)",
        "paid": "paid by users for connections (value units)",
        "creator_income": "paid to users who own the items (value units)",
        "platform_revenue": "platform fees (value units)",
        "consumer_surplus": "value minus price paid (value units; 0 in metaverse mode)",
        "community_joins": "people joining a creator's community (count)",
        "communities": "creators and firms with a community of at least one member, at the "
                       "period's end (count)",
        "community_growth": "communities founded in the period (count)",
        "mean_community_size": "members per community at the period's end (users)",
        "largest_community": "members of the largest community (users)",
        "gini_creator_income": "Gini of users' income (connection payments + licence fees + "
                               "rewards - fines, cumulative) over all users, zero "
                               "earners included (0-1)",
    },
    """
SELECT period, t_start, t_end, t_end - t_start AS days,
       value_encountered,
       SUM(value_encountered) OVER (ORDER BY period) AS value_encountered_cum,
       impressions, connections,
       connections / NULLIF(impressions, 0.0) AS connection_rate,
       connection_value / NULLIF(connections, 0) AS value_per_connection,
       paid, creator_income, platform_revenue, consumer_surplus,
       community_joins, communities,
       communities - COALESCE(LAG(communities) OVER (ORDER BY period), 0)
         AS community_growth,
       SUM(community_joins) OVER (ORDER BY period) * 1.0 / NULLIF(communities, 0)
         AS mean_community_size,
       largest_community, gini_creator_income
FROM period_encounter""",
)

V_VALUE_TRANSMISSION = View(
    "v_value_transmission",
    "Value transmission (stakeholder layer, multi-stakeholder logic), per period: the value "
    "firms' second consumption moves — derivatives, licence fees to creators and the value "
    "firms captured — beside entry, exit, concentration and the government's actions.",
    {
        **_PERIOD,
        "value_transmitted": "value transmitted: firms' captured value + licence fees "
                             "(value units)",
        "value_transmitted_cum": "value transmitted since day 0 (value units)",
        "derivatives": "derivative items firms re-created (count)",
        "licenses": "licences paid (count)",
        "license_fees": "licence fees paid by firms to creators (value units)",
        "mean_license_fee": "license_fees / licenses (value units)",
        "firms_captured_value": "value firms captured: revenue from connections to their "
                                "derivatives, after the platform fee (value units; "
                                "period_transmission.firm_revenue)",
        "firms_active": "firms active at the period's end (count)",
        "entries": "firms that entered (count)",
        "entries_refused": "entry attempts below the financing threshold (count)",
        "exits": "firms that exited broke (count)",
        "hhi_firm_revenue": "HHI of the period's firm revenue (shares in percent, 0-10,000)",
        "rewards": "knowledge sharers rewarded by the government (count)",
        "reward_paid": "rewards paid by the government (value units)",
        "penalties": "penalties imposed (count)",
        "government_active": "1 while the government guides, 0 while it stays withdrawn",
        "government_withdrawals": "1 in the period at whose close the government withdrew "
                                  "(W periods above the target sharing rate), else 0",
        "government_reentries": "1 in the period at whose close the government re-entered "
                                "(W periods below the target after withdrawing), else 0",
        "privacy_leaks": "privacy leaks (count)",
        "trust": "users' trust, scaling participation (0-1)",
        "network_nodes": "actors with at least one edge in the value network (count; NULL: "
                         "no centrality snapshot this period)",
        "network_edges": "edges of the value network (count)",
    },
    """
SELECT period, t_start, t_end, t_end - t_start AS days,
       value_transmitted,
       SUM(value_transmitted) OVER (ORDER BY period) AS value_transmitted_cum,
       derivatives, licenses, license_fees,
       license_fees / NULLIF(licenses, 0) AS mean_license_fee,
       firm_revenue AS firms_captured_value,
       firms_active, entries, entries_refused, exits, hhi_firm_revenue,
       rewards, reward_paid, penalties, government_active, government_withdrawals,
       government_reentries, privacy_leaks, trust,
       network_nodes, network_edges
FROM period_transmission""",
)

V_VALUE_SPILLOVER = View(
    "v_value_spillover",
    "Value spillover (external physical layer, economic logic), per economy step: the "
    "paper's growth model — data stock D, output Y, capital K — with the data the platform "
    "exported and the output gained over the initial state.",
    {
        "period": "economy step (0 = the initial state at day 0)",
        "t": "day of the step",
        "D": "data stock D (eq. 1; D(0) = economy.initial_data)",
        "Y": "output Y of the step (eq. 2), from the stocks at the step's start",
        "K": "capital K after the step (eq. 3)",
        "u": "labour share in data production u (0-1)",
        "g": "growth rate of D in the step, g(uN) (per step)",
        "k_tilde": "capital per effective labour K / ((1 - u) D N)",
        "N": "labour N",
        "data_exported": "platform data exported to the economy in the step (data units)",
        "data_exported_cum": "data exported since day 0 (data units)",
        "output_growth": "Y / previous Y - 1 (per step)",
        "output_gain": "Y - Y(0): output above its initial level, the value the data "
                       "economy added in the step (output units)",
        "output_gain_cum": "sum of output_gain since day 0 (output units)",
        "D_index": "D / D(0)",
        "Y_index": "Y / Y(0)",
        "K_index": "K / K(0)",
    },
    """
SELECT period, t, D, Y, K, u, g, k_tilde, N,
       data_exported,
       SUM(data_exported) OVER (ORDER BY period) AS data_exported_cum,
       output_growth,
       Y - FIRST_VALUE(Y) OVER (ORDER BY period) AS output_gain,
       SUM(Y) OVER (ORDER BY period) - (period + 1) * FIRST_VALUE(Y) OVER (ORDER BY period)
         AS output_gain_cum,
       D / FIRST_VALUE(D) OVER (ORDER BY period) AS D_index,
       Y / FIRST_VALUE(Y) OVER (ORDER BY period) AS Y_index,
       K / FIRST_VALUE(K) OVER (ORDER BY period) AS K_index
FROM macro""",
)

V_CONNECTION_VALUE_CURVE = View(
    "v_connection_value_curve",
    "The connection value curve (paper §3.1.1, Fig. 1; Proposition 2): by c, the c-th "
    "connections of all items that reached c. The paper's claim is about the same item "
    "gaining value as more users connect to it, so it is read within items: "
    "within_item_change is the mean of v(c) - v(c - 1) on the same item (positive: "
    "increasing marginal value, the metaverse corner; negative: diminishing, the industrial "
    "corner), split exactly into network_term (the network value of a larger community) and "
    "composition_term (later connectors' affinity differs from earlier ones'). The mean "
    "curve over items (marginal_value) is not the claim: its change from c - 1 to c is "
    "within_item_change plus selection_term, the difference between the items that reach "
    "c and those that reach only c - 1. High c rests on few items: read it with the items "
    "column.",
    {
        "c": "rank of the connection on its item (1 = first connection)",
        "items": "items that reached c connections (count; connection_curve.connections)",
        "value_sum": "summed value of those c-th connections (value units)",
        "marginal_value": "mean value of the c-th connection over the items that reached c: "
                          "the mean curve (value units)",
        "marginal_change": "marginal_value(c) - marginal_value(c - 1): the mean curve's "
                           "change, = within_item_change + selection_term (value units)",
        "marginal_value_per_quality": "mean of value / item quality over the c-th "
                                      "connections (value units per unit of quality)",
        "marginal_change_per_quality": "marginal_value_per_quality(c) minus its value at "
                                       "c - 1 (value units per unit of quality)",
        "cumulative_value": "sum of marginal_value up to c: the value of an item's first c "
                            "connections on the mean curve (value units)",
        "items_share": "items / items with a first connection: survival of items to c (0-1)",
        "within_item_change": "mean over items of v(c) - v(c - 1) on the same item: the "
                              "marginal value Proposition 2 is about (value units; NULL at "
                              "c = 1)",
        "network_term": "mean network term of that change, value_scale q a_c eta "
                        "(n(C_c) - n(C_c-1)): what the larger community adds (value units; "
                        "0 in industrial mode)",
        "composition_term": "mean audience-composition term, value_scale q (1 + eta "
                            "n(C_c-1)) (a_c - a_c-1): the c-th connector's affinity against "
                            "the (c-1)-th's (value units; 0 in industrial mode, where the "
                            "whole change is the buyer's diminishing utility)",
        "selection_term": "marginal_change - within_item_change: the mean (c-1)-th value of "
                          "the items that reach c minus that of all items that reached c - 1 "
                          "(value units; which items go on, not how an item's value moves)",
    },
    """
SELECT c, connections AS items, value_sum,
       value_sum / NULLIF(connections, 0) AS marginal_value,
       value_sum / NULLIF(connections, 0)
         - LAG(value_sum / NULLIF(connections, 0)) OVER (ORDER BY c) AS marginal_change,
       value_per_quality_sum / NULLIF(connections, 0) AS marginal_value_per_quality,
       value_per_quality_sum / NULLIF(connections, 0)
         - LAG(value_per_quality_sum / NULLIF(connections, 0)) OVER (ORDER BY c)
         AS marginal_change_per_quality,
       SUM(value_sum / NULLIF(connections, 0)) OVER (ORDER BY c) AS cumulative_value,
       connections * 1.0 / FIRST_VALUE(connections) OVER (ORDER BY c) AS items_share,
       CASE WHEN c > 1 THEN within_item_change_sum / NULLIF(connections, 0) END
         AS within_item_change,
       CASE WHEN c > 1 THEN network_term_sum / NULLIF(connections, 0) END AS network_term,
       CASE WHEN c > 1 THEN composition_term_sum / NULLIF(connections, 0) END
         AS composition_term,
       CASE WHEN c > 1 THEN
         value_sum / NULLIF(connections, 0)
         - LAG(value_sum / NULLIF(connections, 0)) OVER (ORDER BY c)
         - within_item_change_sum / NULLIF(connections, 0) END AS selection_term
FROM connection_curve""",
)

V_COMMUNITY_SIZES = View(
    "v_community_sizes",
    "Community size per creator at the end of the run (users who created and firms), with "
    "rank and the complementary CDF P(size >= s) for distributions and tails "
    "(Proposition 3).",
    {
        "owner_type": "user or firm",
        "owner_id": "users.user_id or firms.firm_id",
        "community_size": "people who joined the owner's community, one per join (a repeat "
                          "join by an agent is another person of her class) (users)",
        "items": "items the owner created (users) or derivatives (firms) (count)",
        "income": "users: users.income (connection payments, licence fees, rewards, minus "
                  "penalties); firms: firms.revenue (value units)",
        "size_rank": "rank by community size, 1 = largest (ties share a rank)",
        "ccdf": "share of creators whose community is at least this size (0-1)",
    },
    """
WITH creators AS (
  SELECT 'user' AS owner_type, user_id AS owner_id, community_size,
         items_created AS items, income
  FROM users WHERE items_created > 0 OR community_size > 0
  UNION ALL
  SELECT 'firm', firm_id, community_size, derivatives, revenue FROM firms)
SELECT owner_type, owner_id, community_size, items, income,
       RANK() OVER (ORDER BY community_size DESC) AS size_rank,
       COUNT(*) OVER (ORDER BY community_size DESC) * 1.0 / COUNT(*) OVER () AS ccdf
FROM creators""",
)

V_INEQUALITY = View(
    "v_inequality",
    "Inequality per period: the Gini of creator income (all users, zero earners included) "
    "and the HHI of firm revenue, with the numbers behind them.",
    {
        "period": "aggregation period",
        "t_end": "end of the period (day)",
        "gini_creator_income": "Gini of users' income (connection payments + licence fees + "
                               "rewards - fines, cumulative) over all users (0-1)",
        "hhi_firm_revenue": "HHI of the period's firm revenue (shares in percent, 0-10,000)",
        "equivalent_firms": "10,000 / HHI: the number of equal-sized firms with that HHI",
        "firms_active": "firms active at the period's end (count)",
        "largest_community": "members of the largest community (users)",
        "communities": "communities with at least one member (count)",
    },
    """
SELECT e.period, e.t_end, e.gini_creator_income, t.hhi_firm_revenue,
       10000.0 / NULLIF(t.hhi_firm_revenue, 0) AS equivalent_firms,
       t.firms_active, e.largest_community, e.communities
FROM period_encounter AS e
JOIN period_transmission AS t ON t.period = e.period""",
)

V_FIRM_CLOSENESS = View(
    "v_firm_closeness",
    "Each active firm's place in the network of interactions (Opsahl's weighted closeness, "
    "per alpha; edge weight = number of transactions between two actors) beside the value "
    "it captured in the snapshot's period and in the period of its next snapshot — the "
    "data of Proposition 4, read as a prediction: closeness at t against captured value at "
    "t + 1. The same measures on the value-weighted network are secondary columns.",
    {
        "period": "period of the centrality snapshot",
        "t": "day of the snapshot",
        "firm_id": "firms.firm_id",
        "alpha": "Opsahl's tuning parameter (0: hop counts, 1: inverse weights)",
        "degree": "distinct actors the firm has interacted with (count)",
        "strength": "summed edge weights of the interaction network: the firm's "
                    "transactions (count)",
        "generalized_degree": "degree^(1 - alpha) x strength^alpha (interaction network)",
        "closeness": "raw Freeman/Opsahl closeness on the interaction network, 1 / sum of "
                     "distances within the firm's component",
        "harmonic_closeness": "sum of 1 / distance over all other nodes (interaction "
                              "network)",
        "strength_value": "secondary: summed edge weights of the value-weighted network, "
                          "the value moved through the firm (value units)",
        "closeness_value": "secondary: raw closeness on the value-weighted network (its "
                           "weights contain the value the firm captured)",
        "harmonic_closeness_value": "secondary: harmonic closeness on the value-weighted "
                                    "network",
        "captured_value": "firm revenue since its entry (value units)",
        "captured_period": "firm revenue in the snapshot's period (value units)",
        "captured_next_period": "firm revenue in the period of the next snapshot (t + 1 "
                                "when network.centrality_every = 1): the value closeness "
                                "should predict (value units; NULL at the last snapshot "
                                "and when the firm is not in the next one: it exited)",
        "closeness_rank": "rank of the firm by closeness within (period, alpha), 1 = closest",
        "captured_rank": "rank of the firm by captured_value within (period, alpha), 1 = most",
        "data_driven": "1 if the firm scans the platform",
    },
    """
SELECT c.period, c.t, c.node AS firm_id, c.alpha, c.degree, c.strength,
       c.generalized_degree, c.closeness, c.harmonic_closeness,
       c.strength_value, c.closeness_value, c.harmonic_closeness_value,
       c.captured_value, c.captured_period,
       CASE WHEN LEAD(c.period) OVER w = s.next
            THEN LEAD(c.captured_period) OVER w END AS captured_next_period,
       RANK() OVER (PARTITION BY c.period, c.alpha ORDER BY c.closeness DESC)
         AS closeness_rank,
       RANK() OVER (PARTITION BY c.period, c.alpha ORDER BY c.captured_value DESC)
         AS captured_rank,
       f.data_driven
FROM centrality AS c
JOIN (SELECT period, LEAD(period) OVER (ORDER BY period) AS next
      FROM (SELECT DISTINCT period FROM centrality)) AS s ON s.period = c.period
LEFT JOIN firms AS f ON f.firm_id = c.node
WHERE c.node_type = 'firm'
WINDOW w AS (PARTITION BY c.node_type, c.node, c.alpha ORDER BY c.period)""",
)

V_CLOSENESS_CORRELATION = View(
    "v_closeness_correlation",
    "Proposition 4 as a prediction, one row per snapshot and alpha: across the firms active "
    "at this snapshot and at the next, the correlation between closeness on the network of "
    "interactions now and the value each firm captures in the period of its next snapshot "
    "(Pearson on values, Spearman on average ranks). Firms that exit before the next "
    "snapshot drop out; the last snapshot has no prediction. Positive: closer firms go on "
    "to capture more, as the paper expects. spearman_value_weighted keeps the first "
    "model's reading as a secondary measure: value-weighted closeness against the value "
    "captured so far, at the same snapshot — close to an identity, since that network's "
    "weights are the captured value.",
    {
        "period": "period t of the centrality snapshot (closeness is measured here)",
        "alpha": "Opsahl's tuning parameter",
        "firms": "active firms in the snapshot (count)",
        "firms_next": "of those, firms still active at the next snapshot: the sample of the "
                      "prediction (count)",
        "pearson": "Pearson correlation of closeness at t and captured value at t + 1 "
                   "(-1..1; NULL when either does not vary or no firm has a next snapshot)",
        "spearman": "Spearman rank correlation of closeness at t and captured value at "
                    "t + 1 (-1..1)",
        "pearson_harmonic": "Pearson correlation of harmonic closeness at t and captured "
                            "value at t + 1",
        "spearman_value_weighted": "secondary, same snapshot: Spearman correlation of "
                                   "closeness on the value-weighted network and the value "
                                   "captured so far (-1..1)",
    },
    """
WITH snapshots AS (
  SELECT period, LEAD(period) OVER (ORDER BY period) AS next
  FROM (SELECT DISTINCT period FROM centrality)),
s AS (
  SELECT c.period, c.alpha, c.closeness AS x, c.harmonic_closeness AS h,
         CASE WHEN LEAD(c.period) OVER w = n.next THEN LEAD(c.captured_period) OVER w END
           AS y,
         c.closeness_value AS xv, c.captured_value AS yv
  FROM centrality AS c JOIN snapshots AS n ON n.period = c.period
  WHERE c.node_type = 'firm'
  WINDOW w AS (PARTITION BY c.node_type, c.node, c.alpha ORDER BY c.period)),
f AS (
  SELECT period, alpha, y IS NOT NULL AS paired,
         CASE WHEN y IS NOT NULL THEN x END AS x, CASE WHEN y IS NOT NULL THEN h END AS h, y,
         CASE WHEN y IS NOT NULL THEN
           RANK() OVER (PARTITION BY period, alpha, y IS NULL ORDER BY x)
           + (COUNT(*) OVER (PARTITION BY period, alpha, y IS NULL, x) - 1) / 2.0 END AS rx,
         CASE WHEN y IS NOT NULL THEN
           RANK() OVER (PARTITION BY period, alpha, y IS NULL ORDER BY y)
           + (COUNT(*) OVER (PARTITION BY period, alpha, y IS NULL, y) - 1) / 2.0 END AS ry,
         RANK() OVER (PARTITION BY period, alpha ORDER BY xv)
           + (COUNT(*) OVER (PARTITION BY period, alpha, xv) - 1) / 2.0 AS rxv,
         RANK() OVER (PARTITION BY period, alpha ORDER BY yv)
           + (COUNT(*) OVER (PARTITION BY period, alpha, yv) - 1) / 2.0 AS ryv
  FROM s),
d AS (
  SELECT period, alpha, paired,
         x - AVG(x) OVER p AS dx, h - AVG(h) OVER p AS dh, y - AVG(y) OVER p AS dy,
         rx - AVG(rx) OVER p AS drx, ry - AVG(ry) OVER p AS dry,
         rxv - AVG(rxv) OVER p AS drxv, ryv - AVG(ryv) OVER p AS dryv
  FROM f WINDOW p AS (PARTITION BY period, alpha))
SELECT period, alpha, COUNT(*) AS firms, SUM(paired) AS firms_next,
       SUM(dx * dy) / NULLIF(SQRT(SUM(dx * dx) * SUM(dy * dy)), 0) AS pearson,
       SUM(drx * dry) / NULLIF(SQRT(SUM(drx * drx) * SUM(dry * dry)), 0) AS spearman,
       SUM(dh * dy) / NULLIF(SQRT(SUM(dh * dh) * SUM(dy * dy)), 0) AS pearson_harmonic,
       SUM(drxv * dryv) / NULLIF(SQRT(SUM(drxv * drxv) * SUM(dryv * dryv)), 0)
         AS spearman_value_weighted
FROM d GROUP BY period, alpha""",
)

#: Every view of a run database, by name, in the order the docs present them.
VIEWS: dict[str, View] = {v.name: v for v in (
    V_VALUE_PRODUCTION, V_VALUE_ENCOUNTER, V_VALUE_TRANSMISSION, V_VALUE_SPILLOVER,
    V_CONNECTION_VALUE_CURVE, V_COMMUNITY_SIZES, V_INEQUALITY, V_FIRM_CLOSENESS,
    V_CLOSENESS_CORRELATION,
)}


def create_views(db: sqlite_utils.Database, *, replace: bool = False) -> None:
    """Create every view of :data:`VIEWS` (``replace``: drop and recreate existing ones)."""
    conn = db.conn
    for view in VIEWS.values():
        if replace:
            conn.execute(f"DROP VIEW IF EXISTS {view.name}")
        conn.execute(f"CREATE VIEW IF NOT EXISTS {view.name} AS {view.sql.strip()}")
