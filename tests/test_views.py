"""The analysis views: present in every run database, columns as documented, figures that
agree with the tables and the event log they summarise, and the pandas helpers over them."""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
import sqlite_utils
from scipy import stats

from simmarket import analysis as sa
from simmarket.analysis.query import AnalysisError
from simmarket.metrics import gini
from simmarket.store.sqlite import EventStore
from simmarket.store.views import VIEWS, create_views


@pytest.fixture(scope="module")
def conn(small_db):
    c = sqlite3.connect(f"file:{small_db}?mode=ro", uri=True)
    yield c
    c.close()


def frame(conn: sqlite3.Connection, sql: str, *params) -> pd.DataFrame:
    return pd.read_sql_query(sql, conn, params=params or None)


# -- presence and shape -----------------------------------------------------------------------

def test_a_new_database_has_every_view_before_anything_is_simulated(tmp_path):
    store = EventStore(tmp_path / "new.db")
    names = {r[0] for r in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'view'")}
    store.close()
    assert names == set(VIEWS)


@pytest.mark.parametrize("name", list(VIEWS))
def test_view_columns_are_the_documented_ones_and_it_has_rows(conn, name):
    cur = conn.execute(f"SELECT * FROM {name}")
    rows = cur.fetchall()
    assert [d[0] for d in cur.description] == list(VIEWS[name].columns)
    assert rows, f"{name} is empty on a completed run"
    assert VIEWS[name].description


@pytest.mark.parametrize("name", list(VIEWS))
def test_no_view_reads_the_event_log(conn, name):
    """Views stay fast on large runs: they read the summary tables, never ``events``."""
    plan = " ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN SELECT * FROM {name}"))
    assert "events" not in plan


def test_create_views_replace_recreates_a_changed_view(tmp_path):
    store = EventStore(tmp_path / "v.db")
    conn = store.conn
    conn.execute("DROP VIEW v_value_production")
    conn.execute("CREATE VIEW v_value_production AS SELECT 1 AS stale")
    db = sqlite_utils.Database(conn)
    create_views(db)  # existing views are kept as they are ...
    assert conn.execute("SELECT * FROM v_value_production").fetchall() == [(1,)]
    create_views(db, replace=True)  # ... unless replaced
    cur = conn.execute("SELECT * FROM v_value_production")
    assert [d[0] for d in cur.description] == list(VIEWS["v_value_production"].columns)
    store.close()


# -- the figures agree with the tables and the event log ----------------------------------------

def test_value_production_sums_the_items_users_created(conn):
    v = frame(conn, "SELECT * FROM v_value_production ORDER BY period")
    scale = conn.execute(
        "SELECT json_extract(config, '$.encounter.value_scale') FROM runs").fetchone()[0]
    quality = conn.execute(
        "SELECT SUM(quality) FROM items WHERE owner_type = 'user'").fetchone()[0]
    assert v.value_produced_cum.iloc[-1] == pytest.approx(quality * scale)
    assert v.value_produced.cumsum().to_numpy() == pytest.approx(v.value_produced_cum)
    assert v.knowledge_stock_change.sum() == pytest.approx(v.knowledge_stock.iloc[-1])
    assert v.days.to_numpy() == pytest.approx((v.t_end - v.t_start).to_numpy())


def test_value_encounter_matches_the_connection_events(conn):
    v = frame(conn, "SELECT * FROM v_value_encounter ORDER BY period")
    total, n = conn.execute(
        "SELECT SUM(value), COUNT(*) FROM events WHERE kind = 'connection'").fetchone()
    assert v.value_encountered_cum.iloc[-1] == pytest.approx(total)
    assert v.connections.sum() == n
    assert v.community_growth.sum() == v.communities.iloc[-1]
    joins = conn.execute(
        "SELECT COUNT(*) FROM events WHERE kind = 'community_joined'").fetchone()[0]
    assert v.mean_community_size.iloc[-1] == pytest.approx(joins / v.communities.iloc[-1])
    rate = v.connections / v.impressions
    assert v.connection_rate.to_numpy() == pytest.approx(rate.to_numpy())


