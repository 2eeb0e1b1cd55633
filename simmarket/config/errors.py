"""Configuration errors, worded for the person who wrote the file."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError


class ConfigError(ValueError):
    """An invalid scenario or run setting: the message names the field, the value and what
    was expected."""


def describe(exc: ValidationError, prefix: str = "", known: Iterable[str] = ()) -> str:
    """One line for a pydantic error: ``field = value: expected ...`` per problem."""
    return "invalid config: " + "; ".join(
        _problem(err, prefix, list(known)) for err in exc.errors())


def _problem(err: dict[str, Any], prefix: str, known: list[str]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if prefix:
        loc = f"{prefix}.{loc}" if loc else prefix
    if not loc:  # a rule across fields: its message says which
        return expected(err)
    if err["type"] == "extra_forbid" or err["type"] == "extra_forbidden":
        return f"{loc}: an unknown key{did_you_mean(loc, known)}"
    return f"{loc} = {err.get('input')!r}: expected {expected(err)}"


def did_you_mean(key: str, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known key, or a pointer to the docs."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return " (check the spelling against docs/ODD.md)"


def expected(err: dict[str, Any]) -> str:
    """What pydantic expected, without its boilerplate."""
    msg = err["msg"]
    for head in ("Input should be ", "Value error, "):
        if msg.startswith(head):
            return msg[len(head):]
    return msg[0].lower() + msg[1:]
