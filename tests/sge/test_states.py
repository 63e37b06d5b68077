"""SGE state codes and accounting records map to paraschut states, whatever the code."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraschut.models import COMPLETE, FAILED, RUN, SCHEDULER_STATES, SUBMIT, UNKNOWN
from paraschut_sge.parse import QueuedJob, parse_qacct, parse_qstat_xml
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
