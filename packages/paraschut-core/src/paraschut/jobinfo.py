"""The JobInfo dict users handle, its validation, and what changed since it was read."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import InvalidJobError

__all__ = [
    "COLUMN_FIELDS", "JobInfo", "changed_fields", "check_fields", "check_value", "merge_row", "normalise",
    "valid_text", "validate_job",
]

#: Fields stored in queryable columns (the rest go to the JSON metadata column).
COLUMN_FIELDS = (
    "BatchID",
    "JobIndex",
    "state",
    "priority",
    "name",
    "data_type",
    "executor",
    "ClusterID",
    "submit_time",
    "hostname",
    "updated",
    "exit_code",
)
_MISSING = object()
_N_COLUMNS = len(COLUMN_FIELDS)


class JobInfo(dict):  # type: ignore[type-arg]
    """A job's metadata, as ``get_job_info`` returns it.

    It remembers what it held when it was read, so ``update_job`` writes only the fields this
    process changed and can tell when another process changed the same ones meanwhile. The
    remembered copy is kept as JSON text and parsed only when needed (reading 100,000 jobs must
    not pay for 100,000 deep copies).
    """

    __slots__ = ("_origin_src",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._origin_src: tuple[Any, ...] | str | None = None

    def mark_read(self, source: tuple[Any, ...] | str | None = None) -> None:
        """Remember what was read: the index row it came from (default: the content now, as JSON)."""
        self._origin_src = source if source is not None else json.dumps(self)

    @property
    def origin(self) -> dict[str, Any] | None:
        """The content as read from the index (None for a dict built by hand), parsed afresh."""
        if self._origin_src is None:
            return None
        if isinstance(self._origin_src, str):
            return dict(json.loads(self._origin_src))
        return merge_row(self._origin_src)


def merge_row(row: Sequence[Any]) -> dict[str, Any]:
    """A job from its index row: the COLUMN_FIELDS values, then the JSON metadata text.

    The metadata holds exact values the columns cannot (lists, bools) and wins; a None in it only
    says the field exists, so a value written to the column later wins over it.
    """
    out = json.loads(row[_N_COLUMNS])
    for field, value in zip(COLUMN_FIELDS, row, strict=False):
        if value is not None and out.get(field) is None:
            out[field] = value
    if "ClusterID" not in out:
        out["ClusterID"] = None
    return out  # type: ignore[no-any-return]


def changed_fields(info: Mapping[str, Any], origin: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Fields set or changed in ``info`` since ``origin``, and fields removed."""
    changed = {k: v for k, v in info.items() if origin.get(k, _MISSING) != v or k not in origin}
    removed = set(origin) - set(info)
    return changed, removed


