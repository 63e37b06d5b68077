"""Real SGE, Slurm and PBS (Slurm's wrappers) behind fault-injecting shims: a scheduler command that fails,
hangs past its timeout or prints garbage never makes the job index lie.

After every fault the index must stay true: no job submitted twice, none both on the scheduler and in
init, no job marked missing, complete or failed by a poll that did not work, and the next good call
converges. Every test ends with ``PRAGMA integrity_check`` and a comparison of the index with the
scheduler's own queue (real qstat/squeue, not through the shims). Absent schedulers skip.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.errors import SchedulerCommandError, UncertainSubmissionError
from paraschut.refresh import Refresh, refresh
from paraschut.session import get_session, reset_sessions
from paraschut.testing import FaultyCommands, faults, require_scheduler

SGE_BIN = "/var/lib/gridengine/bin/lx-amd64"
SGE_ENV = {**os.environ, "SGE_ROOT": "/var/lib/gridengine", "SGE_CELL": "default"}
TORQUE_BIN = "/opt/slurm-torque/usr/bin"
TIMEOUT = 4  # seconds per scheduler command: hangs are cut after this
HANG = 60
REAL_RAN = ("real", "real_then_fail", "real_then_hang", "truncated")


@dataclass
class Scheduler:
    """One real scheduler behind shims, and how to read its queue without them."""

    name: str
    shims: FaultyCommands
    submit: str
    status: str
    cancel: str
    accounting: str | None
    live_argv: list[str]
    parse_live: Callable[[str], dict[str, list[str]]]
    delete_argv: list[str]
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def live(self) -> dict[str, list[str]]:
        """This test's jobs on the scheduler's queue (not ending), by name: {name: [ids]}."""
        proc = subprocess.run(self.live_argv, capture_output=True, text=True, timeout=60, check=True, env=SGE_ENV)
        return {n: ids for n, ids in self.parse_live(proc.stdout).items() if self.token in n}

    def submissions(self, name: str) -> int:
        """How many submit calls that reached the real scheduler named this job."""
        return sum(1 for c in self.shims.calls(self.submit)
                   if c.action in REAL_RAN and any(name in a for a in c.args))


def _sge_live(text: str) -> dict[str, list[str]]:
    from paraschut_sge.parse import parse_qstat_xml

    out: dict[str, list[str]] = {}
    for job in parse_qstat_xml(text):
        if "d" not in job.state:  # being deleted: gone in a moment
            out.setdefault(job.name, []).append(job.job_id)
    return out


def _squeue_live(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        job_id, state, name = line.split("|", 2)
        if state in ("PENDING", "RUNNING", "CONFIGURING", "SUSPENDED"):
            out.setdefault(name, []).append(job_id)
    return out


def _make(name: str, directory: Path) -> Scheduler:
    squeue = ["squeue", "-h", "-o", "%i|%T|%j"]
    if name == "sge":
        require_scheduler("sge", [f"{SGE_BIN}/qstat"], env=SGE_ENV)
        shims = FaultyCommands(directory, ["qsub", "qstat", "qdel", "qacct"], real=SGE_BIN)
        return Scheduler(name, shims, "qsub", "qstat", "qdel", "qacct", [f"{SGE_BIN}/qstat", "-xml", "-u", "*"],
                         _sge_live, [f"{SGE_BIN}/qdel"])
    if name == "slurm":
        require_scheduler("slurm", ["squeue", "-h"])
        shims = FaultyCommands(directory, ["sbatch", "squeue", "scontrol", "sacct", "scancel"], real="/usr/bin")
        return Scheduler(name, shims, "sbatch", "squeue", "scancel", "scontrol", squeue, _squeue_live, ["scancel"])
    require_scheduler("slurm", [f"{TORQUE_BIN}/qstat", "-Q"])
    shims = FaultyCommands(directory, ["qsub", "qstat", "qdel"], real=TORQUE_BIN)
    return Scheduler(name, shims, "qsub", "qstat", "qdel", None, squeue, _squeue_live, ["scancel"])


@pytest.fixture(params=["sge", "slurm", "pbs"])
def sched(request: pytest.FixtureRequest, index_env: Path, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Scheduler]:
    """A real scheduler behind shims, as the default executor, with short timeouts and no retries."""
    setup = _make(request.param, tmp_path / "shims")
    extra = 'flavour = "slurm"\n' if setup.name == "pbs" else ""
    (index_env / "none.toml").write_text(
        f'[executors.{setup.name}]\nbin_dir = "{setup.shims.bin_dir}"\ntimeout = {TIMEOUT}\nretries = 0\n{extra}'
    )
    monkeypatch.setenv("PARASCHUT_EXECUTOR", setup.name)
    monkeypatch.setenv("PARASCHUT_MISSING_GRACE", "30")  # the default: a poll that lies must not make jobs missing
    reset_sessions()
    yield setup
    setup.shims.heal()
    leftover = [i for ids in setup.live().values() for i in ids]
    if leftover:
        subprocess.run([*setup.delete_argv, *leftover], capture_output=True, timeout=60, check=False, env=SGE_ENV)


def add_job(sched: Scheduler, tmp_path: Path, body: str, python: bool = False) -> str:
    """Add job 1/0 running ``body``; returns its name (the scheduler's too)."""
    script = tmp_path / f"job.{'py' if python else 'sh'}"
    head = f"#!{sys.executable}\nimport paraschut as psu\n" if python else "#!/bin/sh\n"
    script.write_text(head + body + "\n")
    script.chmod(0o755)
    name = f"f{sched.token}x0"
    psu.add_batch_to_queue(1, [{"script": str(script), "name": name}])
    return name


def job(index: int = 0) -> dict[str, object]:
    return dict(psu.get_job_info(1, index))


def poll() -> Refresh:
    session = get_session()
    return refresh(session, session.index.jobs(), force=True)


def wait_for(predicate: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; job: {job()}")
        time.sleep(1)


def assert_index_true(sched: Scheduler, resubmitted: bool = False) -> None:
    """The index file is sound and agrees with the scheduler's queue job by job."""
    db = os.environ["PARASCHUT_DB"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    jobs = get_session().index.jobs()
    live = sched.live()
    deadline = time.monotonic() + 30
    # a job that marked itself complete is still on the queue until its script exits (and SGE's
    # epilogue runs): wait for it to leave rather than call that a disagreement
    while any(row["state"] in ("complete", "failed") and str(row["name"]) in live for row in jobs):
        assert time.monotonic() < deadline, f"finished jobs still on the scheduler: {live}"
        time.sleep(0.5)
        live = sched.live()
    for row in jobs:
        name = str(row["name"])
        on_queue = live.get(name, [])
        assert len(on_queue) <= 1, f"{name} is on the scheduler {len(on_queue)} times: {on_queue}"
        if on_queue:
            assert row["state"] in ("submit", "run"), f"{name} is queued as {on_queue} but {row['state']!r} here"
            assert row["ClusterID"] in (None, on_queue[0]), (row["ClusterID"], on_queue)
        if not resubmitted:
            assert sched.submissions(name) <= 1, f"{name} was submitted {sched.submissions(name)} times"
    assert not set(live) - {str(r["name"]) for r in jobs}, f"scheduler jobs unknown to the index: {live}"


# -- submission ---------------------------------------------------------------------------------
def test_a_refused_submission_stays_init_names_the_command_then_submits_once(
    sched: Scheduler, tmp_path: Path
) -> None:
    name = add_job(sched, tmp_path, "sleep 300")
    sched.shims.on(sched.submit, faults.fail(1, "injected refusal: queue is closed\n"))
    with pytest.raises(SchedulerCommandError) as caught:
        psu.submit_jobs()
    assert not isinstance(caught.value, UncertainSubmissionError)
    assert sched.submit in str(caught.value) and "injected refusal: queue is closed" in str(caught.value)
    refused = job()
    assert (refused["state"], refused["ClusterID"]) == ("init", None)
    assert "injected refusal" in str(refused["submit_error"])
    assert_index_true(sched)
    assert psu.submit_jobs() == 1
    assert job()["state"] == "submit" and job()["ClusterID"]
    assert sched.submissions(name) == 1 and sched.live()[name] == [job()["ClusterID"]]
    assert_index_true(sched)


SUBMIT_FAULTS = {
    "hang": faults.hang(HANG),
    "submitted_then_hang": faults.real_then_hang(HANG),
    "submitted_then_socket_timeout": faults.real_then_fail(1, "error: Socket timed out on send/recv operation\n"),
    "exit_0_without_an_id": faults.garbage(),
}


@pytest.mark.parametrize("fault", sorted(SUBMIT_FAULTS))
def test_an_uncertain_submission_is_never_submitted_twice(sched: Scheduler, tmp_path: Path, fault: str) -> None:
    name = add_job(sched, tmp_path, "job = psu.get_job_info(SetID=True)\npsu.set_complete(job)", python=True)
    sched.shims.on(sched.submit, SUBMIT_FAULTS[fault])
    with pytest.raises(UncertainSubmissionError) as caught:
        psu.submit_jobs()
    assert sched.submit in str(caught.value) and "may have queued" in str(caught.value)
    held = job()
    if held["ClusterID"] is None:
        assert held["state"] == "submit", held  # kept: the scheduler may have it
    else:  # it already started (during the timeout) and recorded its id itself
        assert fault.startswith("submitted") and held["state"] in ("run", "complete"), held
    assert psu.submit_jobs() == 0  # never again on its own
    poll()
    assert job()["state"] != "init"
    assert_index_true(sched)
    if fault.startswith("submitted"):  # the scheduler has it: the job records itself when it starts
        wait_for(lambda: poll() is not None and job()["state"] == "complete")
        assert job()["ClusterID"]
    else:  # it never reached the scheduler: a person resets it, then it goes once
        assert sched.live().get(name) is None
        assert psu.qdel_job(1, 0) == 1 and job()["state"] == "init"
        assert psu.submit_jobs() == 1 and job()["ClusterID"]
    assert sched.submissions(name) == 1
    assert_index_true(sched)


@pytest.mark.parametrize("fault", ["hang", "submitted_then_socket_timeout"])
def test_a_held_submission_is_looked_up_once_the_timeout_has_passed(
    sched: Scheduler, tmp_path: Path, fault: str
) -> None:
    """A job that never calls get_job_info(SetID=True) is not left in submit for a person to find:
    once held for the executor's timeout, the next submit_jobs asks the scheduler by its stdout."""
    name = add_job(sched, tmp_path, "sleep 300")
    sched.shims.on(sched.submit, SUBMIT_FAULTS[fault])
    with pytest.raises(UncertainSubmissionError):
        psu.submit_jobs()
    assert (job()["state"], job()["ClusterID"]) == ("submit", None)
    assert psu.submit_jobs() == 0  # held for less than the timeout: left alone
    assert (job()["state"], job()["ClusterID"]) == ("submit", None)
    time.sleep(TIMEOUT + 0.5)
    submitted = psu.submit_jobs()
    if fault == "hang":  # the scheduler never had it: back to init, then submitted once
        assert submitted == 0 and (job()["state"], job()["ClusterID"]) == ("init", None)
        assert psu.submit_jobs() == 1
        assert sched.live()[name] == [job()["ClusterID"]]
    else:  # it had it: recorded with the scheduler's id, as if the answer had come
        assert submitted == 0 and job()["state"] == "submit"
        assert sched.live()[name] == [job()["ClusterID"]]
    assert sched.submissions(name) == 1
    assert_index_true(sched)


# -- status -------------------------------------------------------------------------------------
STATUS_FAULTS = {
    "fail": faults.fail(1, "error: injected: cannot reach the server\n"),
    "hang": faults.hang(HANG),
    "garbage": faults.garbage(),
    "empty": faults.empty(),
    "truncated": faults.truncated(0.5),
}


@pytest.mark.parametrize("fault", sorted(STATUS_FAULTS))
def test_a_bad_status_poll_changes_nothing_and_the_next_good_one_converges(
    sched: Scheduler, tmp_path: Path, fault: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    add_job(sched, tmp_path, "sleep 300")
    assert psu.submit_jobs() == 1
    monkeypatch.setenv("PARASCHUT_STATUS_INTERVAL", "1")  # polls share a snapshot and take the lease
    before = job()
    sched.shims.always(sched.status, STATUS_FAULTS[fault])
    time.sleep(1.2)
    with caplog.at_level(logging.WARNING, logger="paraschut.refresh"):
        session = get_session()
        result = refresh(session, session.index.jobs())
    after = job()
    assert (after["state"], after["ClusterID"]) == (before["state"], before["ClusterID"])
    assert not result.missing and not result.resolved
    if fault in ("fail", "hang", "garbage") or sched.name == "sge":
        assert sched.name in result.errors, result
        assert f"could not poll executor {sched.name!r}" in caplog.text
        psu.get_queue()
        assert "could not" in capsys.readouterr().out.lower()  # the dashboard says so too
    (lease,) = session.index.query("SELECT polling_until FROM status_snapshots WHERE executor=?", (sched.name,))
    assert lease[0] is None, "a failed poll must give the lease back"
    assert_index_true(sched)
    sched.shims.heal()
    time.sleep(1.2)
    good = refresh(session, session.index.jobs())
    assert not good.errors and (1, 0) in set(good.online) | good.queued, good
    assert_index_true(sched)


# -- cancel -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["fail", "hang"])
def test_a_failed_cancel_says_so_and_keeps_the_job_active(sched: Scheduler, tmp_path: Path, fault: str) -> None:
    name = add_job(sched, tmp_path, "sleep 300")
    assert psu.submit_jobs() == 1
    action = faults.fail(1, "error: injected: cannot reach the server\n") if fault == "fail" else faults.hang(HANG)
    sched.shims.always(sched.cancel, action)
    with pytest.raises(SchedulerCommandError) as caught:
        psu.qdel_job(1, 0)
    assert sched.cancel in str(caught.value)
    assert job()["state"] in ("submit", "run") and sched.live()[name] == [job()["ClusterID"]]
    assert_index_true(sched)
    sched.shims.heal()
    assert psu.qdel_job(1, 0) == 1 and job()["state"] == "init"
    wait_for(lambda: name not in sched.live(), timeout=30)
    assert_index_true(sched)


# -- accounting ---------------------------------------------------------------------------------
ACCOUNTING_FAULTS = {
    "fail": faults.fail(2, "error: injected: accounting file unreadable\n"),
    "hang": faults.hang(HANG),
    "garbage": faults.garbage(),
    "truncated": faults.truncated(0.3),
}


@pytest.mark.parametrize("fault", sorted(ACCOUNTING_FAULTS))
def test_bad_accounting_never_resolves_a_finished_job_wrongly(sched: Scheduler, tmp_path: Path, fault: str) -> None:
    if sched.accounting is None:
        pytest.skip("the pbs executor on Slurm's wrappers reads finished jobs through scontrol on PATH")
    name = add_job(sched, tmp_path, "echo failing >&2\nexit 3")
    sched.shims.always(sched.accounting, ACCOUNTING_FAULTS[fault])
    assert psu.submit_jobs() == 1
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the scheduler is done with it, polling through the fault
        poll()
        state = job()
        assert state["state"] in ("submit", "run") or (state["state"], state.get("exit_code")) == ("failed", 3), state
        if state["state"] == "failed":  # resolved all the same, from a source that told the truth
            break
        if name not in sched.live() and sched.shims.count(sched.accounting) >= 2:
            break
        time.sleep(1)
    assert_index_true(sched)
    sched.shims.heal()
    wait_for(lambda: poll() is not None and job()["state"] == "failed", timeout=90)
    assert job()["exit_code"] == 3
    assert_index_true(sched)
