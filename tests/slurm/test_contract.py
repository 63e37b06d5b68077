"""The slurm executor passes paraschut's executor contract on a real Slurm (tests/clusters/slurm.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest
from attrs import evolve

from paraschut import Executor
from paraschut.errors import ParaschutError
from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED
from paraschut.testing import ExecutorContract, make_spec, require_scheduler, wait_for_state
from paraschut_slurm import commands


@pytest.fixture(scope="module")
def slurm() -> None:
    """Skip (fail under PARASCHUT_REQUIRE_CLUSTERS=1) once for the module: a down controller takes ~9 s to say so."""
    require_scheduler("slurm", ["squeue", "-h"])


class TestSlurmContract(ExecutorContract):
    executor_name = "slurm"
    timeout = 60.0
    # Slurm removes backslashes from --output/--error, with no escape: refused (check_log_paths).
    refused_paths = frozenset({"backslash"})

    @pytest.fixture
    def executor(self, slurm: None) -> Executor:
        return Executor("slurm", {"timeout": 30})

    # test_failing_job_keeps_its_exit_code passes as it is: squeue -t all lists the job as FAILED
    # without an exit code, and one `scontrol -o show job ID` says ExitCode=7:0. Resolution after
    # MinJobAge (300 s here), from the jobcomp file, is tested on recorded lines in test_parse.py
    # and test_plugin.py.

    def test_newlines_and_percent_signs_reach_the_job(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        env = {"PSU_NEWLINE": "line 1\nline 2", "PSU_EXPORT": "ALL,X=1 --export=NONE"}
        logs = jobdir / "100% sure"
        logs.mkdir()
        spec = make_spec(jobdir, 'printf "%s|%s" "$PSU_NEWLINE" "$PSU_EXPORT"', env=env, name="nl")
        spec = evolve(spec, stdout=str(logs / "o%j.out"), stderr=str(logs / "e%j.err"))
        sub = manager.submit(executor, spec)
        status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        assert status is not None and status.state == COMPLETE, status
        assert (logs / "o%j.out").read_text() == f"{env['PSU_NEWLINE']}|{env['PSU_EXPORT']}"

    def test_partition_resources_and_summary(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        spec = make_spec(jobdir, 'echo "$SLURM_JOB_ID $SLURM_JOB_PARTITION $SLURM_CPUS_PER_TASK $(pwd)"',
                         name="9 lives, a name", queue="batch",
                         resources={"walltime": "120", "mem": "64M", "ncpus": "2"})
        sub = manager.submit(executor, spec)
        status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        assert status is not None and status.state == COMPLETE and status.host, status
        job_id, partition, cpus, cwd = Path(spec.stdout).read_text().split()
        assert (job_id, partition, cpus, cwd) == (sub.cluster_id, "batch", "2", str(jobdir))
        assert manager.current_job_id(executor, {"SLURM_JOB_ID": job_id}) == sub.cluster_id
        summary = manager.summary(executor, sub.cluster_id)
        assert summary["id"] == sub.cluster_id and summary["JobState"] == "COMPLETED"
        assert summary["JobName"] == "9_lives_a_name"
        assert (summary["TimeLimit"], summary["Partition"]) == ("00:02:00", "batch")
        assert "mem=64M" in summary["TRES"]
        assert manager.summary(executor, "987654321") == {}

    def test_a_refused_job_raises(self, manager: ExecutorManager, executor: Executor, jobdir: Path) -> None:
        with pytest.raises(ParaschutError, match="partition"):
            manager.submit(executor, make_spec(jobdir, "true", queue="nosuchpartition"))

    def test_the_real_jobcomp_file_resolves_a_finished_job(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        # what happens MinJobAge (300 s) after the job: squeue and scontrol forget it, jobcomp.log does not
        sub = manager.submit(executor, make_spec(jobdir, "exit 7"))
        wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        opts = commands.options(executor)
        (record,) = commands.finished_records(opts, [sub.cluster_id], listed=()).values()
        assert (record["JobState"], record["ExitCode"]) == ("FAILED", "7:0")

    def test_cancel_of_unknown_and_finished_ids(self, manager: ExecutorManager, executor: Executor) -> None:
        assert manager.cancel(executor, ["987654321"]) == []
