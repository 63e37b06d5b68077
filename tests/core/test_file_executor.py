"""The built-in file executor passes the contract and writes runnable, safely quoted commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from paraschut import Executor
from paraschut.testing import ExecutorContract, make_spec
from paraschut.testing.contract import HOSTILE_VALUES


class TestFileExecutorContract(ExecutorContract):
    executor_name = "file"
    runs_jobs = False

    @pytest.fixture
    def executor(self, tmp_path: Path) -> Executor:
        return Executor("file", {"path": str(tmp_path / "jobs.sh")})

    def finish_jobs(self, manager, executor, subs):  # type: ignore[no-untyped-def]
        """The user's part: run the written script with bash (the jobs stay 'submit' in the status)."""
        path = executor.option("path")
        if Path(path).exists():
            subprocess.run(["bash", path], check=True)
        return {}


def test_written_script_runs_jobs_with_their_environment(tmp_path: Path) -> None:
    from paraschut.manager import ExecutorManager

    manager = ExecutorManager()
    executor = Executor("file", {"path": str(tmp_path / "jobs.sh")})
    dump = tmp_path / "env.txt"
    body = "\n".join(f'printf "%s=%s\\n" {k} "${k}" >> {dump}' for k in HOSTILE_VALUES)
    spec = make_spec(tmp_path / "j", body, env=HOSTILE_VALUES)
    manager.submit(executor, spec)
    subprocess.run(["sh", str(tmp_path / "jobs.sh")], check=True)
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines())
    assert seen == HOSTILE_VALUES
