"""The hook implementations: dispatch by executor name, and one batched poll (qstat, qstat -j, qacct)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from attrs import evolve

from paraschut.errors import SchedulerCommandError
from paraschut.models import COMPLETE, FAILED, RUN, SUBMIT, Executor, JobSpec, LogPaths
from paraschut_sge import arrays, commands, plugin
from paraschut_sge.parse import parse_qacct, parse_qstat_j, parse_qstat_xml

Read = Callable[[str], str]
SGE = Executor("sge")
OTHER = Executor("pbs")


def spec(tmp_path: Path) -> JobSpec:
    return JobSpec(batch_id=1, job_index=2, name="a job", script="/bin/true", workdir=str(tmp_path),
                   stdout=str(tmp_path / "out"), stderr=str(tmp_path / "err"))


def test_other_executors_are_not_answered(tmp_path: Path) -> None:
    job = spec(tmp_path)
    assert plugin.paraschut_submit(OTHER, job) is None
    assert plugin.paraschut_status(OTHER, ["1"]) is None
    assert plugin.paraschut_cancel(OTHER, ["1"]) is None
    assert plugin.paraschut_log_paths(OTHER, job, "1") is None
    assert plugin.paraschut_job_summary(OTHER, "1") is None
    assert plugin.paraschut_current_job_id(OTHER, {"JOB_ID": "1"}) is None


@pytest.mark.parametrize(("environ", "expected"), [
    ({"JOB_ID": "12", "SGE_TASK_ID": "undefined"}, "12"), ({"JOB_ID": "12"}, "12"),
    ({"JOB_ID": "12", "SGE_TASK_ID": "3"}, "12.3"), ({}, None), ({"JOB_ID": ""}, None),
])
def test_current_job_id(environ: dict[str, str], expected: str | None) -> None:
    assert plugin.paraschut_current_job_id(SGE, environ) == expected


def test_log_paths_are_the_job_files_or_sge_names_inside_a_directory(tmp_path: Path) -> None:
    job = spec(tmp_path)
    assert plugin.paraschut_log_paths(SGE, job, "5") == LogPaths(str(tmp_path / "out"), str(tmp_path / "err"))
    in_dir = evolve(job, stdout=str(tmp_path), stderr=str(tmp_path))
    expected = LogPaths(str(tmp_path / "a_job.o5"), str(tmp_path / "a_job.e5"))
    assert plugin.paraschut_log_paths(SGE, in_dir, "5") == expected


def test_one_poll_maps_queued_error_and_finished_jobs(fixture_text: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []
    accounts = {"4": fixture_text("qacct_complete.txt"), "5": fixture_text("qacct_exit3.txt")}

    def queued(executor: Executor) -> object:
        calls.append(("qstat", None))
        return parse_qstat_xml(fixture_text("qstat_xml_mixed.xml"))

    def details(executor: Executor, ids: list[str]) -> object:
        calls.append(("qstat -j", ids))
        return parse_qstat_j(fixture_text("qstat_j_eqw.txt")) if ids else {}

    def accounting(executor: Executor, number: str) -> object:
        calls.append(("qacct", number))
        return parse_qacct(accounts[number]) if number in accounts else []

    monkeypatch.setattr(commands, "queued_jobs", queued)
    monkeypatch.setattr(commands, "job_details", details)
    monkeypatch.setattr(commands, "accounting_records", accounting)
    statuses = plugin.paraschut_status(SGE, ["8", "12", "6", "11.2", "4", "5", "404"])
    assert statuses is not None
    assert {cid: s.state for cid, s in statuses.items()} == {
        "8": RUN, "12": SUBMIT, "6": FAILED, "11.2": SUBMIT, "4": COMPLETE, "5": FAILED,
    }
    assert statuses["6"].reason is not None and "can't open output file" in statuses["6"].reason
    assert statuses["8"].host == "vm" and statuses["8"].info["name"] == "running1"
    assert statuses["5"].exit_code == 3
    # when SGE says the jobs started and ended (qstat's JAT_start_time, qacct's start/end_time)
    assert statuses["8"].info["started"] == time.mktime((2026, 11, 29, 22, 24, 43, 0, 0, -1))
    ok_at = time.mktime((2026, 11, 29, 22, 24, 39, 0, 0, -1))
    assert statuses["4"].info["started"] == statuses["4"].info["ended"] == ok_at
    assert "started" not in statuses["12"].info and "ended" not in statuses["8"].info
    assert calls.count(("qstat", None)) == 1 and ("qstat -j", ["6"]) in calls
    assert sorted(c[1] for c in calls if c[0] == "qacct") == ["4", "404", "5"]  # only ids that left the queue


def test_summary_falls_back_to_accounting_then_to_nothing(fixture_text: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "job_details", lambda e, ids: parse_qstat_j(fixture_text("qstat_j_running.txt")))
    assert plugin.paraschut_job_summary(SGE, "8")["job_name"] == "running1"  # type: ignore[index]
    monkeypatch.setattr(commands, "job_details", lambda e, ids: {})
    monkeypatch.setattr(commands, "accounting", lambda e, cid: parse_qacct(fixture_text("qacct_exit3.txt"))[0])
    assert plugin.paraschut_job_summary(SGE, "5")["exit_status"] == "3"  # type: ignore[index]
    monkeypatch.setattr(commands, "accounting", lambda e, cid: None)
    assert plugin.paraschut_job_summary(SGE, "5") == {}


def test_cancel_of_nothing_calls_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "delete", lambda e, ids: pytest.fail("qdel called"))
    assert plugin.paraschut_cancel(SGE, []) == []


def test_a_failing_reason_lookup_still_reports_the_error_state(
    fixture_text: Read, monkeypatch: pytest.MonkeyPatch
) -> None:
    def details(executor: Executor, ids: list[str]) -> object:
        raise SchedulerCommandError(["qstat", "-j", *ids], 1, "error: commlib error")

    monkeypatch.setattr(commands, "queued_jobs", lambda e: parse_qstat_xml(fixture_text("qstat_xml_eqw.xml")))
    monkeypatch.setattr(commands, "job_details", details)
    statuses = plugin.paraschut_status(SGE, ["6"])
    assert statuses is not None and (statuses["6"].state, statuses["6"].reason) == (FAILED, "SGE error state Eqw")


def test_ids_that_are_not_sge_job_numbers_are_never_looked_up() -> None:
    assert commands.accounting(SGE, "psu*") is None
    assert commands.accounting(SGE, "12.x") is None


def test_one_poll_maps_array_tasks_running_pending_finished_and_deleted(
    fixture_text: Read, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(commands, "queued_jobs", lambda e: parse_qstat_xml(fixture_text("qstat_xml_array.xml")))
    monkeypatch.setattr(commands, "accounting_records",
                        lambda e, n: calls.append(n) or parse_qacct(fixture_text("qacct_array.txt")))
    statuses = plugin.paraschut_status(SGE, ["418.2", "418.12", "418.13"])
    assert statuses is not None
    assert {c: s.state for c, s in statuses.items()} == {"418.2": RUN, "418.12": SUBMIT}
    assert calls == ["418"]  # 418.13 is in no task list: one qacct for the job number
    monkeypatch.setattr(commands, "queued_jobs", lambda e: [])
    calls.clear()
    statuses = plugin.paraschut_status(SGE, ["418.1", "418.3", "418.6", "418.11"])  # all left the queue
    assert statuses is not None and calls == ["418"]
    assert {c: (s.state, s.exit_code) for c, s in statuses.items()} == {
        "418.1": (FAILED, 1), "418.3": (COMPLETE, 0), "418.11": (FAILED, 2)}  # 6: deleted while pending


def test_an_array_is_one_submission_per_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = [evolve(spec(tmp_path), job_index=i, stdout=str(tmp_path / f"{i}.out")) for i in range(3)]
    monkeypatch.setattr(arrays, "submit_array", lambda e, js: arrays.array_ids("9", len(js)))
    subs = plugin.paraschut_submit_array(SGE, jobs)
    assert subs is not None and [(s.cluster_id, s.stdout) for s in subs] == [
        ("9.1", jobs[0].stdout), ("9.2", jobs[1].stdout), ("9.3", jobs[2].stdout)]
    assert plugin.paraschut_submit_array(OTHER, jobs) is None
    assert [i.supports_arrays for i in plugin.paraschut_register_executors()] == [True]
