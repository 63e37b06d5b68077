"""Polling executors: one batched status call per executor, and what it means for the index."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import define, field

from .errors import ParaschutError
from .models import COMPLETE, FAILED, RUN, SPAWN, SUBMIT, Executor, JobStatus
from .session import Session

__all__ = ["Key", "Refresh", "refresh", "targets_of"]

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
    #: jobs in spawn whose spawns include a failed one: they wait for spawn_resubmit (or a reset).
    spawn_failed: set[Key] = field(factory=set)
    #: jobs resolved to complete/failed by this poll.
    resolved: dict[Key, str] = field(factory=dict)
    #: executors that could not be polled, with the error.
    errors: dict[str, str] = field(factory=dict)
    #: jobs seen on each executor's queue.
    on_queue: dict[str, int] = field(factory=dict)


Target = tuple[Key, "int | None", str, float]


def targets_of(session: Session, jobs: Sequence[Mapping[str, Any]]) -> dict[str, list[Target]]:
    """Cluster ids to ask about, per executor: ((BatchID, JobIndex), SpawnID, ClusterID, submitted)."""
    out: dict[str, list[Target]] = {}
    spawning = []
    for job in jobs:
        key = (job["BatchID"], job["JobIndex"])
        if job.get("state") in (SUBMIT, RUN) and job.get("ClusterID") and job.get("executor"):
            out.setdefault(job["executor"], []).append(
                (key, None, str(job["ClusterID"]), job.get("submit_time") or 0.0)
            )
        elif job.get("state") == SPAWN:
            spawning.append(key)
    for start in range(0, len(spawning), 400):
        chunk = spawning[start : start + 400]
        cond = " OR ".join("(BatchID=? AND JobIndex=?)" for _ in chunk)
        rows = session.index.query(
            f"SELECT BatchID, JobIndex, SpawnID, executor, ClusterID, updated FROM spawns "
            f"WHERE state IN ('submit', 'run') AND ClusterID IS NOT NULL AND ({cond})",
            [v for key in chunk for v in key],
        )
        for r in rows:
            out.setdefault(r["executor"], []).append(((r[0], r[1]), r[2], r["ClusterID"], r["updated"] or 0.0))
    return out


def _resolve_jobs(session: Session, result: Refresh, finished: list[tuple[Key, JobStatus]]) -> None:
    """Mark jobs that left the queue complete or failed, in one write transaction, unless a job
    set its own state meanwhile (a compare-and-set from submit/run)."""
    if not finished:
        return
    rows = []
    times = {key: reported_times(status) for key, status in finished}
    for key, status in finished:
        patch: dict[str, Any] = {"qstat": dict(status.info)} if status.info else {}
        if status.state == FAILED:
            patch["error"] = status.reason or f"exit code {status.exit_code}"
        rows.append((key, status.cluster_id, status.state, status.exit_code, json.dumps(patch)))
    for (key, state), old in session.index.resolve(rows, times).items():
        result.resolved[key] = state
        session.manager.state_changed(key[0], key[1], old, state)


def reported_times(status: JobStatus) -> tuple[float | None, float | None]:
    """The (start, end) epoch times a scheduler reported in ``info['started']``/``info['ended']``."""

    def number(value: Any) -> float | None:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    return number(status.info.get("started")), number(status.info.get("ended"))


def _record_running(session: Session, targets: Sequence[Target], statuses: Mapping[str, JobStatus]) -> None:
    """A fresh poll's running jobs get a 'run' event (the job may never set its state itself)."""
    now = time.time()
    seen = []
    for key, spawn, cid, _ in targets:
        status = statuses.get(cid)
        if spawn is None and status is not None and status.state == RUN:
            started = reported_times(status)[0]
            seen.append((key, cid, started if started is not None and started <= now else now))
    if seen:
        session.index.record_running(seen)


def _apply(
    session: Session, result: Refresh, key: Key, spawn: int | None, status: JobStatus | None,
    finished: list[tuple[Key, JobStatus]],
) -> None:
    if status is None:
        result.missing.add(key)
        return
    if status.state == RUN:
        result.online[key] = result.online.get(key, 0) + 1
    elif status.on_queue:
        result.queued.add(key)
    elif spawn is None:
        finished.append((key, status))
    else:
        from .spawning import finish_spawn

        if finish_spawn(session, key, spawn, status.state, status.exit_code):
            result.resolved[key] = COMPLETE


def _reuse(
    session: Session, snap: tuple[float, set[str], dict[str, str], dict[str, float]], targets: Sequence[Target],
    now: float,
) -> dict[str, JobStatus] | None:
    """Statuses from a snapshot, or None when it does not cover the targets."""
    taken, asked, states, absent = snap
    if not all(cid in asked or submitted >= taken for _, _, cid, submitted in targets):
        return None
    statuses = {cid: JobStatus(cid, state) for cid, state in states.items()}
    for _, _, cid, _ in targets:
        if cid not in asked or _young(session, absent.get(cid), now):
            statuses.setdefault(cid, JobStatus(cid, SUBMIT, raw_state="not yet confirmed"))
    return statuses


