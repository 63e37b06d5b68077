"""What a running job calls: get_job_info, update_job, set_complete, get_qstat and the spawn functions."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from . import arguments, spawning
from .errors import InvalidJobError, ParaschutError
from .jobinfo import COLUMN_FIELDS, JobInfo, changed_fields, check_fields, normalise
from .models import COMPLETE, RUN, SPAWN, Executor
from .session import Session, get_session
from .submission import ENV_BATCH_ID, ENV_JOB_INDEX, ENV_SPAWN_COUNT, ENV_SPAWN_ID

__all__ = [
    "current_job_key",
    "get_job_info",
    "get_qstat",
    "locked_job",
    "modify_job",
    "set_complete",
    "spawn_complete",
    "spawn_get_info",
    "spawn_resubmit",
    "spawn_submit",
    "update_job",
]

#: Keys get_job_info adds for a spawn; never stored.
TRANSIENT = ("SpawnID", "SpawnCount")
_NEVER_WRITTEN = {"updated", "version", *TRANSIENT}


def _as_int(value: Any, name: str) -> int:
    return arguments.whole_number(value, name, minimum=0 if name == "JobIndex" else arguments.INT64[0])


def current_job_key(batch_id: Any = None, job_index: Any = None) -> tuple[int, int]:
    """(BatchID, JobIndex) from the arguments, else from the job's PARASCHUT_* environment."""
    if batch_id is None:
        if ENV_BATCH_ID not in os.environ:
            raise ParaschutError(
                f"no BatchID given and {ENV_BATCH_ID} is not set: the no-argument form works inside "
                f"a job submitted by paraschut; elsewhere pass BatchID and JobIndex"
            )
        batch_id = os.environ[ENV_BATCH_ID]
        if job_index is None:
            job_index = os.environ.get(ENV_JOB_INDEX)
    if job_index is None:
        raise InvalidJobError("JobIndex is required with a BatchID", "JobIndex")
    return _as_int(batch_id, "BatchID"), _as_int(job_index, "JobIndex")


def _own_spawn(key: tuple[int, int]) -> tuple[int, int] | None:
    """(SpawnID, count) when this process is a spawn of the job ``key``."""
    if not os.environ.get(ENV_SPAWN_ID) or current_job_key() != key:  # empty: not a spawn
        return None
    return int(os.environ[ENV_SPAWN_ID]), int(os.environ.get(ENV_SPAWN_COUNT, "0"))


def _executor_of(session: Session, job: Mapping[str, Any]) -> Executor:
    return session.executor(job.get("executor") or None)


def current_cluster_id() -> str | None:
    """This job's cluster id, as its executor exposes it in the environment (None outside a job)."""
    name = os.environ.get("PARASCHUT_EXECUTOR")
    if not name:
        return None
    session = get_session()
    return session.manager.current_job_id(session.executor(name), os.environ)


def get_job_info(
    BatchID: Any = None, JobIndex: Any = None, SetID: bool = False, ClusterID: str | None = None,
) -> JobInfo:
    """A job's metadata; with ``SetID`` the running job marks itself 'run' with its host and id."""
    session = get_session()
    key = current_job_key(BatchID, JobIndex)
    if ClusterID is not None:
        ClusterID = arguments.text(str(ClusterID) if type(ClusterID) is int else ClusterID, "ClusterID")
    spawn = _own_spawn(key) if BatchID is None or ENV_BATCH_ID in os.environ else None
    if SetID:
        job = session.index.get_job(*key)
        if ClusterID is None and job.get("executor"):
            ClusterID = session.manager.current_job_id(_executor_of(session, job), os.environ)
        if spawn is not None:
            spawning.mark_spawn_running(session, key, spawn[0], ClusterID)
        else:
            old = session.index.set_state(
                "BatchID=? AND JobIndex=? AND state != ?", [*key, SPAWN], RUN,
                hostname=socket.gethostname(), ClusterID=ClusterID or job.get("ClusterID"),
            )
            for _, _, before in old:
                if before != RUN:
                    session.manager.state_changed(key[0], key[1], before, RUN)
    job = session.index.get_job(*key)
    if spawn is not None:
        job["SpawnID"], job["SpawnCount"] = spawn
    return job


