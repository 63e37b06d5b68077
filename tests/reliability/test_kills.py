"""SIGKILL on real processes, on every executor with a real backend: a running job, and the process
submitting a batch. What must hold afterwards: paraschut's view agrees with the scheduler's, nothing
runs twice, nothing is lost, and the pipeline finishes after the README's resets.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import paraschut as psu
from paraschut.refresh import refresh
from paraschut.session import get_session

try:
    from . import _kill_helpers as kh
except ImportError:  # tests/reliability is not a package: pytest put this folder on sys.path
    import _kill_helpers as kh  # type: ignore[no-redef]

executor = kh.executor  # the parametrized fixture: local, pbs, sge, slurm

MAP = """
job = psu.get_job_info(SetID=True)
marks = os.environ["MARKS"]
with open(os.path.join(marks, f"pid.{job['JobIndex']}"), "a") as fh:
    fh.write(f"{os.getpid()}\\n")
if job["JobIndex"] == 0 and not os.path.exists(os.path.join(marks, "killed")):
    time.sleep(600)  # the first run of job 0 waits here for its SIGKILL
job["output"] = 10 * (job["JobIndex"] + 1)
psu.set_complete(job, Submit=True)
"""
COLLECT = """
job = psu.get_job_info(SetID=True)
maps = psu.get_queue(Filter=f"BatchID = {job['BatchID']} AND priority > 0", Verbose=False)[job["BatchID"]]
job["total"] = sum(m["output"] for m in maps)
with open(os.path.join(os.environ["MARKS"], "collect"), "a") as fh:
    fh.write(f"{os.getpid()}\\n")
