"""A datasette plugin that ``simmarket browse`` loads with ``--plugins-dir`` (not imported by
simmarket itself; datasette is an optional extra).

It changes only how cells are *shown* in datasette's HTML pages — the JSON and CSV exports,
and the views themselves (SQL contracts documented in ``docs/schema.md``), stay exact:

* floats are shown to 6 significant digits, the exact value in the cell's tooltip;
* an id is a link to its row: ``actor_id``, ``counterpart_id`` and ``owner_id`` to the
  ``users``, ``firms`` or ``items`` row their ``*_type`` column names, ``user_id``,
  ``item_id`` and ``firm_id`` to their table. The schema declares no foreign keys (the
  target of ``actor_id`` depends on ``actor_type``), so datasette cannot link them itself.
"""

from __future__ import annotations

from typing import Any

from datasette import hookimpl
from markupsafe import Markup, escape

#: significant digits of a float shown in an HTML table
SIGNIFICANT = 6
#: entity type (``actor_type`` etc.) -> the table that has one row per entity
TYPE_TABLES = {"user": "users", "firm": "firms", "item": "items"}
#: id column -> the column that says which kind of entity it is
TYPED_IDS = {"actor_id": "actor_type", "counterpart_id": "counterpart_type",
             "owner_id": "owner_type"}
#: id column -> the table it always refers to
PLAIN_IDS = {"user_id": "users", "item_id": "items", "firm_id": "firms"}


def link_target(row: Any, column: str, table: str | None) -> str | None:
    """The table an id cell refers to, or None if it is not an id (or is the row's own)."""
    if column in TYPED_IDS:
        target = TYPE_TABLES.get(_field(row, TYPED_IDS[column]))
    else:
        target = PLAIN_IDS.get(column)
    return None if target == table else target


def _field(row: Any, name: str) -> Any:
    try:
        return row[name]
    except (IndexError, KeyError, TypeError):
        return None  # the column is not in this result


@hookimpl
def render_cell(row, value, column, table, database, datasette):  # noqa: ANN001
    """Round floats for display; link ids to the row they name."""
    if isinstance(value, float):
        return Markup(f'<span title="{value!r}">{value:.{SIGNIFICANT}g}</span>')
    if isinstance(value, int) and not isinstance(value, bool):
        target = link_target(row, column, table)
        if target is not None:
            url = f"{datasette.urls.table(database, target)}/{value}"
            return Markup(f'<a href="{escape(url)}">{value}</a>')
    return None