def update_job(JobInfo: Mapping[str, Any], force: set[str] | frozenset[str] = frozenset()) -> Mapping[str, Any]:
    """Write the fields this process changed since it read the job, keeping others' changes.

    Raises ConflictError (writing nothing) when another process changed one of those same fields
    meanwhile. A plain dict (not read with get_job_info) writes every field it holds.
    """
    session = get_session()
    arguments.mapping(JobInfo, "JobInfo")
    force = set(arguments.state_names(force, "force"))
    key = current_job_key(JobInfo.get("BatchID"), JobInfo.get("JobIndex"))
    origin = getattr(JobInfo, "origin", None)
    fields = {k: v for k, v in JobInfo.items() if k not in _NEVER_WRITTEN}
    removed: set[str]
    if origin is None:
        changed, removed = fields, set()
    else:
        changed, removed = changed_fields(fields, {k: v for k, v in origin.items() if k not in _NEVER_WRITTEN})
        removed -= set(COLUMN_FIELDS)
    changed = normalise(changed)
    check_fields({k: v for k, v in changed.items() if k not in ("BatchID", "JobIndex")})
    before = origin.get("state") if origin else None
    fresh = session.index.merge_update(*key, changed, removed, origin, force=force)
    if "state" in changed and before != fresh.get("state"):
        session.manager.state_changed(key[0], key[1], before, fresh["state"])
    if isinstance(JobInfo, dict):
        transient = {k: JobInfo[k] for k in TRANSIENT if k in JobInfo}
        JobInfo.clear()
        JobInfo.update(fresh)
        JobInfo.update(transient)
        if hasattr(JobInfo, "mark_read"):
            JobInfo.mark_read(fresh._origin_src)
    return JobInfo


@contextmanager
def locked_job(BatchID: Any, JobIndex: Any) -> Iterator[JobInfo]:
    """Atomic read-modify-write of one job: ``with psu.locked_job(b, j) as job: job['n'] += 1``.

    The index's write lock is held for the whole block, so keep it short.
    """
    session = get_session()
    with session.index.locked_job(*current_job_key(BatchID, JobIndex)) as job:
        yield job


def modify_job(BatchID: Any, JobIndex: Any, func: Callable[[JobInfo], Any]) -> JobInfo:
    """Apply ``func`` to the job under its lock and store the result (every change survives)."""
    arguments.callable_(func, "func")
    with locked_job(BatchID, JobIndex) as job:
        func(job)
    return job


def get_qstat(JobInfo: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The scheduler's own summary of this job (or of ``JobInfo``'s), as a dict."""
    session = get_session()
    job = arguments.mapping(JobInfo, "JobInfo") if JobInfo is not None else get_job_info()
    if not job.get("executor"):
        return {}
    executor = _executor_of(session, job)
    cluster_id = session.manager.current_job_id(executor, os.environ) if JobInfo is None else None
    cluster_id = cluster_id or job.get("ClusterID")
    if "SpawnID" in job:
        row = spawning.spawn_rows(session, (job["BatchID"], job["JobIndex"])).get(job["SpawnID"])
        cluster_id = (row or {}).get("ClusterID") or cluster_id
    return session.manager.summary(executor, str(cluster_id)) if cluster_id else {}


def set_complete(JobInfo: Mapping[str, Any] | None = None, Submit: bool = False, Executor: Any = None) -> Any:
    """Mark the job complete, keeping the scheduler's summary; with Submit, submit the next jobs."""
    job = arguments.mapping(JobInfo, "JobInfo") if JobInfo is not None else get_job_info()
    if "SpawnID" in job:
        spawn_complete(job)
    else:
        job["qstat"] = get_qstat(job) if job.get("ClusterID") else {}  # type: ignore[index]
        job["state"] = COMPLETE  # type: ignore[index]
        update_job(job, force={"state", "qstat", "updated"})
    if Submit:
        from .api import submit_jobs

        submit_jobs(Executor=Executor)
    return job


