"""SGE state codes and accounting records map to paraschut states, whatever the code."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraschut.models import COMPLETE, FAILED, RUN, SCHEDULER_STATES, SUBMIT, UNKNOWN
from paraschut_sge.parse import QueuedJob, parse_qacct, parse_qstat_xml, parse_time
from paraschut_sge.states import SGE_LETTERS, from_accounting, from_qstat, match_queued, sge_state

Read = Callable[[str], str]


@pytest.mark.parametrize(("code", "state"), [
    ("qw", SUBMIT), ("hqw", SUBMIT), ("hRwq", SUBMIT), ("Rq", SUBMIT), ("w", SUBMIT),
    ("r", RUN), ("t", RUN), ("Rr", RUN), ("Rt", RUN), ("dr", RUN), ("dt", RUN), ("s", RUN),
    ("ts", RUN), ("S", RUN), ("tS", RUN), ("T", RUN), ("dRs", RUN),
    ("Eqw", FAILED), ("Ehqw", FAILED), ("EhRqw", FAILED),
    ("", UNKNOWN), ("z", UNKNOWN), ("d", UNKNOWN), ("x", UNKNOWN), ("running", UNKNOWN), ("r?", UNKNOWN),
])
def test_documented_codes(code: str, state: str) -> None:
    assert sge_state(code) == state


@given(st.text())
def test_every_code_maps_to_a_scheduler_state(code: str) -> None:
    assert sge_state(code) in SCHEDULER_STATES


@given(st.text(alphabet="".join(sorted(SGE_LETTERS)), min_size=1, max_size=6))
def test_every_combination_of_sge_letters_maps(code: str) -> None:
    state = sge_state(code)
    assert state in SCHEDULER_STATES
    assert (state == FAILED) == ("E" in code)


def test_error_state_carries_a_reason() -> None:
    assert from_qstat("6", "Eqw").reason == "SGE error state Eqw"
    assert from_qstat("6", "Eqw", reason="can't open output file").reason == "can't open output file"
    assert from_qstat("6", "r", reason="ignored").reason is None
    status = from_qstat("7", "weird")
    assert (status.state, status.raw_state) == (UNKNOWN, "weird")


@pytest.mark.parametrize(("name", "state", "exit_code", "reason"), [
    ("qacct_complete.txt", COMPLETE, 0, None),
    ("qacct_exit3.txt", FAILED, 3, "exit status 3"),
    ("qacct_exit100.txt", FAILED, 100, "SGE failed 30 : application error returned"),
    ("qacct_eqw_output_file.txt", FAILED, None, "SGE failed 26 : opening input/output file"),
    ("qacct_bad_shebang.txt", FAILED, 127, "exit status 127"),
    ("qacct_h_rt.txt", FAILED, 137, "SGE failed 37 : qmaster enforced h_rt, h_cpu, or h_vmem limit"),
    ("qacct_qdel_running.txt", FAILED, 137, "SGE failed 100 : assumedly after job"),
])
def test_accounting_records(fixture_text: Read, name: str, state: str, exit_code: int | None,
                            reason: str | None) -> None:
    status = from_accounting("1", parse_qacct(fixture_text(name))[0])
    assert (status.state, status.exit_code, status.reason) == (state, exit_code, reason)
    assert status.host == "vm" and status.raw_state == "qacct"


def test_a_record_without_exit_status_fails() -> None:
    status = from_accounting("1", {"failed": "0"})
    assert (status.state, status.exit_code) == (FAILED, None)


@given(st.dictionaries(st.sampled_from(["failed", "exit_status", "hostname", "slots"]), st.text()))
def test_any_record_maps(record: dict[str, str]) -> None:
    assert from_accounting("1", record).state in (COMPLETE, FAILED)


def test_asked_ids_are_matched_to_qstat_entries(fixture_text: Read) -> None:
    jobs = parse_qstat_xml(fixture_text("qstat_xml_mixed.xml"))
    found = match_queued(["8", "11", "11.1", "11.3", "11.4", "6", "999", "x.y"], jobs)
    assert sorted(found) == ["11", "11.1", "11.3", "6", "8"]
    assert found["11"].state == "r"  # the array's most active entry
    assert found["11.3"].state == "qw" and found["11.1"].state == "r"


@given(st.lists(st.text()), st.lists(st.builds(QueuedJob, st.text(min_size=1), st.text(), tasks=st.text())))
def test_matching_never_fails(ids: list[str], jobs: list[QueuedJob]) -> None:
    assert set(match_queued(ids, jobs)) <= set(ids)


# -- when jobs started and ended: info["started"] / info["ended"], epoch seconds -------------------
def local(text: str, pattern: str = "%a %b %d %H:%M:%S %Y") -> float:
    """What a printed local time means, read by the C library (the reference for parse_time)."""
    return time.mktime(time.strptime(text, pattern))


@pytest.mark.parametrize(("name", "started", "ended"), [
    ("qacct_complete.txt", "Sun Nov 29 22:24:39 2026", "Sun Nov 29 22:24:39 2026"),
    ("qacct_qdel_running.txt", "Sun Nov 29 22:24:43 2026", "Sun Nov 29 22:24:56 2026"),
    ("qacct_exit3.txt", "Sun Nov 29 22:24:39 2026", "Sun Nov 29 22:24:39 2026"),
])
def test_accounting_gives_the_start_and_end_it_printed(fixture_text: Read, name: str, started: str,
                                                       ended: str) -> None:
    record = parse_qacct(fixture_text(name))[0]
    assert (record["start_time"], record["end_time"]) == (started, ended)
    info = from_accounting("1", record).info
    assert info["started"] == local(started) and info["ended"] == local(ended)
    assert isinstance(info["started"], float) and isinstance(info["ended"], float)
    assert info["start_time"] == started and info["end_time"] == ended  # the text stays as it was


@pytest.mark.parametrize("name", ["qacct_eqw_output_file.txt", "qacct_bad_wd.txt"])
def test_a_job_that_never_started_has_no_times(fixture_text: Read, name: str) -> None:
    record = parse_qacct(fixture_text(name))[0]
    assert record["start_time"] == "-/-"
    info = from_accounting("1", record).info
    assert "started" not in info and "ended" not in info and info["start_time"] == "-/-"


def test_every_task_of_an_array_has_its_own_times(fixture_text: Read) -> None:
    for record in parse_qacct(fixture_text("qacct_array.txt")):
        info = from_accounting("1", record).info
        assert info["started"] == local(record["start_time"]) and info["ended"] == local(record["end_time"])


def test_a_running_job_gives_its_qstat_start_time(fixture_text: Read) -> None:
    jobs = {(j.job_id, j.tasks, j.state): j for j in parse_qstat_xml(fixture_text("qstat_xml_mixed.xml"))}
    running = jobs[("8", "", "r")]
    assert running.start_time == "2026-11-29T22:24:43"
    status = from_qstat("8", running.state, start_time=running.start_time)
    assert status.info["started"] == local("2026-11-29T22:24:43", "%Y-%m-%dT%H:%M:%S")
    pending = jobs[("12", "", "qw")]  # its time is the submission time: not a start
    assert pending.start_time == "" and pending.time == "2026-11-29T22:24:43"
    assert "started" not in from_qstat("12", pending.state, start_time=pending.time).info
    assert "started" not in from_qstat("6", "Eqw", start_time="2026-11-29T22:24:39").info


@pytest.mark.parametrize("text", [
    "-/-", "", "   ", "undefined", "Unknown", "N/A", "NONE", "0", "1796270439", "Thu Jan  1 00:00:00 1970",
    "Thu Foo  3 04:00:39 2026", "Thu Dec 32 04:00:39 2026", "Thu Dec  3 25:00:39 2026", "2026-02-30T00:00:00",
    "2026-12-03T04:00:39+99:00", "2026-12-03", "04:00:39", "Thu Dec  3 04:00:39 2026 extra",
])
def test_odd_times_are_left_out(text: str) -> None:
    assert parse_time(text) is None
    info = from_accounting("1", {"failed": "0", "exit_status": "0", "start_time": text, "end_time": text}).info
    assert "started" not in info and "ended" not in info
    assert "started" not in from_qstat("1", "r", start_time=text).info


def test_times_are_read_in_the_local_time_zone(time_zone: Callable[[str], None]) -> None:
    utc = calendar.timegm((2026, 11, 29, 22, 24, 39, 0, 0, 0))
    time_zone("XST-5:30")  # POSIX: 5 h 30 east of UTC, no tzdata needed
    assert parse_time("Sun Nov 29 22:24:39 2026") == utc - 19800
    assert parse_time("2026-11-29T22:24:39") == utc - 19800
    assert parse_time("11/29/2026 22:24:39.250") == utc + 0.25 - 19800  # Univa's qacct
    assert parse_time("2026-11-29T22:24:39+01:00") == utc - 3600  # an offset wins
    time_zone("XST+5")
    assert parse_time("Thu Jan  1 00:00:00 1970") is None  # epoch 0, as printed west of UTC:
    assert parse_time("Wed Dec 31 19:00:00 1969") is None


@given(st.text(), st.text())
def test_any_accounting_times_never_raise(start: str, end: str) -> None:
    info = from_accounting("1", {"failed": "0", "exit_status": "0", "start_time": start, "end_time": end}).info
    assert all(isinstance(info[k], float) for k in ("started", "ended") if k in info)
    assert info["start_time"] == start and info["end_time"] == end


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn"))),
       st.text(alphabet="".join(sorted(SGE_LETTERS)), max_size=4))
def test_any_qstat_start_time_never_raises(text: str, code: str) -> None:
    document = (f"<job_info><queue_info><job_list><JB_job_number>1</JB_job_number><state>{code}</state>"
                f"<JAT_start_time>{escape(text)}</JAT_start_time></job_list></queue_info></job_info>")
    for job in parse_qstat_xml(document):
        status = from_qstat("1", job.state, start_time=job.start_time)
        assert isinstance(status.info.get("started", 0.0), float)
