"""The documented function API (``import paraschut as psu``): a thin layer over the index and executors."""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import frozen

from . import arguments, dashboard, models, submission
from .bulk import paused_gc
from .errors import InvalidArgumentError, InvalidJobError, JobNotFoundError, ParaschutError
from .filters import compile_filter
from .jobinfo import JobInfo, check_fields, check_value
from .models import ACTIVE_STATES, COLLECTED, COMPLETE, INIT, SPAWN
from .refresh import Refresh as RefreshResult
from .refresh import active_jobs, poll_due, refresh
from .session import Session, get_session
from .waiting import pause, wait_for

__all__ = [
    "QueueSnapshot", "get_queue", "periodic_submitter", "queue_snapshot", "report_missing",
    "print_log", "qdel_batch", "qdel_job", "remove_batch",
    "remove_batch_by_state", "set_batch_field", "set_job_field", "submit_jobs", "submit_one_batch",
    "submit_one_job", "wait_jobs",
]

DEFAULT_UNLESS = frozenset({COMPLETE, COLLECTED})


# -- monitoring --------------------------------------------------------------------------------
def _batch_names(session: Session) -> dict[int, Any]:
    rows = session.index.query("SELECT BatchID, name FROM batches")
    return {r[0]: json.loads(r[1]) if r[1] else None for r in rows}


@paused_gc
def get_queue(
    Display: Iterable[str] | None = None, Filter: str | None = None, ResetMissing: bool = False,
    ReportMissing: bool = False, Verbose: bool = True, Executor: Any = None, Refresh: bool = False,
) -> dict[int, list[JobInfo]] | None:
    """Print the dashboard (or, with Verbose=False, return {BatchID: [jobs]}).

    Executors are polled at most once per ``status_interval`` across processes; ``Refresh=True``
    polls now. ``Executor`` gives the options to poll its jobs with (else the config's).
    """
    display = None if Display is None else set(arguments.state_names(Display, "Display"))
    snapshot = queue_snapshot(Filter=Filter, ResetMissing=ResetMissing, Executor=Executor, Refresh=Refresh)
    if Verbose:
        print(dashboard.render(snapshot.jobs, snapshot.names, snapshot.status, display))
        if ReportMissing:
            report_missing(snapshot.status)
        return None
    return _by_batch(snapshot.jobs)


def _by_batch(jobs: Iterable[JobInfo]) -> dict[int, list[JobInfo]]:
    grouped: dict[int, list[JobInfo]] = {}
    for job in jobs:
        grouped.setdefault(job["BatchID"], []).append(job)
    return grouped


def wait_jobs(Filter: str | None = None, Timeout: float | None = None) -> dict[int, list[JobInfo]]:
    """Block until no job matching ``Filter`` is queued or running (in submit, run or spawn), then
    return them all as ``{BatchID: [jobs]}``, like ``get_queue(Verbose=False)``.

    Jobs in init are not waited for (submit them first, or let periodic_submitter do it). A job
    its executor lost (missing) or whose spawn failed ends the wait too: it will not change by
    itself. Executors are polled every ``status_interval`` (at least every 0.1 s); one that can
    tell at once when its jobs end (the local executor) ends the wait within milliseconds.

    :raises WaitTimeoutError: ``Timeout`` seconds passed first (a TimeoutError; ``.jobs`` lists
        the (BatchID, JobIndex) still queued or running).
    """
    timeout = None if Timeout is None else arguments.seconds(Timeout, "Timeout")
    where = compile_filter(Filter)
    session = get_session()
    wait_for(session, where, timeout)
    return _read_by_batch(session, where)


@paused_gc
def _read_by_batch(session: Session, where: str | None) -> dict[int, list[JobInfo]]:
    return _by_batch(session.index.jobs(where))


@frozen
class QueueSnapshot:
    """What a dashboard shows: the jobs, batch names, and what the poll learned (running marks,
    missing jobs, executor errors)."""

    jobs: list[JobInfo]
    names: dict[int, Any]
    status: RefreshResult


