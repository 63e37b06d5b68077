"""The ``sge`` executor: paraschut hook implementations for Son of Grid Engine (thin; see commands.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from paraschut.errors import SchedulerCommandError
from paraschut.hookspecs import hookimpl
from paraschut.models import FAILED, Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission

from . import arrays, commands
from .parse import error_reason
from .states import from_accounting, from_qstat, match_queued, sge_state

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
]

NAME = "sge"


@hookimpl
def paraschut_register_executors() -> Sequence[ExecutorInfo]:
    return [ExecutorInfo(NAME, "Son of Grid Engine / SGE: qsub, qstat -xml, qacct, qdel", supports_arrays=True)]


@hookimpl
def paraschut_submit(executor: Executor, job: JobSpec) -> Submission | None:
    if executor.name != NAME:
        return None
    return Submission(commands.submit(executor, job), job.stdout, job.stderr)


@hookimpl
def paraschut_submit_array(executor: Executor, jobs: Sequence[JobSpec]) -> Sequence[Submission] | None:
    if executor.name != NAME:
        return None
    ids = arrays.submit_array(executor, jobs)  # one qsub -t 1-N: task i is jobs[i-1], id "N.i"
    return [Submission(cid, job.stdout, job.stderr) for cid, job in zip(ids, jobs, strict=True)]


@hookimpl
def paraschut_status(executor: Executor, cluster_ids: Sequence[str]) -> Mapping[str, JobStatus] | None:
    if executor.name != NAME:
        return None
    queued = match_queued(cluster_ids, commands.queued_jobs(executor))
    in_error = sorted({job.job_id for job in queued.values() if sge_state(job.state) == FAILED})
    reasons = _error_reasons(executor, in_error)
    statuses = {
        cid: from_qstat(cid, job.state, host=job.queue.partition("@")[2] or None,
                        reason=reasons.get(job.job_id), start_time=job.start_time,
                        info={"name": job.name, "queue": job.queue, "slots": job.slots,
                              "tasks": job.tasks, "time": job.time})
        for cid, job in queued.items()
    }
    gone = [cid for cid in cluster_ids if cid not in queued]
    for cid, record in commands.accounting_many(executor, gone).items():  # one qacct per job number
        statuses[cid] = from_accounting(cid, record)
    return statuses


def _error_reasons(executor: Executor, job_ids: Sequence[str]) -> dict[str, str | None]:
    try:
        return {n: error_reason(f) for n, f in commands.job_details(executor, job_ids).items()}
    except SchedulerCommandError:  # a nicety: the state is known without it
        return {}


@hookimpl
def paraschut_find_submitted(
    executor: Executor, jobs: Sequence[JobSpec], since: float
) -> Mapping[str, str] | None:
    if executor.name != NAME:
        return None
    return commands.find_submitted(executor, jobs, since)


@hookimpl
def paraschut_cancel(executor: Executor, cluster_ids: Sequence[str]) -> Sequence[str] | None:
    if executor.name != NAME:
        return None
    return commands.delete(executor, cluster_ids) if cluster_ids else []


def _log_file(path: str, kind: str, job: JobSpec, cluster_id: str) -> str:
    if os.path.isdir(path):  # SGE then writes NAME.oJOBID (NAME.oJOBID.TASK for array tasks)
        return os.path.join(path, f"{commands.job_name(job)}.{kind}{cluster_id}")
    return path


@hookimpl
def paraschut_log_paths(executor: Executor, job: JobSpec, cluster_id: str) -> LogPaths | None:
    if executor.name != NAME:
        return None
    return LogPaths(_log_file(job.stdout, "o", job, cluster_id), _log_file(job.stderr, "e", job, cluster_id))


@hookimpl
def paraschut_job_summary(executor: Executor, cluster_id: str) -> Mapping[str, Any] | None:
    if executor.name != NAME:
        return None
    number = cluster_id.partition(".")[0]
    details = commands.job_details(executor, [number]).get(number)
    if details is not None:
        return details
    return commands.accounting(executor, cluster_id) or {}


@hookimpl
def paraschut_check_scheduler(executor: Executor) -> str | None:
    if executor.name != NAME:
        return None
    queued = commands.queued_jobs(executor)  # one qstat: the qmaster answers, or this raises
    return f"qmaster answered at {commands.binary(executor, 'qstat')}: {len(queued)} job(s) listed"


@hookimpl
def paraschut_current_job_id(executor: Executor, environ: Mapping[str, str]) -> str | None:
    if executor.name != NAME:
        return None
    job_id = environ.get("JOB_ID")
    if not job_id:
        return None
    task = environ.get("SGE_TASK_ID", "undefined")
    return job_id if task in ("", "undefined") else f"{job_id}.{task}"
