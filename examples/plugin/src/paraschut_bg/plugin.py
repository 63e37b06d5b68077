"""The ``bg`` executor's hookimpls: check the executor's name, then call the backend (jobs.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from paraschut import Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission, hookimpl

from . import jobs

NAME = "bg"


@hookimpl
def paraschut_register_executors() -> Sequence[ExecutorInfo]:
    return [ExecutorInfo(NAME, "example plugin: each job a background process of this machine")]


@hookimpl
def paraschut_submit(executor: Executor, job: JobSpec) -> Submission | None:
    if executor.name != NAME:
        return None  # another plugin's executor: firstresult hooks ask every plugin
    return Submission(jobs.submit(jobs.state_dir(executor), job), job.stdout, job.stderr)


@hookimpl
def paraschut_status(executor: Executor, cluster_ids: Sequence[str]) -> Mapping[str, JobStatus] | None:
    if executor.name != NAME:
        return None
    return jobs.status(jobs.state_dir(executor), cluster_ids)


@hookimpl
def paraschut_cancel(executor: Executor, cluster_ids: Sequence[str]) -> Sequence[str] | None:
    if executor.name != NAME:
        return None
    return jobs.cancel(jobs.state_dir(executor), cluster_ids)


@hookimpl
def paraschut_log_paths(executor: Executor, job: JobSpec, cluster_id: str) -> LogPaths | None:
    if executor.name != NAME:
        return None
    return LogPaths(job.stdout, job.stderr)  # the runner writes exactly where the core asked


@hookimpl
def paraschut_job_summary(executor: Executor, cluster_id: str) -> Mapping[str, Any] | None:
    if executor.name != NAME:
        return None
    return jobs.summary(jobs.state_dir(executor), cluster_id)


@hookimpl
def paraschut_current_job_id(executor: Executor, environ: Mapping[str, str]) -> str | None:
    if executor.name != NAME:
        return None
    return environ.get(jobs.ID_VARIABLE) or None


@hookimpl
def paraschut_check_scheduler(executor: Executor) -> str | None:
    if executor.name != NAME:
        return None
    return jobs.describe(jobs.state_dir(executor))