def queue_snapshot(
    Filter: str | None = None, ResetMissing: bool = False, Executor: Any = None, Refresh: bool = False,
) -> QueueSnapshot:
    """get_queue's data, for dashboards other than its printed report (the command line's table)."""
    session = get_session()
    where = compile_filter(Filter)
    jobs = session.index.jobs(where)
    chosen = session.executor(Executor) if Executor is not None else None
    status = refresh(session, jobs, force=Refresh, executor=chosen)
    if status.resolved:  # read again only the jobs this poll changed
        fresh = {(j["BatchID"], j["JobIndex"]): j for j in session.index.jobs_by_keys(list(status.resolved))}
        jobs = [fresh.get((j["BatchID"], j["JobIndex"]), j) for j in jobs]
    if ResetMissing and status.missing:
        _reset_missing(session, status)
        jobs = session.index.jobs(where)
        status.missing.clear()
    if any(j["state"] == SPAWN for j in jobs):
        shown = {(j["BatchID"], j["JobIndex"]) for j in jobs if j["state"] == SPAWN}
        status.spawn_failed |= session.index.failed_spawns() & shown
    return QueueSnapshot(jobs=list(jobs), names=_batch_names(session), status=status)


def _reset_missing(session: Session, status: RefreshResult) -> None:
    for batch_id, job_index in sorted(status.missing):
        changed = session.index.set_state(
            "BatchID=? AND JobIndex=?", [batch_id, job_index], INIT, from_states=("submit", "run")
        )
        for _, _, old in changed:
            session.manager.state_changed(batch_id, job_index, old, INIT)


def report_missing(status: RefreshResult) -> None:
    """Print the last lines of stderr of each missing job of a poll."""
    for batch_id, job_index in sorted(status.missing):
        print(f"--- missing job {batch_id}/{job_index}: last stderr ---")
        try:
            print_log(batch_id, job_index, "stderr", Lines=20)
        except ParaschutError as exc:
            print(f"(no log: {exc})")


def print_log(
    BatchID: int, JobIndex: int, LogKey: str = "stdout", LogIdx: int = -1, Lines: int | None = 30,
    RegEx: str | None = None, Verbose: bool = True,
) -> str:
    """Print the stdout/stderr of one run of a job (LogIdx: -1 is the last run)."""
    session = get_session()
    BatchID, JobIndex = arguments.whole_number(BatchID, "BatchID"), arguments.whole_number(JobIndex, "JobIndex")
    if not isinstance(LogKey, str) or LogKey not in ("stdout", "stderr"):
        raise InvalidArgumentError("LogKey", f"must be 'stdout' or 'stderr', not {LogKey!r}")
    LogIdx = arguments.whole_number(LogIdx, "LogIdx")
    Lines = arguments.count(Lines, "Lines")
    pattern = _regex(RegEx)
    history = session.index.query(
        "SELECT * FROM log_history WHERE BatchID=? AND JobIndex=? ORDER BY id", (BatchID, JobIndex)
    )
    if not history:
        session.index.get_job(BatchID, JobIndex)
        raise ParaschutError(f"job {BatchID}/{JobIndex} has no recorded runs yet")
    try:
        entry = history[LogIdx]
    except IndexError:
        raise ParaschutError(f"job {BatchID}/{JobIndex} has {len(history)} recorded runs; no LogIdx {LogIdx}") from None
    path = entry[LogKey]
    if not path or not os.path.exists(path):
        path = _discovered_log(session, entry, LogKey) or path
    if not path or not os.path.exists(path):
        if _waiting_to_start(session, entry, history):
            lines: list[str] = []  # queued, not started: its log is empty, whoever creates it
        else:
            raise ParaschutError(f"the {LogKey} of job {BatchID}/{JobIndex} ({path}) does not exist")
    else:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    if pattern is not None:
        lines = [line for line in lines if pattern.search(line)]
    if Lines:
        lines = lines[-Lines:]
    text = "\n".join(lines)
    if Verbose:
        print(text)
    return text