def test_value_transmission_matches_the_firms_table(conn):
    v = frame(conn, "SELECT * FROM v_value_transmission ORDER BY period")
    revenue, fees, derivatives = conn.execute(
        "SELECT SUM(revenue), SUM(license_fees), SUM(derivatives) FROM firms").fetchone()
    assert v.firms_captured_value.sum() == pytest.approx(revenue)
    assert v.license_fees.sum() == pytest.approx(fees)
    assert v.derivatives.sum() == derivatives
    assert v.value_transmitted_cum.iloc[-1] == pytest.approx(revenue + fees)


def test_value_spillover_indexes_start_at_one_and_gain_is_output_over_the_start(conn):
    v = frame(conn, "SELECT * FROM v_value_spillover ORDER BY period")
    m = frame(conn, "SELECT * FROM macro ORDER BY period")
    assert v.D_index.iloc[0] == v.Y_index.iloc[0] == v.K_index.iloc[0] == 1.0
    assert v.output_gain.to_numpy() == pytest.approx((m.Y - m.Y.iloc[0]).to_numpy())
    assert v.output_gain_cum.to_numpy() == pytest.approx(v.output_gain.cumsum().to_numpy())
    assert v.data_exported_cum.iloc[-1] == pytest.approx(m.data_exported.sum())


def test_connection_value_curve_matches_the_event_log_item_by_item(conn):
    """The curve (from the connection_curve table) equals the ROW_NUMBER cross-check."""
    v = frame(conn, "SELECT * FROM v_connection_value_curve ORDER BY c")
    cross = frame(conn, """
        SELECT c, COUNT(*) AS items, AVG(value) AS marginal_value
        FROM (SELECT value, ROW_NUMBER() OVER (PARTITION BY item_id ORDER BY event_id) AS c
              FROM events WHERE kind = 'connection')
        GROUP BY c ORDER BY c""")
    assert v.c.tolist() == cross.c.tolist()
    assert v["items"].tolist() == cross["items"].tolist()
    assert v.marginal_value.to_numpy() == pytest.approx(cross.marginal_value.to_numpy())
    assert v.cumulative_value.to_numpy() == pytest.approx(v.marginal_value.cumsum().to_numpy())
    assert v.items_share.iloc[0] == 1.0 and v.items_share.is_monotonic_decreasing


def test_connection_value_curve_per_quality_divides_by_the_items_quality(conn):
    v = frame(conn, "SELECT * FROM v_connection_value_curve ORDER BY c")
    cross = frame(conn, """
        SELECT c, AVG(value / quality) AS per_quality
        FROM (SELECT e.value, i.quality,
                     ROW_NUMBER() OVER (PARTITION BY e.item_id ORDER BY e.event_id) AS c
              FROM events e JOIN items i ON i.item_id = e.item_id
              WHERE e.kind = 'connection')
        GROUP BY c ORDER BY c""")
    assert v.marginal_value_per_quality.to_numpy() == pytest.approx(
        cross.per_quality.to_numpy())


def test_community_sizes_count_the_people_who_joined_and_ccdf_is_a_tail(conn):
    """A community's size counts the people who joined it (``community_joined`` events): an
    agent stands for w people, each of whom may join (MODEL.md §9.1), so a community has at
    least one member per agent who connected to the owner's items and at most one per
    connection."""
    v = frame(conn, "SELECT * FROM v_community_sizes")
    agents, connections, joins = defaultdict(set), defaultdict(int), defaultdict(int)
    for kind, user, owner, owner_type in conn.execute(
            "SELECT kind, actor_id, counterpart_id, counterpart_type FROM events "
            "WHERE kind IN ('connection', 'community_joined')"):
        if kind == "connection":
            agents[(owner_type, owner)].add(user)
            connections[(owner_type, owner)] += 1
        else:
            joins[(owner_type, owner)] += 1
    assert sum(joins.values()) > sum(len(a) for a in agents.values()) > 0  # w > 1: rejoins
    for row in v.itertuples():
        key = (row.owner_type, row.owner_id)
        assert row.community_size == joins[key]
        assert len(agents[key]) <= row.community_size <= connections[key]
    n = len(v)
    for s in sorted(set(v.community_size))[:20]:
        share = (v.community_size >= s).sum() / n
        assert v.loc[v.community_size == s, "ccdf"].to_numpy() == pytest.approx(share)
    assert v.loc[v.size_rank == 1, "community_size"].iloc[0] == v.community_size.max()
    creators = conn.execute("SELECT COUNT(*) FROM users WHERE items_created > 0").fetchone()[0]
    firms = conn.execute("SELECT COUNT(*) FROM firms").fetchone()[0]
    assert n == creators + firms