def valid_text(text: str) -> bool:
    """True when ``text`` is valid Unicode SQLite can store (no lone surrogate); cheap for ASCII."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_text(text: str, path: str) -> InvalidJobError:
    shown = repr(text) if len(text) < 60 else repr(text[:57]) + "..."
    return InvalidJobError(f"text {shown} is not valid Unicode (it holds a lone surrogate)", path)


def check_value(value: Any, path: str) -> Any:
    """Return ``value`` as JSON-storable data (tuples become lists) or raise naming ``path``."""
    if isinstance(value, str):
        if not valid_text(value):
            raise _bad_text(value, path)
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise InvalidJobError(f"{value} is outside the 64-bit integer range the index can store", path)
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidJobError(f"{value!r} cannot be stored (not a finite number)", path)
        return value
    if isinstance(value, (list, tuple)):
        return [check_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidJobError(f"dict key {k!r} is not a string; only string keys can be stored", path)
            if not valid_text(k):
                raise _bad_text(k, path)
            out[k] = check_value(v, f"{path}.{k}")
        return out
    raise InvalidJobError(
        f"a {type(value).__name__} cannot be stored in the job index (use numbers, strings, "
        f"booleans, None, lists and dicts; save other data to a file with generate_data)",
        path,
    )


def check_fields(job: Mapping[str, Any]) -> None:
    """Check the types of the well-known fields ``job`` holds (a whole job, or only changes)."""
    if "BatchID" in job or "JobIndex" in job:
        _check_ids(job)
    _check_types(job)


def _check_ids(job: Mapping[str, Any]) -> None:
    batch = job.get("BatchID")
    if not isinstance(batch, int) or isinstance(batch, bool) or not -(2**63) <= batch < 2**63:
        raise InvalidJobError(f"must be a whole number (64-bit), not {batch!r}", "BatchID")
    index = job.get("JobIndex")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 2**63:
        raise InvalidJobError(f"must be a whole number >= 0 (64-bit), not {index!r}", "JobIndex")


def _check_types(job: Mapping[str, Any], nul: bool = True) -> None:
    priority = job.get("priority", 1)
    if not isinstance(priority, (int, float)) or isinstance(priority, bool) or not math.isfinite(priority):
        raise InvalidJobError(f"must be a number, not {priority!r}", "priority")
    state = job.get("state", "init")
    if not isinstance(state, str) or not state or len(state) > 64:
        raise InvalidJobError(f"must be a non-empty string, not {state!r}", "state")
    name = job.get("name")
    if name is not None and not isinstance(name, (str, list, tuple)):
        raise InvalidJobError(f"must be a string or a list of strings, not {name!r}", "name")
    env = job.get("vars")
    if env is not None:
        if not isinstance(env, dict):
            raise InvalidJobError(f"must be a dict of variable names to values, not {env!r}", "vars")
        for key in env:
            if not isinstance(key, str) or not key.isidentifier() or not key.isascii():
                raise InvalidJobError(f"{key!r} is not a valid environment variable name", "vars")
    resources = job.get("resources")
    if resources is not None and not isinstance(resources, dict):
        raise InvalidJobError(f"must be a dict, not {resources!r}", "resources")
    if nul:
        _check_nul(job)


def _check_nul(job: Mapping[str, Any]) -> None:
    for field in _TO_SCHEDULER:
        if field in job and _holds_nul(job[field]):
            raise InvalidJobError("contains a NUL character, which no scheduler or command line can carry", field)


#: Fields that reach a scheduler's command line, a job's environment or a file name.
_TO_SCHEDULER = ("name", "script", "workdir", "queue", "vars", "resources", "executor")
_TO_SCHEDULER_SET = frozenset(_TO_SCHEDULER)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False


def _exact(value: Any, carried: bool = False) -> bool:
    """True when ``value`` is JSON data that round-trips exactly (no tuples, str keys, int64, finite);
    ``carried``: and no NUL in any string, for the fields a scheduler carries (one walk for both)."""
    kind = type(value)
    if kind is str:
        return valid_text(value) and not (carried and "\x00" in value)
    if value is None or kind is bool:
        return True
    if kind is int:
        return -(2**63) <= value < 2**63
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_exact(v, carried) for v in value)
    if kind is dict:
        return all(
            type(k) is str and valid_text(k) and not (carried and "\x00" in k) and _exact(v, carried)
            for k, v in value.items()
        )
    return False


def normalise(job: Mapping[str, Any]) -> dict[str, Any]:
    """Return the job's fields as JSON-storable data, or raise naming the first bad field."""
    out: dict[str, Any] = {}
    for key, value in job.items():
        if not isinstance(key, str):
            raise InvalidJobError(f"field names must be strings, not {key!r}")
        if not valid_text(key):
            raise _bad_text(key, "field names")
        out[key] = value if value is None else check_value(value, key)
    return out


def validate_job(job: Mapping[str, Any], copy: bool = True) -> dict[str, Any]:
    """Validate a whole job before it is written; returns the normalised fields (``copy=False``:
    the caller's own dict when nothing needed converting)."""
    _check_ids(job)
    _check_types(job, nul=False)  # NULs: checked by the walk below, and named by _check_nul if found
    # fast path: plain JSON data is stored as it is; anything else is converted or refused by name
    exact = True
    for key, value in job.items():
        if type(key) is not str or not key.isascii() and not valid_text(key) or value is not None and (
            not _exact(value, True) if key in _TO_SCHEDULER_SET else
            not value.isascii() and not valid_text(value) if type(value) is str else not _exact(value)
        ):
            exact = False
            break
    if not exact:
        _check_nul(job)
        out = normalise(job)
        json.dumps(out, allow_nan=False)  # normalise converted everything; prove it encodes
    elif not copy and isinstance(job, dict):
        out = job
    else:
        out = dict(job)
    out.setdefault("state", "init")
    out.setdefault("priority", 1)
    script = out.get("script")
    if isinstance(script, str) and script and not os.path.isabs(script) and os.path.exists(script):
        out["script"] = os.path.abspath(script)
    return out
