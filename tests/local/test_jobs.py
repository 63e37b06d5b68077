"""Jobs as real processes: outcomes, metrics, cancel of whole trees, bad input, surviving the submitter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED, RUN, Executor
from paraschut.testing import make_spec, wait_for_state
from paraschut_local.launch import JOB_ID_VAR

from .local_helpers import wait_done


def _run_one(manager: ExecutorManager, executor: Executor, jobdir: Path, body: str, **kw: object):
    sub = manager.submit(executor, make_spec(jobdir, body, **kw))  # type: ignore[arg-type]
    return wait_done(manager, executor, [sub.cluster_id])[sub.cluster_id]


def test_success_reports_metrics(manager: ExecutorManager, local_executor: Executor, jobdir: Path) -> None:
    status = _run_one(manager, local_executor, jobdir, "echo out")
    assert status.state == COMPLETE and status.exit_code == 0 and status.reason is None
    for key in ("peak_rss_mb", "cpu_time_s", "wall_time_s", "pid", "host", "started", "ended"):
        assert key in status.info, key
    assert status.info["ended"] >= status.info["started"]
    assert status.info["peak_rss_mb"] > 0


def test_failure_keeps_exit_code_and_stderr_tail(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    body = "for i in $(seq 1 50); do echo line$i >&2; done; exit 3"
    status = _run_one(manager, local_executor, jobdir, body)
    assert status.state == FAILED and status.exit_code == 3
    reason = status.reason or ""
    assert "exit code 3" in reason and "line50" in reason and "line30" not in reason


@pytest.mark.parametrize(("signame", "number"), [("KILL", 9), ("TERM", 15), ("SEGV", 11)])
def test_death_by_signal(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path, signame: str, number: int
) -> None:
    status = _run_one(manager, local_executor, jobdir, f"kill -{signame} $$")
    assert status.state == FAILED
    assert status.exit_code == 128 + number
    assert f"SIG{signame}" in (status.reason or "")


def test_job_knows_its_id(manager: ExecutorManager, local_executor: Executor, jobdir: Path) -> None:
    sub = manager.submit(local_executor, make_spec(jobdir, f'echo "${JOB_ID_VAR}" > {jobdir}/id.txt'))
    wait_done(manager, local_executor, [sub.cluster_id])
    seen = (jobdir / "id.txt").read_text().strip()
    assert seen == sub.cluster_id
    assert manager.current_job_id(local_executor, {JOB_ID_VAR: seen}) == sub.cluster_id
    assert manager.current_job_id(local_executor, {}) is None


def test_job_gets_workdir_and_a_minimal_inherited_environment(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSU_SECRET_OF_SUBMITTER", "leak")
    workdir = jobdir / "wd"
    workdir.mkdir()
    spec = make_spec(jobdir, "pwd > where.txt; env > env.txt", env={"MINE": "1"})
    from attrs import evolve

    sub = manager.submit(local_executor, evolve(spec, workdir=str(workdir)))
    assert wait_done(manager, local_executor, [sub.cluster_id])[sub.cluster_id].state == COMPLETE
    assert (workdir / "where.txt").read_text().strip() == str(workdir)
    env = dict(line.split("=", 1) for line in (workdir / "env.txt").read_text().splitlines() if "=" in line)
    assert env["MINE"] == "1" and env["PATH"] == os.environ["PATH"]
    assert "PSU_SECRET_OF_SUBMITTER" not in env


def test_job_inherits_only_stdin_stdout_and_stderr(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    # the worker holds the spool's SQLite files and its own pipes: none may leak into a job
    probe = (
        "import json, os; targets = {f: os.readlink(f'/proc/self/fd/{f}') for f in (0, 1, 2)}; "
        "fds = os.listdir('/proc/self/fd'); print(json.dumps([targets, len(fds)]))"
    )
    status = _run_one(manager, local_executor, jobdir, f"exec {sys.executable} -c \"{probe}\" > {jobdir}/fds.json")
    assert status.state == COMPLETE
    targets, count = json.loads((jobdir / "fds.json").read_text())
    assert targets["0"] == "/dev/null" and targets["1"] == str(jobdir / "fds.json")
    assert count == 4, "0, 1, 2 and the descriptor listdir opened: nothing else may be inherited"


def test_summary_and_log_paths(manager: ExecutorManager, local_executor: Executor, jobdir: Path) -> None:
    spec = make_spec(jobdir, "sleep 30")
    sub = manager.submit(local_executor, spec)
    wait_for_state(manager, local_executor, sub.cluster_id, {RUN}, 30)
    summary = manager.summary(local_executor, sub.cluster_id)
    assert summary["state"] == "running" and summary["pid"] > 0 and summary["host"]
    assert "usage" in summary and summary["stdout"] == spec.stdout
    assert manager.summary(local_executor, "424242") == {}
    paths = manager.log_paths(local_executor, spec, sub.cluster_id)
    assert paths is not None and paths.stdout == spec.stdout and paths.stderr == spec.stderr


def test_cancel_ends_children_and_grandchildren(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    pids = jobdir / "pids.txt"
    body = (
        f"sleep 300 & echo $! >> {pids}\n"
        f"sh -c 'sleep 300 & echo $! >> {pids}; setsid sleep 300 & echo $! >> {pids}; wait' &\n"
        f"echo $! >> {pids}\necho $$ >> {pids}\nwait"
    )
    sub = manager.submit(local_executor, make_spec(jobdir, body))
    wait_for_state(manager, local_executor, sub.cluster_id, {RUN}, 30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(_read_pids(pids)) < 5:
        time.sleep(0.05)
    tree = _read_pids(pids)
    assert len(tree) == 5 and all(_running(pid) for pid in tree)
    assert manager.cancel(local_executor, [sub.cluster_id]) == [sub.cluster_id]
    status = wait_done(manager, local_executor, [sub.cluster_id])[sub.cluster_id]
    assert status.state == FAILED and status.reason == "cancelled"
    assert not [pid for pid in tree if _running(pid)]


def _read_pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cancel_drops_a_queued_job(manager: ExecutorManager, spool_dir: Path, jobdir: Path) -> None:
    executor = Executor("local", {"spool_dir": str(spool_dir), "max_workers": 1, "kill_grace": 1})
    marker = jobdir / "ran"
    first = manager.submit(executor, make_spec(jobdir, "sleep 30", index=0))
    queued = manager.submit(executor, make_spec(jobdir, f"touch {marker}", index=1))
    assert manager.status(executor, [queued.cluster_id])[queued.cluster_id].raw_state == "queued"
    accepted = manager.cancel(executor, [queued.cluster_id, first.cluster_id, "999"])
    assert sorted(accepted) == sorted([first.cluster_id, queued.cluster_id])
    statuses = wait_done(manager, executor, [first.cluster_id, queued.cluster_id])
    assert statuses[queued.cluster_id].reason == "cancelled"
    assert statuses[first.cluster_id].reason == "cancelled"
    assert not marker.exists()
    assert manager.cancel(executor, [first.cluster_id]) == []


@pytest.mark.parametrize(
    "case", ["missing script", "not executable", "bad env name", "missing workdir", "no shebang"]
)
def test_bad_input_fails_that_job_only(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path, case: str
) -> None:
    from attrs import evolve

    good = manager.submit(local_executor, make_spec(jobdir, "exit 0", index=0))
    spec = make_spec(jobdir, "exit 0", index=1)
    if case == "missing script":
        spec, expected = evolve(spec, script=str(jobdir / "nope.sh")), "does not exist"
    elif case == "not executable":
        os.chmod(spec.script, 0o644)
        expected = "not executable"
    elif case == "bad env name":
        spec, expected = evolve(spec, env={"NOT-VALID": "x"}), "invalid environment variable name"
    elif case == "no shebang":
        Path(spec.script).write_text("exit 0\n")
        expected = "Exec format error"
    else:
        spec, expected = evolve(spec, workdir=str(jobdir / "gone")), "working directory"
    bad = manager.submit(local_executor, spec)
    statuses = wait_done(manager, local_executor, [good.cluster_id, bad.cluster_id])
    assert statuses[bad.cluster_id].state == FAILED
    assert expected in (statuses[bad.cluster_id].reason or "")
    assert statuses[good.cluster_id].state == COMPLETE


def test_one_submission_checks_each_job_with_answers_shared_only_where_they_apply(jobdir: Path) -> None:
    from attrs import evolve

    from paraschut_local.launch import base_env, job_record, problem_of

    base = base_env(os.environ)
    good = make_spec(jobdir, "exit 0", index=0)
    other = make_spec(jobdir, "exit 0", index=1)
    os.chmod(other.script, 0o644)
    specs = [
        good,
        evolve(good, env={"NOT-VALID": "x"}),
        evolve(good, env={"OK": "a\0b"}),
        other,
        evolve(good, workdir=str(jobdir / "gone")),
        good,
        evolve(good, env={"NOT-VALID": "y"}),
    ]
    memo: dict[object, str | None] = {}
    shared = [problem_of(job_record(spec, base), memo) for spec in specs]
    assert shared == [problem_of(job_record(spec, base)) for spec in specs]  # the same as one by one
    assert shared[0] is None and shared[5] is None
    assert "invalid environment variable name" in (shared[1] or "") and shared[6] == shared[1]
    assert "NUL byte" in (shared[2] or "")
    assert "not executable" in (shared[3] or "")
    assert "working directory" in (shared[4] or "")


_SUBMIT_AND_EXIT = """
import sys
from pathlib import Path
from paraschut.models import Executor
from paraschut.testing import make_spec
from paraschut_local import plugin
spool, jobdir = sys.argv[1:3]
executor = Executor("local", {"spool_dir": spool, "max_workers": 1})
ids = []
for i in range(3):
    spec = make_spec(Path(jobdir), f"sleep 0.5; echo done-{i} >> {jobdir}/done.txt", index=i)
    ids.append(plugin.paraschut_submit(executor=executor, job=spec).cluster_id)