def test_inequality_last_gini_is_that_of_the_final_incomes(conn):
    v = frame(conn, "SELECT * FROM v_inequality ORDER BY period")
    incomes = np.array([r[0] for r in conn.execute("SELECT income FROM users")])
    assert v.gini_creator_income.iloc[-1] == pytest.approx(gini(np.maximum(incomes, 0.0)))
    assert ((v.hhi_firm_revenue >= 0) & (v.hhi_firm_revenue <= 10_000)).all()
    positive = v.hhi_firm_revenue > 0
    assert (v.equivalent_firms[positive] * v.hhi_firm_revenue[positive]).to_numpy() == \
        pytest.approx(10_000.0)


def test_firm_closeness_lists_every_firm_row_of_centrality_with_ranks(conn):
    v = frame(conn, "SELECT * FROM v_firm_closeness")
    n = conn.execute("SELECT COUNT(*) FROM centrality WHERE node_type = 'firm'").fetchone()[0]
    assert len(v) == n
    for (_, _), g in v.groupby(["period", "alpha"]):
        assert g.loc[g.closeness_rank == 1, "closeness"].min() == g.closeness.max()
        assert g.loc[g.captured_rank == 1, "captured_value"].min() == g.captured_value.max()
    assert v.data_driven.notna().all()  # joined from the firms table


def test_firm_closeness_next_period_is_the_same_firms_next_snapshot(conn):
    v = frame(conn, "SELECT * FROM v_firm_closeness ORDER BY firm_id, alpha, period")
    for (_, _), g in v.groupby(["firm_id", "alpha"]):
        assert g.captured_next_period.iloc[:-1].to_numpy() == pytest.approx(
            g.captured_period.iloc[1:].to_numpy())
        assert pd.isna(g.captured_next_period.iloc[-1])
    # the interaction network counts transactions, the value-weighted one keeps the value
    assert (v.strength == v.strength.round()).all()
    assert v[["strength_value", "closeness_value", "harmonic_closeness_value"]].notna().all().all()


def hand_made_centrality(rows: list[tuple]) -> sqlite3.Connection:
    """A run database holding only the given firm centrality rows:
    (period, node, alpha, closeness, captured_period, closeness_value, captured_value)."""
    from simmarket.store.schema import create_schema

    c = sqlite3.connect(":memory:")
    create_schema(sqlite_utils.Database(c))
    c.executemany("""INSERT INTO centrality (period, t, node, node_type, alpha, degree, strength,
                     generalized_degree, closeness, harmonic_closeness, strength_value,
                     closeness_value, harmonic_closeness_value, captured_value,
                     captured_period)
                     VALUES (?, ? * 7.0 + 7, ?, 'firm', ?, 1, 1, 1, ?, ? * 2, 1, ?, ?, ?, ?)""",
                  [(p, p, f, a, x, x, xv, xv, yv, y)
                   for p, f, a, x, y, xv, yv in rows])
    return c


