"""The built-in ``file`` executor: appends each job's command, with its environment, to a shell script."""

from __future__ import annotations

import fcntl
import os
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from .files import make_private_dirs
from .hookspecs import hookimpl
from .models import SUBMIT, Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission

NAME = "file"
DEFAULT_FILENAME = "paraschut-jobs.sh"


def script_path(executor: Executor) -> str:
    """Where the executor writes: option ``path``, else ``paraschut-jobs.sh`` in the job dir."""
    path = executor.option("path")
    if not path:
        path = os.path.join(executor.option("job_dir") or os.getcwd(), DEFAULT_FILENAME)
    return os.path.abspath(os.path.expanduser(str(path)))


def job_command(job: JobSpec) -> str:
    """One shell line that runs the job in its own environment, with its logs: safely quoted.

    The logs are opened first, under umask 077 (owner-only, decision 24), then the user's umask
    is restored for the job itself; so a missing working directory is reported in the job's stderr.
    """
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(job.env.items()))
    return (
        f"(_psu_umask=$(umask) && umask 077 && exec > {shlex.quote(job.stdout)} 2> {shlex.quote(job.stderr)}"
        f" && umask \"$_psu_umask\" && cd {shlex.quote(job.workdir)} && env {env} {shlex.quote(job.script)})"
    )


@hookimpl
def paraschut_register_executors() -> Sequence[ExecutorInfo]:
    return [
        ExecutorInfo(
            NAME, "append each job's command to a shell script to run later", supports_arrays=True,
            creates_private_logs=True,  # each line opens its logs under umask 077 (job_command)
        )
    ]


def _append(executor: Executor, jobs: Sequence[JobSpec]) -> list[Submission]:
    """Append the jobs' lines in one locked write; each id names the job and where its line ends."""
    path = script_path(executor)
    make_private_dirs(os.path.dirname(path))
    blocks = [f"# {job.key}\n{job_command(job)}\n".encode() for job in jobs]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o700)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # concurrent submitters append whole blocks
        if os.fstat(fd).st_size == 0:
            os.write(fd, b"#!/bin/sh\n# written by paraschut's file executor: one job per line\n")
        start = os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, b"".join(blocks))
    finally:
        os.close(fd)
    subs = []
    for job, block in zip(jobs, blocks, strict=True):
        start += len(block)
        subs.append(Submission(f"{NAME}:{job.key}@{start}", job.stdout, job.stderr))
    return subs


@hookimpl
def paraschut_submit(executor: Executor, job: JobSpec) -> Submission | None:
    if executor.name != NAME:
        return None
    return _append(executor, [job])[0]


@hookimpl
def paraschut_submit_array(executor: Executor, jobs: Sequence[JobSpec]) -> Sequence[Submission] | None:
    if executor.name != NAME:
        return None
    return _append(executor, jobs)


@hookimpl
def paraschut_status(executor: Executor, cluster_ids: Sequence[str]) -> Mapping[str, JobStatus] | None:
    if executor.name != NAME:
        return None
    # Nothing runs these jobs but the user: they stay "submitted" until the job marks itself.
    return {cid: JobStatus(cid, SUBMIT, raw_state="written") for cid in cluster_ids}


@hookimpl
def paraschut_cancel(executor: Executor, cluster_ids: Sequence[str]) -> Sequence[str] | None:
    if executor.name != NAME:
        return None
    return []


@hookimpl
def paraschut_log_paths(executor: Executor, job: JobSpec, cluster_id: str) -> LogPaths | None:
    if executor.name != NAME:
        return None
    return LogPaths(job.stdout, job.stderr)


@hookimpl
def paraschut_check_scheduler(executor: Executor) -> str | None:
    if executor.name != NAME:
        return None
    return f"appends jobs to {script_path(executor)}"


@hookimpl
def paraschut_job_summary(executor: Executor, cluster_id: str) -> Mapping[str, Any] | None:
    if executor.name != NAME:
        return None
    return {"executor": NAME, "script": script_path(executor), "id": cluster_id}
