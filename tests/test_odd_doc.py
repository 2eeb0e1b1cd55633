"""docs/ODD.md keeps up with the code: every config key and every event kind is documented.

The ODD document (Grimm et al. 2020) describes the model as built. A new config field or event
kind without a line in the document fails here, and so does a documented key that the config
no longer has, so the document cannot silently drift from the code.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from simmarket.config import LEVERS, RunSettings, Scenario, config_from_dict
from simmarket.store.schema import EVENT_KINDS

ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """Pydantic models inside an annotation (the type itself, list[...], X | None, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def config_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every leaf field as its TOML key: ``seed``, ``users.n``, ``policy.schedule.day``.

    A section (a field whose type is a model) is walked, not listed; a list of models (the
    ``[[policy.schedule]]`` array of tables) is listed and its entries' fields walked.
    """
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            yield key
        for sub in _models_in(annotation):
            yield from config_keys(sub, key + ".")


KEYS = sorted(set(config_keys(RunSettings)) | set(config_keys(Scenario)))


@pytest.fixture(scope="module")
def odd_text() -> str:
    assert ODD.is_file(), f"{ODD} is missing"
    return ODD.read_text(encoding="utf-8")


def test_walk_finds_the_sections_and_the_schedule():
    assert {"seed", "mode", "ip_protection", "users.n", "economy.period_days",
            "network.alphas", "policy.schedule", "policy.schedule.lever",
            "output.batch_size"} <= set(KEYS)
    assert "users" not in KEYS and "policy" not in KEYS  # sections are not leaves


@pytest.mark.parametrize("key", KEYS)
def test_every_config_field_is_documented(odd_text, key):
    """Each key has its own row in a parameter table: | `key` | symbol | default | unit | ..."""
    row = re.compile(rf"^\|\s*`{re.escape(key)}`\s*\|", re.MULTILINE)
    assert row.search(odd_text), (
        f"config key {key} has no row in a parameter table of docs/ODD.md "
        "(| `key` | symbol | default | unit | meaning |)")


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_every_event_kind_is_documented(odd_text, kind):
    assert f"`{kind}`" in odd_text, f"event kind {kind} is not described in docs/ODD.md"


@pytest.mark.parametrize("lever", LEVERS)
def test_every_schedulable_lever_is_documented(odd_text, lever):
    assert f"`{lever}`" in odd_text


def test_no_documented_key_is_stale(odd_text):
    """A parameter-table row (first cell a backticked `section.key`) names a real field.

    Catches a renamed or removed field whose row was left behind. Only first cells are
    checked: output columns such as `users.community_size` (table.column) may share a name
    with a config section.
    """
    sections = "|".join(sorted({k.split(".", 1)[0] for k in KEYS if "." in k}))
    row = re.compile(rf"^\|\s*`((?:{sections})\.[a-z_]+(?:\.[a-z_]+)?)`\s*\|", re.MULTILINE)
    documented = set(row.findall(odd_text))
    assert documented, "no parameter tables found in docs/ODD.md"
    stale = sorted(documented - set(KEYS))
    assert not stale, f"docs/ODD.md documents config keys the code no longer has: {stale}"


def _default(key: str) -> object:
    """The default of a config key, from the code (a fresh Config)."""
    obj: object = config_from_dict({}).resolved()
    for part in key.split("."):
        obj = obj[part]  # type: ignore[index]
    return obj


def _documented_defaults(text: str) -> dict[str, str]:
    """`key` -> the default cell of its parameter-table row (| `key` | symbol | default |)."""
    rows = re.findall(r"^\| `([a-z_.]+)` \| [^|]* \| ([^|]+) \|", text, flags=re.MULTILINE)
    return {key: cell.strip() for key, cell in rows}


def _as_number(cell: str) -> float | None:
    cell = cell.strip("` ").replace(",", "")
    try:
        return float(cell)
    except ValueError:
        return None


def test_documented_defaults_match_the_code(odd_text):
    """A default changed in config.py must change in the ODD's parameter tables too."""
    wrong = []
    for key, cell in _documented_defaults(odd_text).items():
        if key not in KEYS or key.startswith("policy.schedule"):
            continue
        value = _default(key)
        if isinstance(value, bool):
            ok = cell.strip("` ").lower() == str(value).lower()
        elif isinstance(value, int | float):
            number = _as_number(cell)
            ok = number is None or abs(number - float(value)) <= 1e-9 * max(1.0, abs(value))
        elif isinstance(value, str):
            ok = value in cell
        else:
            continue
        if not ok:
            wrong.append(f"{key}: ODD says {cell!r}, code says {value!r}")
    assert not wrong, "\n".join(wrong)
