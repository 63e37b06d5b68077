"""Grid Engine state codes and accounting records mapped to paraschut job states (pure functions).

A qstat state is a string of letters (``qstat(1)``): ``d`` deletion, ``E`` error, ``h`` hold,
``r`` running, ``R`` restarted, ``s``/``S``/``T`` suspended (by user, by queue, by threshold),
``t`` transferring, ``q`` queued, ``w`` waiting, ``z`` zombie. Seen combinations include ``qw``,
``hqw``, ``hRwq``, ``Rq``, ``r``, ``t``, ``Rr``, ``Rt``, ``dr``, ``dt``, ``s``, ``ts``, ``S``, ``T``
and ``Eqw``. The rules, in order:

- any letter outside that alphabet (or no letter): ``unknown`` (``raw_state`` keeps the code);
- ``E``: ``failed`` (the job stays on the queue in error until someone deletes or clears it);
- ``r`` or ``t``, or suspended (``s``/``S``/``T``) without ``q``/``w``: ``run``;
- ``q``, ``w`` or ``h``: ``submit``;
- anything else (``d`` or ``z`` alone): ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paraschut.models import COMPLETE, FAILED, RUN, SUBMIT, UNKNOWN, JobStatus

from .parse import QueuedJob, parse_time, task_in

__all__ = ["SGE_LETTERS", "from_accounting", "from_qstat", "match_queued", "sge_state"]

#: Every letter qstat uses in a job state.
SGE_LETTERS = frozenset("dEhrRsStTqwz")
_SUSPENDED = frozenset("sST")


def sge_state(code: str) -> str:
    """Map one qstat state code (``qw``, ``Eqw``, ``dr``...) to a paraschut state; never raises."""
    letters = set(code.strip())
    if not letters or not letters <= SGE_LETTERS:
        return UNKNOWN
    if "E" in letters:
        return FAILED
    if letters & {"r", "t"} or (letters & _SUSPENDED and not letters & {"q", "w"}):
        return RUN
    if letters & {"q", "w", "h"}:
        return SUBMIT
    return UNKNOWN


_RANK = {RUN: 0, FAILED: 1, SUBMIT: 2, UNKNOWN: 3}


def match_queued(cluster_ids: Sequence[str], jobs: Sequence[QueuedJob]) -> dict[str, QueuedJob]:
    """The qstat entry of each asked id that qstat lists.

    An array task ``N.T`` is looked up in its job's task lists; a job ``N`` listed more than once
    (an array with running and pending tasks) is given its most active entry.
    """
    by_number: dict[str, list[QueuedJob]] = {}
    for job in jobs:
        by_number.setdefault(job.job_id, []).append(job)
    found = {}
    for cid in cluster_ids:
        number, _, task = cid.partition(".")
        entries = by_number.get(number, [])
        if task:
            entries = [e for e in entries if task.isascii() and task.isdigit() and task_in(e.tasks, int(task))]
        if entries:
            found[cid] = min(entries, key=lambda e: _RANK[sge_state(e.state)])
    return found


def from_qstat(cluster_id: str, code: str, *, host: str | None = None, reason: str | None = None,
               info: Mapping[str, object] | None = None, start_time: str = "") -> JobStatus:
    """The status of a job qstat still lists; an ``E`` state carries ``reason`` (or the code).

    A running job's ``start_time`` (qstat's ``JAT_start_time``) becomes ``info["started"]``
    (epoch seconds) when it can be read.
    """
    state = sge_state(code)
    reason = (reason or f"SGE error state {code}") if state == FAILED else None
    details = dict(info or {})
    started = parse_time(start_time) if state == RUN else None
    if started is not None:
        details["started"] = started
    return JobStatus(cluster_id, state, raw_state=code, reason=reason, host=host, info=details)


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").split()[0])
    except (ValueError, IndexError):
        return None


_ACCOUNTING_INFO = ("hostname", "qname", "start_time", "end_time", "ru_wallclock", "cpu", "maxvmem", "slots",
                    "granted_pe")


def from_accounting(cluster_id: str, record: Mapping[str, str]) -> JobStatus:
    """The status of a job that left the queue, from its ``qacct -j`` record.

    ``complete`` when ``failed`` is 0 and ``exit_status`` is 0; otherwise ``failed`` with the exit
    code and, when SGE's ``failed`` field is set, its text as the reason (``37 : qmaster enforced
    h_rt...``, ``100 : assumedly after job`` for a deleted running job). Its ``start_time`` and
    ``end_time`` are also given as ``info["started"]``/``["ended"]`` (epoch seconds) when they
    are dates (``-/-`` for a job that never started is left out).
    """
    failed_field = (record.get("failed") or "").strip()
    failed_code = _int(failed_field)
    exit_code = _int(record.get("exit_status"))
    info: dict[str, object] = {k: record[k] for k in _ACCOUNTING_INFO if k in record}
    for key, field in (("started", "start_time"), ("ended", "end_time")):
        stamp = parse_time(record.get(field, ""))
        if stamp is not None:
            info[key] = stamp
    if failed_code == 0 and exit_code == 0:
        return JobStatus(cluster_id, COMPLETE, raw_state="qacct", exit_code=0,
                         host=record.get("hostname"), info=info)
    if failed_code and exit_code == 0:
        exit_code = None  # SGE failed the job before (or instead of) running it
    if failed_code:
        reason = f"SGE failed {' '.join(failed_field.split())}"
    elif exit_code is None:
        reason = "no exit status in the accounting record"
    else:
        reason = f"exit status {exit_code}"
    return JobStatus(cluster_id, FAILED, raw_state="qacct", exit_code=exit_code, reason=reason,
                     host=record.get("hostname"), info=info)
