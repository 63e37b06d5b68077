"""Job arrays: the sbatch --array argv (pure), array task ids in squeue/jobcomp (recorded), and a real array."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from paraschut import Executor, JobSpec, arrays
from paraschut.errors import InvalidJobError
from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED, RUN, SUBMIT
from paraschut.testing import make_spec, require_scheduler
from paraschut_slurm import commands, plugin
from paraschut_slurm.parse import is_job_id, parse_jobcomp, parse_squeue
from paraschut_slurm.states import job_status

FIXTURES = Path(__file__).parent / "fixtures"


def spec(index: int, **kwargs: Any) -> JobSpec:
    fields: dict[str, Any] = {
        "batch_id": 3, "job_index": index, "name": "align", "script": "/w/run.sh", "workdir": "/w",
        "stdout": f"/w/logs/align_{index}.out", "stderr": f"/w/logs/align_{index}.err",
        "env": {"SAMPLE": f"s{index}"},
    }
    fields.update(kwargs)
    return JobSpec(**fields)


# -- pure ----------------------------------------------------------------------------------------
def test_submit_array_argv_is_one_sbatch_with_the_single_job_options() -> None:
    opts = commands.Options(queue="debug", resources={"walltime": "60"}, extra_args=("--hold",))
    jobs = [spec(i, resources={"mem": "2g", "ncpus": "2"}) for i in range(4)]
    argv = commands.submit_array_argv("/usr/bin/sbatch", jobs, opts, "/w/logs/array-x.sh", "/w/logs/array-x.%a.log")
    assert argv == [
        "/usr/bin/sbatch", "--parsable", "--job-name=align", "--array=1-4",
        "--output=/w/logs/array-x.%a.log", "--error=/w/logs/array-x.%a.log",
        "--export=ALL", "--partition=debug", "--chdir=/w", "--time=00:01:00", "--mem=2048M", "--cpus-per-task=2",
        "--hold", "/w/logs/array-x.sh",
    ]
    # the same options as a single job of jobs[0], apart from the logs, the array and the script
    single = commands.submit_argv("/usr/bin/sbatch", jobs[0], opts)
    assert [a for a in argv if not a.startswith(("--array", "--output", "--error", "/w/logs"))] == [
        a for a in single if not a.startswith(("--output", "--error", "/w/run.sh"))]


def test_submit_array_argv_refuses() -> None:
    opts = commands.Options()
    with pytest.raises(InvalidJobError, match="vars"):
        commands.submit_array_argv("sbatch", [spec(0), spec(1, env={"BAD-NAME": "x"})], opts, "s", "l")
    with pytest.raises(InvalidJobError, match="queue"):
        commands.submit_array_argv("sbatch", [spec(0, queue="a b")], opts, "s", "l")
    with pytest.raises(InvalidJobError, match="at least one"):
        commands.submit_array_argv("sbatch", [], opts, "s", "l")


def test_array_files_script_and_task_ids() -> None:
    assert commands.array_files("/w/100% a/array-k1.json") == ("/w/100% a/array-k1.sh", "/w/100%% a/array-k1.%a.log")
    script = commands.array_script("/w/a b/array-k1.json", python="/venv/bin/python")
    assert script.startswith("#!/bin/sh\n")
    assert script.endswith("\nexec /venv/bin/python -m paraschut.arrays --first 1 '/w/a b/array-k1.json'\n")
    assert shlex.split(script.splitlines()[-1]) == [
        "exec", *arrays.task_command("/w/a b/array-k1.json", python="/venv/bin/python")]
    ids = commands.array_task_ids("255", 3)
    assert ids == ["255_1", "255_2", "255_3"] and all(is_job_id(cid) for cid in ids)


def test_plugin_submits_one_sbatch_and_writes_manifest_and_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        assert kwargs["retry_timeouts"] is False and "SAMPLE" not in kwargs["env"]
        return subprocess.CompletedProcess(argv, 0, "255\n", "")

    monkeypatch.setattr(commands, "resolve", lambda command, bin_dir, executor: f"/fake/{command}")
    monkeypatch.setattr(commands, "run", fake_run)
    jobs = [spec(i, stdout=str(tmp_path / f"o{i}"), stderr=str(tmp_path / f"e{i}")) for i in range(3)]
    subs = plugin.paraschut_submit_array(executor=Executor("slurm"), jobs=jobs)
    assert subs is not None
    assert [(s.cluster_id, s.stdout, s.stderr) for s in subs] == [
        ("255_1", jobs[0].stdout, jobs[0].stderr), ("255_2", jobs[1].stdout, jobs[1].stderr),
        ("255_3", jobs[2].stdout, jobs[2].stderr)]
    (argv,) = calls
    script = Path(argv[-1])
    (manifest,) = tmp_path.glob("array-*.json")
    assert script == manifest.with_suffix(".sh") and script.read_text() == commands.array_script(str(manifest))
    assert f"--output={manifest.with_suffix('')}.%a.log" in argv and "--array=1-3" in argv
    assert [arrays.read_entry(str(manifest), i)["env"] for i in (1, 2, 3)] == [j.env for j in jobs]
    assert plugin.paraschut_submit_array(executor=Executor("local"), jobs=jobs) is None
    assert plugin.paraschut_register_executors()[0].supports_arrays


# -- recorded on the real Slurm (squeue -r, jobcomp) ------------------------------------------------
def test_squeue_r_lists_every_task_of_an_array() -> None:
    # a 5-task array on 2 CPUs, some tasks running and the rest pending; without -r squeue
    # prints the pending ones as one row "A_[3-5]" (fixtures/record-slurm.sh)
    text = (FIXTURES / "squeue-array.txt").read_text()
    array = text.split("_", 1)[0]
    collapsed = parse_squeue((FIXTURES / "squeue-array-collapsed.txt").read_text())
    assert any("[" in cid for cid in collapsed) and not all(is_job_id(cid) for cid in collapsed)
    jobs = parse_squeue(text)
    assert sorted(jobs) == [f"{array}_{t}" for t in range(1, 6)] and all(is_job_id(cid) for cid in jobs)
    states = {cid: job_status(cid, rec) for cid, rec in jobs.items()}
    assert {s.state for s in states.values()} == {RUN, SUBMIT}
    for status in states.values():
        if status.state == RUN:
            assert status.host == "vm" and status.reason == "running"
        else:
            assert status.host is None and str(status.reason).startswith("pending: ")


def test_jobcomp_files_array_tasks_under_their_task_id() -> None:
    lines = (FIXTURES / "jobcomp-array.log").read_text().splitlines(keepends=True)
    array = lines[0].split(" ArrayJobId=", 1)[1].split()[0]
    (own,) = [line.split()[0].removeprefix("JobId=") for line in lines if " ArrayTaskId=2 " in line]
    wanted = [f"{array}_{t}" for t in range(1, 6)]
    jobs = parse_jobcomp(lines, [*wanted, f"{array}_9", own])
    assert sorted(jobs) == sorted([*wanted, own])  # `own`: task 2 under its own JobId too
    states = {cid: job_status(cid, jobs[cid]) for cid in wanted}
    assert [(states[cid].state, states[cid].exit_code) for cid in wanted] == [
        (COMPLETE, 0), (FAILED, 7), (COMPLETE, 0), (COMPLETE, 0), (COMPLETE, 0)]
    assert jobs[f"{array}_2"] == jobs[own] and jobs[own]["ArrayTaskId"] == "2"
    assert parse_jobcomp(lines, [f"{array[1:]}_1", f"{array}_10"]) == {}


# -- the real Slurm --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slurm() -> None:
    require_scheduler("slurm", ["squeue", "-h"])


class CountingRun:
    """Wraps paraschut.commands.run: counts the calls of each Slurm command."""

    def __init__(self, run: Any) -> None:
        self.wrapped = run
        self.names: list[str] = []

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.names.append(os.path.basename(argv[0]))
        return self.wrapped(argv, **kwargs)  # type: ignore[no-any-return]


def test_a_real_array(slurm: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path.chmod(0o755)
    counting = CountingRun(commands.run)
    monkeypatch.setattr(commands, "run", counting)
    manager, executor = ExecutorManager(), Executor("slurm", {"timeout": 30})
    body = 'echo "$PSU_VALUE ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} $(pwd)"; [ "$PSU_VALUE" != two ] || exit 7'
    values = ["one", "two", "three", "four"]
    specs = [make_spec(tmp_path, body, name="arr", index=i, env={"PSU_VALUE": v}) for i, v in enumerate(values)]
    specs[2] = make_spec(tmp_path, 'echo "three"; sleep 60', name="arr", index=2, env={"PSU_VALUE": "three"})
    assert manager.supports_arrays(executor)
    subs = manager.submit_array(executor, specs)
    assert counting.names == ["sbatch"]
    job_id = subs[0].cluster_id.split("_")[0]
    assert [s.cluster_id for s in subs] == [f"{job_id}_{t}" for t in range(1, 5)]
    # cancel task 3 whether it is still pending or already running: the others go on
    first = manager.status(executor, [s.cluster_id for s in subs])
    assert set(first) == {s.cluster_id for s in subs} and first[subs[2].cluster_id].state in (SUBMIT, RUN)
    assert manager.cancel(executor, [subs[2].cluster_id]) == [subs[2].cluster_id]
    wanted = [s.cluster_id for s in subs]
    deadline, got = time.monotonic() + 60, dict[str, Any]()
    while time.monotonic() < deadline:
        before = counting.names.count("squeue")
        got = manager.status(executor, wanted)
        assert counting.names.count("squeue") == before + 1  # one squeue per poll, array or not
        if all(got.get(c) is None or got[c].state in (COMPLETE, FAILED) for c in wanted) and len(got) >= 3:
            break
        time.sleep(0.5)
    states = {cid: (s.state, s.exit_code) for cid, s in got.items()}
    assert states[wanted[0]] == (COMPLETE, 0) and states[wanted[3]] == (COMPLETE, 0), states
    assert states[wanted[1]] == (FAILED, 7), states
    # a task cancelled while pending leaves no record at all (Slurm drops it from the array); a running one is CANCELLED
    cancelled = got.get(wanted[2])
    assert cancelled is None or (cancelled.state == FAILED and "cancelled" in str(cancelled.reason)), cancelled
    for index in (0, 1, 3):
        value, task_id, cwd = Path(specs[index].stdout).read_text().split()
        assert (value, task_id, cwd) == (values[index], wanted[index], str(tmp_path))
        environ = {"SLURM_JOB_ID": "1", "SLURM_ARRAY_JOB_ID": job_id, "SLURM_ARRAY_TASK_ID": str(index + 1)}
        assert manager.current_job_id(executor, environ) == wanted[index]
    summary = manager.summary(executor, wanted[1])
    assert (summary["id"], summary["JobState"], summary["ExitCode"]) == (wanted[1], "FAILED", "7:0")
    assert summary["ArrayJobId"] == job_id and summary["ArrayTaskId"] == "2"
    # what status falls back to after MinJobAge: the jobcomp file names the task by ArrayJobId/ArrayTaskId
    found = commands.finished_records(commands.options(executor), [wanted[1], wanted[3]], listed=())
    assert (found[wanted[1]]["ExitCode"], found[wanted[3]]["JobState"]) == ("7:0", "COMPLETED")
    # Slurm's own -o/-e of the tasks: only launcher errors would land there (task 3's may say CANCELLED)
    (manifest,) = tmp_path.glob("array-*.json")
    for task in (1, 2, 4):
        log = manifest.with_suffix(f".{task}.log")
        assert not log.exists() or log.read_text() == "", log.read_text()