def _waiting_to_start(session: Session, entry: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> bool:
    """True when ``entry`` is the newest run of its job (or spawn) and that run is still queued.

    SGE, Slurm and PBS get their logs created empty before submission (decision 24); the local
    and file executors create them when the job starts: until then the log reads as empty, the same
    on every executor."""
    spawn = entry["SpawnID"]
    if any(e["id"] > entry["id"] and e["SpawnID"] == spawn for e in history):
        return False  # a later run of the same job (or spawn) exists
    if spawn is None:
        job = session.index.query(
            "SELECT state FROM jobs WHERE BatchID=? AND JobIndex=?", (entry["BatchID"], entry["JobIndex"])
        )
        return bool(job) and job[0]["state"] == models.SUBMIT
    rows = session.index.query(
        "SELECT state FROM spawns WHERE BatchID=? AND JobIndex=? AND SpawnID=?",
        (entry["BatchID"], entry["JobIndex"], spawn),
    )
    return bool(rows) and rows[0]["state"] == models.SUBMIT


def _discovered_log(session: Session, entry: Mapping[str, Any], key: str) -> str | None:
    """Ask the job's executor where a log it did not write at the recorded path went (log discovery)."""
    if not entry["executor"] or not entry["ClusterID"]:
        return None
    try:
        executor = session.executor(entry["executor"])
        job = session.index.get_job(entry["BatchID"], entry["JobIndex"])
    except ParaschutError:
        return None
    spec = models.JobSpec(
        batch_id=entry["BatchID"], job_index=entry["JobIndex"], name=str(job.get("name") or ""),
        script=str(job.get("script") or ""), workdir=os.path.dirname(entry["stdout"] or "") or ".",
        stdout=entry["stdout"] or "", stderr=entry["stderr"] or "", spawn_id=entry["SpawnID"],
    )
    paths = session.manager.log_paths(executor, spec, str(entry["ClusterID"]))
    return None if paths is None else getattr(paths, key)


def _regex(text: Any) -> re.Pattern[str] | None:
    if text is None or text == "":
        return None
    try:
        return re.compile(arguments.text(text, "RegEx"))
    except re.error as exc:
        raise InvalidArgumentError("RegEx", f"{text!r} is not a regular expression: {exc}") from None


# -- submission --------------------------------------------------------------------------------
@paused_gc
def submit_jobs(
    Filter: str | None = None, MaxJobs: int | None = None, Executor: Any = None, Verbose: bool = False,
) -> int:
    """Submit every job the priority rules allow now; returns how many were submitted."""
    session = get_session()
    where = compile_filter(Filter)
    max_jobs = arguments.count(MaxJobs, "MaxJobs")
    executor = session.executor(Executor)
    session.manager.check(executor)
    _poll_active(session, executor)
    max_jobs = max_jobs if max_jobs is not None else session.settings.max_jobs
    claimed = submission.claim_eligible(session, where, max_jobs, executor)
    count = submission.submit_claimed(session, claimed, executor) if claimed else 0
    if Verbose:
        print(f"submitted {count} job(s) to {executor.name}")
    return count


def _poll_active(session: Session, executor: Any = None) -> None:
    """Resolve finished jobs so the next priority group can go (one status call per executor,
    skipped while another process's poll is younger than status_interval)."""
    if poll_due(session):
        refresh(session, active_jobs(session), executor=executor)


def submit_one_batch(BatchID: int, Executor: Any = None, MaxJobs: int | None = None) -> int:
    """Submit a batch's jobs by its own priority rules (other batches are not considered)."""
    session = get_session()
    batch = arguments.whole_number(BatchID, "BatchID")
    max_jobs = arguments.count(MaxJobs, "MaxJobs")
    if session.index.batch(batch) is None:
        raise JobNotFoundError(batch)
    executor = session.executor(Executor)
    session.manager.check(executor)
    _poll_active(session, executor)
    scope = f"BatchID = {batch}"
    max_jobs = max_jobs if max_jobs is not None else session.settings.max_jobs
    claimed = submission.claim_eligible(session, scope, max_jobs, executor, scope=scope)
    return submission.submit_claimed(session, claimed, executor) if claimed else 0


def submit_one_job(BatchID: int, JobIndex: int, Executor: Any = None) -> int:
    """Submit one init job now, whatever its priority; returns 1, or 0 when it was not in init."""
    session = get_session()
    batch, index = arguments.whole_number(BatchID, "BatchID"), arguments.whole_number(JobIndex, "JobIndex")
    job = session.index.get_job(batch, index)
    if job["state"] != INIT:
        return 0
    executor = session.executor(Executor)
    session.manager.check(executor)
    where = f"(BatchID = {batch} AND JobIndex = {index})"
    claimed = submission.claim_eligible(
        session, where, None, executor,
        jobs_sql=f"SELECT id, BatchID, JobIndex, state, priority FROM jobs WHERE state='init' AND {where}",
    )
    return submission.submit_claimed(session, claimed, executor) if claimed else 0


def periodic_submitter(
    Interval: float = 60, Filter: str | None = None, MaxJobs: int | None = None, Executor: Any = None,
    Verbose: bool = True, MaxIterations: int | None = None,
) -> None:
    """Call submit_jobs every ``Interval`` seconds until no job is left to run (or interrupted).

    On executors that can tell when their jobs end (the local one), it does not sleep out the
    interval once every submitted job of the selection has ended: it submits the next group.
    """
    Interval = arguments.seconds(Interval, "Interval")
    MaxIterations = arguments.count(MaxIterations, "MaxIterations")
    compile_filter(Filter)  # a bad Filter is refused before the first round
    iteration = 0
    try:
        while MaxIterations is None or iteration < MaxIterations:
            iteration += 1
            count = submit_jobs(Filter=Filter, MaxJobs=MaxJobs, Executor=Executor)
            left = _unfinished(Filter)
            if Verbose and count:
                print(f"periodic_submitter: submitted {count} job(s); {left} unfinished")
            if left == 0:
                break
            pause(get_session(), compile_filter(Filter), Interval)
    except KeyboardInterrupt:
        if Verbose:
            print("periodic_submitter: stopped")


def _unfinished(Filter: str | None) -> int:
    """Jobs that may still run: init or active (failed and user states wait for the user)."""
    session = get_session()
    where = compile_filter(Filter) or "1"
    states = [INIT, *sorted(ACTIVE_STATES)]
    rows = session.index.filtered(
        where, f"SELECT COUNT(*) FROM jobs WHERE {{where}} AND state IN ({', '.join('?' * len(states))})", states
    )
    return int(rows[0][0])


# -- changing, cancelling and removing ---------------------------------------------------------
def _selection(BatchID: Any, JobIndex: Any = None) -> list[tuple[int, int | None]]:
    """Normalise batch/job arguments: an id, a list of ids, or get_queue(Verbose=False)'s dict."""
    number = arguments.whole_number
    if isinstance(BatchID, Mapping):
        out: list[tuple[int, int | None]] = []
        for b, jobs in BatchID.items():
            if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Iterable):
                raise InvalidArgumentError("BatchID", f"the jobs of batch {b!r} must be a list of jobs")
            for j in jobs:
                if not isinstance(j, Mapping) or "JobIndex" not in j:
                    raise InvalidArgumentError("BatchID", f"batch {b!r} lists {type(j).__name__}, not a job")
                out.append((number(b, "BatchID"), number(j["JobIndex"], "JobIndex")))
        return out
    batches = BatchID if isinstance(BatchID, (list, tuple, set, frozenset, range)) else [BatchID]
    if JobIndex is None:
        return [(number(b, "BatchID"), None) for b in batches]
    indices = JobIndex if isinstance(JobIndex, (list, tuple, set, frozenset, range)) else [JobIndex]
    return [(number(b, "BatchID"), number(j, "JobIndex", minimum=0)) for b in batches for j in indices]