print(" ".join(ids))
"""


def test_jobs_survive_the_submitter(manager: ExecutorManager, spool_dir: Path, jobdir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _SUBMIT_AND_EXIT, str(spool_dir), str(jobdir)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    ids = proc.stdout.split()
    assert len(ids) == 3
    # Watch the spool file only: no hook call here may start anything.
    from paraschut_local.spool import DONE, open_spool

    spool = open_spool(str(spool_dir))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = spool.many([int(i) for i in ids])
        if all(row.state == DONE for row in rows):
            break
        time.sleep(0.1)
    assert sorted((jobdir / "done.txt").read_text().split()) == ["done-0", "done-1", "done-2"]
    executor = Executor("local", {"spool_dir": str(spool_dir)})
    assert {s.state for s in manager.status(executor, ids).values()} == {COMPLETE}


def test_other_executors_are_not_answered(jobdir: Path) -> None:
    from paraschut_local import plugin

    other = Executor("pbs")
    spec = make_spec(jobdir, "true")
    assert plugin.paraschut_submit(executor=other, job=spec) is None
    assert plugin.paraschut_status(executor=other, cluster_ids=["1"]) is None
    assert plugin.paraschut_cancel(executor=other, cluster_ids=["1"]) is None
    assert plugin.paraschut_log_paths(executor=other, job=spec, cluster_id="1") is None
    assert plugin.paraschut_job_summary(executor=other, cluster_id="1") is None
    assert plugin.paraschut_current_job_id(executor=other, environ={JOB_ID_VAR: "1"}) is None


_INNER = """
import sys
import time
from pathlib import Path
from paraschut.models import Executor
from paraschut.testing import make_spec
from paraschut_local import plugin
spool, jobdir = sys.argv[1:3]
executor = Executor("local", {"spool_dir": spool, "max_workers": 2})
spec = make_spec(Path(jobdir), "sleep 300", name="inner")
print(plugin.paraschut_submit(executor=executor, job=spec).cluster_id, flush=True)
time.sleep(300)  # the worker of the inner job stays a child of this job's process
"""


def test_cancelling_a_job_spares_the_jobs_it_submitted(
    manager: ExecutorManager, local_executor: Executor, spool_dir: Path, jobdir: Path
) -> None:
    (jobdir / "inner.py").write_text(_INNER)
    body = f'"{sys.executable}" {jobdir}/inner.py {spool_dir} {jobdir} > {jobdir}/inner_id.txt'
    outer = manager.submit(local_executor, make_spec(jobdir, body, name="outer"))
    id_file = jobdir / "inner_id.txt"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (id_file.exists() and id_file.read_text().strip()):
        time.sleep(0.1)
    inner = id_file.read_text().strip()
    wait_for_state(manager, local_executor, inner, {RUN}, 30)
    manager.cancel(local_executor, [outer.cluster_id])
    assert wait_done(manager, local_executor, [outer.cluster_id])[outer.cluster_id].reason == "cancelled"
    assert manager.status(local_executor, [inner])[inner].state == RUN
    manager.cancel(local_executor, [inner])
    assert wait_done(manager, local_executor, [inner])[inner].reason == "cancelled"