def test_closeness_correlation_predicts_next_period_value_like_scipy():
    """Hand-made snapshots: closeness at t against captured value at the same firm's next
    snapshot (firms that exit drop out), and the same-snapshot value-weighted secondary."""
    rng = np.random.default_rng(7)
    rows = []
    firms = {0: range(8), 1: range(7), 2: range(1, 9), 3: range(1, 9)}  # 0 exits after 1
    for period, alive in firms.items():
        for f in alive:
            for alpha in (0.5, 1.0):
                rows.append((period, f, alpha, float(rng.integers(1, 5)), float(rng.random()),
                             float(rng.random()), float(rng.integers(0, 4))))
    conn = hand_made_centrality(rows)
    v = frame(conn, "SELECT * FROM v_closeness_correlation ORDER BY period, alpha")
    df = pd.DataFrame(rows, columns=["period", "node", "alpha", "x", "y", "xv", "yv"])
    checked = 0
    for row in v.itertuples():
        now = df[(df.period == row.period) & (df.alpha == row.alpha)]
        nxt = df[(df.period == row.period + 1) & (df.alpha == row.alpha)]
        pairs = now.merge(nxt[["node", "y"]], on="node", suffixes=("", "_next"))
        assert row.firms == len(now) and row.firms_next == len(pairs)
        assert row.spearman_value_weighted == pytest.approx(stats.spearmanr(now.xv, now.yv)[0])
        if pairs.empty:
            assert row.period == 3 and pd.isna(row.spearman) and pd.isna(row.pearson)
            continue
        assert row.pearson == pytest.approx(stats.pearsonr(pairs.x, pairs.y_next)[0])
        assert row.spearman == pytest.approx(stats.spearmanr(pairs.x, pairs.y_next)[0])
        assert row.pearson_harmonic == pytest.approx(stats.pearsonr(2 * pairs.x,
                                                                    pairs.y_next)[0])
        checked += 1
    assert checked == 6  # periods 0-2 at two alphas; firm 0 leaves the pairs of period 1
    assert v.loc[v.period == 1, "firms_next"].tolist() == [6, 6]


def test_closeness_correlation_on_the_run_agrees_with_firm_closeness(conn):
    v = frame(conn, "SELECT * FROM v_closeness_correlation")
    f = frame(conn, "SELECT * FROM v_firm_closeness")
    for row in v.itertuples():
        g = f[(f.period == row.period) & (f.alpha == row.alpha)]
        paired = g[g.captured_next_period.notna()]
        assert row.firms == len(g) and row.firms_next == len(paired)
        if paired.closeness.nunique() > 1 and paired.captured_next_period.nunique() > 1:
            assert row.spearman == pytest.approx(
                stats.spearmanr(paired.closeness, paired.captured_next_period)[0])
        else:
            assert row.spearman is None or math.isnan(row.spearman)


def test_connection_value_curve_decomposes_the_within_item_change(conn):
    v = frame(conn, "SELECT * FROM v_connection_value_curve ORDER BY c")
    later = v[v.c > 1]
    # metaverse mode: the change is exactly the network term plus audience composition
    assert (later.network_term + later.composition_term).to_numpy() == pytest.approx(
        later.within_item_change.to_numpy(), abs=1e-9)
    assert (later.within_item_change + later.selection_term).to_numpy() == pytest.approx(
        later.marginal_change.to_numpy(), abs=1e-9)
    assert v.loc[v.c == 1, ["within_item_change", "network_term", "composition_term",
                            "selection_term"]].isna().all().all()


# -- simmarket.analysis ---------------------------------------------------------------------------

HELPERS = {
    "v_value_production": sa.value_production, "v_value_encounter": sa.value_encounter,
    "v_value_transmission": sa.value_transmission, "v_value_spillover": sa.value_spillover,
    "v_connection_value_curve": sa.connection_value_curve,
    "v_community_sizes": sa.community_sizes, "v_inequality": sa.inequality,
    "v_firm_closeness": sa.firm_closeness,
    "v_closeness_correlation": sa.closeness_correlation,
}


def test_every_view_has_a_helper():
    assert set(HELPERS) == set(VIEWS)


