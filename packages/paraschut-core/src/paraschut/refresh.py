"""Polling executors: one batched status call per executor, and what it means for the index."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import define, field

from .errors import ParaschutError
from .models import COMPLETE, FAILED, RUN, SPAWN, SUBMIT, JobStatus
from .session import Session

__all__ = ["Refresh", "refresh"]

log = logging.getLogger(__name__)
Key = tuple[int, int]


@define
class Refresh:
    """What one poll learned about the jobs it looked at."""

    #: running instances per job (one for a job, one per running spawn).
    online: dict[Key, int] = field(factory=dict)
    #: jobs queued on their executor but not running yet.
    queued: set[Key] = field(factory=set)
    #: active jobs (or spawns) their executor no longer knows: the README's "missing".
    missing: set[Key] = field(factory=set)
    #: jobs resolved to complete/failed by this poll.
    resolved: dict[Key, str] = field(factory=dict)
    #: executors that could not be polled, with the error.
    errors: dict[str, str] = field(factory=dict)
    #: jobs seen on each executor's queue.
    on_queue: dict[str, int] = field(factory=dict)


def _targets(session: Session, jobs: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[Key, int | None, str]]]:
    """Cluster ids to ask about, per executor: ((BatchID, JobIndex), SpawnID, ClusterID)."""
    out: dict[str, list[tuple[Key, int | None, str]]] = {}
    spawning = []
    for job in jobs:
        key = (job["BatchID"], job["JobIndex"])
        if job.get("state") in (SUBMIT, RUN) and job.get("ClusterID") and job.get("executor"):
            out.setdefault(job["executor"], []).append((key, None, str(job["ClusterID"])))
        elif job.get("state") == SPAWN:
            spawning.append(key)
    for start in range(0, len(spawning), 400):
        chunk = spawning[start : start + 400]
        cond = " OR ".join("(BatchID=? AND JobIndex=?)" for _ in chunk)
        rows = session.index.query(
            f"SELECT BatchID, JobIndex, SpawnID, executor, ClusterID FROM spawns "
            f"WHERE state IN ('submit', 'run') AND ClusterID IS NOT NULL AND ({cond})",
            [v for key in chunk for v in key],
        )
        for r in rows:
            out.setdefault(r["executor"], []).append(((r[0], r[1]), r[2], r["ClusterID"]))
    return out


def _resolve_job(session: Session, key: Key, status: JobStatus) -> bool:
    """Mark a job that left the queue complete or failed, unless it set its own state meanwhile."""
    patch: dict[str, Any] = {"qstat": dict(status.info)} if status.info else {}
    if status.state == FAILED:
        patch["error"] = status.reason or f"exit code {status.exit_code}"
    changed = session.index.set_state(
        "BatchID=? AND JobIndex=? AND ClusterID=?", [*key, status.cluster_id], status.state,
        from_states=(SUBMIT, RUN), exit_code=status.exit_code,
    )
    if changed and patch:
        with session.index.write() as conn:
            conn.execute(
                "UPDATE jobs SET metadata=json_patch(metadata, ?) WHERE BatchID=? AND JobIndex=?",
                (json.dumps(patch), *key),
            )
    for _, _, old in changed:
        session.manager.state_changed(key[0], key[1], old, status.state)
    return bool(changed)


def _apply(session: Session, result: Refresh, key: Key, spawn: int | None, status: JobStatus | None) -> None:
    if status is None:
        result.missing.add(key)
        return
    if status.state == RUN:
        result.online[key] = result.online.get(key, 0) + 1
    elif status.on_queue:
        result.queued.add(key)
    elif spawn is None:
        if _resolve_job(session, key, status):
            result.resolved[key] = status.state
    else:
        from .spawning import finish_spawn

        if finish_spawn(session, key, spawn, status.state, status.exit_code):
            result.resolved[key] = COMPLETE


def refresh(session: Session, jobs: Sequence[Mapping[str, Any]]) -> Refresh:
    """Poll each executor of the given jobs once and apply what the schedulers say.

    One broken scheduler does not stop the others: its error is recorded in ``errors`` and its
    jobs are neither resolved nor called missing.
    """
    result = Refresh()
    for name, targets in _targets(session, jobs).items():
        try:
            executor = session.executor(name)
            statuses = session.manager.status(executor, [cid for _, _, cid in targets])
        except ParaschutError as exc:
            result.errors[name] = str(exc)
            log.warning("could not poll executor %r: %s", name, exc)
            continue
        result.on_queue[name] = sum(1 for s in statuses.values() if s.on_queue)
        for key, spawn, cid in targets:
            _apply(session, result, key, spawn, statuses.get(cid))
    return result


def wait_interval(started: float, interval: float) -> None:
    """Sleep what is left of ``interval`` since ``started``."""
    left = interval - (time.monotonic() - started)
    if left > 0:
        time.sleep(left)
