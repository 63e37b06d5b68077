"""The contract every executor plugin passes: submit, batched status, exit codes, cancel, environment."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from ..manager import ExecutorManager
from ..models import COMPLETE, FAILED, Executor, JobSpec, JobStatus
from ..plugins import get_plugin_manager

__all__ = ["ExecutorContract", "make_spec", "wait_for_state", "write_script"]

#: Values that break naive quoting: they must reach the job byte for byte.
HOSTILE_VALUES: dict[str, str] = {
    "PSU_SPACES": "a b  c",
    "PSU_COMMA": "x,y=z",
    "PSU_QUOTES": "it's \"quoted\"",
    "PSU_DOLLAR": "$HOME and `id` and $(id)",
    "PSU_SEMI": "a;b|c&d>e",
    "PSU_UNICODE": "é😀",
}


def write_script(path: Path, body: str) -> str:
    """Write an executable ``#!/bin/sh`` script and return its absolute path."""
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path.resolve())


def make_spec(
    tmp: Path, body: str, *, name: str = "contract", index: int = 0, env: Mapping[str, str] | None = None,
    resources: Mapping[str, str] | None = None, queue: str | None = None,
) -> JobSpec:
    """A JobSpec for a script with ``body``, logging into ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    script = write_script(tmp / f"{name}_{index}.sh", body)
    return JobSpec(
        batch_id=1, job_index=index, name=name, script=script, workdir=str(tmp),
        stdout=str(tmp / f"{name}_{index}.out"), stderr=str(tmp / f"{name}_{index}.err"),
        env=dict(env or {}), resources=dict(resources or {}), queue=queue,
    )


def wait_for_state(
    manager: ExecutorManager, executor: Executor, cluster_id: str, states: set[str], timeout: float
) -> JobStatus | None:
    """Poll the batched status until the job reaches one of ``states`` (None: it left no trace)."""
    deadline = time.monotonic() + timeout
    status: JobStatus | None = None
    while time.monotonic() < deadline:
        status = manager.status(executor, [cluster_id]).get(cluster_id)
        if status is not None and status.state in states:
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {cluster_id} did not reach {sorted(states)} in {timeout} s: last {status}")


class ExecutorContract:
    """Subclass it in a plugin's tests and override the ``executor`` fixture."""

    executor_name: ClassVar[str] = ""
    #: False for executors that never run jobs themselves (the file executor).
    runs_jobs: ClassVar[bool] = True
    #: Seconds a trivial job may take from submission to its final state.
    timeout: ClassVar[float] = 60.0

    @pytest.fixture
    def manager(self) -> ExecutorManager:
        return ExecutorManager(get_plugin_manager())

    @pytest.fixture
    def executor(self) -> Executor:
        return Executor(self.executor_name)

    @pytest.fixture
    def jobdir(self, tmp_path: Path) -> Path:
        path = tmp_path / "jobs"
        path.mkdir()
        os.chmod(tmp_path, 0o755)  # noqa: S103 - schedulers running as another user read it
        return path

    def test_executor_is_registered(self, manager: ExecutorManager) -> None:
        assert self.executor_name in manager.executors

    def test_submit_returns_an_id(self, manager: ExecutorManager, executor: Executor, jobdir: Path) -> None:
        sub = manager.submit(executor, make_spec(jobdir, "exit 0"))
        assert sub.cluster_id
        again = manager.submit(executor, make_spec(jobdir, "exit 0", index=1))
        assert again.cluster_id != sub.cluster_id

    def test_check_scheduler_answers(self, manager: ExecutorManager, executor: Executor) -> None:
        answer = manager.check_scheduler(executor)
        assert answer and answer != "no check implemented by the plugin"

    def test_status_of_no_jobs_is_empty(self, manager: ExecutorManager, executor: Executor) -> None:
        assert manager.status(executor, []) == {}

    def test_job_completes(self, manager: ExecutorManager, executor: Executor, jobdir: Path) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        spec = make_spec(jobdir, "echo hello-out; echo hello-err >&2; exit 0")
        sub = manager.submit(executor, spec)
        status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        assert status is not None and status.state == COMPLETE, status
        out = Path(sub.stdout or spec.stdout)
        assert "hello-out" in out.read_text()
        assert "hello-err" in Path(sub.stderr or spec.stderr).read_text()

    def test_failing_job_keeps_its_exit_code(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        sub = manager.submit(executor, make_spec(jobdir, "exit 7"))
        status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        assert status is not None and status.state == FAILED
        assert status.exit_code == 7

    def test_find_submitted_finds_a_submission_by_its_stdout(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        """What a submitter killed before recording a job relies on (optional hook: None skips)."""
        since = time.time()
        spec = make_spec(jobdir, "exit 0", name="findme")
        never = make_spec(jobdir, "exit 0", name="neverseen", index=1)
        found = manager.find_submitted(executor, [spec, never], since)
        if found is None:
            pytest.skip(f"the {self.executor_name} executor does not implement paraschut_find_submitted")
        assert found == {}
        sub = manager.submit(executor, spec)
        assert manager.find_submitted(executor, [spec, never], since) == {spec.key: sub.cluster_id}

    def test_environment_reaches_the_job_intact(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        dump = jobdir / "env.txt"
        body = "\n".join(f'printf "%s=%s\\n" {k} "${k}" >> {dump}' for k in HOSTILE_VALUES)
        sub = manager.submit(executor, make_spec(jobdir, body, env=HOSTILE_VALUES, name="env job"))
        status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        assert status is not None and status.state == COMPLETE, status
        seen = dict(line.split("=", 1) for line in dump.read_text().splitlines())
        assert seen == HOSTILE_VALUES

    def test_cancel_stops_a_running_job(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        marker = jobdir / "finished"
        sub = manager.submit(executor, make_spec(jobdir, f"sleep 30; touch {marker}"))
        wait_for_state(manager, executor, sub.cluster_id, {"run"}, self.timeout)
        assert sub.cluster_id in manager.cancel(executor, [sub.cluster_id])
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            status = manager.status(executor, [sub.cluster_id]).get(sub.cluster_id)
            if status is None or not status.on_queue:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("cancelled job still on the queue")
        assert not marker.exists()

    def test_unknown_ids_are_left_out(self, manager: ExecutorManager, executor: Executor) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        assert "987654321" not in manager.status(executor, ["987654321"])
