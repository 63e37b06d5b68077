"""The ``bg`` backend: one folder per job under the state dir and a runner process per job, no daemon.

A job's id is its folder's name. The folder holds ``job.json`` (what to run), ``pid`` (the runner's
pid and start time, written as soon as it exists), ``exit.json`` (written by the runner when the
job ends) and ``cancelled`` (written by :func:`cancel` before it signals the runner).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import psutil

from paraschut import Executor, JobSpec, JobStatus
from paraschut.commands import run
from paraschut.errors import ParaschutError
from paraschut.models import COMPLETE, FAILED, RUN, SUBMIT

__all__ = ["ID_VARIABLE", "cancel", "describe", "state_dir", "status", "submit", "summary"]

#: Set in every job's environment: its own id (for paraschut_current_job_id).
ID_VARIABLE = "PARASCHUT_BG_ID"
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
_ID = re.compile(r"^bg[A-Za-z0-9_]+$")


def state_dir(executor: Executor) -> str:
    """Option ``state_dir``; else ``.bg`` in the job dir (the core always passes option ``job_dir``)."""
    chosen = executor.option("state_dir") or os.path.join(executor.option("job_dir") or "~/.paraschut", ".bg")
    return os.path.abspath(os.path.expanduser(str(chosen)))


def _folder(root: str, job_id: str) -> str | None:
    """The job's folder, or None for an id this executor never issued."""
    folder = os.path.join(root, job_id)
    return folder if _ID.match(job_id) and os.path.isdir(folder) else None


def _read(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def submit(root: str, job: JobSpec) -> str:
    """Start the job's runner (which detaches at once) and return the job's id."""
    os.makedirs(root, mode=0o700, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="bg", dir=root)
    spec = {"script": job.script, "workdir": job.workdir, "stdout": job.stdout, "stderr": job.stderr}
    with open(os.path.join(folder, "job.json"), "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    job_id = os.path.basename(folder)
    env = {**os.environ, **job.env, ID_VARIABLE: job_id}  # values reach the job as they are: no shell
    try:
        run([sys.executable, RUNNER, folder], env=env, timeout=30, retry_timeouts=False)
    except ParaschutError:
        shutil.rmtree(folder, ignore_errors=True)  # not started: the job must not exist
        raise
    return job_id


def _alive(folder: str) -> bool | None:
    """True while the runner runs, False once it is gone, None before it wrote its pid."""
    pid = _read(os.path.join(folder, "pid"))
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid["pid"])
        return abs(proc.create_time() - pid["started"]) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _status(job_id: str, folder: str) -> JobStatus:
    ended = _read(os.path.join(folder, "exit.json"))
    cancelled = os.path.exists(os.path.join(folder, "cancelled"))
    if ended is None:
        alive = _alive(folder)
        if alive is not False:
            return JobStatus(job_id, RUN if alive else SUBMIT, raw_state="running" if alive else "starting")
        reason = "cancelled" if cancelled else "the runner ended without recording an exit"
        return JobStatus(job_id, FAILED, raw_state="lost", reason=reason)
    code, sig = ended["exit_code"], ended["signal"]
    if code == 0:
        return JobStatus(job_id, COMPLETE, raw_state="exited", exit_code=0)
    reason = "cancelled" if cancelled else f"killed by signal {sig}" if sig else f"exit code {code}"
    return JobStatus(job_id, FAILED, raw_state="exited", exit_code=code, reason=reason)


def status(root: str, cluster_ids: Sequence[str]) -> dict[str, JobStatus]:
    """Every id this executor knows; unknown ids are left out (the core calls them missing)."""
    found = {cid: _folder(root, cid) for cid in cluster_ids}
    return {cid: _status(cid, folder) for cid, folder in found.items() if folder is not None}


def cancel(root: str, cluster_ids: Sequence[str]) -> list[str]:
    """Signal the runners of jobs still running; they end their job's process group."""
    accepted = []
    for cid in cluster_ids:
        folder = _folder(root, cid)
        if folder is None or os.path.exists(os.path.join(folder, "exit.json")) or not _alive(folder):
            continue
        open(os.path.join(folder, "cancelled"), "w").close()
        try:
            os.kill(_read(os.path.join(folder, "pid"))["pid"], signal.SIGTERM)
        except ProcessLookupError:
            continue  # it ended meanwhile
        accepted.append(cid)
    return accepted


def summary(root: str, cluster_id: str) -> dict[str, Any]:
    """What the executor knows of one job; {} for an unknown id."""
    folder = _folder(root, cluster_id)
    if folder is None:
        return {}
    state = _status(cluster_id, folder)
    return {"id": cluster_id, "state": state.raw_state, "exit_code": state.exit_code, "reason": state.reason,
            **(_read(os.path.join(folder, "pid")) or {}), "folder": folder}


def describe(root: str) -> str:
    """For ``paraschut doctor``: where jobs run and where their state is kept."""
    return f"background processes on {socket.gethostname()}, state in {root}"
