"""Job arrays: the qsub argv of each flavour, the tasks' ids, and one qsub per array (fake commands)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from paraschut.errors import SchedulerCommandError
from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED, RUN, SUBMIT, Executor, JobSpec
from paraschut_pbs import arrays, plugin
from paraschut_pbs.commands import Options, status_argv

from .fakes import FIXTURES, Fake, executor


def jobs(directory: Path, count: int = 3) -> list[JobSpec]:
    return [JobSpec(batch_id=1, job_index=i, name="map reads", script=str(directory / "job.sh"),
                    workdir=str(directory), stdout=str(directory / "logs" / f"{i}.out"),
                    stderr=str(directory / "logs" / f"{i}.err"), env={"V": f"value {i}"}, resources={"walltime": "60"})
            for i in range(count)]


@pytest.mark.parametrize(("flavour", "expected"), [
    ("pro", ["qsub", "-N", "map_reads", "-o", "/l/a.^array_index^.out", "-e", "/l/a.^array_index^.err",
             "-l", "walltime=00:01:00", "-J", "1-3", "/l/a.sh"]),
    ("torque", ["qsub", "-N", "map_reads", "-o", "/l/a.out", "-e", "/l/a.err", "-l", "walltime=00:01:00",
                "-d", "/w", "-t", "1-3", "/l/a.sh"]),
    ("slurm", ["qsub", "-N", "map_reads", "-o", "/l/a.%a.out", "-e", "/l/a.%a.err", "-l", "walltime=00:01:00",
               "-V", "-wd", "/w", "-t", "1-3", "/l/a.sh"]),
])
def test_array_argv_per_flavour(flavour: str, expected: list[str]) -> None:
    specs = jobs(Path("/w"))
    assert arrays.array_argv("qsub", specs, Options(), flavour, "/l/a.sh") == expected


def test_no_job_value_reaches_the_command_line() -> None:
    argv = arrays.array_argv("qsub", jobs(Path("/w")), Options(env_mode="names"), "torque", "/l/a.sh")
    assert "-v" not in argv and not any("value" in a for a in argv)


@pytest.mark.parametrize(("printed", "flavour", "ids"), [
    ("1234[].pbsserver", "pro", ["1234[1].pbsserver", "1234[2].pbsserver"]),
    ("77[].head.example.org", "torque", ["77[1].head.example.org", "77[2].head.example.org"]),
    ("77[]", "torque", ["77[1]", "77[2]"]),
    ("255", "slurm", ["255_1", "255_2"]),
])
def test_task_ids(printed: str, flavour: str, ids: list[str]) -> None:
    assert arrays.task_ids(printed, 2, flavour) == ids


def test_the_launcher_script_execs_the_manifest_runner(tmp_path: Path) -> None:
    manifest = tmp_path / "my logs" / "array-x.json"
    text = arrays.launcher_script(str(manifest), python="/py thon")
    assert text.startswith("#!/bin/sh\nexec ")
    assert shlex.split(text.splitlines()[1]) == ["exec", "/py thon", "-m", "paraschut.arrays", "--first", "1",
                                                 str(manifest)]


def test_subjob_ids_ask_qstat_for_subjobs() -> None:
    assert status_argv("qstat", "pro", True, ["1[2].s"]) == ["qstat", "-f", "-x", "-t", "-F", "json", "1[2].s"]
    assert status_argv("qstat", "torque", False, ["1[2].s", "3.s"]) == ["qstat", "-f", "-t", "1[2].s", "3.s"]


def test_pro_array_is_one_qsub_and_the_tasks_run_their_own_jobs(fake: Fake, manager: ExecutorManager) -> None:
    fake.answer("qstat", version="pbs_version = 19.1.3\n")
    fake.answer("qsub", out="1234[].pbsserver\n")
    specs = jobs(fake.path)
    subs = manager.submit_array(executor(fake), specs)
    assert [s.cluster_id for s in subs] == ["1234[1].pbsserver", "1234[2].pbsserver", "1234[3].pbsserver"]
    assert [s.stdout for s in subs] == [s.stdout for s in specs]
    (call,) = fake.calls("qsub")
    assert call["argv"][-3:-1] == ["-J", "1-3"] and call["env"] == {}
    script = call["argv"][-1]
    for index, spec in enumerate(specs, start=1):  # what PBS would run: the script with the task's index
        Path(spec.script).write_text('#!/bin/sh\necho "$V"\n')
        os.chmod(spec.script, 0o755)
        env = {k: v for k, v in os.environ.items() if not k.endswith(("TASK_ID", "ARRAY_INDEX", "ARRAYID"))}
        subprocess.run([script], env={**env, "PBS_ARRAY_INDEX": str(index)}, check=True)
        assert Path(spec.stdout).read_text() == f"value {index - 1}\n"
    manifest = json.loads(Path(script).with_suffix(".json").read_text())
    assert [e["stdout"] for e in manifest] == [s.stdout for s in specs]


def test_a_refused_array_leaves_nothing_and_a_timed_out_one_is_not_retried(
    fake: Fake, manager: ExecutorManager
) -> None:
    fake.answer("qstat", version="Version: 6.1.2\n")
    fake.answer("qsub", err="qsub: Job rejected by all possible destinations\n", rc=1)
    specs = jobs(fake.path)
    with pytest.raises(SchedulerCommandError, match="rejected"):
        manager.submit_array(executor(fake), specs)
    assert list((fake.path / "logs").iterdir()) == []
    (fake.path / "qsub").write_text("#!/bin/sh\necho x >> \"$FAKE_PBS/count\"; exec sleep 5\n")
    with pytest.raises(SchedulerCommandError, match="timed out"):
        manager.submit_array(executor(fake, timeout=0.3), specs)
    assert (fake.path / "count").read_text() == "x\n"


def test_one_job_is_a_plain_submission(fake: Fake) -> None:
    fake.answer("qstat", version="pbs_version = 19.1.3\n")
    fake.answer("qsub", out="99.pbsserver\n")
    assert arrays.submit_array(Options(bin_dir=str(fake.path), flavour="pro"), jobs(fake.path, 1)) == ["99.pbsserver"]
    assert "-J" not in fake.calls("qsub")[0]["argv"]


def test_slurm_tasks_are_polled_with_one_scontrol(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.answer("qstat", out="")
    (fake.path / "scontrol").write_text(f"#!/bin/sh\ncat {FIXTURES / 'slurm-scontrol-array-running.txt'}\n")
    (fake.path / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.path}:{os.environ['PATH']}")
    slurm = executor(fake, flavour="slurm")
    statuses = plugin.paraschut_status(slurm, ["255_1", "255_2", "255_4", "255_9"])
    assert statuses is not None and {c: s.state for c, s in statuses.items()} == {
        "255_1": RUN, "255_2": RUN, "255_4": SUBMIT}
    assert fake.calls("qstat") == []  # the wrapper's qstat cannot name a task
    summary = plugin.paraschut_job_summary(slurm, "255_2")
    assert summary is not None and summary["JobId"] == "257"
    (fake.path / "scontrol").write_text(f"#!/bin/sh\ncat {FIXTURES / 'slurm-scontrol-array-done.txt'}\n")
    statuses = plugin.paraschut_status(slurm, ["255_3", "255_4", "255_5"])
    assert statuses is not None and {c: (s.state, s.exit_code) for c, s in statuses.items()} == {
        "255_3": (FAILED, 7), "255_4": (COMPLETE, 0)}  # 5 was cancelled while pending: forgotten


@pytest.mark.parametrize(("environ", "expected"), [
    ({"PBS_JOBID": "1234[2].pbsserver", "PBS_ARRAY_INDEX": "2"}, "1234[2].pbsserver"),
    ({"PBS_JOBID": "310", "SLURM_JOB_ID": "310", "SLURM_ARRAY_JOB_ID": "308", "SLURM_ARRAY_TASK_ID": "2"}, "308_2"),
    ({"PBS_JOBID": "311", "SLURM_JOB_ID": "311"}, "311"),
])
def test_a_task_knows_its_own_id(environ: dict[str, str], expected: str) -> None:
    assert plugin.paraschut_current_job_id(Executor("pbs"), environ) == expected
