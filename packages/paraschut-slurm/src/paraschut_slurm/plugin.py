"""The ``slurm`` executor's hook implementations: thin glue over commands, parse and states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from paraschut import Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission, hookimpl

from . import commands

__all__ = [
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
]

NAME = commands.NAME


@hookimpl
def paraschut_register_executors() -> Sequence[ExecutorInfo]:
    return [ExecutorInfo(NAME, "Slurm (sbatch, squeue, scontrol, scancel; finished jobs from sacct or jobcomp)",
                         supports_arrays=True)]


@hookimpl
def paraschut_submit(executor: Executor, job: JobSpec) -> Submission | None:
    if executor.name != NAME:
        return None
    cluster_id = commands.submit(commands.options(executor), job)
    # --output and --error were given explicitly: the logs are where the core asked for them.
    return Submission(cluster_id, job.stdout, job.stderr)


@hookimpl
def paraschut_submit_array(executor: Executor, jobs: Sequence[JobSpec]) -> Sequence[Submission] | None:
    if executor.name != NAME:
        return None
    cluster_ids = commands.submit_array(commands.options(executor), list(jobs))
    # one array: task i+1 is job i, and each task writes its own job's logs (paraschut.arrays)
    return [Submission(cid, job.stdout, job.stderr) for cid, job in zip(cluster_ids, jobs, strict=True)]


@hookimpl
def paraschut_status(executor: Executor, cluster_ids: Sequence[str]) -> Mapping[str, JobStatus] | None:
    if executor.name != NAME:
        return None
    if not cluster_ids:
        return {}
    return commands.status(commands.options(executor), list(cluster_ids))


@hookimpl
def paraschut_find_submitted(executor: Executor, jobs: Sequence[JobSpec]) -> Mapping[str, str] | None:
    if executor.name != NAME:
        return None
    return commands.find_submitted(commands.options(executor), jobs)


@hookimpl
def paraschut_cancel(executor: Executor, cluster_ids: Sequence[str]) -> Sequence[str] | None:
    if executor.name != NAME:
        return None
    if not cluster_ids:
        return []
    return commands.cancel(commands.options(executor), list(cluster_ids))


@hookimpl
def paraschut_log_paths(executor: Executor, job: JobSpec, cluster_id: str) -> LogPaths | None:
    if executor.name != NAME:
        return None
    return LogPaths(job.stdout, job.stderr)


@hookimpl
def paraschut_job_summary(executor: Executor, cluster_id: str) -> Mapping[str, Any] | None:
    if executor.name != NAME:
        return None
    return commands.summary(commands.options(executor), cluster_id)


@hookimpl
def paraschut_check_scheduler(executor: Executor) -> str | None:
    if executor.name != NAME:
        return None
    return commands.check(commands.options(executor))


@hookimpl
def paraschut_current_job_id(executor: Executor, environ: Mapping[str, str]) -> str | None:
    if executor.name != NAME:
        return None
    array_job, task = environ.get("SLURM_ARRAY_JOB_ID"), environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return environ.get("SLURM_JOB_ID") or None
