"""The database schema of a run: tables, event kinds and indexes.

``docs/schema.md`` documents every table, column, unit and event kind listed here; a test
checks that the two agree.
"""

from __future__ import annotations

import sqlite_utils

from simmarket.store.views import create_views

SCHEMA_VERSION = 3

#: Every event kind, with what its columns mean (actor -> counterpart, value).
EVENT_KINDS: dict[str, str] = {
    "session_started": "a user starts a session; value 1 = creating, 0 = browsing",
    "content_created": "a user releases an item; value = quality q",
    "knowledge_shared": "the creator shares the knowledge flow; value = Delta-k added to S",
    "knowledge_hidden": "the creator hides the knowledge flow; value = Delta-k kept private",
    "impression": "an item is shown to a user (sampled); counterpart = owner; "
                  "value = 1 / impression_sample_rate (the weight of the sampled row)",
    "connection": "a user connects to an item (use right); counterpart = owner; "
                  "value = perceived value v_ij",
    "community_joined": "a person of the user's class joins a creator's community; "
                        "counterpart = creator; value = community size after joining",
    "payment": "money moves from actor to counterpart (owner or platform); value = amount",
    "derivative_created": "a firm re-creates an item; item = the derivative; "
                          "counterpart = original creator; value = quality",
    "license_paid": "a firm pays a licence fee; item = the original; value = fee",
    "firm_entered": "a firm enters; value = initial capital",
    "firm_exited": "a firm exits broke; value = capital at exit",
    "reward": "the government rewards a knowledge sharer; value = payment",
    "penalty": "the government penalises a rule violation (user, item) or a firm above the "
               "antitrust cap; value = fine",
    "privacy_leak": "a privacy leak on the platform; value = share of participation lost",
    "government_withdrew": "the government stops its guidance; value = sharing rate",
    "government_reentered": "the government resumes its guidance after W periods below "
                            "target; value = sharing rate",
    "data_exported": "platform data exported to the economy in a macro step; value = units",
    "macro_step": "the economy advances one step; value = output Y",
    "policy_changed": "a scheduled lever change; value = new value (see policy_changes)",
}


_PERIOD = {"period": int, "t_start": float, "t_end": float, "partial": int}

#: Every table of a run database, its columns and their types, defined once: the SQLite
#: schema, the in-memory recorder's DataFrames and docs/schema.md (a test) all follow it.
TABLES: dict[str, dict[str, type]] = {
    "runs": {
        "run_id": int, "status": str, "seed": int, "config": str, "version": str,
        "schema_version": int, "mode": str, "horizon_days": float, "period_days": float,
        "impression_sample_rate": float, "event_detail": str, "started_at": str,
        "finished_at": str, "t_reached": float, "events": int, "message": str, "summary": str,
    },
    "events": {
        "event_id": int, "t": float, "kind": str, "actor_id": int, "actor_type": str,
        "item_id": int, "counterpart_id": int, "counterpart_type": str, "value": float,
    },
    "event_kinds": {"kind": str, "description": str},
    "users": {
        "user_id": int, "topic": int, "system": int, "knowledge_initial": float,
        "knowledge": float, "sharing_initial": float, "sharing": float, "activity_rate": float,
        "creator_propensity": float, "creator_effective": float, "sharing_threshold": float,
        "device_access": int, "items_created": int,
        "shares": int, "hides": int, "connections_made": int, "income": float,
        "rewards": float, "community_size": int,
    },
    "items": {
        "item_id": int, "t_created": float, "owner_id": int, "owner_type": str,
        "parent_id": int, "topic": int, "system": int, "quality": float,
        "production_time": float, "price": float, "connections": int, "value": float,
        "removed": int,
    },
    "firms": {
        "firm_id": int, "t_entered": float, "t_exited": float, "data_driven": int,
        "initial_capital": float, "capital": float, "revenue": float,
        "derivatives": int, "licenses": int, "license_fees": float, "community_size": int,
    },
    "period_production": {
        **_PERIOD, "sessions": int, "creation_sessions": int, "items_created": int,
        "mean_quality": float, "mean_production_time": float, "knowledge_stock": float,
        "shares": int, "hides": int, "sharing_rate": float, "mean_sharing_propensity": float,
        "active_creators": int, "value_produced": float,
    },
    "period_encounter": {
        **_PERIOD, "impressions": float, "connections": int, "connection_value": float,
        "paid": float, "creator_income": float, "platform_revenue": float,
        "consumer_surplus": float, "community_joins": int, "communities": int,
        "largest_community": int, "gini_creator_income": float, "value_encountered": float,
    },
    "period_transmission": {
        **_PERIOD, "firms_active": int, "entries": int, "entries_refused": int, "exits": int,
        "derivatives": int, "licenses": int, "license_fees": float, "firm_revenue": float,
        "hhi_firm_revenue": float, "rewards": int, "reward_paid": float, "penalties": int,
        "government_active": int, "government_withdrawals": int,
        "government_reentries": int, "privacy_leaks": int,
        "trust": float, "network_nodes": int, "network_edges": int,
        "value_transmitted": float,
    },
    "centrality": {
        "period": int, "t": float, "node": int, "node_type": str, "alpha": float,
        "degree": int, "strength": float, "generalized_degree": float, "closeness": float,
        "harmonic_closeness": float, "strength_value": float, "closeness_value": float,
        "harmonic_closeness_value": float, "captured_value": float, "captured_period": float,
    },
    "macro": {
        "period": int, "t": float, "D": float, "u": float, "g": float, "Y": float,
        "K": float, "k_tilde": float, "N": float, "data_exported": float,
        "output_growth": float,
    },
    "connection_curve": {
        "c": int, "connections": int, "value_sum": float, "value_per_quality_sum": float,
        "within_item_change_sum": float, "network_term_sum": float,
        "composition_term_sum": float,
    },
    "policy_changes": {"t": float, "lever": str, "old_value": float, "new_value": float},
}

_KEYS: dict[str, str | tuple[str, ...] | None] = {
    "runs": "run_id", "events": "event_id", "event_kinds": "kind", "users": "user_id",
    "items": "item_id", "firms": "firm_id", "period_production": "period",
    "period_encounter": "period", "period_transmission": "period",
    "centrality": ("period", "node_type", "node", "alpha"), "macro": "period",
    "connection_curve": "c", "policy_changes": None,
}

#: Tables written once a period (the run's time series): kept in memory by every recorder.
PERIOD_TABLES = ("period_production", "period_encounter", "period_transmission",
                 "centrality", "macro", "policy_changes")
#: Tables written once, at the end (or at the interruption).
FINAL_TABLES = ("users", "items", "firms", "connection_curve")


def create_schema(db: sqlite_utils.Database) -> None:
    """Create every table of a run database (empty), the event kinds and the views."""
    for name, columns in TABLES.items():
        db[name].create(columns, pk=_KEYS[name])
    db["event_kinds"].insert_all(
        [{"kind": k, "description": d} for k, d in EVENT_KINDS.items()])
    create_views(db)


def create_indexes(db: sqlite_utils.Database) -> None:
    """Indexes the analysis queries need; built once, after the log is written."""
    db["events"].create_index(["kind", "t"], if_not_exists=True)
    db["events"].create_index(["kind", "item_id"], if_not_exists=True)
    db["items"].create_index(["owner_type", "owner_id"], if_not_exists=True)
