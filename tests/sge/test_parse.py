"""The SGE parsers read recorded real outputs, and any input gives a result or a clear error."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraschut.errors import ParaschutError
from paraschut_sge.parse import (
    SGEOutputError,
    error_reason,
    last_record,
    parse_qacct,
    parse_qdel,
    parse_qstat_j,
    parse_qstat_xml,
    parse_qsub,
    task_in,
)

Read = Callable[[str], str]
FIXTURES = Path(__file__).parent / "fixtures"


def test_empty_qstat_lists_no_jobs(fixture_text: Read) -> None:
    assert parse_qstat_xml(fixture_text("qstat_xml_empty.xml")) == []


def test_qstat_xml_with_running_pending_held_error_and_array_jobs(fixture_text: Read) -> None:
    jobs = parse_qstat_xml(fixture_text("qstat_xml_mixed.xml"))
    assert [(j.job_id, j.state, j.tasks) for j in jobs] == [
        ("8", "r", ""), ("11", "r", "1"), ("12", "qw", ""), ("6", "Eqw", ""), ("11", "qw", "2,3"),
        ("10", "hqw", ""),
    ]
    running = jobs[0]
    assert (running.name, running.owner, running.queue, running.slots) == ("running1", "root", "all.q@vm", "1")
    assert running.time == "2026-11-29T22:24:43"
    assert jobs[2].queue == "" and jobs[2].slots == "64"


def test_qstat_xml_keeps_full_job_names(fixture_text: Read) -> None:
    names = {j.name for j in parse_qstat_xml(fixture_text("qstat_xml_mixed.xml"))}
    assert "pending_array" in names  # plain qstat cuts it to "pending_ar"


def test_qstat_xml_of_the_manual_example(fixture_text: Read) -> None:
    jobs = parse_qstat_xml(fixture_text("qstat_xml_manual.xml"))
    assert [(j.job_id, j.state) for j in jobs] == [
        ("161", "r"), ("141", "dr"), ("150", "s"), ("151", "Rr"), ("162", "hqw"), ("27", "hqw"),
        ("163", "hRwq"),
    ]
    assert jobs[5].tasks == "1-3:1"


@pytest.mark.parametrize("text", ["", "not xml", "<job_info><job_list>", "<other/>", "\x00"])
def test_unreadable_qstat_output_is_a_clear_error(text: str) -> None:
    with pytest.raises(SGEOutputError, match="qstat -xml"):
        parse_qstat_xml(text)


def test_entries_without_a_job_number_are_skipped() -> None:
    xml = "<job_info><queue_info><job_list><state>r</state></job_list></queue_info></job_info>"
    assert parse_qstat_xml(xml) == []


@pytest.mark.parametrize(("tasks", "task", "expected"), [
    ("1", 1, True), ("1", 2, False), ("2,3", 3, True), ("1-3:1", 2, True), ("1-9:2", 4, False),
    ("1-9:2", 5, True), ("1-3:1,7", 7, True), ("", 1, False), ("x-y", 1, False),
])
def test_task_lists(tasks: str, task: int, expected: bool) -> None:
    assert task_in(tasks, task) is expected


def test_qstat_j_of_a_job_in_error(fixture_text: Read) -> None:
    jobs = parse_qstat_j(fixture_text("qstat_j_eqw.txt"))
    fields = jobs["6"]
    assert fields["job_name"] == "eqw_job"
    assert fields["stdout_path_list"] == "NONE:NONE:/nonexistent/dir/out.txt"
    assert error_reason(fields) == (
        'error: can\'t open output file "/nonexistent/dir/out.txt": No such file or directory'
    )
    assert fields["scheduling info"].splitlines()[-1] == "Job is in error state"


def test_qstat_j_of_several_jobs_in_one_call(fixture_text: Read) -> None:
    jobs = parse_qstat_j(fixture_text("qstat_j_multi_eqw.txt"))
    assert sorted(jobs) == ["13", "16", "6"]
    assert error_reason(jobs["13"]) == "exit_status of job start = 100"
    assert "can't chdir to /nonexistent/wd" in (error_reason(jobs["16"]) or "")


def test_qstat_j_fields_of_running_pending_and_array_jobs(fixture_text: Read) -> None:
    running = parse_qstat_j(fixture_text("qstat_j_running.txt"))["8"]
    assert running["usage 1"].startswith("cpu=")
    assert error_reason(running) is None
    pending = parse_qstat_j(fixture_text("qstat_j_pending.txt"))["12"]
    assert pending["parallel environment"] == "smp range: 64"
    assert parse_qstat_j(fixture_text("qstat_j_array.txt"))["11"]["job-array tasks"] == "1-3:1"


def test_qstat_j_of_an_unknown_job_is_empty(fixture_text: Read) -> None:
    assert parse_qstat_j("") == {}
    assert "do not exist" in fixture_text("qstat_j_unknown_stderr.txt")


@pytest.mark.parametrize(("name", "failed", "exit_status"), [
    ("qacct_complete.txt", "0", "0"),
    ("qacct_exit3.txt", "0", "3"),
    ("qacct_exit100.txt", "30 : application error returned", "100"),
    ("qacct_eqw_output_file.txt", "26 : opening input/output file", "0"),
    ("qacct_bad_wd.txt", "28 : changing into working directory", "0"),
    ("qacct_bad_shebang.txt", "0", "127"),
    ("qacct_h_rt.txt", "37 : qmaster enforced h_rt, h_cpu, or h_vmem limit", "137 (Killed)"),
    ("qacct_qdel_running.txt", "100 : assumedly after job", "137 (Killed)"),
    ("qacct_manual.txt", "0", "0"),
])
def test_qacct_records(fixture_text: Read, name: str, failed: str, exit_status: str) -> None:
    records = parse_qacct(fixture_text(name))
    assert len(records) == 1
    assert (records[0]["failed"], records[0]["exit_status"]) == (failed, exit_status)


def test_qacct_of_an_array_job_has_one_record_per_task(fixture_text: Read) -> None:
    records = parse_qacct(fixture_text("qacct_array_qdel.txt"))
    assert [r["taskid"] for r in records] == ["1", "2"]
    assert last_record(records, 2) is records[1]
    assert last_record(records, 3) is None
    assert last_record(records) is records[-1]
    assert last_record([]) is None


def test_qacct_not_found_has_no_record(fixture_text: Read) -> None:
    assert parse_qacct("") == []
    assert "not found" in fixture_text("qacct_not_found.txt")


def test_qsub_outputs(fixture_text: Read) -> None:
    assert fixture_text("qsub_terse.txt").split() == ["4", "5"]
    assert parse_qsub(fixture_text("qsub_terse.txt")) == "4"
    assert parse_qsub(fixture_text("qsub_terse_array.txt")) == "11"
    assert parse_qsub(fixture_text("qsub_plain.txt")) == "7"
    with pytest.raises(SGEOutputError, match="qsub"):
        parse_qsub("Unable to run job: Error reading answer list from qmaster\nExiting.\n")


def test_qdel_outputs(fixture_text: Read) -> None:
    assert parse_qdel(fixture_text("qdel_running.txt")) == (["8"], [], [])
    assert parse_qdel(fixture_text("qdel_mixed.txt")) == (["10", "12"], ["99999"], [])
    assert parse_qdel("job 5 is already in deletion\nerror: commlib error\n") == (["5"], [], ["error: commlib error"])


# -- any input: a result or a ParaschutError, never another exception ---------------------------
XMLISH = st.lists(
    st.sampled_from(["<job_info>", "</job_info>", "<job_list>", "</job_list>", "<JB_job_number>",
                     "</JB_job_number>", "<state>", "</state>", "<tasks>", "</tasks>", "12", "Eqw",
                     "&amp;", "&bad;", "<?xml version='1.0'?>", "<![CDATA[x]]>", "\x00", "é"]),
).map("".join)


@given(st.one_of(st.text(), XMLISH))
def test_any_qstat_output_parses_or_raises_a_paraschut_error(text: str) -> None:
    try:
        jobs = parse_qstat_xml(text)
    except ParaschutError:
        return
    assert all(job.job_id for job in jobs)


@given(st.text())
def test_text_parsers_accept_any_input(text: str) -> None:
    assert isinstance(parse_qstat_j(text), dict)
    assert isinstance(parse_qacct(text), list)
    accepted, missing, _other = parse_qdel(text)
    assert all(i.isdigit() for i in accepted + missing)
    with contextlib.suppress(ParaschutError):
        assert parse_qsub(text).isdigit()


@given(st.text(), st.integers(min_value=-5, max_value=10**6))
def test_task_in_accepts_any_list(tasks: str, task: int) -> None:
    assert task_in(tasks, task) in (True, False)


def test_qstat_xml_of_an_array_with_running_and_pending_tasks(fixture_text: Read) -> None:
    jobs = parse_qstat_xml(fixture_text("qstat_xml_array.xml"))
    assert [(j.job_id, j.state, j.tasks) for j in jobs] == [
        ("418", "r", "1"), ("418", "r", "2"), ("418", "qw", "3-12:1")]
    assert task_in(jobs[2].tasks, 12) and not task_in(jobs[2].tasks, 2)


def test_qacct_of_an_array_lists_each_task_that_ran(fixture_text: Read) -> None:
    records = parse_qacct(fixture_text("qacct_array.txt"))  # tasks 5-7 were deleted while pending
    assert [(r["taskid"], r["exit_status"]) for r in records] == [
        ("1", "1"), ("2", "2"), ("3", "0"), ("4", "1"), ("8", "2"), ("9", "0"), ("10", "1"), ("11", "2"), ("12", "0")]
    assert last_record(records, 5) is None


def test_qdel_of_array_tasks_names_each_task(fixture_text: Read) -> None:
    assert parse_qdel(fixture_text("qdel_array_tasks.txt")) == (["418.7"], ["99999", "418.20"], [])
    assert parse_qdel("root has registered the job-array task 12.3 for deletion\n") == (["12.3"], [], [])
