"""The PBS parsers and state mapping, on recorded outputs of Slurm's wrappers, Torque and PBS Pro, and fuzzed text."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
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
    parse_slurm_time,
    parse_time,
    pbs_version,
    slurm_task,
    task_in_range,
)
from paraschut_pbs.states import STATE_CODES, collect, job_status, job_times, slurm_job_status, slurm_task_status

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


# -- when jobs started and ended: info["started"] / info["ended"], epoch seconds -------------------
TIMES = ("started", "ended")
TIME_KEYS = ("stime", "start_time", "mtime", "ctime", "obittime", "comp_time")


def local(text: str) -> float:
    """What a printed local time means, read by the C library (the reference for parse_time)."""
    pattern = "%Y-%m-%dT%H:%M:%S" if "-" in text else "%a %b %d %H:%M:%S %Y"
    return time.mktime(time.strptime(text, pattern))


def test_slurm_wrapper_prints_the_start_as_mtime_and_the_end_as_ctime() -> None:
    jobs = parse_qstat_full(fixture("slurm-qstat-f.txt"))
    running = jobs["9"]  # ctime is when its 5-minute limit would end it, not an end
    assert job_times(running, "slurm") == {"started": local(running["mtime"])}
    assert job_times(running, "") == {}  # mtime is no start time in PBS Pro or Torque
    assert job_times(running, "pro") == {}
    for finished in (jobs["7"], jobs["8"]):
        assert job_times(finished, "slurm") == {"started": local(finished["mtime"]), "ended": local(finished["ctime"])}
    for waiting in (jobs["10"], jobs["11"]):
        assert job_times(waiting, "slurm") == {}
    found, _ = collect(["9"], jobs, "slurm")
    assert found["9"].info["started"] == local("Sun Nov 29 22:29:15 2026")
    assert found["9"].info["mtime"] == running["mtime"]  # the text stays as it was


def test_slurm_wrapper_job_cancelled_before_it_ran_has_an_end_only() -> None:
    ((job_id, never),) = parse_qstat_full(fixture("slurm-qstat-f-never.txt")).items()
    assert never["mtime"] == never["ctime"] and "exec_host" not in never  # Slurm stamps a start at the cancel
    assert job_times(never, "slurm") == {"ended": local(never["ctime"])}
    fields = parse_scontrol_jobs(fixture("slurm-scontrol-never.txt"))[job_id]
    status = slurm_job_status(job_id, fields)
    assert status is not None and status.state == FAILED and fields["StartTime"] == fields["EndTime"]
    assert dict(status.info) == {"ended": local(fields["EndTime"])}


def test_slurm_finished_jobs_take_their_times_from_scontrol() -> None:
    fields = parse_scontrol_jobs(fixture("slurm-scontrol-failed.txt"))["8"]
    status = slurm_job_status("8", fields)
    assert status is not None
    assert dict(status.info) == {"started": local(fields["StartTime"]), "ended": local(fields["EndTime"])}
    running = parse_scontrol_jobs(fixture("slurm-scontrol-array-running.txt"))
    task = slurm_task_status("255_1", slurm_task("255_1", running) or {})
    assert task.state == RUN and dict(task.info) == {"started": local("2026-11-29T23:46:21")}
    pending = slurm_task_status("255_4", slurm_task("255_4", running) or {})
    assert pending.state == SUBMIT and not pending.info  # StartTime=Unknown
    done = parse_scontrol_jobs(fixture("slurm-scontrol-array-done.txt"))
    task = slurm_task_status("255_3", slurm_task("255_3", done) or {})
    assert dict(task.info) == {"started": local("2026-11-29T23:46:26"), "ended": local("2026-11-29T23:46:30")}


def test_torque_start_time_and_comp_time() -> None:
    jobs = {k.split(".")[0]: v for k, v in parse_qstat_full(fixture("torque-qstat-f.txt")).items()}
    assert job_times(jobs["4101"], "torque") == {"started": local("Tue Mar  3 10:15:06 2015")}
    assert job_times(jobs["4095"], "torque") == {"started": local("Tue Mar  3 10:01:12 2015"),
                                                 "ended": local("Tue Mar  3 10:01:56 2015")}
    assert job_times(jobs["4096"], "torque") == {"ended": local("Tue Mar  3 10:01:14 2015")}  # no start_time shown
    assert job_times(jobs["4098"], "torque") == {"ended": local("Tue Mar  3 10:08:00 2015")}  # never got a node
    assert job_times(jobs["4102"], "torque") == {} and job_times(jobs["4099"], "torque") == {}
    assert job_times(jobs["4095"], "") == job_times(jobs["4095"], "torque")  # unambiguous names
    status = job_status("4095", jobs["4095"], "torque")
    assert status is not None and status.info["started"] == local("Tue Mar  3 10:01:12 2015")
    assert "start_time" not in status.info  # info keeps the keys it always kept, no more


def test_pro_stime_and_obittime() -> None:
    running = parse_qstat_full(fixture("pro-qstat-f.txt"))["1234.pbsserver"]
    assert running["mtime"] != running["stime"]
    assert job_times(running, "pro") == {"started": local("Wed Jun 12 09:20:12 2019")}
    history = parse_qstat_full(fixture("pro-qstat-x-f.txt"))
    assert job_times(history["1230.pbsserver"], "pro") == {"started": local("Wed Jun 12 09:10:01 2019"),
                                                           "ended": local("Wed Jun 12 09:10:02 2019")}
    assert job_times(history["1229.pbsserver"], "pro") == {}  # deleted before it ran; no dates shown
    as_json = parse_qstat_json(fixture("pro-qstat-f-json.txt"))["1234.pbsserver"]
    assert job_times(as_json, "pro") == {"started": local("Wed Jun 12 09:20:12 2019")}
    # an end not shown (no obittime): a finished job's mtime, its last change, stands in
    finished = {"job_state": "F", "exec_host": "cn1/0", "Exit_status": "0", "stime": "Wed Jun 12 09:10:01 2019",
                "mtime": "Wed Jun 12 09:10:05 2019"}
    assert job_times(finished, "pro")["ended"] == local("Wed Jun 12 09:10:05 2019")
    assert "ended" not in job_times(finished, "") and "ended" not in job_times({**finished, "job_state": "R"}, "pro")


@pytest.mark.parametrize("text", [
    "", "  ", "Infinite", "Unknown", "None", "N/A", "0", "1560330602", "--", "Thu Jan  1 00:00:00 1970",
    "Wed Jun 12 25:10:01 2019", "Wed Jux 12 09:10:01 2019", "Wed Feb 30 09:10:01 2019", "2019-06-12T09:10:01 x",
])
def test_odd_times_are_left_out(text: str) -> None:
    assert parse_time(text) is None and parse_slurm_time(text) is None
    for flavour in ("", "pro", "torque", "slurm"):
        for code in ("R", "C", "F"):
            attrs = {"job_state": code, "exec_host": "n1/0", "Exit_status": "0", **dict.fromkeys(TIME_KEYS, text)}
            assert job_times(attrs, flavour) == {}
    fields = {"JobState": "COMPLETED", "ExitCode": "0:0", "NodeList": "vm", "StartTime": text, "EndTime": text}
    assert not slurm_job_status("1", fields).info  # type: ignore[union-attr]


def test_times_are_read_in_the_local_time_zone(time_zone: Callable[[str], None]) -> None:
    utc = calendar.timegm((2026, 12, 3, 4, 12, 7, 0, 0, 0))
    time_zone("XST-9")  # POSIX: 9 h east of UTC, no tzdata needed
    assert parse_time("Thu Dec  3 04:12:07 2026") == parse_slurm_time("2026-12-03T04:12:07") == utc - 9 * 3600


@given(st.sampled_from([*STATE_CODES, "", "Z"]), st.sampled_from(["", "pro", "torque", "slurm", "other"]),
       st.dictionaries(st.sampled_from([*TIME_KEYS, "exec_host"]), st.text()))
def test_any_qstat_times_never_raise(code: str, flavour: str, attrs: dict[str, str]) -> None:
    times = job_times({"job_state": code, **attrs}, flavour)
    assert set(times) <= set(TIMES) and all(isinstance(v, float) for v in times.values())


@given(st.sampled_from(["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "", "WEIRD"]),
       st.sampled_from(["vm", "", "(null)"]), st.text(), st.text())
def test_any_scontrol_times_never_raise(state: str, nodes: str, start: str, end: str) -> None:
    fields = {"JobState": state, "ExitCode": "0:0", "NodeList": nodes, "StartTime": start, "EndTime": end}
    for status in (slurm_job_status("1", fields), slurm_task_status("1_1", fields)):
        assert status is None or all(isinstance(status.info[k], float) for k in TIMES if k in status.info)


# -- fuzzing -------------------------------------------------------------------------------------
def _all_map(jobs: dict[str, dict[str, str]]) -> None:
    for job_id, attrs in jobs.items():
        for flavour in ("", "pro", "torque", "slurm"):
            status = job_status(job_id, attrs, flavour)
            assert status is None or status.state in SCHEDULER_STATES
            assert status is None or all(isinstance(status.info[k], float) for k in TIMES if k in status.info)


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
            key = draw(st.sampled_from(["job_state", "exit_status", "Exit_status", "comment", "exec_host", "Job_Name",
                                        *TIME_KEYS]))
            value = draw(st.one_of(st.sampled_from([*STATE_CODES, "0", "-29", "271", "x", "Thu Dec  3 04:12:07 2026"]),
                                   _values))
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