def spawn_submit(JobInfo: Any = None, N: int | None = None, Executor: Any = None) -> int:
    """Multiply the current job into ``N`` spawns (``spawn_submit(N)`` inside a job)."""
    if isinstance(JobInfo, int) and not isinstance(JobInfo, bool):
        JobInfo, N = None, JobInfo
    if N is None:
        raise InvalidJobError("spawn_submit needs the number of spawns", "N")
    session = get_session()
    job = arguments.mapping(JobInfo, "JobInfo") if JobInfo is not None else get_job_info()
    key = current_job_key(job.get("BatchID"), job.get("JobIndex"))
    N = arguments.whole_number(N, "N", minimum=1, maximum=spawning.MAX_SPAWNS)
    executor = session.executor(Executor)
    spawning.start_spawn(session, key, N, executor)
    fresh = session.index.get_job(*key)
    spawning.submit_spawns(session, fresh, list(range(N)), executor)
    if isinstance(job, dict):
        job["state"] = SPAWN
    return N


def spawn_complete(JobInfo: Mapping[str, Any] | None = None, Submit: bool = False) -> bool:
    """Signal that this spawn finished; True for the one spawn whose finish completes the job."""
    session = get_session()
    job = arguments.mapping(JobInfo, "JobInfo") if JobInfo is not None else get_job_info()
    key = current_job_key(job.get("BatchID"), job.get("JobIndex"))
    spawn_id = job.get("SpawnID")
    if spawn_id is None:
        own = _own_spawn(key)
        if own is None:
            raise ParaschutError(f"job {key[0]}/{key[1]}: spawn_complete() called outside a spawn")
        spawn_id = own[0]
    last = spawning.finish_spawn(session, key, arguments.whole_number(spawn_id, "SpawnID"), COMPLETE, 0)
    if last and Submit:
        from .api import submit_jobs

        submit_jobs()
    return last


def spawn_get_info(BatchID: Any = None, JobIndex: Any = None) -> dict[int, dict[str, Any]]:
    """The spawns of a job by SpawnID: state, cluster id, host, exit code."""
    return spawning.spawn_rows(get_session(), current_job_key(BatchID, JobIndex))


def spawn_resubmit(BatchID: Any = None, JobIndex: Any = None, Executor: Any = None) -> list[int]:
    """Resubmit the spawns of a job that are neither complete nor on their executor's queue."""
    session = get_session()
    key = current_job_key(BatchID, JobIndex)
    job = session.index.get_job(*key)
    if job["state"] != SPAWN:
        raise ParaschutError(f"job {key[0]}/{key[1]} is {job['state']!r}, not spawning")
    rows = spawning.spawn_rows(session, key)
    alive = _spawn_statuses(session, rows)
    redo = [sid for sid, row in rows.items() if row["state"] != COMPLETE and sid not in alive]
    return spawning.submit_spawns(session, job, redo, session.executor(Executor or job.get("executor")))


def _spawn_statuses(session: Session, rows: Mapping[int, Mapping[str, Any]]) -> set[int]:
    """SpawnIDs whose cluster id is still on its executor's queue."""
    by_exec: dict[str, dict[str, int]] = {}
    for sid, row in rows.items():
        if row["state"] in ("submit", "run") and row["ClusterID"]:
            by_exec.setdefault(row["executor"], {})[row["ClusterID"]] = sid
    alive = set()
    for name, ids in by_exec.items():
        statuses = session.manager.status(session.executor(name), list(ids))
        alive |= {sid for cid, sid in ids.items() if cid in statuses and statuses[cid].on_queue}
    return alive
