"""paraschut.arrays: each array task finds its own job in the manifest and becomes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from paraschut import arrays
from paraschut.testing import make_spec


@pytest.fixture
def manifest(tmp_path: Path) -> tuple[str, list]:
    specs = [
        make_spec(tmp_path / "jobs", 'echo "$WHO in $(pwd)"; echo "err $WHO" >&2; exit 3', index=i,
                  env={"WHO": f"job {i}, with a comma"})
        for i in range(3)
    ]
    return arrays.write_manifest(specs, str(tmp_path / "arrays")), specs


@pytest.mark.parametrize("variable", ["SGE_TASK_ID", "PBS_ARRAY_INDEX", "SLURM_ARRAY_TASK_ID"])
def test_a_task_becomes_its_job(manifest: tuple[str, list], variable: str) -> None:
    path, specs = manifest
    env = {k: v for k, v in os.environ.items() if k not in arrays.INDEX_VARIABLES}
    proc = subprocess.run(
        [*arrays.task_command(path, first=1)], env={**env, variable: "2"}, capture_output=True, text=True,
    )
    assert proc.returncode == 3  # the job's own exit code: the task became the job
    job = specs[1]
    assert Path(job.stdout).read_text() == f"job 1, with a comma in {job.workdir}\n"
    assert Path(job.stderr).read_text() == "err job 1, with a comma\n"
    assert not Path(specs[0].stdout).exists() and not Path(specs[2].stdout).exists()


def test_an_index_outside_the_manifest_is_a_clear_error(manifest: tuple[str, list]) -> None:
    path, _ = manifest
    proc = subprocess.run(
        [*arrays.task_command(path, first=0)], env={**os.environ, "SGE_TASK_ID": "7"}, capture_output=True, text=True,
    )
    assert proc.returncode == 127
    assert "array task 7 is outside" in proc.stderr


def test_no_index_in_the_environment_is_a_clear_error(manifest: tuple[str, list]) -> None:
    path, _ = manifest
    env = {k: v for k, v in os.environ.items() if k not in arrays.INDEX_VARIABLES}
    proc = subprocess.run([*arrays.task_command(path)], env=env, capture_output=True, text=True)
    assert proc.returncode == 127 and "no array task index" in proc.stderr


def test_the_manifest_is_private(manifest: tuple[str, list]) -> None:
    path, _ = manifest
    assert os.stat(path).st_mode & 0o077 == 0
    assert sys.executable in arrays.task_command(path)