def _where(selection: Sequence[tuple[int, int | None]]) -> tuple[str, list[Any]]:
    parts, params = [], []
    for batch_id, job_index in selection:
        if job_index is None:
            parts.append("(BatchID=?)")
            params.append(batch_id)
        else:
            parts.append("(BatchID=? AND JobIndex=?)")
            params += [batch_id, job_index]
    return "(" + (" OR ".join(parts) or "0") + ")", params


def set_batch_field(
    BatchID: Any, Unless: Iterable[str] = DEFAULT_UNLESS, Field: str = "state", Value: Any = INIT,
) -> int:
    """Set a field of every job of the batch(es), except jobs in an ``Unless`` state.

    The default resets jobs to init unless they are complete or collected; ``Unless={}`` resets all.
    """
    return _set_field(_selection(BatchID), Unless, Field, Value)


def set_job_field(
    BatchID: Any, JobIndex: Any, Unless: Iterable[str] = DEFAULT_UNLESS, Field: str = "state", Value: Any = INIT,
) -> int:
    """Like set_batch_field, for given JobIndex values (one or a list)."""
    return _set_field(_selection(BatchID, JobIndex), Unless, Field, Value)


def _set_field(selection: Sequence[tuple[int, int | None]], unless: Iterable[str], field: str, value: Any) -> int:
    session = get_session()
    skip = arguments.state_names(unless, "Unless")
    if not isinstance(field, str) or not field or field in ("BatchID", "JobIndex", "updated", "version"):
        raise InvalidJobError("this field cannot be set in bulk (argument Field)", repr(field)[1:-1])
    value = check_value(value, arguments.text(field, "Field"))
    check_fields({field: value})
    if field in ("state", "priority") and value is None:
        raise InvalidJobError("cannot be None", field)
    where, params = _where(selection)
    if skip:
        where += f" AND state NOT IN ({', '.join('?' * len(skip))})"
        params += skip
    if field == "state":
        changed = session.index.set_state(where, params, value)
        for b, j, old in changed:
            session.manager.state_changed(b, j, old, value)
        return len(changed)
    return session.index.set_field(where, params, field, value)


