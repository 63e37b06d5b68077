"""The ``pbs`` executor's hook implementations: thin glue over commands, parse and states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from paraschut.hookspecs import hookimpl
from paraschut.models import Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission

from . import arrays, commands

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
    return [ExecutorInfo(NAME, "PBS Pro / OpenPBS / Torque (qsub, qstat, qdel), or Slurm's PBS wrappers",
                         supports_arrays=True)]


@hookimpl
def paraschut_submit(executor: Executor, job: JobSpec) -> Submission | None:
    if executor.name != NAME:
        return None
    cluster_id = commands.submit(commands.options(executor), job)
    # -o and -e were given explicitly, so the logs are where the core asked for them.
    return Submission(cluster_id, job.stdout, job.stderr)


@hookimpl
def paraschut_submit_array(executor: Executor, jobs: Sequence[JobSpec]) -> Sequence[Submission] | None:
    if executor.name != NAME:
        return None
    ids = arrays.submit_array(commands.options(executor), jobs)  # one qsub -J/-t 1-N; see arrays.py for ids
    return [Submission(cid, job.stdout, job.stderr) for cid, job in zip(ids, jobs, strict=True)]


@hookimpl
def paraschut_status(executor: Executor, cluster_ids: Sequence[str]) -> Mapping[str, JobStatus] | None:
    if executor.name != NAME:
        return None
    return commands.poll(commands.options(executor), cluster_ids) if cluster_ids else {}


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
    if array_job and task:  # a task of an array on Slurm's wrappers: PBS_JOBID is its own job number
        return f"{array_job}_{task}"
    return environ.get("PBS_JOBID") or None  # PBS Pro and Torque: 123[4].server for an array task