def _poll(
    session: Session, executor: Executor, targets: Sequence[Target], force: bool
) -> tuple[dict[str, JobStatus], bool]:
    """Statuses for the targets: a fresh scheduler call, or another process's recent snapshot.

    A snapshot younger than ``status_interval`` is reused when it covers every target (targets
    submitted after it was taken count as queued); an older one too while another process holds
    the poll lease (it is polling right now), so many processes make one scheduler call per
    interval. A fresh poll asks about every active job of the executor, so its snapshot serves
    every process. An id the scheduler does not know counts as absent (missing) only once it has
    been absent for ``missing_grace`` seconds: accounting records can lag behind a job leaving
    the queue. Returns (statuses, fresh).
    """
    name = executor.name
    interval = session.settings.status_interval
    snap = session.index.load_snapshot(name)
    now = time.time()
    if not force and interval > 0:
        reused = None if snap is None else _reuse(session, snap, targets, now)
        if reused is not None and now - snap[0] < interval:  # type: ignore[index]
            return reused, False
        lease = max(30.0, 2 * interval)
        seen = snap[0] if snap is not None else 0.0
        if not session.index.take_poll_lease(name, now, lease, seen):  # another process polls, or just did
            newer = session.index.load_snapshot(name)
            if newer is not None and newer[0] > seen:
                reused = _reuse(session, newer, targets, now) or reused
            if reused is not None:
                return reused, False
            waited = _wait_for_snapshot(session, name, targets, now, lease)
            if waited is not None:
                return waited, False
    ids = sorted({cid for _, _, cid, _ in targets} | set(session.index.active_cluster_ids(name)))
    try:
        statuses = session.manager.status(executor, ids)
    except BaseException:
        session.index.release_poll_lease(name)
        raise
    before = snap[3] if snap is not None else {}
    absent = {cid: before.get(cid, now) for cid in ids if cid not in statuses}
    session.index.save_snapshot(name, now, ids, {cid: s.state for cid, s in statuses.items()}, absent)
    for cid, since in absent.items():
        if _young(session, since, now):
            statuses[cid] = JobStatus(cid, SUBMIT, raw_state="absent, within missing_grace")
    return statuses, True


def _wait_for_snapshot(
    session: Session, name: str, targets: Sequence[Target], since: float, limit: float
) -> dict[str, JobStatus] | None:
    """Wait (up to ``limit`` s) for the polling process's snapshot; None: poll here after all."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(0.05)
        snap = session.index.load_snapshot(name)
        if snap is not None and snap[0] >= since:
            return _reuse(session, snap, targets, time.time())
    return None


def _young(session: Session, since: float | None, now: float) -> bool:
    return since is not None and now - since < session.settings.missing_grace


def _cancel_failed(session: Session, executor: Executor, failed: list[str]) -> None:
    """Failed jobs some schedulers keep (SGE's Eqw) are removed so they do not hold a slot."""
    try:
        session.manager.cancel(executor, failed)
    except ParaschutError as exc:
        log.warning("could not remove failed jobs %s from %r: %s", failed, executor.name, exc)


def refresh(
    session: Session, jobs: Sequence[Mapping[str, Any]], force: bool = False, executor: Executor | None = None
) -> Refresh:
    """Poll each executor of the given jobs once and apply what the schedulers say.

    Within ``status_interval`` of any process's last poll, its snapshot is reused instead of
    calling the scheduler again (``force`` polls anyway). One broken scheduler does not stop the
    others: its error is recorded in ``errors`` and its jobs are neither resolved nor missing.
    ``executor``, when given, is used (with its options) for the jobs of its name.
    """
    result = Refresh()
    for name, targets in targets_of(session, jobs).items():
        try:
            chosen = executor if executor is not None and executor.name == name else session.executor(name)
            statuses, fresh = _poll(session, chosen, targets, force)
        except ParaschutError as exc:
            result.errors[name] = str(exc)
            log.warning("could not poll executor %r: %s", name, exc)
            continue
        result.on_queue[name] = sum(1 for s in statuses.values() if s.on_queue)
        if fresh:
            _record_running(session, targets, statuses)
        finished: list[tuple[Key, JobStatus]] = []
        for key, spawn, cid, _ in targets:
            status = statuses.get(cid)
            if fresh or status is None or status.on_queue:
                _apply(session, result, key, spawn, status, finished)
        _resolve_jobs(session, result, finished)
        failed = [s.cluster_id for key, s in finished if result.resolved.get(key) == FAILED]
        if failed:
            _cancel_failed(session, chosen, failed)
    return result


def active_jobs(session: Session, where: str | None = None) -> list[dict[str, Any]]:
    """The few columns polling needs, for every job that should be on a queue (of those a compiled
    Filter ``where`` selects)."""
    rows = session.index.filtered(
        where,
        "SELECT BatchID, JobIndex, state, executor, ClusterID, submit_time FROM jobs "
        "WHERE ({where}) AND state IN ('submit', 'run', 'spawn')",
    )
    return [dict(r) for r in rows]


def poll_due(session: Session) -> bool:
    """True when some executor with active jobs has not been polled within status_interval."""
    interval = session.settings.status_interval
    if interval <= 0:
        return True
    now = time.time()
    times = session.index.snapshot_times()
    for name in session.manager.executors:
        if now - times.get(name, 0.0) >= interval and session.index.query(
            "SELECT 1 FROM jobs WHERE executor=? AND state IN ('submit', 'run', 'spawn') LIMIT 1", (name,)
        ):
            return True
    return False