psu.set_complete(job)
"""


def _state(batch: int, index: int) -> str:
    return str(psu.get_job_info(batch, index)["state"])


def test_a_killed_job_is_failed_or_missing_and_the_pipeline_finishes_after_a_reset(
    executor: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    map_script = kh.python_script(tmp_path / "map.py", MAP)
    collect_script = kh.python_script(tmp_path / "collect.py", COLLECT)
    env = {"MARKS": str(marks)}
    jobs = [{"JobIndex": i, "priority": 1, "script": map_script, "vars": env, "name": f"kmap{i}"} for i in (0, 1)]
    jobs.append({"JobIndex": 2, "priority": 0, "script": collect_script, "vars": env, "name": "kcollect"})
    psu.add_batch_to_queue(1, jobs)
    assert psu.submit_jobs() == 2

    kh.wait_for(lambda: (marks / "pid.0").exists() and _state(1, 0) == "run", 120, "job 0 to run")
    pid = int((marks / "pid.0").read_text().split()[0])
    if executor == "local":  # the pid the local executor recorded is the job's own process
        assert kh.local_pid(str(psu.get_job_info(1, 0)["ClusterID"])) == pid
    kh.job_process(pid)
    (marks / "killed").touch()
    kh.sigkill(pid)

    session = get_session()
    seen: dict[str, object] = {}

    def failed_or_missing() -> bool:
        result = refresh(session, session.index.jobs(), force=True)
        if (1, 0) in result.missing:
            seen["how"] = "missing"
            return True
        info = psu.get_job_info(1, 0)
        if info["state"] == "failed":
            seen.update(how="failed", exit_code=info.get("exit_code"), error=info.get("error"))
            return True
        assert info["state"] in ("run", "submit"), kh.dump(dict(info))
        return False

    kh.wait_for(failed_or_missing, 120, "the killed job to be failed or missing")
    print(executor, "after SIGKILL:", seen)
    if seen["how"] == "failed":  # how it ended, as far as the scheduler tells: 137 = 128 + 9, or the signal
        assert seen["exit_code"] == 137 or "signal 9" in str(seen["error"]), seen
    # job 1 completes meanwhile, and the collect job waits: job 0 did not complete
    kh.wait_for(lambda: _state(1, 1) == "complete", 120, "job 1 to complete")
    assert psu.submit_jobs() == 0 and _state(1, 2) == "init"

    if seen["how"] == "missing":
        psu.get_queue(Verbose=False, ResetMissing=True)
    else:
        assert psu.set_job_field(1, 0) == 1  # the README's reset: back to init (unless complete)
    assert _state(1, 0) == "init"

    def finished() -> bool:
        psu.submit_jobs()  # what periodic_submitter does; set_complete(Submit=True) also submits
        return _state(1, 2) in ("complete", "failed")

    kh.wait_for(finished, 180, "the collect job to finish")
    collect = psu.get_job_info(1, 2)
    assert collect["state"] == "complete" and collect["total"] == 30, kh.dump(dict(collect))
    assert len((marks / "pid.0").read_text().split()) == 2  # killed once, then ran once more
    assert len((marks / "pid.1").read_text().split()) == 1
    assert len((marks / "collect").read_text().split()) == 1
    assert [r[0] for r in kh.index_rows("SELECT run FROM log_history WHERE JobIndex=0 ORDER BY run")] == [0, 1]
    kh.assert_index_intact()


#: enough jobs that the submitter can be caught a quarter in: the local executor takes ~1 ms a job
N_JOBS = {"local": 400, "sge": 40, "pbs": 40, "slurm": 40}
#: seconds a scheduler command may take (executor option ``timeout``)
GRACE = 10


def _check_scheduler_agrees(executor: str, tag: str) -> dict[str, list[str]]:
    """No job both on the scheduler and in init (or claimed without an id), none submitted twice,
    and every job the scheduler has is recorded with the id the scheduler gave it."""
    on_scheduler = kh.scheduler_jobs(executor, tag)
    twice = {name: ids for name, ids in on_scheduler.items() if len(ids) > 1}
    assert not twice, f"submitted twice: {twice}"
    rows = {f"{tag}_{r[0]:03d}": (r[1], r[2]) for r in kh.index_rows("SELECT JobIndex, state, ClusterID FROM jobs")}
    wrong = {name: rows[name] for name, ids in on_scheduler.items() if str(rows[name][1]) != ids[0]}
    assert not wrong, f"on the scheduler but not recorded as such: {wrong} (scheduler: {on_scheduler})"
    return on_scheduler


def test_a_submitter_killed_mid_batch_leaves_no_job_twice_or_lost(
    executor: str, tmp_path: Path, index_env: Path
) -> None:
    # an orphaned qsub/sbatch may still be submitting for up to the executor's command timeout after
    # its submitter died: the job it carried is only looked for on the scheduler after that (decision 26)
    kh.configure(executor, index_env, f"timeout = {GRACE}\n")
    marks = tmp_path / "marks"
    marks.mkdir()
    n_jobs = N_JOBS[executor]
    tag = f"k{executor[0]}{int(time.time()) % 100000}"  # unique names of <= 15 characters: PBS limit
    jobs = []
    for i in range(n_jobs):  # one script per job: no arrays, one scheduler call per job
        script = kh.shell_script(tmp_path / f"job{i}.sh", f'echo "$PARASCHUT_JOB_INDEX" >> "{marks}/ran.{i}"')
        jobs.append({"JobIndex": i, "priority": 1, "script": script, "name": f"{tag}_{i:03d}"})
    psu.add_batch_to_queue(1, jobs)

    submitter = subprocess.Popen([sys.executable, "-c", "import paraschut as psu; psu.submit_jobs()"])
    recorded = 0
    index = sqlite3.connect(f"file:{kh.db_path()}?mode=ro", uri=True, timeout=30)
    try:
        while recorded < n_jobs // 4 and submitter.poll() is None:  # poll the index, kill a quarter in
            (recorded,) = index.execute("SELECT COUNT(*) FROM jobs WHERE ClusterID IS NOT NULL").fetchone()
            time.sleep(0.001)
    finally:
        index.close()
    helpers = psutil_children(submitter.pid)  # a qsub/sbatch it is running goes on alone (an orphan)
    submitter.send_signal(signal.SIGKILL)
    submitter.wait()
    (recorded,) = kh.index_rows("SELECT COUNT(*) FROM jobs WHERE ClusterID IS NOT NULL")[0]
    if recorded == n_jobs:
        pytest.fail("the submitter finished before it could be killed: raise N_JOBS")
    for proc in helpers:
        proc.wait(timeout=120)
    unrecorded = len(kh.scheduler_jobs(executor, tag)) - recorded
    print(f"{executor}: killed with {recorded} recorded, {unrecorded} more on the scheduler")

    def claims_settled() -> bool:
        psu.submit_jobs(MaxJobs=0)  # submits nothing: only sorts out the dead submitter's claims
        return not kh.index_rows("SELECT 1 FROM jobs WHERE state = 'submit' AND ClusterID IS NULL")

    kh.wait_for(claims_settled, 4 * GRACE, "the dead submitter's claims to be settled")
    _check_scheduler_agrees(executor, tag)

    def all_done() -> bool:
        psu.submit_jobs()
        psu.get_queue(Verbose=False)
        return not kh.index_rows("SELECT 1 FROM jobs WHERE state != 'complete'")

    kh.wait_for(all_done, 400, "every job to complete", step=1.0)
    ran = {i: (marks / f"ran.{i}").read_text().split() for i in range(n_jobs) if (marks / f"ran.{i}").exists()}
    assert sorted(ran) == list(range(n_jobs)), f"never ran: {sorted(set(range(n_jobs)) - set(ran))}"
    assert all(len(lines) == 1 for lines in ran.values()), {i: n for i, n in ran.items() if len(n) != 1}
    assert len(_check_scheduler_agrees(executor, tag)) == n_jobs
    kh.assert_index_intact()


def psutil_children(pid: int) -> list[psutil.Process]:
    """The process's descendants right now."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
