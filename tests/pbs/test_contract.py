"""The pbs executor passes paraschut's executor contract on a real Slurm, through Slurm's PBS wrappers."""

from __future__ import annotations

from pathlib import Path

import pytest

from paraschut import Executor
from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED
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