def _cancel(
    session: Session, selection: Sequence[tuple[int, int | None]], reset: bool = True, strict: bool = True
) -> int:
    """Cancel the selection's active jobs and spawns; with ``reset`` they return to init.

    Not ``strict`` (removing jobs): an executor that cannot be reached or is no longer installed
    is warned about and the rest goes on.
    """
    where, params = _where(selection)
    states = sorted(ACTIVE_STATES)
    rows = session.index.query(
        f"SELECT BatchID, JobIndex, executor, ClusterID, state FROM jobs WHERE {where} "
        f"AND state IN ({', '.join('?' * len(states))})", [*params, *states],
    )
    by_exec: dict[str, list[str]] = {}
    for r in rows:
        if r["ClusterID"] and r["state"] != SPAWN:
            by_exec.setdefault(r["executor"], []).append(r["ClusterID"])
    spawns = session.index.query(  # one query for the spawns of every spawning job selected
        "SELECT executor, ClusterID FROM spawns WHERE state IN ('submit', 'run') AND (BatchID, JobIndex) IN "
        f"(SELECT BatchID, JobIndex FROM jobs WHERE {where} AND state = '{SPAWN}')",
        params,
    )
    for s in spawns:
        by_exec.setdefault(s["executor"], []).append(s["ClusterID"])
    for name, ids in by_exec.items():
        try:
            session.manager.cancel(session.executor(name), [i for i in ids if i])
        except ParaschutError as exc:
            if strict:
                raise
            warnings.warn(f"could not cancel jobs on {name!r}: {exc}", RuntimeWarning, stacklevel=3)
    if not reset:
        return len(rows)
    session.index.reset_spawns([(r["BatchID"], r["JobIndex"]) for r in rows if r["state"] == SPAWN])
    changed = session.index.set_state(where, params, INIT, from_states=states)
    for b, j, old in changed:
        session.manager.state_changed(b, j, old, INIT)
    return len(changed)


def qdel_batch(BatchID: Any) -> int:
    """Cancel a batch's queued and running jobs; they return to init."""
    return _cancel(get_session(), _selection(BatchID))


def qdel_job(BatchID: Any, JobIndex: Any) -> int:
    """Cancel jobs of a batch (one JobIndex or a list); they return to init."""
    return _cancel(get_session(), _selection(BatchID, JobIndex))


def remove_batch(BatchID: Any) -> int:
    """Remove batches from the index (cancelling their active jobs) and delete their folders."""
    session = get_session()
    selection = _selection(BatchID)
    dirs = {b: session.batch_dir(b) for b, _ in selection}
    _cancel(session, selection, strict=False)
    where, params = _where(selection)
    removed = session.index.delete_jobs(where, params)
    left = set(session.index.batch_ids())
    for batch_id, path in dirs.items():
        if batch_id not in left:  # a selection naming some jobs of a batch keeps its folder
            _remove_dir(session, path)
    return len(removed)


def remove_batch_by_state(state: str | Iterable[str]) -> int:
    """Remove every job in the given state(s); batches left empty lose their folder too."""
    session = get_session()
    states = arguments.state_names(state, "state")
    before = set(session.index.batch_ids())
    dirs = {b: session.batch_dir(b) for b in before}
    marks = ", ".join("?" * len(states))
    rows = session.index.query(f"SELECT DISTINCT BatchID, JobIndex FROM jobs WHERE state IN ({marks})", states)
    if set(states) & ACTIVE_STATES and rows:
        _cancel(session, [(r[0], r[1]) for r in rows], reset=False, strict=False)
    removed = session.index.delete_jobs(f"state IN ({marks})", states)
    for batch_id in before - set(session.index.batch_ids()):
        _remove_dir(session, dirs[batch_id])
    return len(removed)


def _remove_dir(session: Session, path: str) -> None:
    """Delete a batch folder, but only one inside the job dir (never a user's own folder)."""
    root = os.path.realpath(session.settings.job_dir)
    real = os.path.realpath(path)
    if real.startswith(root + os.sep) and os.path.isdir(real):
        shutil.rmtree(real, ignore_errors=True)
