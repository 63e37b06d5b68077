"""The pbs executor passes paraschut's executor contract on a real Slurm, through Slurm's PBS wrappers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from paraschut import Executor
from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED, JobStatus
from paraschut.testing import ExecutorContract, make_spec, require_scheduler, wait_for_state

TORQUE_BIN = "/opt/slurm-torque/usr/bin"


@pytest.fixture(scope="module")
def slurm() -> None:
    """Skip (fail under PARASCHUT_REQUIRE_CLUSTERS=1) once for the module: a down controller takes ~9 s to say so."""
    # `qstat -Q` (the queues), not a bare `qstat`: that exits 153 whenever no job is listed.
    require_scheduler("slurm", [f"{TORQUE_BIN}/qstat", "-Q"])


class TestPBSContract(ExecutorContract):
    executor_name = "pbs"
    timeout = 60.0
    # Slurm (behind the wrappers) removes backslashes from log paths, with no escape: refused.
    refused_paths = frozenset({"backslash"})

    @pytest.fixture
    def executor(self, slurm: None) -> Executor:
        return Executor("pbs", {"bin_dir": TORQUE_BIN, "timeout": 30})

    # The contract's test_failing_job_keeps_its_exit_code passes as it is: Slurm's qstat shows
    # every finished job as C with no exit status, and the plugin resolves those jobs from
    # Slurm's own record (one `scontrol -o show job`), which says FAILED and ExitCode=7:0.

    def test_job_name_with_spaces_and_a_queue(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        spec = make_spec(jobdir, 'echo "$PBS_JOBNAME in $(pwd)"', name="9 lives, a name", queue="batch",
                         resources={"walltime": "120", "mem": "64M"})
        sub = manager.submit(executor, spec)
        status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        assert status is not None and status.state == COMPLETE, status
        assert Path(spec.stdout).read_text().strip() == f"lives_a_name in {jobdir}"

    def test_summary_and_own_id(self, manager: ExecutorManager, executor: Executor, jobdir: Path) -> None:
        spec = make_spec(jobdir, 'echo "$PBS_JOBID"')
        sub = manager.submit(executor, spec)
        wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        summary = manager.summary(executor, sub.cluster_id)
        assert summary["id"] == sub.cluster_id and summary["job_state"] == "C"
        seen = Path(spec.stdout).read_text().strip()
        assert manager.current_job_id(executor, {"PBS_JOBID": seen}) == sub.cluster_id
        assert manager.summary(executor, "987654321") == {}

    # -- arrays: one qsub -t 1-N through the wrapper; tasks are JOB_TASK, polled with one scontrol ------
    def _wait_all(self, manager: ExecutorManager, executor: Executor, ids: list[str]) -> dict[str, JobStatus]:
        deadline = time.monotonic() + self.timeout
        while True:
            statuses = manager.status(executor, ids)  # one batched call per round
            if all(cid in statuses and statuses[cid].state in (COMPLETE, FAILED) for cid in ids):
                return statuses
            assert time.monotonic() < deadline, f"array not finished: {statuses}"
            time.sleep(0.5)

    def test_an_array_runs_each_job_with_its_own_environment(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        codes = [0, 0, 7, 0]
        specs = [make_spec(jobdir, 'echo "value=$PSU_VALUE"; exit $PSU_CODE', index=i,
                           env={"PSU_VALUE": f"job {i}, it's", "PSU_CODE": str(code)}) for i, code in enumerate(codes)]
        ids = [s.cluster_id for s in manager.submit_array(executor, specs)]
        number = ids[0].partition("_")[0]
        assert ids == [f"{number}_{t}" for t in range(1, 5)]
        statuses = self._wait_all(manager, executor, ids)
        assert [(statuses[c].state, statuses[c].exit_code) for c in ids] == [
            (COMPLETE, 0), (COMPLETE, 0), (FAILED, 7), (COMPLETE, 0)]
        assert [Path(s.stdout).read_text() for s in specs] == [f"value=job {i}, it's\n" for i in range(4)]
        assert manager.summary(executor, ids[2])["ArrayTaskId"] == "3"

    def test_cancelling_one_task_leaves_the_others(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        specs = [make_spec(jobdir, 'sleep 3; echo "$SLURM_ARRAY_TASK_ID"', index=i) for i in range(3)]
        ids = [s.cluster_id for s in manager.submit_array(executor, specs)]
        assert manager.cancel(executor, [ids[1]]) == [ids[1]]
        statuses = self._wait_all(manager, executor, [ids[0], ids[2]])
        assert statuses[ids[0]].state == statuses[ids[2]].state == COMPLETE
        cancelled = manager.status(executor, [ids[1]]).get(ids[1])  # forgotten when cancelled while pending
        assert cancelled is None or cancelled.state == FAILED, cancelled
        outputs = [Path(s.stdout).read_text() if Path(s.stdout).exists() else "" for s in specs]
        assert outputs == ["1\n", "", "3\n"]

    def test_an_array_task_knows_its_own_id(self, manager: ExecutorManager, executor: Executor, jobdir: Path) -> None:
        body = 'echo "$PBS_JOBID $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID"'
        specs = [make_spec(jobdir, body, index=i) for i in range(2)]
        ids = [s.cluster_id for s in manager.submit_array(executor, specs)]
        self._wait_all(manager, executor, ids)
        for cid, spec in zip(ids, specs, strict=True):
            pbs_jobid, array_job, task = Path(spec.stdout).read_text().split()
            environ = {"PBS_JOBID": pbs_jobid, "SLURM_ARRAY_JOB_ID": array_job, "SLURM_ARRAY_TASK_ID": task}
            assert manager.current_job_id(executor, environ) == cid
