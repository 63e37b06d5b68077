"""Waiting for jobs to end: polls (as get_queue does) with the executors' own blocking between them."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ParaschutError, WaitTimeoutError
from .models import SPAWN
from .refresh import active_jobs, refresh, targets_of
from .session import Session

__all__ = ["MIN_GAP", "pause", "wait_for"]

log = logging.getLogger(__name__)

#: Seconds between two polls of a wait at least (``status_interval`` 0 means "poll on every call").
MIN_GAP = 0.1


def _still_active(session: Session, where: str | None, force: bool) -> list[dict[str, Any]]:
    """The jobs of the selection that may still change, after a poll.

    Polls like get_queue (a snapshot younger than ``status_interval`` is reused unless ``force``). A job its
    executor no longer knows (missing) or a job whose spawn failed will not change by itself: it
    ends the wait as if it had ended.
    """
    active = active_jobs(session, where)
    if not active:
        return []
    status = refresh(session, active, force=force)
    stuck = set(status.missing)
    if any(job["state"] == SPAWN for job in active):
        stuck |= session.index.failed_spawns()
    return [job for job in active if (key := (job["BatchID"], job["JobIndex"])) not in status.resolved
            and key not in stuck]


#: What the executors said while blocking: every job ended / time passed / some executor cannot tell.
ENDED, WAITED, CANNOT = "ended", "waited", "cannot"


def _block(session: Session, jobs: Sequence[Mapping[str, Any]], seconds: float) -> str:
    """Wait up to ``seconds`` for the jobs to leave their queues, through the executors that can
    tell (``paraschut_wait``), sleeping out the rest when one cannot.

    :returns: ENDED when every executor said its jobs left the queue (poll now), WAITED when the
        time passed, CANNOT when some executor cannot tell (only polls can).
    """
    deadline = time.monotonic() + seconds
    by_executor = targets_of(session, jobs)
    asked = {key for targets in by_executor.values() for key, *_ in targets}
    # a job no executor can be asked about (held after an uncertain submission, a spawning job
    # whose spawns are not submitted): only polls and time can tell
    answer = ENDED if all((job["BatchID"], job["JobIndex"]) in asked for job in jobs) else CANNOT
    for name, targets in by_executor.items():
        remaining = max(0.0, deadline - time.monotonic())
        try:
            done = session.manager.wait(session.executor(name), [cid for _, _, cid, _ in targets], remaining)
        except ParaschutError as exc:
            log.warning("could not wait on executor %r (polling instead): %s", name, exc)
            done = None
        if done is None:
            answer = CANNOT
        elif not done and answer == ENDED:
            answer = WAITED
    remaining = deadline - time.monotonic()
    if answer != ENDED and remaining > 0:
        time.sleep(remaining)
    return answer


def wait_for(session: Session, where: str | None, timeout: float | None) -> None:
    """Return once no job of the selection is queued or running; raise WaitTimeoutError after
    ``timeout`` seconds (None: no limit).

    Between polls (every ``status_interval``, at least :data:`MIN_GAP`) it blocks in the
    executors' ``paraschut_wait`` where they have one, so the end of the last job is seen at once.
    When every executor can tell, it asks them before its first poll: polling jobs that are all
    still running would only cost CPU they need.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    gap = max(session.settings.status_interval, MIN_GAP)
    left = active_jobs(session, where)
    if not left:
        return
    said = _block(session, left, 0.0)
    unheeded = False  # an executor said the jobs ended, and a poll found none of them ended
    while True:
        if said != WAITED:  # ENDED: poll now (not a snapshot); CANNOT: only a poll can tell
            before = _keys(left)
            left = _still_active(session, where, force=said == ENDED)
            if not left:
                return
            # trusted again once a poll finds some of the jobs ended
            unheeded = (said == ENDED or unheeded) and not before - _keys(left)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise WaitTimeoutError(sorted(_keys(left)), float(timeout or 0))
        seconds = gap if remaining is None else min(gap, remaining)
        if unheeded:
            # e.g. jobs its spool does not know, absent within missing_grace: asking again would
            # get the same answer at once, so wait for the next poll instead of spinning
            time.sleep(seconds)
            said = CANNOT
        else:
            said = _block(session, left, seconds)


def _keys(jobs: Sequence[Mapping[str, Any]]) -> set[tuple[int, int]]:
    return {(job["BatchID"], job["JobIndex"]) for job in jobs}


def pause(session: Session, where: str | None, seconds: float) -> None:
    """Sleep ``seconds``, or less when every active job of the selection ends before (as far as
    executors that can tell say): periodic_submitter then submits the next group at once.

    Never less than :data:`MIN_GAP` (when ``seconds`` is more): an executor answering "ended" at
    once about jobs a poll still finds active must not turn the caller's loop into a busy one.
    """
    started = time.monotonic()
    left = active_jobs(session, where)
    if not left:
        time.sleep(seconds)
        return
    _block(session, left, seconds)
    rest = min(seconds, MIN_GAP) - (time.monotonic() - started)
    if rest > 0:
        time.sleep(rest)
