"""The ``local`` executor's hookimpls: thin wrappers over :mod:`paraschut_local.cluster`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from paraschut.hookspecs import hookimpl
from paraschut.models import (
    Executor,
    ExecutorInfo,
    JobSpec,
    JobStatus,
    LogPaths,
    Submission,
)

from . import cluster
from .launch import JOB_ID_VAR

__all__ = [
    "NAME",
    "paraschut_cancel",
    "paraschut_check_scheduler",
    "paraschut_current_job_id",
    "paraschut_find_submitted",
    "paraschut_job_summary",
    "paraschut_log_paths",
    "paraschut_register_executors",
    "paraschut_status",
    "paraschut_submit",
    "paraschut_submit_array",
    "paraschut_wait",
]

NAME = "local"


@hookimpl
def paraschut_register_executors() -> Sequence[ExecutorInfo]:
    return [
        ExecutorInfo(
            NAME, "run jobs on this machine as detached processes, max_workers at a time", supports_arrays=True,
            creates_private_logs=True,  # the worker opens them 0600 (launch._open_log)
        )
    ]


@hookimpl
def paraschut_submit(executor: Executor, job: JobSpec) -> Submission | None:
    if executor.name != NAME:
        return None
    return cluster.submit(executor, job)


@hookimpl
def paraschut_submit_array(executor: Executor, jobs: Sequence[JobSpec]) -> Sequence[Submission] | None:
    if executor.name != NAME:
        return None
    return cluster.submit_many(executor, jobs)


@hookimpl
def paraschut_status(executor: Executor, cluster_ids: Sequence[str]) -> Mapping[str, JobStatus] | None:
    if executor.name != NAME:
        return None
    return cluster.status(executor, cluster_ids)


@hookimpl
def paraschut_wait(executor: Executor, cluster_ids: Sequence[str], timeout: float) -> bool | None:
    if executor.name != NAME:
        return None
    return cluster.wait(executor, cluster_ids, timeout)


@hookimpl
def paraschut_cancel(executor: Executor, cluster_ids: Sequence[str]) -> Sequence[str] | None:
    if executor.name != NAME:
        return None
    return cluster.cancel(executor, cluster_ids)


@hookimpl
def paraschut_find_submitted(executor: Executor, jobs: Sequence[JobSpec]) -> Mapping[str, str] | None:
    if executor.name != NAME:
        return None
    return cluster.find_submitted(executor, jobs)


@hookimpl
def paraschut_log_paths(executor: Executor, job: JobSpec, cluster_id: str) -> LogPaths | None:
    if executor.name != NAME:
        return None
    return LogPaths(job.stdout, job.stderr)


@hookimpl
def paraschut_job_summary(executor: Executor, cluster_id: str) -> Mapping[str, Any] | None:
    if executor.name != NAME:
        return None
    return cluster.summary(executor, cluster_id)


@hookimpl
def paraschut_check_scheduler(executor: Executor) -> str | None:
    if executor.name != NAME:
        return None
    return cluster.describe(executor)


@hookimpl
def paraschut_current_job_id(executor: Executor, environ: Mapping[str, str]) -> str | None:
    if executor.name != NAME:
        return None
    return environ.get(JOB_ID_VAR) or None
