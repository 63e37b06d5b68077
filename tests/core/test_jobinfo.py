"""Job metadata: JSON round trips of any user field, and unstorable values refused by name."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import paraschut as psu
from paraschut.jobinfo import COLUMN_FIELDS, JobInfo, changed_fields, check_value, normalise, validate_job

from ._fakes import dump, job

RESERVED = {
    *COLUMN_FIELDS,
    "updated",
    "SpawnID",
    "SpawnCount",
    "vars",
    "resources",
    "script",
    "queue",
    "data",
    "workdir",
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)
user_fields = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda k: k not in RESERVED), json_values, max_size=6
)
_batch = itertools.count(1)


def exact(value: Any) -> str:
    """A spelling that tells 1 from 1.0 from True, and keeps key order."""
    return json.dumps(value, allow_nan=False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=user_fields)
def test_user_fields_round_trip_exactly(env, fields: dict) -> None:
    batch = next(_batch)
    psu.add_batch_to_queue(batch, [job(0, **fields)])
    got = psu.get_job_info(batch, 0)
    for key, value in fields.items():
        assert exact(got[key]) == exact(value), key
    assert got["state"] == "init" and got["priority"] == 1


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=user_fields, second=user_fields)
def test_user_fields_round_trip_through_update_job(env, first: dict, second: dict) -> None:
    batch = next(_batch)
    psu.add_batch_to_queue(batch, [job(0, **first)])
    info = psu.get_job_info(batch, 0)
    for key in first:
        if key not in second:
            del info[key]
    info.update(second)
    psu.update_job(info)
    got = psu.get_job_info(batch, 0)
    assert {k: exact(got[k]) for k in second} == {k: exact(v) for k, v in second.items()}
    assert not (set(first) - set(second)) & set(got)


@pytest.mark.parametrize(
    ("field", "value"),
    [("data_type", 7), ("data_type", 2.5), ("hostname", 12), ("submit_time", 3), ("priority", 2.0), ("ClusterID", 123)],
)
def test_scalar_values_of_column_fields_keep_their_type(env, field: str, value: Any) -> None:
    psu.add_batch_to_queue(1, [job(0, **{field: value})])
    assert exact(psu.get_job_info(1, 0)[field]) == exact(value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("data_type", True), ("exit_code", 1.5), ("priority", 2.5), ("name", "x"), ("data_type", [1, {"a": None}])],
)
def test_column_fields_that_keep_their_type(env, field: str, value: Any) -> None:
    psu.add_batch_to_queue(1, [job(0, **{field: value})])
    assert exact(psu.get_job_info(1, 0)[field]) == exact(value)


def test_a_column_field_set_to_none_comes_back_as_none(env) -> None:
    psu.add_batch_to_queue(1, [job(0, data_type=None)])
    assert psu.get_job_info(1, 0)["data_type"] is None


def test_tuples_are_stored_as_lists(env) -> None:
    psu.add_batch_to_queue(1, [job(0, pair=(1, (2, "x")), name=("a", "b"))])
    got = psu.get_job_info(1, 0)
    assert got["pair"] == [1, [2, "x"]]
    assert got["name"] == ["a", "b"]


class Opaque:
    pass


UNSTORABLE = [
    ("tags", {"a", "b"}, "tags"),
    ("blob", b"\x00\x01", "blob"),
    ("thing", Opaque(), "thing"),
    ("ratio", math.nan, "ratio"),
    ("ratio", math.inf, "ratio"),
    ("ratio", -math.inf, "ratio"),
    ("table", {1: "one"}, "table"),
    ("table", {("a",): 1}, "table"),
    ("nested", {"a": [1, {"b": {2, 3}}]}, "nested.a[1].b"),
    ("nested", {"a": {"b": float("nan")}}, "nested.a.b"),
    ("nested", [1, 2, b"x"], "nested[2]"),
    ("nested", {"ok": {None: 1}}, "nested.ok"),
    ("fn", len, "fn"),
    ("cplx", 1j, "cplx"),
    ("gen", range(3), "gen"),
    ("vars", {"A": {1, 2}}, "vars.A"),
    ("big", {"n": [-(2**63) - 1]}, "big.n[0]"),
    ("big", [2**63], "big[0]"),
]


@pytest.mark.parametrize(("field", "value", "path"), UNSTORABLE, ids=lambda v: repr(v)[:30])
def test_unstorable_values_are_refused_by_name_and_write_nothing(env, field: str, value: Any, path: str) -> None:
    psu.add_batch_to_queue(9, [job(0)])
    before = dump(env.db)
    jobs = [job(0), job(1, **{field: value}), job(2)]
    with pytest.raises(psu.InvalidJobError) as add_error:
        psu.add_batch_to_queue(1, jobs)
    assert add_error.value.field == path
    assert repr(path) in str(add_error.value)
    with pytest.raises(psu.InvalidJobError) as one_error:
        psu.add_job_to_queue({**job(0), "BatchID": 2, field: value})
    assert one_error.value.field == path
    info = psu.get_job_info(9, 0)
    info[field] = value
    with pytest.raises(psu.InvalidJobError) as update_error:
        psu.update_job(info)
    assert update_error.value.field == path
    with pytest.raises(psu.InvalidJobError):
        with psu.locked_job(9, 0) as locked:
            locked[field] = value
    with pytest.raises(psu.InvalidJobError):
        psu.set_job_field(9, 0, Field=field, Value=value)
    assert dump(env.db) == before
    assert not (env.job_dir / "1").exists() and not (env.job_dir / "2").exists()


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"BatchID": "1"}, "BatchID"),
        ({"BatchID": True}, "BatchID"),
        ({"BatchID": 1.5}, "BatchID"),
        ({"JobIndex": -1}, "JobIndex"),
        ({"JobIndex": "0"}, "JobIndex"),
        ({"priority": "high"}, "priority"),
        ({"priority": math.nan}, "priority"),
        ({"priority": None}, "priority"),
        ({"state": ""}, "state"),
        ({"state": 3}, "state"),
        ({"state": "x" * 65}, "state"),
        ({"name": 3}, "name"),
        ({"vars": ["A"]}, "vars"),
        ({"vars": {"1A": "x"}}, "vars"),
        ({"vars": {"A B": "x"}}, "vars"),
        ({"vars": {"É": "x"}}, "vars"),
        ({"resources": "4gb"}, "resources"),
    ],
)
def test_validate_job_names_the_bad_field(fields: dict, name: str) -> None:
    with pytest.raises(psu.InvalidJobError) as error:
        validate_job({"BatchID": 1, "JobIndex": 0, **fields})
    assert error.value.field == name


@pytest.mark.parametrize(
    ("field", "value"),
    [("BatchID", 2**63), ("BatchID", -(2**63) - 1), ("priority", 2**64), ("JobIndex", 2**63), ("exit_code", 2**70)],
)
def test_integers_too_big_for_a_column_are_invalid_job_errors(env, field: str, value: int) -> None:
    fields = job(0, **{field: value})
    with pytest.raises(psu.InvalidJobError):
        psu.add_batch_to_queue(fields.pop("BatchID", 1), [fields])


def test_check_value_normalises_and_copies() -> None:
    data = {"a": (1, 2), "b": [{"c": (None,)}]}
    out = check_value(data, "x")
    assert out == {"a": [1, 2], "b": [{"c": [None]}]}
    assert out is not data and out["b"] is not data["b"]


def test_normalise_refuses_non_string_field_names() -> None:
    with pytest.raises(psu.InvalidJobError):
        normalise({1: "x"})


def test_validate_job_defaults_state_and_priority() -> None:
    out = validate_job({"BatchID": 1, "JobIndex": 0})
    assert out["state"] == "init" and out["priority"] == 1


def test_validate_job_makes_an_existing_relative_script_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "go.sh").write_text("#!/bin/sh\n")
    assert validate_job({"BatchID": 1, "JobIndex": 0, "script": "go.sh"})["script"] == str(tmp_path / "go.sh")
    assert validate_job({"BatchID": 1, "JobIndex": 0, "script": "absent.sh"})["script"] == "absent.sh"


def test_changed_fields_sees_sets_changes_and_removals() -> None:
    origin = {"a": 1, "b": [1], "c": None}
    changed, removed = changed_fields({"a": 1, "b": [1, 2], "d": None}, origin)
    assert changed == {"b": [1, 2], "d": None}
    assert removed == {"c"}


def test_jobinfo_remembers_a_deep_copy_of_what_was_read() -> None:
    info = JobInfo({"a": {"b": [1]}})
    info.mark_read()
    info["a"]["b"].append(2)
    assert info.origin == {"a": {"b": [1]}}
    assert JobInfo().origin is None
