"""Issue 10: the config loader under fuzzing (hypothesis).

Every generated scenario file — known keys with plausible or hostile values, unknown keys,
wrong types, NaN and infinities, huge and negative numbers, strings, nested tables — is
either valid and runs (a tiny horizon, a handful of users) or is refused with exit 2 and one
line naming the field: no traceback, no coercion (``"5"`` is never a number, ``"off"`` never
a boolean) and no file left behind. The command line runs in-process for speed; an example
goes through a real process (two under ``-m slow``). ``pytest -m slow`` runs a bigger profile.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simmarket.cli import main
from simmarket.config import config_from_dict, known_keys

#: What every generated run is held to, so that it takes well under a second.
TINY = {"horizon_days": 0.1, "users.n": 8}


def _flat(data: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


DEFAULTS = _flat(config_from_dict({}).resolved())
KEYS = sorted(k for k in known_keys() if k in DEFAULTS and k not in TINY)


# -- TOML out of Python data (inline tables and arrays; every TOML type the loader may meet)
def toml_string(text: str) -> str:
    body = "".join("\\" + c if c in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 32 or ord(c) == 127
                   else c for c in text)
    return f'"{body}"'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(x)}"
                               for k, x in v.items() if x is not None) + "}"
    raise TypeError(type(v))


def toml_document(data: dict[str, Any]) -> str:
    """TOML has no null: a None (a field's "use the default") is left out, as a user would."""
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items()
                   if v is not None)


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys into nested tables (a key that is both a value and a table keeps the
    table: the value would be a TOML error, not a config one)."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, last = dotted.split(".")
        node = out
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        if not isinstance(node.get(last), dict):
            node[last] = value
    return out


# -- strategies ---------------------------------------------------------------------------------
names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8)
scalars = st.one_of(
    st.integers(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=12),
    st.sampled_from(["5", "off", "true", "inf", "nan", "1e400", "", "{name"]))
hostile = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=3)), max_leaves=6)


def plausible(key: str) -> st.SearchStrategy:
    """A value near the default's, of the default's type (most of these are valid)."""
    default = DEFAULTS[key]
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.integers(min_value=0, max_value=max(2 * default, 3))
    if isinstance(default, float):
        return st.floats(min_value=0.0, max_value=max(2 * default, 1.0))
    if isinstance(default, list):
        return st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=4)
    return st.just(default)


@st.composite
def configs(draw) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=6, unique=True)):
        flat[key] = draw(st.one_of(plausible(key), plausible(key), hostile))
    if draw(st.booleans()) and draw(st.booleans()):  # an unknown key, top level or nested
        section = draw(st.sampled_from(["", "users.", "encounter.", "firms.", "nosuch."]))
        flat[section + draw(names)] = draw(hostile)
    return nest(flat)


# -- the property -------------------------------------------------------------------------------
def _leaves(data: dict, prefix: str = "") -> dict[str, Any]:
    return _flat(data, prefix)


def _paths(data: dict, prefix: str = "") -> set[str]:
    """Every dotted path of the data, tables included."""
    out = set()
    for k, v in data.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _paths(v, f"{prefix}{k}.")
    return out


def check_one(data: dict[str, Any], run) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "fuzz.toml"
        config.write_text(toml_document(data))
        db = folder / "fuzz.db"
        argv = ["run", str(config), "--out", str(db), "--json",
                *(a for k, v in TINY.items() for a in ("--set", f"{k}={v}"))]
        code, out, err = run(argv)
        assert "Traceback" not in err and "internal error" not in err, err
        if code == 0:
            result = json.loads(out)
            assert result["status"] == "completed"
            with sqlite3.connect(db) as conn:
                stored = _flat(json.loads(conn.execute("SELECT config FROM runs").fetchone()[0]))
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.close()
            for key, value in _leaves(data).items():  # nothing was coerced
                if key in TINY or key not in stored:
                    continue
                got = stored[key]
                if isinstance(value, bool) or isinstance(value, str):
                    assert type(got) is type(value) and got == value, (key, value, got)
                elif isinstance(value, int | float):
                    assert not isinstance(got, bool | str) and got == value, (key, value, got)
            return
        assert code == 2, (code, err)
        lines = [ln for ln in err.strip().splitlines() if not ln.startswith("warning:")]
        assert len(lines) == 1 and lines[0].startswith("error:"), err
        assert any(k in lines[0] for k in _paths(data) | set(TINY)), (lines[0], data)
        assert sorted(p.name for p in folder.iterdir()) == ["fuzz.toml"]  # nothing left


def in_process(capsys):
    def run(argv):
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


FUZZ = settings(max_examples=100, deadline=None, derandomize=True, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(data=configs())
def test_every_generated_config_runs_or_is_refused_in_one_line(capsys, data):
    check_one(data, in_process(capsys))


@pytest.mark.slow
@settings(FUZZ, max_examples=1500, derandomize=False)
@given(data=configs())
def test_every_generated_config_runs_or_is_refused_in_one_line_many(capsys, data):
    check_one(data, in_process(capsys))


@pytest.mark.parametrize("data", [
    {"users": {"n": "5"}, "nosuch": {"deep": {"er": [1, "x", {"a": float("nan")}]}}},
    pytest.param({"users": {"topics": 3}, "encounter": {"threshold": 5.5},
                  "government": {"enabled": False}}, marks=pytest.mark.slow),
], ids=["coercion and an unknown nested table", "valid"])
def test_a_real_process_gives_the_same_answers(data):
    def run(argv):
        proc = subprocess.run([sys.executable, "-m", "simmarket.cli", *argv],
                              capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout, proc.stderr
    check_one(data, run)
