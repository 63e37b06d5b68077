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
from paraschut.models import COMPLETE, FAILED, Executor, JobStatus
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
    # SGE expands $HOME, $JOB_ID... in -wd/-o/-e with no escape, cuts paths at newlines and reads
    # -o/-e as comma-separated lists: the plugin refuses such paths (commands.check_paths).
    refused_paths = frozenset({"command substitution", "dollar", "newline", "comma and colon"})

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



def _wait_all(manager: ExecutorManager, executor: Executor, ids: list[str], timeout: float) -> dict[str, JobStatus]:
    """Poll all the ids with one batched status call per round until every one has finished."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = manager.status(executor, ids)
        if all(cid in statuses and statuses[cid].state in (COMPLETE, FAILED) for cid in ids):
            return statuses
        assert time.monotonic() < deadline, f"array not finished in {timeout} s: {statuses}"
        time.sleep(0.5)


def test_an_array_runs_each_job_with_its_own_environment(manager: ExecutorManager, sge: Executor, jobdir: Path) -> None:
    codes = [0, 0, 7, 0]
    specs = [make_spec(jobdir, 'echo "value=$PSU_VALUE"; exit $PSU_CODE', index=i,
                       env={"PSU_VALUE": f"job {i}, a b", "PSU_CODE": str(code)}) for i, code in enumerate(codes)]
    subs = manager.submit_array(sge, specs)
    ids = [s.cluster_id for s in subs]
    number = ids[0].partition(".")[0]
    assert ids == [f"{number}.{t}" for t in range(1, 5)]
    statuses = _wait_all(manager, sge, ids, 60)
    assert [(statuses[c].state, statuses[c].exit_code) for c in ids] == [
        (COMPLETE, 0), (COMPLETE, 0), (FAILED, 7), (COMPLETE, 0)]
    assert [Path(s.stdout).read_text() for s in specs] == [f"value=job {i}, a b\n" for i in range(4)]
    assert manager.summary(sge, ids[2]).get("taskid") == "3"


def test_cancelling_one_task_leaves_the_others(manager: ExecutorManager, sge: Executor, jobdir: Path) -> None:
    specs = [make_spec(jobdir, "sleep 3; echo $SGE_TASK_ID", index=i) for i in range(3)]
    ids = [s.cluster_id for s in manager.submit_array(sge, specs)]
    assert manager.cancel(sge, [ids[1]]) == [ids[1]]
    statuses = _wait_all(manager, sge, [ids[0], ids[2]], 60)
    assert statuses[ids[0]].state == statuses[ids[2]].state == COMPLETE
    cancelled = manager.status(sge, [ids[1]]).get(ids[1])  # no record when deleted while pending
    assert cancelled is None or cancelled.state == FAILED, cancelled
    outputs = [Path(s.stdout).read_text() if Path(s.stdout).exists() else "" for s in specs]
    assert outputs == ["1\n", "", "3\n"]


def test_an_array_task_knows_its_own_id(manager: ExecutorManager, sge: Executor, jobdir: Path) -> None:
    specs = [make_spec(jobdir, 'echo "$JOB_ID $SGE_TASK_ID"', index=i) for i in range(2)]
    ids = [s.cluster_id for s in manager.submit_array(sge, specs)]
    _wait_all(manager, sge, ids, 60)
    for cid, spec in zip(ids, specs, strict=True):
        job_id, task = Path(spec.stdout).read_text().split()
        assert manager.current_job_id(sge, {"JOB_ID": job_id, "SGE_TASK_ID": task}) == cid
