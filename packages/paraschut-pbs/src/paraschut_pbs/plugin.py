"""The ``pbs`` executor's hook implementations: thin glue over commands, parse and states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from paraschut.hookspecs import hookimpl
from paraschut.models import Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission

from . import commands
from .parse import base_id
from .states import collect, slurm_job_status

__all__ = [
    "paraschut_cancel",
    "paraschut_check_scheduler",
    "paraschut_current_job_id",
    "paraschut_job_summary",
    "paraschut_log_paths",
    "paraschut_register_executors",
    "paraschut_status",
    "paraschut_submit",
]

NAME = commands.NAME


@hookimpl
def paraschut_register_executors() -> Sequence[ExecutorInfo]:
    return [ExecutorInfo(NAME, "PBS Pro / OpenPBS / Torque (qsub, qstat, qdel), or Slurm's PBS wrappers")]


@hookimpl
def paraschut_submit(executor: Executor, job: JobSpec) -> Submission | None:
    if executor.name != NAME:
        return None
    cluster_id = commands.submit(commands.options(executor), job)
    # -o and -e were given explicitly, so the logs are where the core asked for them.
    return Submission(cluster_id, job.stdout, job.stderr)


@hookimpl
def paraschut_status(executor: Executor, cluster_ids: Sequence[str]) -> Mapping[str, JobStatus] | None:
    if executor.name != NAME:
        return None
    if not cluster_ids:
        return {}
    opts = commands.options(executor)
    found, unresolved = collect(cluster_ids, commands.query(opts, list(cluster_ids)))
    if unresolved and commands.flavour_of(opts)[0] == "slurm":
        # Slurm's qstat says C for success and failure alike: Slurm's own record tells them apart.
        slurm = commands.query_slurm(opts)
        for cid in unresolved:
            fields = slurm.get(base_id(cid))
            status = slurm_job_status(cid, fields) if fields else None
            if status is not None:
                found[cid] = status
    return found


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
    jobs = commands.query(commands.options(executor), [cluster_id])
    by_base = {base_id(job_id): attrs for job_id, attrs in jobs.items()}
    attrs = jobs.get(cluster_id) or by_base.get(base_id(cluster_id)) or {}
    return {"id": cluster_id, **attrs} if attrs else {}


@hookimpl
def paraschut_check_scheduler(executor: Executor) -> str | None:
    if executor.name != NAME:
        return None
    return commands.check(commands.options(executor))


@hookimpl
def paraschut_current_job_id(executor: Executor, environ: Mapping[str, str]) -> str | None:
    if executor.name != NAME:
        return None
    return environ.get("PBS_JOBID") or None
