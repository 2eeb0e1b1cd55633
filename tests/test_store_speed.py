"""The cheaper event writer (issue 9) writes exactly the rows the plain one did.

Many-row INSERT statements, final tables written in chunks, event blocks given as columns
with integer codes, the garbage collector kept out of the event loop: none of it may change
a byte of what a run records. No speed is asserted here (benchmarks/bench_speed.py).
"""

from __future__ import annotations

import gc
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest

import simmarket
from simmarket.api import quiet_collector
from simmarket.core.recorder import EVENT_COLUMNS
from simmarket.store import sqlite as store
from simmarket.store.memory import MemoryRecorder
from simmarket.store.sqlite import ROWS_PER_INSERT, SQLiteRecorder, insert_rows

_PLAIN = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
          f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})")
_DDL = ('CREATE TABLE events (event_id INTEGER PRIMARY KEY, t REAL, kind TEXT, '
        'actor_id INTEGER, actor_type TEXT, item_id INTEGER, counterpart_id INTEGER, '
        'counterpart_type TEXT, value REAL)')
_TYPED = ("SELECT event_id, t, typeof(t), kind, actor_id, typeof(actor_id), actor_type, "
          "item_id, typeof(item_id), counterpart_id, counterpart_type, value, typeof(value) "
          "FROM events ORDER BY rowid")


def _rows(n: int, seed: int = 1) -> list[tuple]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        t = float(k) / 7.0
        r = rng.random()
        if r < 0.3:
            out.append((t, "session_started", int(rng.integers(1000)), "user", None, None,
                        None, float(r < 0.1)))
        elif r < 0.6:
            out.append((t, "connection", int(rng.integers(1000)), "user",
                        int(rng.integers(50)), int(rng.integers(10)), "firm", float(rng.random())))
        elif r < 0.9:
            out.append((t, "payment", 5, "user", 3, 0, "platform", 1e-300 * rng.random()))
        else:
            out.append((t, "macro_step", 0, "economy", None, None, None, None))
    return out


def _typed(insert) -> list[tuple]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(_DDL)
    conn.execute("BEGIN")
    insert(conn)
    conn.execute("COMMIT")
    return conn.execute(_TYPED).fetchall()


@pytest.mark.parametrize("n", [0, 1, ROWS_PER_INSERT - 1, ROWS_PER_INSERT, ROWS_PER_INSERT + 1,
                               3 * ROWS_PER_INSERT + 17])
def test_many_row_inserts_write_what_one_row_statements_write(n):
    rows = _rows(n)
    plain = _typed(lambda conn: conn.executemany(_PLAIN, rows))
    many = _typed(lambda conn: insert_rows(conn, "events", EVENT_COLUMNS, rows))
    assert many == plain
    assert len(many) == n


def test_a_wide_table_stays_under_the_parameter_limit():
    cols = [f"c{i}" for i in range(300)]  # 300 columns: fewer rows per statement
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE wide ({', '.join(cols)})")
    rows = [tuple(range(r, r + 300)) for r in range(500)]
    insert_rows(conn, "wide", cols, rows)
    assert conn.execute("SELECT * FROM wide ORDER BY rowid").fetchall() == rows


def _blocks(rec) -> None:
    """The same events, first as tuples, then as columns, kinds and types as codes."""
    kinds = ("connection", "payment", "impression", "session_started")
    types = ("user", "firm", "platform", None)
    t = np.array([0.25, 0.25, 0.5, 0.75, 1.0])
    kind = np.array([3, 2, 0, 1, 1], dtype=np.int8)
    actor = np.array([7, 7, 8, 8, 9])
    actor_type = np.zeros(5, dtype=np.int8)
    item = np.array([-1, 4, 4, 4, 5])
    counterpart = np.array([-1, 2, 2, 0, 3])
    counterpart_type = np.array([3, 0, 0, 2, 1], dtype=np.int8)
    value = np.array([0.0, 10.0, 0.123456789, 0.01, np.nan])
    rec.emit_columns(t, kind, actor, actor_type, item, counterpart, counterpart_type, value,
                     kinds=kinds, types=types)
    rec.emit_columns(t[:2], "payment", 3, "user", value=value[:2])  # names and scalars


_TUPLES = [
    (0.25, "session_started", 7, "user", None, None, None, 0.0),
    (0.25, "impression", 7, "user", 4, 2, "user", 10.0),
    (0.5, "connection", 8, "user", 4, 2, "user", 0.123456789),
    (0.75, "payment", 8, "user", 4, 0, "platform", 0.01),
    (1.0, "payment", 9, "user", 5, 3, "firm", math.nan),
    (0.25, "payment", 3, "user", None, None, None, 0.0),
    (0.25, "payment", 3, "user", None, None, None, 10.0),
]


