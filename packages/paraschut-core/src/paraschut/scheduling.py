"""The priority rules: which init jobs may be submitted now (pure reference rules and their SQL form).

Within a batch only the highest-priority group among unfinished jobs (state not complete or
collected) is submitted; the next group waits until that one is done. Jobs with a priority above
100 are global: while any unfinished job above 100 exists anywhere, only the top such group runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .models import DONE_STATES, INIT

__all__ = ["GLOBAL_PRIORITY", "Job", "eligible", "eligible_sql", "order_key", "throttle"]

GLOBAL_PRIORITY = 100
Job = tuple[int, int, str, float]  # (BatchID, JobIndex, state, priority)
_DONE = ", ".join(f"'{s}'" for s in sorted(DONE_STATES))


def order_key(job: Job) -> tuple[float, int, int]:
    """Submission order: priority descending, then BatchID, then JobIndex."""
    return (-job[3], job[0], job[1])


def eligible(jobs: Iterable[Job], candidates: Iterable[tuple[int, int]] | None = None) -> list[Job]:
    """The init jobs the rules allow now, in submission order (the reference implementation).

    :param jobs: every job of the index (or of the batches concerned).
    :param candidates: (BatchID, JobIndex) pairs a Filter allows; None allows all.
    """
    jobs = list(jobs)
    allowed = None if candidates is None else set(candidates)
    unfinished = [j for j in jobs if j[2] not in DONE_STATES]
    top_global = max((j[3] for j in unfinished if j[3] > GLOBAL_PRIORITY), default=None)
    top_batch: dict[int, float] = {}
    for job in unfinished:
        top_batch[job[0]] = max(top_batch.get(job[0], job[3]), job[3])
    out = []
    for job in unfinished:
        if job[2] != INIT or (allowed is not None and (job[0], job[1]) not in allowed):
            continue
        top = top_global if top_global is not None else top_batch[job[0]]
        if job[3] == top:
            out.append(job)
    return sorted(out, key=order_key)


def throttle(ordered: Sequence[Job], active: int, max_jobs: int | None) -> list[Job]:
    """Keep as many jobs as fit under ``max_jobs`` on the queue (None: no cap)."""
    if max_jobs is None:
        return list(ordered)
    return list(ordered[: max(0, max_jobs - active)])


def eligible_sql(where: str | None, scope: str | None = None) -> tuple[str, str]:
    """SQL for the same rules over the jobs table: (global-top query, eligible-jobs query).

    The first returns the top unfinished priority above 100 (NULL when none) among the jobs in
    ``scope`` (None: the whole index). The second takes it as parameter ``:top`` and returns
    (id, BatchID, JobIndex, state, priority) in order.
    """
    clause = where or "1"
    top = (
        f"SELECT MAX(priority) FROM jobs WHERE priority > {GLOBAL_PRIORITY} AND state NOT IN ({_DONE})"
        f" AND ({scope or '1'})"
    )
    jobs = f"""
        WITH cand AS (SELECT id, BatchID, JobIndex, state, priority FROM jobs
                      WHERE state = '{INIT}' AND ({clause})),
             tops AS (SELECT BatchID AS b, MAX(priority) AS p FROM cand
                      WHERE :top IS NULL OR priority = :top GROUP BY BatchID)
        SELECT c.id, c.BatchID, c.JobIndex, c.state, c.priority FROM cand c
        JOIN tops t ON c.BatchID = t.b AND c.priority = t.p
        WHERE (:top IS NOT NULL AND c.priority = :top)
           OR (:top IS NULL AND NOT EXISTS (
                SELECT 1 FROM jobs k WHERE k.BatchID = t.b AND k.priority > t.p
                AND k.state NOT IN ({_DONE})))
        ORDER BY c.priority DESC, c.BatchID, c.JobIndex
    """
    return top, jobs
