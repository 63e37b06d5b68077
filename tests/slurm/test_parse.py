"""The Slurm parsers and state mapping, on outputs recorded from a real Slurm 22.05 and on fuzzed text."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraschut.errors import ParaschutError
from paraschut.models import COMPLETE, FAILED, RUN, SCHEDULER_STATES, SUBMIT, UNKNOWN
from paraschut_slurm.parse import (
    SQUEUE_FIELDS,
    SlurmParseError,
    is_job_id,
    parse_exit_code,
    parse_jobcomp,
    parse_key_values,
    parse_sacct,
    parse_sbatch,
    parse_scontrol_jobs,
    parse_sinfo_partitions,
    parse_squeue,
    parse_time,
    rejected_ids,
)
from paraschut_slurm.states import FINISHED, SHORT_CODES, STATES, job_status, map_state, needs_exit_code

FIXTURES = Path(__file__).parent / "fixtures"
IDS = dict(pair.split("=") for pair in (FIXTURES / "ids.txt").read_text().split())


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# -- recorded outputs (fixtures/record-slurm.sh on the real cluster) ----------------------------
def test_sbatch_parsable() -> None:
    assert parse_sbatch(fixture("sbatch-parsable.txt")) == IDS["ok"]
    assert parse_sbatch("123;cluster2\n") == "123"
    with pytest.raises(SlurmParseError, match="sbatch"):
        parse_sbatch("sbatch: error: Batch job submission failed: Invalid partition name specified\n")


@pytest.mark.parametrize("name", ["squeue.txt", "squeue-short.txt"])
def test_squeue_rows_map_to_states(name: str) -> None:
    jobs = parse_squeue(fixture(name))
    assert sorted(jobs) == sorted(IDS[k] for k in ("ok", "failed", "cancelled", "held", "running", "never"))
    mapped = {cid: job_status(cid, rec) for cid, rec in jobs.items()}
    assert mapped[IDS["ok"]].state == COMPLETE and mapped[IDS["ok"]].exit_code == 0
    assert mapped[IDS["running"]].state == RUN and mapped[IDS["running"]].host == "vm"
    held = mapped[IDS["held"]]
    assert held.state == SUBMIT and held.host is None and held.reason == "pending: JobHeldUser"
    assert mapped[IDS["cancelled"]].state == FAILED and mapped[IDS["cancelled"]].reason == "cancelled"
    # squeue prints no exit code: a FAILED row is resolved further (scontrol, sacct or jobcomp)
    assert needs_exit_code(jobs[IDS["failed"]]) and not needs_exit_code(jobs[IDS["ok"]])
    assert mapped[IDS["failed"]].state == FAILED and mapped[IDS["failed"]].exit_code is None


def test_squeue_unknown_id_message() -> None:
    assert "Invalid job id specified" in fixture("squeue-unknown.txt")


@pytest.mark.parametrize(("job", "state", "exit_code", "reason"), [
    ("ok", COMPLETE, 0, None),
    ("failed", FAILED, 7, "failed, exit status 7"),
    ("cancelled", FAILED, None, "cancelled (signal 15)"),  # 143:0 when sleep dies of SIGTERM first and sh exits 143
    ("never", FAILED, None, "cancelled"),  # held, cancelled before it ran
    ("timeout", FAILED, None, "timeout: the job reached its time limit (signal 15)"),
    ("held", SUBMIT, None, "pending: JobHeldUser"),
    ("running", RUN, None, "running"),
])
def test_scontrol_records(job: str, state: str, exit_code: int | None, reason: str | None) -> None:
    jobs = parse_scontrol_jobs(fixture(f"scontrol-{job}.txt"))
    record = jobs[IDS[job]]
    assert record["JobId"] == IDS[job] and "/" in record["WorkDir"]
    status = job_status(IDS[job], record)
    assert (status.state, status.exit_code, status.reason) == (state, exit_code, reason)


def test_jobcomp_lines() -> None:
    wanted = [IDS[k] for k in ("ok", "failed", "cancelled", "timeout")] + ["987654321"]
    jobs = parse_jobcomp(fixture("jobcomp.log").splitlines(keepends=True), wanted)
    assert sorted(jobs) == sorted(wanted[:-1])
    mapped = {cid: job_status(cid, rec) for cid, rec in jobs.items()}
    assert (mapped[IDS["failed"]].state, mapped[IDS["failed"]].exit_code) == (FAILED, 7)
    assert mapped[IDS["ok"]].state == COMPLETE
    assert str(mapped[IDS["cancelled"]].reason).startswith("cancelled")
    assert str(mapped[IDS["timeout"]].reason).startswith("timeout")
    assert jobs[IDS["failed"]]["Tres"].startswith("cpu=1")
    assert mapped[IDS["failed"]].info["ExitCode"] == "7:0" and "UserId" not in mapped[IDS["failed"]].info


def test_jobcomp_requeued_job_last_line_wins_and_prefixes_are_exact() -> None:
    # NODE_FAIL then a later run, as slurm-notes.md saw after a requeue; JobId=70 must not match 7.
    lines = [
        "JobId=7 UserId=root(0) Name=a JobState=NODE_FAIL NodeList=vm ExitCode=0:0\n",
        "JobId=70 UserId=root(0) Name=b JobState=FAILED NodeList=vm ExitCode=3:0\n",
        "JobId=7 UserId=root(0) Name=a JobState=COMPLETED NodeList=vm ExitCode=0:0\n",
    ]
    assert parse_jobcomp(lines, ["7"]) == {"7": parse_key_values(lines[2].strip())}
    assert job_status("7", parse_key_values(lines[0])).reason == "node failure"


def test_key_values_keep_spaces_in_values() -> None:
    line = "JobId=5 JobName=my job Command=/tmp/a b/run.sh CPUs/Task=2 ReqB:S:C:T=0:0:*:* StdOut=/x y/o.out"
    assert parse_key_values(line) == {"JobId": "5", "JobName": "my job", "Command": "/tmp/a b/run.sh",
                                      "CPUs/Task": "2", "ReqB:S:C:T": "0:0:*:*", "StdOut": "/x y/o.out"}


def test_array_tasks_are_filed_under_their_array_id() -> None:
    jobs = parse_scontrol_jobs("JobId=12 ArrayJobId=7 ArrayTaskId=3 JobState=RUNNING NodeList=vm\n")
    assert jobs["7_3"] is jobs["12"]


def test_sacct_and_sinfo_and_scancel() -> None:
    assert "accounting storage is disabled" in fixture("sacct-disabled.txt")
    jobs = parse_sacct("8|CANCELLED by 0|0:15|vm|debug|2026-12-03T03:41:50|2026-12-03T03:41:57|x\n"
                       "9|FAILED|7:0|vm|debug|Unknown|Unknown|y\n")
    assert job_status("8", jobs["8"]).reason == "cancelled (signal 15)"
    assert (job_status("9", jobs["9"]).state, job_status("9", jobs["9"]).exit_code) == (FAILED, 7)
    with pytest.raises(SlurmParseError):
        parse_sacct("not|enough\n")
    assert parse_sinfo_partitions(fixture("sinfo-partitions.txt")) == ["debug*", "batch"]
    assert rejected_ids(fixture("scancel-v.txt")) == {"987654321", IDS["ok"]}


# -- when jobs started and ended: info["started"] / info["ended"], epoch seconds -------------------
def local(text: str) -> float:
    """What a printed local time means, read by the C library (the reference for parse_time)."""
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


def test_squeue_gives_start_and_end_times() -> None:
    jobs = parse_squeue(fixture("squeue.txt"))
    info = {kind: job_status(IDS[kind], jobs[IDS[kind]]).info for kind in IDS if IDS[kind] in jobs}
    for kind in ("ok", "failed", "cancelled"):  # finished after running: both, as printed
        record = jobs[IDS[kind]]
        assert info[kind]["started"] == local(record["StartTime"]) and info[kind]["ended"] == local(record["EndTime"])
        assert info[kind]["StartTime"] == record["StartTime"]  # the text stays as it was
    running = jobs[IDS["running"]]
    assert running["EndTime"] == "NONE" and info["running"]["started"] == local(running["StartTime"])
    assert "ended" not in info["running"]
    assert jobs[IDS["held"]]["StartTime"] == "N/A" and not {"started", "ended"} & set(info["held"])
    # cancelled while held: Slurm prints StartTime = EndTime = the cancel, but the job got no node
    never = jobs[IDS["never"]]
    assert never["StartTime"] == never["EndTime"] != "N/A" and never["NodeList"] == ""
    assert "started" not in info["never"] and info["never"]["ended"] == local(never["EndTime"])


@pytest.mark.parametrize("job", ["ok", "failed", "cancelled", "timeout", "held", "running", "never"])
def test_scontrol_and_jobcomp_give_start_and_end_times(job: str) -> None:
    record = parse_scontrol_jobs(fixture(f"scontrol-{job}.txt"))[IDS[job]]
    line = parse_jobcomp(fixture("jobcomp.log").splitlines(), [IDS[job]]).get(IDS[job])
    for fields in filter(None, [record, line]):  # the jobcomp line of "running" is from after its scancel
        status = job_status(IDS[job], fields)
        info, ran = status.info, job not in ("held", "never")
        assert ("started" in info) == ran and ("ended" in info) == (status.state in (COMPLETE, FAILED))
        if ran:
            assert info["started"] == local(fields["StartTime"])
        if "ended" in info:
            assert info["ended"] == local(fields["EndTime"])
    if job == "running":
        assert record["EndTime"] == "Unknown"


def test_pending_jobs_report_no_start_even_an_expected_one() -> None:
    # squeue's %S is the expected start of a pending job, %e the expected end of a running one
    status = job_status("1", {"JobState": "PENDING", "StartTime": "2026-12-03T05:00:53", "EndTime": "NONE"})
    assert "started" not in status.info and "ended" not in status.info
    status = job_status("1", {"JobState": "RUNNING", "NodeList": "vm", "StartTime": "2026-12-03T04:00:53",
                              "EndTime": "2026-12-03T05:00:53"})
    assert status.info["started"] == local("2026-12-03T04:00:53") and "ended" not in status.info


@pytest.mark.parametrize("text", [
    "Unknown", "None", "N/A", "NONE", "", "  ", "0", "1796270439", "(null)", "Tomorr 04:00", "04:00:55",
    "2026-12-03", "2026-12-03 04:00:55", "2026-13-03T04:00:55", "2026-02-30T04:00:55", "1970-01-01T00:00:00",
    "2026-12-03T04:00:55+01:00", "2026-12-03T04:00:55x",
])
def test_odd_times_are_left_out(text: str) -> None:
    assert parse_time(text) is None
    for state in ("RUNNING", "COMPLETED", "FAILED"):
        info = job_status("1", {"JobState": state, "NodeList": "vm", "StartTime": text, "EndTime": text}).info
        assert "started" not in info and "ended" not in info


def test_times_are_read_in_the_local_time_zone(time_zone: Callable[[str], None]) -> None:
    time_zone("XST+5")  # POSIX: 5 h west of UTC, no tzdata needed
    assert parse_time("2026-12-03T03:41:57") == calendar.timegm((2026, 12, 3, 3, 41, 57, 0, 0, 0)) + 5 * 3600


# -- the state mapping ---------------------------------------------------------------------------
ALL_STATES = [
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
    "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "SUSPENDED", "REQUEUED",
    "RESIZING", "REVOKED", "SPECIAL_EXIT",
]
SHORT = {"PD": SUBMIT, "R": RUN, "CG": RUN, "CD": COMPLETE, "F": FAILED, "CA": FAILED, "TO": FAILED,
         "OOM": FAILED, "NF": FAILED, "PR": FAILED, "BF": FAILED, "DL": FAILED, "S": RUN, "RQ": SUBMIT}


@pytest.mark.parametrize("name", ALL_STATES)
def test_every_slurm_state_is_mapped(name: str) -> None:
    state, meaning = map_state(name)
    assert state in SCHEDULER_STATES - {UNKNOWN} and meaning
    assert (name in FINISHED) == (state in (COMPLETE, FAILED))


@pytest.mark.parametrize(("code", "state"), sorted(SHORT.items()))
def test_short_codes(code: str, state: str) -> None:
    assert map_state(code)[0] == state
    assert SHORT_CODES[code] in STATES


@pytest.mark.parametrize(("raw", "reason"), [
    ("TIMEOUT", "timeout"), ("OUT_OF_MEMORY", "out-of-memory"), ("CANCELLED by 0", "cancelled"),
    ("NODE_FAIL", "node failure"), ("PREEMPTED", "preempted"),
])
def test_failure_reasons_name_the_cause(raw: str, reason: str) -> None:
    status = job_status("1", {"JobState": raw, "ExitCode": "0:9"})
    assert status.state == FAILED and status.reason is not None and status.reason.startswith(reason)


def test_unrecognised_state_is_unknown_not_an_error() -> None:
    status = job_status("1", {"JobState": "WIBBLE"})
    assert (status.state, status.raw_state) == (UNKNOWN, "WIBBLE")
    assert job_status("1", {}).state == UNKNOWN


def test_exit_codes() -> None:
    assert parse_exit_code("7:0") == (7, 0) and parse_exit_code("0:15") == (0, 15)
    assert parse_exit_code("") == (None, None) and parse_exit_code("x") == (None, None)
    assert job_status("1", {"JobState": "FAILED", "ExitCode": "0:9"}).reason == "failed, signal 9"
    assert job_status("1", {"JobState": "COMPLETED", "ExitCode": "3:0"}).state == FAILED


def test_job_ids() -> None:
    assert is_job_id("123") and is_job_id("7_3")
    assert not any(is_job_id(x) for x in ("", "7_[1-5]", "1,2", "-1", "12.server", "1 2"))


# -- fuzzing -------------------------------------------------------------------------------------
@given(st.text())
def test_any_state_text_maps(raw: str) -> None:
    assert map_state(raw)[0] in SCHEDULER_STATES


@given(st.dictionaries(st.sampled_from(["JobState", "ExitCode", "Reason", "NodeList", "X"]), st.text()))
def test_any_record_maps(record: dict[str, str]) -> None:
    assert job_status("1", record).state in SCHEDULER_STATES


@given(st.sampled_from([*ALL_STATES, "CD", "R", "PD", "WIBBLE", ""]), st.sampled_from(["vm", "", "(null)"]),
       st.text(), st.text())
def test_any_start_and_end_text_never_raises(state: str, nodes: str, start: str, end: str) -> None:
    info = job_status("1", {"JobState": state, "NodeList": nodes, "StartTime": start, "EndTime": end}).info
    assert all(isinstance(info[k], float) for k in ("started", "ended") if k in info)
    assert parse_time(start) is None or isinstance(parse_time(start), float)


@given(st.text())
def test_any_text_parses_or_raises_clearly(text: str) -> None:
    for parser in (parse_squeue, parse_sacct, parse_sbatch):
        try:
            parser(text)
        except ParaschutError as exc:
            assert "cannot read the output of" in str(exc)
    for cid, record in parse_scontrol_jobs(text).items():
        assert job_status(cid, record).state in SCHEDULER_STATES
    assert isinstance(parse_jobcomp(text.splitlines(), ["1", "2"]), dict)
    assert isinstance(rejected_ids(text), set) and isinstance(parse_key_values(text), dict)


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="|\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                        min_size=1), min_size=len(SQUEUE_FIELDS), max_size=len(SQUEUE_FIELDS)))
def test_squeue_lines_round_trip(values: list[str]) -> None:
    values[0] = values[0].strip() or "1"
    jobs = parse_squeue("|".join(values) + "\n")
    (record,) = jobs.values()
    assert record["JobId"] == values[0] and job_status("1", record).state in SCHEDULER_STATES


@pytest.mark.parametrize("nodes", ["", "None", "None assigned", "(Resources)"])
def test_a_job_without_a_node_has_no_host_and_no_start(nodes: str) -> None:
    # sacct prints "None assigned" for a job cancelled while pending; scontrol "None"
    status = job_status("1", {"JobState": "CANCELLED", "NodeList": nodes, "StartTime": "2026-12-03T04:00:55",
                              "EndTime": "2026-12-03T04:00:55"})
    assert status.host is None and "started" not in status.info and "ended" in status.info