@pytest.mark.parametrize("level", ["all", "core", "none"])
def test_event_columns_with_codes_give_the_rows_of_the_tuples(tmp_path, level):
    def rows_of(fill, name):
        rec = SQLiteRecorder(tmp_path / f"{name}.db", events=level, batch_size=3)
        rec.start_run(seed=1, config={"mode": "metaverse", "horizon_days": 1,
                                      "period_days": 1}, version="test",
                      impression_sample_rate=0.1)
        fill(rec)
        rec.finish("completed", t_reached=1.0)
        rec.close()
        conn = sqlite3.connect(tmp_path / f"{name}.db")
        return conn.execute(_TYPED).fetchall()

    def by_tuples(rec):
        for row in _TUPLES:
            if rec.keeps(row[1]):
                rec.record(row)
                rec.maybe_flush()

    blocks = rows_of(_blocks, "blocks")
    assert blocks == rows_of(by_tuples, "tuples")
    expected = {"all": 7, "core": 5, "none": 0}[level]
    assert len(blocks) == expected
    if level == "all":
        assert blocks[0][8] == "null" and blocks[4][11] is None  # id -1 and NaN are NULL


def test_event_columns_in_memory_and_mismatched_lengths():
    rec, ref = MemoryRecorder(events="all"), MemoryRecorder(events="all")
    _blocks(rec)
    for row in _TUPLES:
        ref.record(row)
    pd.testing.assert_frame_equal(rec.events(), ref.events())
    assert len(rec.events()) == len(_TUPLES)
    with pytest.raises(ValueError, match="different lengths"):
        rec.emit_columns(np.zeros(3), "payment", np.arange(2), "user")


def test_final_tables_written_in_chunks_are_the_whole_table(tmp_path, monkeypatch):
    n = 1000
    columns = {
        "item_id": np.arange(n), "t_created": np.linspace(0.0, 1.0, n), "owner_id": 3,
        "owner_type": np.array(["user", "firm"])[np.arange(n) % 2],
        "parent_id": np.where(np.arange(n) % 3 == 0, np.arange(n), None),
        "topic": np.arange(n) % 5, "system": 0, "quality": np.full(n, 0.5),
        "production_time": np.ones(n), "price": np.where(np.arange(n) % 7, 2.0, None),
        "connections": np.arange(n) * 2, "value": np.arange(n) / 3.0, "removed": 0,
    }

    def written(chunk: int, name: str) -> list[tuple]:
        monkeypatch.setattr(store, "FINAL_CHUNK", chunk)
        rec = SQLiteRecorder(tmp_path / f"{name}.db")
        rec.write_columns("items", columns)
        rows = rec.conn.execute("SELECT *, typeof(parent_id), typeof(price) FROM items "
                                "ORDER BY rowid").fetchall()
        rec.close()
        return rows

    whole = written(10 * n, "whole")
    assert whole == written(37, "chunks") == written(1, "ones")
    assert len(whole) == n and whole[1][4] is None and whole[0][4] == 0


def test_the_log_does_not_depend_on_how_it_is_batched(tmp_path):
    base = {"users": {"n": 150}, "horizon_days": 8, "seed": 11}
    logs = []
    for batch in (1, ROWS_PER_INSERT + 1, 50_000):
        cfg = {**base, "output": {"batch_size": batch}}
        result = simmarket.run(cfg, out=tmp_path / f"b{batch}.db", handle_signals=False)
        conn = sqlite3.connect(result.db_path)
        logs.append(conn.execute("SELECT * FROM events ORDER BY rowid").fetchall())
        conn.close()
    assert logs[0] and logs[0] == logs[1] == logs[2]


def test_the_collector_is_restored_after_a_run():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with quiet_collector():
        assert gc.get_threshold()[0] > before[0]
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
    simmarket.run({"users": {"n": 50}, "horizon_days": 2}, store="memory",
                  handle_signals=False)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_runs_in_threads_restore_the_collector_once_the_last_ends():
    before = gc.get_threshold()
    first, second = quiet_collector(), quiet_collector()
    first.__enter__()
    second.__enter__()  # a second run starts, in another thread, while the first runs
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] > before[0]  # the second still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


def test_a_callers_frozen_objects_stay_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with quiet_collector():
            pass
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