@pytest.mark.parametrize("name", list(VIEWS))
def test_helper_returns_the_view_as_a_dataframe(small_db, conn, name):
    got = HELPERS[name](small_db)
    want = frame(conn, f"SELECT * FROM {name}")
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(HELPERS[name](conn), want)  # an open connection works too


def test_helpers_filter(small_db):
    curve = sa.connection_value_curve(small_db, min_items=20)
    assert (curve["items"] >= 20).all() and len(curve) < len(sa.connection_value_curve(small_db))
    one = sa.firm_closeness(small_db, alpha=1.0)
    assert set(one.alpha) == {1.0}


def test_helpers_refuse_unknown_views_and_bad_paths(small_db, tmp_path):
    with pytest.raises(AnalysisError, match="no view"):
        sa.read_view(small_db, "v_nope")
    with pytest.raises(AnalysisError, match="no such database"):
        sa.value_production(tmp_path / "missing.db")


def test_headlines_are_rows_of_the_summary(small_db):
    h = sa.headlines(small_db)
    assert set(h.layer) == {"value production", "value encounter", "value transmission",
                            "value spillover"}
    row = h[h.figure == "connections"].iloc[0]
    with sqlite3.connect(small_db) as c:
        n = c.execute("SELECT COUNT(*) FROM events WHERE kind = 'connection'").fetchone()[0]
    assert row.value == n


def test_connection_value_trend_equals_a_direct_computation(small_db, conn):
    t = sa.connection_value_trend(small_db)
    curve = frame(conn, "SELECT c, connections, value_sum, value_per_quality_sum "
                        "FROM connection_curve")
    x = np.repeat(np.log(curve.c), curve.connections)
    y = np.repeat(curve.value_sum / curve.connections, curve.connections)
    assert t.slope == pytest.approx(np.polyfit(x, y, 1)[0])
    y_q = np.repeat(curve.value_per_quality_sum / curve.connections, curve.connections)
    assert t.slope_per_quality == pytest.approx(np.polyfit(x, y_q, 1)[0])
    assert t.total_value == pytest.approx(curve.value_sum.sum())
    values = defaultdict(list)
    for item, v in conn.execute(
            "SELECT item_id, value FROM events WHERE kind = 'connection' ORDER BY event_id"):
        values[item].append(v)
    changes = [b - a for vs in values.values() for a, b in zip(vs, vs[1:])]
    assert t.within_pairs == len(changes)
    assert t.within_change == pytest.approx(np.mean(changes))
    assert t.network_change + t.composition_change + t.other_change == pytest.approx(
        t.within_change)
    assert abs(t.other_change) < 1e-9  # metaverse mode: the two terms are the whole change
    assert t.mean_curve_change - t.selection_change == pytest.approx(t.within_change)
    assert t.direction == ("rises" if t.slope > 0 else "falls")
    by_c = sa.within_item_changes(small_db)  # the by-c window query agrees with the mean
    assert by_c.pairs.sum() == len(changes)
    assert (by_c.pairs * by_c.mean_change).sum() / by_c.pairs.sum() == pytest.approx(
        t.within_change)
    assert (by_c.network_term + by_c.composition_term).to_numpy() == pytest.approx(
        by_c.mean_change.to_numpy(), abs=1e-9)


def test_stale_or_missing_views_are_shadowed_without_touching_the_file(small_db, tmp_path):
    """A database written before a view changed is read with the current definitions."""
    import hashlib
    import shutil

    path = tmp_path / "stale.db"
    shutil.copy(small_db, path)
    with sqlite3.connect(path) as c:
        c.execute("DROP VIEW v_inequality")
        c.execute("CREATE VIEW v_inequality AS SELECT 1 AS stale")
        c.execute("DROP VIEW v_community_sizes")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    got = sa.inequality(path)
    assert list(got.columns) == list(VIEWS["v_inequality"].columns) and len(got) > 0
    assert len(sa.community_sizes(path)) > 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    with sqlite3.connect(path) as c:  # the file still holds what it held
        assert c.execute("SELECT * FROM v_inequality").fetchall() == [(1,)]
