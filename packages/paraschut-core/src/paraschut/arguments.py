"""Checking the arguments of the documented API: a wrong one is an InvalidArgumentError naming it."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidArgumentError

__all__ = ["INT64", "callable_", "count", "mapping", "seconds", "state_names", "text", "whole_number"]

#: The range of integers the index (SQLite) can store.
INT64 = (-(2**63), 2**63 - 1)
_DIGITS = re.compile(r"[+-]?[0-9]+")


def whole_number(value: Any, name: str, minimum: int = INT64[0], maximum: int = INT64[1]) -> int:
    """``value`` as an int: an int, a float with no fraction, or a string of ASCII digits (the original
    API took ids from ``sys.argv``); never a bool."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = int(value)
    elif isinstance(value, float):
        number = int(value) if math.isfinite(value) and value.is_integer() else None
    elif isinstance(value, str):
        number = int(value.strip()) if _DIGITS.fullmatch(value.strip()) and len(value) < 40 else None
    elif hasattr(type(value), "__index__"):  # numpy integers
        number = operator.index(value)
    if number is None:
        raise InvalidArgumentError(name, f"must be a whole number, not {_show(value)}")
    if not minimum <= number <= maximum:
        raise InvalidArgumentError(name, f"{number} is outside {minimum}..{maximum}")
    return number


def count(value: Any, name: str) -> int | None:
    """None (no limit) or a whole number >= 0."""
    return None if value is None else whole_number(value, name, minimum=0)


def seconds(value: Any, name: str) -> float:
    """A finite number of seconds >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(name, f"must be a number of seconds, not {_show(value)}")
    if not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(name, f"must be a finite number of seconds >= 0, not {value!r}")
    return float(value)


def text(value: Any, name: str) -> str:
    """A string SQLite and the operating system can take: valid Unicode without NUL."""
    if not isinstance(value, str):
        raise InvalidArgumentError(name, f"must be a string, not {_show(value)}")
    if "\x00" in value:
        raise InvalidArgumentError(name, f"{_show(value)} contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgumentError(name, f"{_show(value)} is not valid Unicode (a lone surrogate)") from None
    return value


def state_names(value: Any, name: str) -> list[str]:
    """Job states: one state as a string, or any collection of them (None or empty: none)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [text(value, name)]
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, Iterable) or isinstance(value, Mapping) and value:
        raise InvalidArgumentError(name, f"must be a state or a collection of states, not {_show(value)}")
    out = []
    for item in value:
        out.append(text(item, name))
    return sorted(set(out))


def mapping(value: Any, name: str) -> Mapping[str, Any]:
    """A job's dict (a JobInfo or any mapping)."""
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(name, f"must be a job's dict (a JobInfo), not {_show(value)}")
    return value


def callable_(value: Any, name: str) -> Any:
    """A function."""
    if not callable(value):
        raise InvalidArgumentError(name, f"must be a function, not {_show(value)}")
    return value


def _show(value: Any) -> str:
    """A short description of a wrong value for a message."""
    text_ = repr(value) if isinstance(value, (int, float, str, bytes, type(None))) else type(value).__name__
    return text_ if len(text_) <= 60 else text_[:57] + "..."
