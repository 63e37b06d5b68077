"""The ``sge`` executor against a real Son of Grid Engine (start one with tests/clusters/sge.sh)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import evolve

from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED, Executor
from paraschut.testing import ExecutorContract, make_spec, wait_for_state
from paraschut_sge import commands

pytestmark = pytest.mark.cluster

@pytest.fixture
def sge(require_sge: None) -> Iterator[Executor]:
    """The executor, after require_scheduler("sge", ["qstat"]); jobs left on the queue are deleted."""
    executor = Executor("sge")
    before = {job.job_id for job in commands.queued_jobs(executor)}
    yield executor
    leftover = [job.job_id for job in commands.queued_jobs(executor) if job.job_id not in before]
    if leftover:
        commands.delete(executor, sorted(set(leftover)))


class TestSGEContract(ExecutorContract):
    executor_name = "sge"
    timeout = 60.0

    @pytest.fixture
    def executor(self, sge: Executor) -> Executor:
        return sge


@pytest.fixture
def manager() -> ExecutorManager:
    return ExecutorManager()


@pytest.fixture
def jobdir(tmp_path: Path) -> Path:
    path = tmp_path / "jobs"
    path.mkdir()
    os.chmod(tmp_path, 0o755)
    return path


def test_a_job_stuck_in_error_state_reports_failed(manager: ExecutorManager, sge: Executor, jobdir: Path) -> None:
    spec = evolve(make_spec(jobdir, "exit 0"), stdout="/nonexistent/paraschut/out.txt")
    sub = manager.submit(sge, spec)
    status = wait_for_state(manager, sge, sub.cluster_id, {FAILED, COMPLETE}, 60)
    assert status is not None and status.state == FAILED and status.raw_state == "Eqw"
    assert status.reason is not None and "can't open output file" in status.reason
    assert sub.cluster_id in {job.job_id for job in commands.queued_jobs(sge)}  # Eqw stays until deleted
    assert manager.cancel(sge, [sub.cluster_id]) == [sub.cluster_id]


def test_a_finished_job_is_resolved_from_accounting(manager: ExecutorManager, sge: Executor, jobdir: Path) -> None:
    sub = manager.submit(sge, make_spec(jobdir, "echo bye; exit 5"))
    deadline = time.monotonic() + 60
    while sub.cluster_id in {job.job_id for job in commands.queued_jobs(sge)}:
        assert time.monotonic() < deadline, "job never left the queue"
        time.sleep(0.2)
    status = wait_for_state(manager, sge, sub.cluster_id, {FAILED, COMPLETE}, 15)  # qacct may lag a little
    assert status is not None and (status.state, status.exit_code, status.raw_state) == (FAILED, 5, "qacct")
    assert status.reason == "exit status 5" and status.host


def test_newlines_and_more_hostile_values_reach_the_job(manager: ExecutorManager, sge: Executor, jobdir: Path) -> None:
    env = {"PSU_NEWLINE": "one\ntwo", "PSU_EMPTY": "", "PSU_EQUALS": "a=b=c", "PSU_BLANKS": "  edge  ",
           "PSU_BACKSLASH": "a\\nb\\", "PSU_MINUS_V": "-v X=1,Y"}
    dump = jobdir / "env.bin"
    body = "\n".join(f'printf "%s=%s\\0" {k} "${k}" >> {dump}' for k in env)
    sub = manager.submit(sge, make_spec(jobdir, body, env=env))
    status = wait_for_state(manager, sge, sub.cluster_id, {FAILED, COMPLETE}, 60)
    assert status is not None and status.state == COMPLETE, status
    seen = dict(item.split("=", 1) for item in dump.read_text().split("\0") if item)
    assert seen == env


def test_the_job_knows_its_own_id(manager: ExecutorManager, sge: Executor, jobdir: Path) -> None:
    dump = jobdir / "ids"
    sub = manager.submit(sge, make_spec(jobdir, f'echo "$JOB_ID $SGE_TASK_ID" > {dump}'))
    wait_for_state(manager, sge, sub.cluster_id, {FAILED, COMPLETE}, 60)
    job_id, task = dump.read_text().split()
    assert manager.current_job_id(sge, {"JOB_ID": job_id, "SGE_TASK_ID": task}) == sub.cluster_id


def test_resources_and_a_queue_are_accepted(manager: ExecutorManager, sge: Executor, jobdir: Path) -> None:
    spec = make_spec(jobdir, 'echo "$NSLOTS $PE"', queue="all.q",
                     resources={"nodes": "1:ppn=2", "walltime": "0:10:00", "mem": "1gb"})
    sub = manager.submit(sge, spec)
    status = wait_for_state(manager, sge, sub.cluster_id, {FAILED, COMPLETE}, 60)
    assert status is not None and status.state == COMPLETE, status
    assert Path(spec.stdout).read_text().split() == ["2", "smp"]
    summary = manager.summary(sge, sub.cluster_id)
    assert summary.get("granted_pe") == "smp" and summary.get("slots") == "2"


def test_the_commands_on_path_work_too(manager: ExecutorManager, sge: Executor, jobdir: Path) -> None:
    qsub = shutil.which("qsub")
    assert qsub is not None
    on_path = Executor("sge", {"bin_dir": os.path.dirname(qsub)})  # on Debian: the /usr/bin wrappers
    assert commands.binary(on_path, "qstat") == os.path.join(os.path.dirname(qsub), "qstat")
    sub = manager.submit(on_path, make_spec(jobdir, "exit 0"))
    status = wait_for_state(manager, on_path, sub.cluster_id, {FAILED, COMPLETE}, 60)
    assert status is not None and status.state == COMPLETE, status

