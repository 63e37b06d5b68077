"""Job arrays on SGE: the ``qsub -t`` command line, the tasks' ids, one qsub per array (fake qsub)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from attrs import evolve

from paraschut.errors import SchedulerCommandError
from paraschut.models import Executor
from paraschut_sge import arrays
from paraschut_sge.arrays import qsub_array_argv

from .test_commands import fake, spec


def test_qsub_array_argv_runs_the_launcher_as_a_binary_for_n_tasks() -> None:
    jobs = [spec(f"step {i}", job_index=i, env={"X": str(i)}) for i in range(3)]
    executor = Executor("sge", {"queue": "all.q", "extra_args": ["-P", "proj"]})
    argv = qsub_array_argv("qsub", executor, [evolve(j, resources={"walltime": "90"}) for j in jobs],
                           "/w/array-x.json", python="/py")
    assert argv == ["qsub", "-terse", "-t", "1-3", "-N", "step_0", "-o", "/w/array-x.$TASK_ID.log", "-j", "y",
                    "-wd", "/w", "-b", "y", "-shell", "n", "-q", "all.q", "-l", "h_rt=0:01:30", "-P", "proj",
                    "/py", "-m", "paraschut.arrays", "--first", "1", "/w/array-x.json"]
    assert "-v" not in argv  # the values are in the manifest, not on the command line or in qsub's environment


def test_array_ids_are_job_dot_task() -> None:
    assert arrays.array_ids("27", 3) == ["27.1", "27.2", "27.3"]


def test_an_array_is_one_qsub_and_each_task_gets_its_id(tmp_path: Path) -> None:
    args = tmp_path / "args"
    fake(tmp_path / "bin", "qsub", f'printf "%s\\n" "$@" > {args}; echo 27.1-3:1')
    executor = Executor("sge", {"bin_dir": str(tmp_path / "bin")})
    jobs = [spec(job_index=i, stdout=str(tmp_path / f"{i}.out"), env={"V": str(i)}) for i in range(3)]
    assert arrays.submit_array(executor, jobs) == ["27.1", "27.2", "27.3"]
    manifest = args.read_text().split()[-1]
    assert Path(manifest).parent == tmp_path and [e["env"] for e in json.loads(Path(manifest).read_text())] == [
        {"V": "0"}, {"V": "1"}, {"V": "2"}]


def test_a_refused_array_raises_and_a_timed_out_one_is_not_retried(tmp_path: Path) -> None:
    count = tmp_path / "count"
    fake(tmp_path / "bin", "qsub", "echo 'Unable to run job: job rejected: too many tasks' >&2; exit 1")
    executor = Executor("sge", {"bin_dir": str(tmp_path / "bin"), "retries": 0})
    jobs = [spec(job_index=i, stdout=str(tmp_path / "logs" / f"{i}.out")) for i in range(2)]
    with pytest.raises(SchedulerCommandError, match="too many tasks"):
        arrays.submit_array(executor, jobs)
    assert list((tmp_path / "logs").iterdir()) == []  # the manifest of a refused array is removed
    fake(tmp_path / "bin", "qsub", "echo 'no job number here'")
    with pytest.raises(SchedulerCommandError, match="no job number"):
        arrays.submit_array(executor, jobs)
    fake(tmp_path / "bin", "qsub", f"echo x >> {count}; exec sleep 5")
    slow = Executor("sge", {"bin_dir": str(tmp_path / "bin"), "timeout": 0.2})
    with pytest.raises(SchedulerCommandError, match="timed out"):
        arrays.submit_array(slow, jobs)
    assert count.read_text().count("x") == 1
