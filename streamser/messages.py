"""Validation errors in streamser's own words (pydantic's phrasing stays inside)."""
from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

_PREFIXES = ("Value error, ", "Assertion failed, ")
_REWRITES = (
    (re.compile(r"^Input should be a valid "), "must be a "),
    (re.compile(r"^Input should be "), "must be "),
    (re.compile(r"^Input is not a valid "), "must be a "),
    (re.compile(r"greater than or equal to"), ">="),
    (re.compile(r"less than or equal to"), "<="),
    (re.compile(r"greater than"), ">"),
    (re.compile(r"less than"), "<"),
    (re.compile(r", unable to parse string as an? \w+$"), ""),
    (re.compile(r"^String should have at least (\d+) characters?"), r"must not be empty"),
    (re.compile(r"^List should have at least (\d+) items? after validation, not \d+"),
     r"needs at least \1 items"),
)


def validation_message(err: Mapping[str, Any], given: Mapping[str, Any] | None = None,
                       known: list[str] | None = None) -> str:
    """One pydantic error (from ``exc.errors()``) as a short phrase: ``must be >= 1 (got
    0)``, ``required``, ``unknown param (known: a, b)``. ``given`` is the mapping that
    was validated (the value is quoted when its key is in it)."""
    kind = err.get("type", "")
    if kind == "missing":
        return "required (it has no default)"
    if kind == "extra_forbidden":
        loc = err.get("loc") or ("",)
        close = difflib.get_close_matches(str(loc[0]), known or [], n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return "unknown param" + (f" ({hint}known: {', '.join(known)})" if known else "")
    msg = str(err.get("msg", ""))
    for prefix in _PREFIXES:
        msg = msg.removeprefix(prefix)
    for pattern, repl in _REWRITES:
        msg = pattern.sub(repl, msg)
    if kind == "literal_error":
        msg = msg.replace(" or ", ", ").replace("must be ", "must be one of ", 1)
    loc = err.get("loc") or ()
    key = str(loc[0]) if loc else ""
    if given is not None and key in given and "got " not in msg \
            and str(err.get("input")) not in msg:
        msg += f" (got {err.get('input')!r})"
    return msg
