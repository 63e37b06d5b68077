"""Fuzzing the public API: any wrong input is a ParaschutError naming what was wrong, with nothing written.

Every function of ``paraschut.__all__`` a user calls is given wrong types, out-of-range and huge
numbers, NaN and infinities, nested and unhashable values, NUL bytes, lone surrogates, bad
regular expressions and ids that do not exist. The properties:

- it either works or raises a ``ParaschutError`` (never a bare TypeError, KeyError, sqlite3 or
  re error from deep inside), whose message names the argument or field;
- when it raises, every table of the index and every file under the test's folder is exactly as
  before (no partial write);
- what the README documents still works (the valid-input tests at the end).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import paraschut as psu
from paraschut import arguments
from paraschut.session import get_session
from paraschut.spawning import MAX_SPAWNS

try:  # a package when tests/reliability has an __init__.py, plain modules when not
    from ._fuzz_helpers import FUZZ, Index, add_sample_batches, hashable, hostile_values, index, job, odd_text
except ImportError:
    from _fuzz_helpers import FUZZ, Index, add_sample_batches, hashable, hostile_values, index, job, odd_text

__all__ = ["index"]  # the fixture, re-exported for pytest

#: What an integer id argument may be given as: the original API took strings from sys.argv.
ids = st.one_of(
    hostile_values,
    st.integers(min_value=-3, max_value=5),
    st.integers(min_value=-3, max_value=5).map(str),
    st.sampled_from(["1", " 1", "1.0", "0x1", "", "1e3", "٣", "１", "9" * 40]),
)


def clean(index: Index, call: Callable[[], Any], *names: str) -> Any:
    """Run ``call``: it works, or raises a ParaschutError naming one of ``names`` and writes nothing."""
    before = index.state()
    try:
        return call()
    except psu.ParaschutError as exc:
        assert index.state() == before, f"{type(exc).__name__} after a partial write: {exc}"
        if names:  # a field may be shown by its repr ('\x1f')
            shown = [n for n in names if n in str(exc) or repr(n)[1:-1] in str(exc)]
            assert shown, f"message does not name {names}: {exc}"
        return exc


def refused(index: Index, call: Callable[[], Any], *names: str) -> psu.ParaschutError:
    """Like :func:`clean`, but the call must raise."""
    result = clean(index, call, *names)
    assert isinstance(result, psu.ParaschutError), f"accepted: {result!r}"
    return result


def _storable(value: Any) -> bool:
    """What the README promises can be stored exactly (numbers, strings, booleans, None, lists, dicts)."""
    if value is None or isinstance(value, (bool, str)):
        return not isinstance(value, str) or _valid_text(value)
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_storable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _valid_text(k) and _storable(v) for k, v in value.items())
    return False


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _stored(value: Any) -> Any:
    """The value as the index gives it back (tuples are stored as lists)."""
    return json.loads(json.dumps(value))


# -- preparing and adding jobs ------------------------------------------------------------------
FIELDS = ["BatchID", "JobIndex", "state", "priority", "name", "data_type", "executor", "ClusterID", "script",
          "queue", "resources", "vars", "data", "workdir", "submit_time", "hostname", "exit_code", "custom"]


@FUZZ
@given(field=st.sampled_from(FIELDS), value=hostile_values)
def test_add_batch_to_queue_with_any_field_value(index: Index, field: str, value: Any) -> None:
    index.reset()
    result = clean(index, lambda: psu.add_batch_to_queue(7, [job(0, **{field: value})]), field)
    if isinstance(result, psu.ParaschutError):
        return
    if field == "BatchID":  # add_batch_to_queue sets every job's BatchID to its argument
        return
    if field == "JobIndex":
        assert value is None or (type(value) is int and value >= 0)
        return
    assert _storable(value), f"stored {value!r}"
    assert psu.get_job_info(7, value if field == "JobIndex" else 0)[field] == _stored(value)


@FUZZ
@given(key=st.one_of(odd_text, hostile_values.filter(hashable)))
def test_add_batch_to_queue_with_any_field_name(index: Index, key: Any) -> None:
    index.reset()
    result = clean(index, lambda: psu.add_batch_to_queue(7, [{**job(0), key: 1}]), "field")
    if isinstance(result, psu.ParaschutError):
        return
    assert isinstance(key, str) and _valid_text(key)
    assert psu.get_job_info(7, 0)[key] == 1


@FUZZ
@given(batch=ids, jobs=st.one_of(hostile_values, st.lists(hostile_values, max_size=3)))
def test_add_batch_to_queue_with_any_arguments(index: Index, batch: Any, jobs: Any) -> None:
    index.reset()
    clean(index, lambda: psu.add_batch_to_queue(batch, jobs), "BatchID", "JobIndex", "JobInfoList", "field")


@FUZZ
@given(info=st.one_of(hostile_values, st.dictionaries(st.sampled_from(FIELDS), hostile_values, max_size=4)))
def test_add_job_to_queue_with_anything(index: Index, info: Any) -> None:
    index.reset()
    if isinstance(info, dict):
        info = {**job(None), "BatchID": 3, **info}
    clean(index, lambda: psu.add_job_to_queue(info), "JobInfo", "field", *FIELDS)


@FUZZ
@given(batch=ids, job_index=ids, data=hostile_values)
def test_generate_data_writes_inside_the_batch_folder_or_nothing(
    index: Index, batch: Any, job_index: Any, data: Any
) -> None:
    index.reset()
    info = {"BatchID": batch, "JobIndex": job_index}
    result = clean(index, lambda: psu.generate_data(info, data), "BatchID", "JobIndex", "Data")
    if isinstance(result, psu.ParaschutError):
        return
    path = Path(result)
    assert path.resolve().is_relative_to(index.job_dir.resolve())
    assert json.loads(path.read_text()) == _stored(data)


@pytest.mark.parametrize("batch", ["../..", "../../../tmp", "/tmp", "1/../../x", "..", "1\x00", "~"])
def test_generate_data_and_script_refuse_ids_that_are_paths(index: Index, tmp_path: Path, batch: str) -> None:
    template = tmp_path / "t.sh"
    template.write_text("echo @BatchID\n")
    refused(index, lambda: psu.generate_data({"BatchID": batch, "JobIndex": 0}, [1]), "BatchID")
    refused(index, lambda: psu.generate_script({"BatchID": batch, "JobIndex": 0}, str(template)), "BatchID")
    refused(index, lambda: psu.generate_data({"BatchID": 1, "JobIndex": batch}, [1]), "JobIndex")


@FUZZ
@given(info=st.one_of(hostile_values, st.dictionaries(st.sampled_from(FIELDS), hostile_values, max_size=4)),
       template=st.one_of(st.none(), odd_text, hostile_values))
def test_generate_script_with_anything(index: Index, tmp_path: Path, info: Any, template: Any) -> None:
    index.reset()
    clean(index, lambda: psu.generate_script(info, template), "JobInfo", "Template", "script", "BatchID", "JobIndex")


# -- monitoring ---------------------------------------------------------------------------------
def write_logs() -> None:
    """Submit the sample jobs (file executor) and write the logs their runs would have left."""
    psu.submit_jobs()
    for b, j in ((1, 0), (1, 1), (1, 2)):
        for key in ("stdout", "stderr"):
            entry = get_session().index.query(
                "SELECT * FROM log_history WHERE BatchID=? AND JobIndex=?", (b, j))
            if entry:
                Path(entry[-1][key]).write_text("one\ntwo\nthree\n")

@FUZZ
@given(display=hostile_values, executor=hostile_values, verbose=hostile_values)
def test_get_queue_with_any_arguments(index: Index, display: Any, executor: Any, verbose: Any) -> None:
    index.reset()
    add_sample_batches()
    clean(index, lambda: psu.get_queue(Display=display, Executor=executor, Verbose=bool(verbose)),
          "Display", "Executor", "executor")
    clean(index, lambda: psu.get_queue(Display=display, Verbose=False), "Display")


@FUZZ
@given(batch=ids, job_index=ids)
def test_get_job_info_with_any_ids(index: Index, batch: Any, job_index: Any) -> None:
    index.reset()
    add_sample_batches()
    result = clean(index, lambda: psu.get_job_info(batch, job_index), "BatchID", "JobIndex", "no job")
    if not isinstance(result, psu.ParaschutError):
        assert (result["BatchID"], result["JobIndex"]) in {(1, 0), (1, 1), (1, 2), (2, 0)}


@FUZZ
@given(cluster_id=hostile_values)
def test_get_job_info_set_id_with_any_cluster_id(index: Index, cluster_id: Any) -> None:
    index.reset()
    add_sample_batches()
    result = clean(index, lambda: psu.get_job_info(1, 0, SetID=True, ClusterID=cluster_id), "ClusterID")
    if not isinstance(result, psu.ParaschutError):
        assert result["state"] == "run"


@FUZZ
@given(batch=ids, job_index=ids, key=hostile_values, idx=ids, lines=ids, regex=st.one_of(odd_text, hostile_values))
def test_print_log_with_any_arguments(
    index: Index, batch: Any, job_index: Any, key: Any, idx: Any, lines: Any, regex: Any
) -> None:
    index.reset()
    add_sample_batches()
    write_logs()
    for b, j in ((batch, 0), (1, job_index), (1, 0)):
        clean(index, lambda b=b, j=j: psu.print_log(b, j, "stdout", Verbose=False), "BatchID", "JobIndex", "job")
    clean(index, lambda: psu.print_log(1, 0, key, Verbose=False), "LogKey")
    clean(index, lambda: psu.print_log(1, 0, LogIdx=idx, Verbose=False), "LogIdx", "runs")
    result = clean(index, lambda: psu.print_log(1, 0, Lines=lines, Verbose=False), "Lines")
    if not isinstance(result, psu.ParaschutError):
        assert isinstance(result, str)
    clean(index, lambda: psu.print_log(1, 0, RegEx=regex, Verbose=False), "RegEx")


@pytest.mark.parametrize("regex", ["(", "[a-", "a{2,1}", "(?P<x>a)(?P<x>b)", "\\", "*", "(?<=a+)b"])
def test_print_log_bad_regexes_are_named(index: Index, regex: str) -> None:
    add_sample_batches()
    write_logs()
    err = refused(index, lambda: psu.print_log(1, 0, RegEx=regex, Verbose=False), "RegEx")
    assert regex in str(err)


# -- submitting ---------------------------------------------------------------------------------
@FUZZ
@given(max_jobs=ids, executor=hostile_values)
def test_submit_jobs_with_any_max_jobs_and_executor(index: Index, max_jobs: Any, executor: Any) -> None:
    index.reset()
    add_sample_batches()
    clean(index, lambda: psu.submit_jobs(Executor=executor), "Executor", "executor")
    result = clean(index, lambda: psu.submit_jobs(MaxJobs=max_jobs), "MaxJobs")
    if not isinstance(result, psu.ParaschutError):
        assert isinstance(result, int) and result >= 0


@FUZZ
@given(batch=ids, job_index=ids, max_jobs=ids)
def test_submit_one_batch_and_job_with_any_ids(index: Index, batch: Any, job_index: Any, max_jobs: Any) -> None:
    index.reset()
    add_sample_batches()
    clean(index, lambda: psu.submit_one_batch(batch), "BatchID", "batch")
    clean(index, lambda: psu.submit_one_batch(1, MaxJobs=max_jobs), "MaxJobs")
    clean(index, lambda: psu.submit_one_job(batch, job_index), "BatchID", "JobIndex", "job")


@FUZZ
@given(interval=hostile_values, iterations=hostile_values)
def test_periodic_submitter_with_any_interval(index: Index, interval: Any, iterations: Any) -> None:
    index.reset()
    clean(index, lambda: psu.periodic_submitter(Interval=interval, MaxIterations=1, Verbose=False), "Interval")
    clean(index, lambda: psu.periodic_submitter(Interval=0, MaxIterations=iterations, Verbose=False),
          "MaxIterations")


# -- changing jobs ------------------------------------------------------------------------------
selections = st.one_of(
    ids, st.lists(ids, max_size=3), st.dictionaries(ids.filter(hashable), st.lists(hostile_values, max_size=2))
)


@FUZZ
@given(batch=selections, job_index=selections, unless=st.one_of(hostile_values, odd_text),
       field=st.one_of(st.sampled_from(FIELDS), odd_text, hostile_values), value=hostile_values)
def test_set_batch_and_job_field_with_anything(
    index: Index, batch: Any, job_index: Any, unless: Any, field: Any, value: Any
) -> None:
    index.reset()
    add_sample_batches()
    names = ("BatchID", "JobIndex", "Unless", "Field", "field", "batch", "job")
    clean(index, lambda: psu.set_batch_field(batch, Unless=unless), *names)
    clean(index, lambda: psu.set_job_field(1, job_index, Unless=unless), *names)
    clean(index, lambda: psu.set_job_field(1, [0, 1], Field=field, Value=value), *names, str(field))


def test_unless_given_one_state_as_a_string_means_that_state(index: Index) -> None:
    add_sample_batches()
    psu.set_batch_field(1, Field="state", Value="complete")
    assert psu.set_batch_field(1, Unless="complete") == 0  # not the letters c, o, m, ...
    assert {j["state"] for j in psu.get_queue(Verbose=False)[1]} == {"complete"}


@FUZZ
@given(batch=selections, job_index=selections)
def test_qdel_with_any_selection(index: Index, batch: Any, job_index: Any) -> None:
    index.reset()
    add_sample_batches()
    clean(index, lambda: psu.qdel_batch(batch), "BatchID", "JobIndex", "batch")
    clean(index, lambda: psu.qdel_job(batch, job_index), "BatchID", "JobIndex", "batch")


@FUZZ
@given(batch=selections, state=st.one_of(hostile_values, odd_text, st.lists(hostile_values, max_size=3)))
def test_remove_with_any_selection_or_state(index: Index, batch: Any, state: Any) -> None:
    index.reset()
    add_sample_batches()
    clean(index, lambda: psu.remove_batch(batch), "BatchID", "JobIndex", "batch")
    clean(index, lambda: psu.remove_batch_by_state(state), "state")


# -- inside a job -------------------------------------------------------------------------------
@FUZZ
@given(changes=st.dictionaries(st.one_of(st.sampled_from(FIELDS), odd_text), hostile_values, max_size=3),
       force=hostile_values)
def test_update_job_with_any_changes(index: Index, changes: dict[str, Any], force: Any) -> None:
    index.reset()
    add_sample_batches()
    info = psu.get_job_info(1, 1)
    info.update(changes)
    clean(index, lambda: psu.update_job(info), *changes, "BatchID", "JobIndex", "no job")
    again = psu.get_job_info(1, 1)
    clean(index, lambda: psu.update_job(again, force=force), "force")


@FUZZ
@given(info=hostile_values)
def test_update_job_set_complete_and_get_qstat_with_a_non_job(index: Index, info: Any) -> None:
    index.reset()
    add_sample_batches()
    for call in (psu.update_job, psu.set_complete, psu.get_qstat):
        clean(index, lambda call=call: call(info), "JobInfo", "BatchID", "JobIndex")


@FUZZ
@given(field=st.one_of(st.sampled_from(FIELDS), odd_text), value=hostile_values)
def test_modify_job_and_locked_job_with_any_change(index: Index, field: str, value: Any) -> None:
    index.reset()
    add_sample_batches()
    clean(index, lambda: psu.modify_job(1, 2, lambda j: j.__setitem__(field, value)), field, "BatchID")

    def block() -> None:
        with psu.locked_job(1, 2) as j:
            j[field] = value

    clean(index, block, field, "BatchID")


@FUZZ
@given(batch=ids, job_index=ids, func=hostile_values)
def test_modify_job_with_any_ids_and_function(index: Index, batch: Any, job_index: Any, func: Any) -> None:
    index.reset()
    add_sample_batches()
    clean(index, lambda: psu.modify_job(batch, job_index, lambda j: None), "BatchID", "JobIndex", "job")
    if not callable(func):
        refused(index, lambda: psu.modify_job(1, 0, func), "func")


@FUZZ
@given(count=ids, batch=ids, job_index=ids)
def test_spawn_functions_with_any_arguments(index: Index, count: Any, batch: Any, job_index: Any) -> None:
    index.reset()
    add_sample_batches()
    try:
        if 1 <= arguments.whole_number(count, "N") <= MAX_SPAWNS:
            count = 10**12  # valid counts work (test below); a huge one must be refused, not attempted
    except psu.ParaschutError:
        pass
    refused(index, lambda: psu.spawn_submit(psu.get_job_info(1, 0), count), "N")
    clean(index, lambda: psu.spawn_get_info(batch, job_index), "BatchID", "JobIndex")
    clean(index, lambda: psu.spawn_resubmit(batch, job_index), "BatchID", "JobIndex", "job")
    clean(index, lambda: psu.spawn_complete({"BatchID": batch, "JobIndex": job_index, "SpawnID": 0}),
          "BatchID", "JobIndex", "SpawnID", "spawn")


def test_spawn_complete_with_a_bad_spawn_id(index: Index) -> None:
    add_sample_batches()
    for spawn in ("x", [1], math.nan, 2**80):
        refused(index, lambda spawn=spawn: psu.spawn_complete({"BatchID": 1, "JobIndex": 0, "SpawnID": spawn}),
                "SpawnID")


# -- what is documented keeps working -----------------------------------------------------------
def test_documented_forms_still_work(index: Index, tmp_path: Path) -> None:
    add_sample_batches()
    assert psu.get_job_info("1", "0")["JobIndex"] == 0  # strings from sys.argv, as the original took
    assert psu.set_batch_field(1, Unless={}) == 3
    assert psu.set_job_field(1, [0, 1], Unless=("complete", "collected"), Field="tag", Value=[1, "a"]) == 2
    assert psu.get_job_info(1, 1)["tag"] == [1, "a"]
    assert psu.set_batch_field([1, 2], Unless=None, Field="priority", Value=3) == 4
    assert psu.submit_jobs(MaxJobs=2) == 2
    assert psu.submit_one_batch("1", MaxJobs=None) == 1
    queue = psu.get_queue(Verbose=False, Display=["init", "submit"])
    assert sum(len(v) for v in queue.values()) == 4
    assert psu.qdel_batch(queue) == 3
    template = tmp_path / "t.sh"
    template.write_text("echo @name @BatchID\n")
    info = {**job(5), "BatchID": 9}
    assert Path(psu.generate_script(info, str(template))).read_text().endswith("echo job 9\n")
    assert json.loads(Path(psu.generate_data(info, {"a": (1, 2)})).read_text()) == {"a": [1, 2]}
    assert psu.spawn_submit(psu.get_job_info(1, 2), 3) == 3
    assert sorted(psu.spawn_get_info(1, 2)) == [0, 1, 2]
    assert psu.remove_batch_by_state("spawn") == 1
    assert psu.remove_batch_by_state(["init", "complete"]) == 3
    assert os.listdir(index.job_dir) in ([], ["paraschut-jobs.sh"], ["9"], ["9", "paraschut-jobs.sh"])


#: Inputs that must be refused, each with the name its message must give.
MUST_REFUSE = [
    ("NUL in a name", lambda: psu.add_batch_to_queue(7, [job(0, name="a\x00b")]), "name"),
    ("NUL in a list name", lambda: psu.add_batch_to_queue(7, [job(0, name=["a", "\x00"])]), "name"),
    ("NUL in a script", lambda: psu.add_batch_to_queue(7, [job(0, script="run\x00.sh")]), "script"),
    ("NUL in a variable", lambda: psu.add_batch_to_queue(7, [job(0, vars={"A": "x\x00"})]), "vars"),
    ("lone surrogate in a column", lambda: psu.add_batch_to_queue(7, [job(0, data_type="\ud800")]), "data_type"),
    ("lone surrogate in a state", lambda: psu.add_batch_to_queue(7, [job(0, state="x\udfff")]), "state"),
    ("lone surrogate in a key", lambda: psu.add_batch_to_queue(7, [{**job(0), "\ud800": 1}]), "field"),
    ("NaN priority", lambda: psu.add_batch_to_queue(7, [job(0, priority=math.nan)]), "priority"),
    ("huge BatchID", lambda: psu.add_batch_to_queue(2**63, [job(0)]), "BatchID"),
    ("a string as the job list", lambda: psu.add_batch_to_queue(7, "jobs"), "JobInfoList"),
    ("a job that is a number", lambda: psu.add_batch_to_queue(7, [1]), "JobInfoList"),
    ("a job that is None", lambda: psu.add_job_to_queue(None), "JobInfo"),
    ("a fractional BatchID", lambda: psu.get_job_info(1.5, 0), "BatchID"),
    ("an infinite JobIndex", lambda: psu.get_job_info(1, math.inf), "JobIndex"),
    ("a huge JobIndex", lambda: psu.get_job_info(1, 2**64), "JobIndex"),
    ("a negative JobIndex", lambda: psu.set_job_field(1, -1), "JobIndex"),
    ("a boolean BatchID", lambda: psu.qdel_batch(True), "BatchID"),
    ("a dict ClusterID", lambda: psu.get_job_info(1, 0, SetID=True, ClusterID={}), "ClusterID"),
    ("MaxJobs as text", lambda: psu.submit_jobs(MaxJobs="many"), "MaxJobs"),
    ("negative MaxJobs", lambda: psu.submit_jobs(MaxJobs=-1), "MaxJobs"),
    ("negative Lines", lambda: psu.print_log(1, 0, Lines=-1, Verbose=False), "Lines"),
    ("LogIdx as text", lambda: psu.print_log(1, 0, LogIdx="last", Verbose=False), "LogIdx"),
    ("a bad regex", lambda: psu.print_log(1, 0, RegEx="(", Verbose=False), "RegEx"),
    ("Unless as a number", lambda: psu.set_batch_field(1, Unless=5), "Unless"),
    ("Unless with a list in it", lambda: psu.set_batch_field(1, Unless=[["complete"]]), "Unless"),
    ("a state list with None", lambda: psu.remove_batch_by_state(["init", None]), "state"),
    ("Display as a number", lambda: psu.get_queue(Display=3), "Display"),
    ("a negative Interval", lambda: psu.periodic_submitter(Interval=-1, MaxIterations=1), "Interval"),
    ("a NaN Interval", lambda: psu.periodic_submitter(Interval=math.nan, MaxIterations=1), "Interval"),
    ("a huge spawn count", lambda: psu.spawn_submit(psu.get_job_info(1, 0), 10**9), "N"),
    ("a job that is a list", lambda: psu.update_job([1, 0]), "JobInfo"),
    ("force as a number", lambda: psu.update_job(psu.get_job_info(1, 0), force=1), "force"),
    ("a function that is not", lambda: psu.modify_job(1, 0, "lower"), "func"),
    ("a Template that is a number", lambda: psu.generate_script({"BatchID": 1, "JobIndex": 0}, 5), "Template"),
    ("a set as data", lambda: psu.generate_data({"BatchID": 1, "JobIndex": 0}, {1, 2}), "Data"),
]


@pytest.mark.parametrize(("what", "call", "name"), MUST_REFUSE, ids=[m[0] for m in MUST_REFUSE])
def test_wrong_inputs_are_refused_by_name(index: Index, what: str, call: Callable[[], Any], name: str) -> None:
    add_sample_batches()
    write_logs()
    refused(index, call, name)
