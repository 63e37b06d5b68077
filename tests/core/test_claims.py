"""Claims survive interruptions: Ctrl-C during submission, and a submitter killed with jobs claimed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

import paraschut as psu
from paraschut import Submission, hookimpl
from paraschut.session import get_session

from ._fakes import FakeExecutor, job


class Interrupting(FakeExecutor):
    """A fake executor whose n-th submission is interrupted by Ctrl-C."""

    def __init__(self, name: str, at: int) -> None:
        super().__init__(name)
        self.at, self.calls = at, 0

    @hookimpl
    def paraschut_submit(self, executor: Any, job: Any) -> Submission | None:
        if executor.name != self.name:
            return None
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return super().paraschut_submit(executor, job)


def test_ctrl_c_while_submitting_returns_the_unsubmitted_jobs_to_init(env) -> None:  # noqa: ANN001
    fake = Interrupting("intr", at=3)
    env.manager.pm.register(fake, name="intr")
    env.manager._infos = None
    psu.add_batch_to_queue(1, [job(i) for i in range(5)])
    with pytest.raises(KeyboardInterrupt):
        psu.submit_jobs(Executor="intr")
    got = {j["JobIndex"]: j for j in psu.get_queue(Verbose=False)[1]}
    assert [got[i]["state"] for i in range(5)] == ["submit", "submit", "init", "init", "init"]
    assert got[0]["ClusterID"] and got[1]["ClusterID"]
    assert psu.submit_jobs(Executor="intr") == 3
    assert sorted(spec.job_index for _, spec in fake.submitted) == [0, 1, 2, 3, 4]  # each exactly once


def _dead_token() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:{started:.3f}"


def test_jobs_claimed_by_a_dead_submitter_are_submitted_by_the_next_call(env) -> None:  # noqa: ANN001
    psu.add_batch_to_queue(1, [job(i) for i in range(4)])
    index = get_session().index
    with index.write() as conn:  # what a submitter killed right after claiming leaves behind
        conn.execute("UPDATE jobs SET state='submit', submitter=? WHERE JobIndex < 3", (_dead_token(),))
    assert psu.submit_jobs(Executor="fake") == 4
    assert {j["state"] for j in psu.get_queue(Verbose=False)[1]} == {"submit"}
    assert len(env.fake.submitted) == 4


def test_claims_of_a_live_submitter_are_left_alone(env) -> None:  # noqa: ANN001
    from paraschut.submission import submitter_token

    psu.add_batch_to_queue(1, [job(i) for i in range(2)])
    with get_session().index.write() as conn:
        conn.execute("UPDATE jobs SET state='submit', submitter=? WHERE JobIndex = 0", (submitter_token(),))
    assert psu.submit_jobs(Executor="fake") == 1
    assert psu.get_job_info(1, 0)["state"] == "submit" and psu.get_job_info(1, 0)["ClusterID"] is None


def test_a_log_created_empty_before_submission_does_not_count_as_a_run(tmp_path) -> None:
    import os
    import time

    from paraschut.submission import _log_written

    log = tmp_path / "0.0.out"
    log.write_text("")  # what build_spec creates, owner-only, before the intent is recorded
    intended = time.time() + 1
    assert not _log_written(str(log), intended)  # untouched since: the job never started
    os.utime(log, (intended + 1, intended + 1))  # opened with O_TRUNC by the job's start
    assert _log_written(str(log), intended)
    log.write_text("started\n")
    assert _log_written(str(log), time.time() + 100)
    assert not _log_written(str(tmp_path / "missing.out"), 0) and not _log_written(None, 0)


class Uncertain(FakeExecutor):
    """A fake executor whose first submission may have worked: it times out without an answer."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.calls = 0
        self.knows: dict[str, str] | None = None  # what paraschut_find_submitted answers

    @hookimpl
    def paraschut_submit(self, executor: Any, job: Any) -> Submission | None:
        if executor.name != self.name:
            return None
        self.calls += 1
        if self.calls == 1:
            raise psu.SchedulerCommandError(["fakesub", job.script], None, "", timed_out=True)
        return super().paraschut_submit(executor, job)


class Lookup:
    def __init__(self, fake: Uncertain) -> None:
        self.fake = fake

    @hookimpl
    def paraschut_find_submitted(self, executor: Any, jobs: Any, since: float) -> Any:
        return self.fake.knows if executor.name == self.fake.name else None


def _held(monkeypatch: pytest.MonkeyPatch, env: Any) -> Uncertain:
    """Job 1/0 held after an uncertain submission to 'unsure', with no grace left."""
    from paraschut import submission

    unsure = Uncertain("unsure")
    env.manager.pm.register(unsure, name="unsure")
    psu.add_batch_to_queue(1, [job(0)])
    with pytest.raises(psu.UncertainSubmissionError):
        psu.submit_jobs(Executor="unsure")
    held = psu.get_job_info(1, 0)
    assert (held["state"], held["ClusterID"]) == ("submit", None)
    assert psu.submit_jobs(Executor="unsure") == 0  # within the grace: left alone
    monkeypatch.setattr(submission, "_grace", lambda session: lambda name: 0.0)
    return unsure


def test_a_held_job_stays_held_when_the_plugin_cannot_look_it_up(env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    unsure = _held(monkeypatch, env)
    for _ in range(2):
        before = time.time()
        assert psu.submit_jobs(Executor="unsure") == 0
        held = psu.get_job_info(1, 0)
        assert (held["state"], held["ClusterID"]) == ("submit", None) and "may have queued" in held["submit_error"]
        ((token,),) = get_session().index.query("SELECT submitter FROM jobs WHERE BatchID=1 AND JobIndex=0")
        assert token.startswith("held:") and float(token[5:]) >= before - 0.01  # asked again after a grace
    assert unsure.submitted == []  # never submitted again


def test_a_held_job_the_scheduler_has_is_recorded_with_its_id(env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    unsure = _held(monkeypatch, env)
    env.manager.pm.register(Lookup(unsure), name="lookup")
    unsure.knows = {"psu1_0": "unsure-77"}
    assert psu.submit_jobs(Executor="unsure") == 0
    found = psu.get_job_info(1, 0)
    assert (found["state"], found["ClusterID"]) == ("submit", "unsure-77")
    assert unsure.submitted == []


def test_a_held_job_the_scheduler_never_had_is_submitted_once(env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    unsure = _held(monkeypatch, env)
    env.manager.pm.register(Lookup(unsure), name="lookup")
    unsure.knows = {}
    assert psu.submit_jobs(Executor="unsure") == 0  # looked up after this call's claim: back to init
    assert psu.get_job_info(1, 0)["state"] == "init"
    assert psu.submit_jobs(Executor="unsure") == 1
    assert [cid for cid, _ in unsure.submitted] == ["unsure-0"]
    assert psu.get_job_info(1, 0)["ClusterID"] == "unsure-0"
