"""The PBS parsers and state mapping, on recorded outputs of Slurm's wrappers, Torque and PBS Pro, and fuzzed text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraschut.errors import ParaschutError
from paraschut.models import COMPLETE, FAILED, RUN, SCHEDULER_STATES, SUBMIT, UNKNOWN
from paraschut_pbs.parse import (
    QstatParseError,
    base_id,
    parse_qstat_full,
    parse_qstat_json,
    parse_qsub_output,
    parse_scontrol_jobs,
    pbs_version,
    slurm_task,
    task_in_range,
)
from paraschut_pbs.states import STATE_CODES, collect, job_status, slurm_job_status, slurm_task_status

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def states(jobs: dict[str, dict[str, str]]) -> dict[str, tuple[str, int | None] | None]:
    out: dict[str, tuple[str, int | None] | None] = {}
    for job_id, attrs in jobs.items():
        status = job_status(job_id, attrs)
        out[job_id] = None if status is None else (status.state, status.exit_code)
    return out


# -- Slurm's wrappers (recorded on the real cluster by fixtures/record-slurm.sh) -----------------
def test_slurm_qstat_f() -> None:
    jobs = parse_qstat_full(fixture("slurm-qstat-f.txt"))
    assert list(jobs) == ["7", "8", "9", "10", "11"]
    assert jobs["9"]["Job_Name"] == "big" and jobs["9"]["Resource_List.ncpus"] == "2"
    # C with no exit status (success and failure look alike) is not guessed: None.
    assert states(jobs) == {"7": None, "8": None, "9": (RUN, None), "10": (SUBMIT, None), "11": (SUBMIT, None)}
    assert job_status("9", jobs["9"]).host == "vm"  # type: ignore[union-attr]


def test_slurm_finished_jobs_are_resolved_by_scontrol() -> None:
    found, unresolved = collect(["7", "8", "9", "404"], parse_qstat_full(fixture("slurm-qstat-f.txt")))
    assert sorted(found) == ["9"] and unresolved == ["7", "8"]
    fields = parse_scontrol_jobs(fixture("slurm-scontrol-failed.txt"))
    assert fields["8"]["JobState"] == "FAILED" and fields["8"]["ExitCode"] == "7:0"
    status = slurm_job_status("8", fields["8"])
    assert status is not None and (status.state, status.exit_code, status.host) == (FAILED, 7, "vm")


@pytest.mark.parametrize(
    ("job_state", "exit_code", "expected"),
    [
        ("COMPLETED", "0:0", (COMPLETE, 0)),
        ("FAILED", "3:0", (FAILED, 3)),
        ("CANCELLED", "0:15", (FAILED, None)),
        ("TIMEOUT", "0:15", (FAILED, None)),
        ("OUT_OF_MEMORY", "0:125", (FAILED, None)),
        ("RUNNING", "0:0", None),
        ("COMPLETING", "0:0", None),
    ],
)
def test_slurm_job_states(job_state: str, exit_code: str, expected: tuple[str, int | None] | None) -> None:
    status = slurm_job_status("5", {"JobId": "5", "JobState": job_state, "ExitCode": exit_code})
    assert (None if status is None else (status.state, status.exit_code)) == expected


def test_slurm_qsub_and_unknown_id() -> None:
    assert parse_qsub_output(fixture("slurm-qsub.txt")) == "9"
    assert parse_qstat_full("") == {}


# -- Torque (qstat -f as in the Torque manuals) ---------------------------------------------------
def test_torque_qstat_f() -> None:
    jobs = parse_qstat_full(fixture("torque-qstat-f.txt"))
    assert states(jobs) == {
        "4101.head.example.org": (RUN, None),
        "4102.head.example.org": (SUBMIT, None),
        "4103.head.example.org": (SUBMIT, None),
        "4095.head.example.org": (COMPLETE, 0),
        "4096.head.example.org": (FAILED, 7),
        "4097.head.example.org": (FAILED, 271),
        "4098.head.example.org": (FAILED, -1),
        "4099.head.example.org": (RUN, None),
    }
    variables = jobs["4101.head.example.org"]["Variable_List"]
    assert "PBS_O_LOGNAME=alice,PBS_O_PATH" in variables and variables.endswith("PBS_O_SERVER=head.example.org")
    assert job_status("x", jobs["4097.head.example.org"]).reason.startswith("killed by signal 15")  # type: ignore[union-attr]
    assert "could not run" in str(job_status("x", jobs["4098.head.example.org"]).reason)  # type: ignore[union-attr]
    assert job_status("x", jobs["4101.head.example.org"]).host == "node07"  # type: ignore[union-attr]
    assert parse_qsub_output(fixture("torque-qsub.txt")) == "4101.head.example.org"
    assert pbs_version(fixture("torque-qstat-version.txt")) is None


# -- PBS Pro (qstat -f, qstat -x -f, qstat -f -F json as in the PBS Professional reference guide) -
def test_pro_qstat_f() -> None:
    jobs = parse_qstat_full(fixture("pro-qstat-f.txt"))
    assert states(jobs) == {
        "1234.pbsserver": (RUN, None),
        "1235.pbsserver": (SUBMIT, None),
        "1236.pbsserver": (SUBMIT, None),
        "1237.pbsserver": (SUBMIT, None),
        "1238.pbsserver": (RUN, None),
        "1239.pbsserver": (RUN, None),
        "1240.pbsserver": (SUBMIT, None),
    }
    running = jobs["1234.pbsserver"]
    assert "PBS_O_LOGNAME=bob,PBS_O_PATH=" in running["Variable_List"]  # wrapped inside a word
    assert r"PSU_COMMA=x\,y=z" in running["Variable_List"]
    assert running["Submit_arguments"].endswith("walltime=2:00:00 -v PSU_COMMA /home/bob/run/myjob.sh")
    waiting = job_status("1235.pbsserver", jobs["1235.pbsserver"])
    assert waiting is not None and waiting.reason is not None and waiting.reason.endswith("(R: 64 A: 48 T: 48)")
    assert job_status("1234.pbsserver", running).host == "cn001"  # type: ignore[union-attr]
    assert parse_qsub_output(fixture("pro-qsub.txt")) == "1234.pbsserver"
    assert pbs_version(fixture("pro-qstat-version.txt")) == (19, 1)


def test_pro_history() -> None:
    jobs = parse_qstat_full(fixture("pro-qstat-x-f.txt"))
    assert states(jobs) == {
        "1230.pbsserver": (COMPLETE, 0),
        "1231.pbsserver": (FAILED, 7),
        "1232.pbsserver": (FAILED, -29),
        "1233.pbsserver": (FAILED, 271),
        "1229.pbsserver": None,  # finished, no exit status: left out, never called a success
        "1238[3].pbsserver": (COMPLETE, 0),
    }
    found, unresolved = collect(["1229.pbsserver", "1231", "1238[3]"], jobs)
    assert sorted(found) == ["1231", "1238[3]"] and unresolved == ["1229.pbsserver"]


def test_pro_json() -> None:
    jobs = parse_qstat_json(fixture("pro-qstat-f-json.txt"))
    assert states(jobs) == {
        "1234.pbsserver": (RUN, None),
        "1235.pbsserver": (SUBMIT, None),
        "1231.pbsserver": (FAILED, 7),
        "1230.pbsserver": (COMPLETE, 0),
    }
    running = jobs["1234.pbsserver"]
    assert running["Resource_List.ncpus"] == "2" and running["Variable_List.PSU_COMMA"] == "x,y=z"
    assert parse_qstat_json(fixture("pro-qstat-f-json-empty.txt")) == {}
    with pytest.raises(QstatParseError):
        parse_qstat_json('{"Jobs": {"1.s": {"comment": "a \\q b"}}}')  # invalid escape, seen in old PBS Pro


def test_ids_match_with_or_without_server() -> None:
    jobs = {"12.server": {"job_state": "R"}}
    assert collect(["12"], jobs)[0]["12"].state == RUN
    assert collect(["12.server"], jobs)[0]["12.server"].state == RUN
    assert collect(["13.server"], jobs) == ({}, [])
    assert base_id("12[3].server.example") == "12[3]"


@pytest.mark.parametrize("code", sorted(STATE_CODES))
def test_every_state_code_maps(code: str) -> None:
    variants = ({"job_state": code}, {"job_state": code, "exit_status": "0"}, {"job_state": code, "Exit_status": "2"})
    for attrs in variants:
        status = job_status("1", attrs)
        assert status is None or status.state in SCHEDULER_STATES
    assert job_status("1", {"job_state": code, "exit_status": "0"}).state != UNKNOWN or code in "UM"  # type: ignore[union-attr]


@pytest.mark.parametrize("code", ["Z", "", "RR", "q"])
def test_an_unknown_code_is_unknown(code: str) -> None:
    status = job_status("1", {"job_state": code})
    assert status is not None and status.state == UNKNOWN and status.raw_state == code


def test_garbage_is_a_clear_error() -> None:
    with pytest.raises(QstatParseError, match="qstat -f"):
        parse_qstat_full("qstat: cannot connect to server pbs (errno=111)\n")
    with pytest.raises(QstatParseError, match="qsub"):
        parse_qsub_output("qsub: Unknown queue\n")


# -- fuzzing -------------------------------------------------------------------------------------
def _all_map(jobs: dict[str, dict[str, str]]) -> None:
    for job_id, attrs in jobs.items():
        status = job_status(job_id, attrs)
        assert status is None or status.state in SCHEDULER_STATES


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_any_text_parses_or_fails_clearly(text: str) -> None:
    for parser in (parse_qstat_full, parse_qstat_json):
        try:
            jobs = parser(text)
        except ParaschutError:
            continue
        _all_map(jobs)
    for other in (parse_qsub_output, parse_scontrol_jobs, pbs_version):
        try:
            other(text)  # type: ignore[operator]
        except ParaschutError:
            pass


_LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_values = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=_LINE_BREAKS))


@st.composite
def qstat_outputs(draw: st.DrawFn) -> str:
    indent = draw(st.sampled_from(["    ", "\t"]))
    blocks = []
    for number in range(draw(st.integers(0, 4))):
        lines = [f"Job Id: {number}.server"]
        for _ in range(draw(st.integers(0, 6))):
            key = draw(st.sampled_from(["job_state", "exit_status", "Exit_status", "comment", "exec_host", "Job_Name"]))
            value = draw(st.one_of(st.sampled_from([*STATE_CODES, "0", "-29", "271", "x"]), _values))
            lines.append(f"{indent}{key} = {value}")
            if draw(st.booleans()):
                lines.append("\t" + draw(_values))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


@given(qstat_outputs())
@settings(max_examples=300, deadline=None)
def test_structured_qstat_output_always_maps(text: str) -> None:
    jobs = parse_qstat_full(text)
    assert len(jobs) == sum(1 for line in text.splitlines() if line.startswith("Job Id:"))
    _all_map(jobs)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
)


@given(_json_values)
@settings(max_examples=200, deadline=None)
def test_any_json_parses_or_fails_clearly(data: object) -> None:
    import json

    try:
        jobs = parse_qstat_json(json.dumps({"Jobs": data}))
    except ParaschutError:
        return
    _all_map(jobs)


@pytest.mark.parametrize(("spec", "task", "expected"), [
    ("4", 4, True), ("4", 5, False), ("3-5", 5, True), ("3-5", 6, False), ("1,3-9:2", 7, True),
    ("1,3-9:2", 8, False), ("2-9%2", 9, True), ("", 1, False), ("x-y", 1, False),
])
def test_slurm_task_ranges(spec: str, task: int, expected: bool) -> None:
    assert task_in_range(spec, task) is expected


def test_slurm_array_tasks_running_and_pending() -> None:
    jobs = parse_scontrol_jobs(fixture("slurm-scontrol-array-running.txt"))  # qsub -t 1-5: 1, 2 run; 3-5 wait
    assert {j["JobId"]: j["ArrayTaskId"] for j in jobs.values()} == {"256": "1", "257": "2", "255": "3-5"}
    seen = {cid: slurm_task_status(cid, fields) for cid in ("255_1", "255_4", "255_6", "256", "25_1")
            if (fields := slurm_task(cid, jobs)) is not None}
    assert {cid: (s.state, s.raw_state) for cid, s in seen.items()} == {
        "255_1": (RUN, "RUNNING"), "255_4": (SUBMIT, "PENDING")}
    assert seen["255_4"].reason == "Resources" and seen["255_1"].host == "vm"


def test_slurm_array_tasks_finished() -> None:
    jobs = parse_scontrol_jobs(fixture("slurm-scontrol-array-done.txt"))  # task 3 exit 7, task 5 cancelled pending
    statuses = {cid: slurm_task_status(cid, f) for cid in ("255_1", "255_3", "255_4", "255_5")
                if (f := slurm_task(cid, jobs)) is not None}
    assert {cid: (s.state, s.exit_code) for cid, s in statuses.items()} == {
        "255_1": (COMPLETE, 0), "255_3": (FAILED, 7), "255_4": (COMPLETE, 0)}
    assert parse_qsub_output(fixture("slurm-qsub-array.txt")) == "255"


@given(st.text(max_size=30), st.integers(min_value=0, max_value=10**6))
def test_any_task_range_is_read_without_error(spec: str, task: int) -> None:
    assert task_in_range(spec, task) in (True, False)


@given(st.sampled_from(["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "", "WEIRD"]),
       st.sampled_from(["0:0", "7:0", "0:9", "", "x"]))
def test_any_slurm_task_state_maps(state: str, code: str) -> None:
    assert slurm_task_status("1_1", {"JobState": state, "ExitCode": code}).state in SCHEDULER_STATES
