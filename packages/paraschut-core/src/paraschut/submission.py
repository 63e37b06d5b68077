"""Submitting jobs: claim eligible jobs in the index, hand them to an executor, record what it said."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import psutil

from . import scheduling
from .db import JOB_COLUMNS, filter_guard, row_to_job
from .errors import (
    InvalidJobError,
    ParaschutError,
    SchedulerCommandError,
    UncertainSubmissionError,
)
from .files import create_private_files
from .jobinfo import JobInfo
from .models import ACTIVE_STATES, FAILED, INIT, SPAWN, SUBMIT, Executor, JobSpec
from .session import Session

__all__ = [
    "build_spec", "claim_eligible", "job_env", "reconcile", "reporting_progress", "submit_claimed",
    "submitter_token",
]

log = logging.getLogger(__name__)

#: called with (jobs submitted so far, jobs to submit) by submit_claimed, when set
_progress: ContextVar[Callable[[int, int], None] | None] = ContextVar("paraschut_submit_progress", default=None)


@contextlib.contextmanager
def reporting_progress(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Within the block, every submission (submit_jobs, submit_one_batch, ...) calls
    ``callback(submitted, total)`` once before it starts and after each scheduler call. The
    command line draws its progress bar with it; the API itself stays silent."""
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)

ENV_BATCH_ID = "PARASCHUT_BATCH_ID"
ENV_JOB_INDEX = "PARASCHUT_JOB_INDEX"
ENV_SPAWN_ID = "PARASCHUT_SPAWN_ID"
ENV_SPAWN_COUNT = "PARASCHUT_SPAWN_COUNT"


def submitter_token() -> str:
    """host:pid:create-time of this process (to tell a live claim from a crashed one)."""
    proc = psutil.Process()
    return f"{socket.gethostname()}:{proc.pid}:{proc.create_time():.3f}"


def job_env(
    session: Session, job: Mapping[str, Any], executor: Executor, spawn: tuple[int, int] | None
) -> dict[str, str]:
    """The environment a job runs with: its ``vars`` plus what it needs to find itself."""
    env = {str(k): str(v) for k, v in (job.get("vars") or {}).items()}
    env[ENV_BATCH_ID] = str(job["BatchID"])
    env[ENV_JOB_INDEX] = str(job["JobIndex"])
    env["PARASCHUT_DB"] = session.settings.db
    env["PARASCHUT_JOB_DIR"] = session.settings.job_dir
    env["PARASCHUT_EXECUTOR"] = executor.name
    env["PARASCHUT_PYTHON"] = sys.executable
    # set empty for a job that is not a spawn: executors that hand a job its submitter's whole
    # environment (sbatch --export=ALL, qsub -V) would otherwise give a job submitted from inside
    # a spawn (spawn_complete(Submit=True)) that spawn's identity
    env[ENV_SPAWN_ID], env[ENV_SPAWN_COUNT] = ("", "") if spawn is None else (str(spawn[0]), str(spawn[1]))
    return env


def _display_name(job: Mapping[str, Any]) -> str:
    name = job.get("name")
    if isinstance(name, (list, tuple)):
        return "_".join(str(n) for n in name) or f"job{job['JobIndex']}"
    return str(name) if name else f"job{job['JobIndex']}"


def _script(job: Mapping[str, Any], batch_dir: str) -> str:
    script = job.get("script")
    if not script:
        raise InvalidJobError("the job has no script to run", "script")
    script = os.path.expanduser(str(script))
    if not os.path.isabs(script):
        in_batch = os.path.join(batch_dir, script)
        script = in_batch if os.path.exists(in_batch) else os.path.abspath(script)
    return script


def build_spec(
    session: Session, job: Mapping[str, Any], executor: Executor, run: int,
    spawn: tuple[int, int] | None = None,
) -> JobSpec:
    """The JobSpec for one submission of ``job`` (spawn: (SpawnID, count))."""
    batch_dir = session.batch_dir(job["BatchID"])
    logs = session.logs_dir(job["BatchID"])
    stem = f"{job['JobIndex']}" + ("" if spawn is None else f"_s{spawn[0]}") + f".{run}"
    resources = dict(executor.option("resources") or {})
    resources.update(job.get("resources") or {})
    spec = JobSpec(
        batch_id=job["BatchID"],
        job_index=job["JobIndex"],
        name=_display_name(job),
        script=_script(job, batch_dir),
        workdir=str(job.get("workdir") or batch_dir),
        stdout=os.path.join(logs, stem + ".out"),
        stderr=os.path.join(logs, stem + ".err"),
        env=job_env(session, job, executor, spawn),
        queue=job.get("queue") or executor.option("queue"),
        resources={k: v for k, v in resources.items() if v is not None},
        spawn_id=None if spawn is None else spawn[0],
        run=run,
    )
    if not session.manager.check(executor).creates_private_logs:
        # a scheduler keeps the mode of a log that exists; one it creates gets its own umask (0644)
        create_private_files([spec.stdout, spec.stderr])
    return spec


#: The ``submitter`` of a job held after an uncertain submission: ``held:<epoch when held>``.
HELD = "held:"


def _held_since(token: str) -> float | None:
    """When a held job was held (None: ``token`` is a submitter's claim, not a hold)."""
    if not token.startswith(HELD):
        return None
    try:
        return float(token[len(HELD):])
    except ValueError:
        return 0.0


def _claim_alive(token: str) -> bool:
    """Whether the process that claimed jobs (``host:pid:start``) may still be submitting them."""
    host, _, rest = token.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True  # another host: cannot tell, so never steal its claim
    try:
        return abs(psutil.Process(int(pid)).create_time() - float(started)) < 0.01
    except (psutil.Error, ValueError):
        return False


def _release_dead_claims(
    conn: Any, token: str, grace: Any
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
    """Jobs claimed by a submitter on this host that died before submitting them return to init.

    A job it was handing to the scheduler when it died (an intent without a cluster id in
    log_history) may be on the scheduler nonetheless: once its intent is older than ``grace(executor)``
    (an orphaned qsub may still be talking to the scheduler until then), this process takes the claim
    over and returns (job id, BatchID, JobIndex, executor, run, stdout, stderr, intent time, dead
    token) for :func:`reconcile`; younger ones are left alone. Jobs held after an uncertain
    submission (decision 25) are returned the same way once held for ``grace``. Also returns the
    (BatchID, JobIndex) of the jobs returned to init.
    """
    rows = conn.execute(
        f"SELECT id, submitter, BatchID, JobIndex, executor FROM jobs INDEXED BY jobs_pending_claims "
        f"WHERE submitter IS NOT NULL AND state='{SUBMIT}' AND ClusterID IS NULL"
    ).fetchall()
    now = time.time()
    dead = []
    for r in rows:
        held = _held_since(r[1])
        if held is None and not _claim_alive(r[1]) or held is not None and now - held >= grace(r[4]):
            dead.append(r)
    if not dead:
        return [], []
    doubtful: list[tuple[Any, ...]] = []
    waiting: set[int] = set()
    for row in dead:
        intent = conn.execute(
            "SELECT run, stdout, stderr, submit_time FROM log_history WHERE BatchID=? AND JobIndex=? AND "
            "SpawnID IS NULL AND ClusterID IS NULL ORDER BY run DESC LIMIT 1",
            (row[2], row[3]),
        ).fetchone()
        if intent is None:
            if _held_since(row[1]) is not None:
                waiting.add(row[0])  # nothing to look it up by: it stays held (never run twice)
            continue
        if now - float(intent[3] or 0.0) < grace(row[4]):
            waiting.add(row[0])
        else:
            doubtful.append((row[0], row[2], row[3], row[4], *intent, row[1]))
    release = [r[0] for r in dead if r[0] not in waiting and r[0] not in {d[0] for d in doubtful}]
    for start in range(0, len(release), 500):
        chunk = release[start : start + 500]
        conn.execute(
            f"UPDATE jobs SET state='{INIT}', submitter=NULL, updated=?, version=version+1 "
            f"WHERE id IN ({', '.join('?' * len(chunk))})",
            (now, *chunk),
        )
    for row in doubtful:
        conn.execute("UPDATE jobs SET submitter=? WHERE id=?", (token, row[0]))
    released = set(release)
    return doubtful, [(r[2], r[3]) for r in dead if r[0] in released]


def reconcile(session: Session, doubtful: Sequence[tuple[Any, ...]]) -> None:
    """Ask the scheduler about submissions whose submitter died before recording them (decision 26).

    Found: recorded with the scheduler's id, as if the submitter had lived. Not found: back to init
    (submitted again later). Found nowhere but its log exists (it ran and the scheduler forgot it),
    or the plugin cannot tell: ``failed`` with the reason, for the user to check, never run twice.
    The scheduler is asked outside any transaction; if it cannot answer, the claims are given back
    to the dead submitter and the next submit_jobs tries again.
    """
    by_executor: dict[str, list[tuple[Any, ...]]] = {}
    for row in doubtful:
        by_executor.setdefault(str(row[3]), []).append(row)
    for name, rows in by_executor.items():
        jobs = {(j["BatchID"], j["JobIndex"]): j for j in session.index.jobs_by_keys([(r[1], r[2]) for r in rows])}
        specs = {}
        for row in rows:
            job = jobs.get((row[1], row[2]), {"JobIndex": row[2]})
            specs[row[0]] = JobSpec(
                batch_id=row[1], job_index=row[2], name=_display_name(job), script=str(job.get("script") or ""),
                workdir=str(job.get("workdir") or ""), stdout=str(row[5] or ""), stderr=str(row[6] or ""), run=row[4],
            )
        try:
            executor = session.executor(name)
            since = min(float(r[7] or 0.0) for r in rows)
            found = session.manager.find_submitted(executor, list(specs.values()), since)
        except ParaschutError as exc:
            log.warning("cannot tell which jobs a dead submitter left on %r: %s; trying again later", name, exc)
            with session.index.write() as conn:
                conn.executemany("UPDATE jobs SET submitter=? WHERE id=?", [(r[8], r[0]) for r in rows])
            continue
        _settle(session, name, rows, specs, found)


def _settle(
    session: Session, name: str, rows: Sequence[tuple[Any, ...]], specs: Mapping[int, JobSpec],
    found: Mapping[str, str] | None,
) -> None:
    now = time.time()
    released = []
    with session.index.write() as conn:
        for row in rows:
            job_id, batch, index, _, run, stdout, _, intended, _ = row
            cid = None if found is None else found.get(specs[job_id].key)
            history = "BatchID=? AND JobIndex=? AND SpawnID IS NULL AND run=? AND ClusterID IS NULL"
            if cid:
                conn.execute(
                    "UPDATE jobs SET ClusterID=?, submit_time=?, submitter=NULL, updated=? WHERE id=? AND state=?",
                    (cid, intended, now, job_id, SUBMIT),
                )
                conn.execute(f"UPDATE log_history SET ClusterID=? WHERE {history}", (cid, batch, index, run))
                continue
            if found is not None and not _log_written(stdout, intended):
                conn.execute(f"DELETE FROM log_history WHERE {history}", (batch, index, run))
                conn.execute(
                    f"UPDATE jobs SET state='{INIT}', submitter=NULL, updated=?, version=version+1 WHERE id=? "
                    f"AND state='{SUBMIT}' AND ClusterID IS NULL",
                    (now, job_id),
                )
                released.append((batch, index))
                continue
            held = _held_since(row[8]) is not None
            if found is None and held:
                # held after an uncertain submission, and the plugin cannot look it up: it stays
                # held, as before lookups existed (decision 25: a person checks and resets it);
                # asked again only after another grace, not by every submit_jobs meanwhile
                conn.execute("UPDATE jobs SET submitter=? WHERE id=?", (f"{HELD}{now:.3f}", job_id))
                continue
            how = (
                f"its submission to {name!r} was uncertain" if held else
                f"its submitter died while submitting it to {name!r}"
            )
            why = (
                f"{how}, and {name!r} cannot tell whether it has the job" if found is None else
                f"{how}; the job ran (its log {stdout} exists) but the scheduler no longer knows it"
            )
            conn.execute(
                f"UPDATE jobs SET state='{FAILED}', submitter=NULL, updated=?, version=version+1, "
                "metadata=json_patch(metadata, ?) WHERE id=? AND state=? AND ClusterID IS NULL",
                (now, json.dumps({"error": why + ": check it, then reset or complete it"}), job_id, SUBMIT),
            )
    for batch, index in released:
        session.manager.state_changed(batch, index, SUBMIT, INIT)


def _log_written(path: str | None, since: Any) -> bool:
    """True when a job's log shows it started: the core creates it empty before submitting (owner-only,
    decision 24), so only content, or a write (open with O_TRUNC) after the intent, counts."""
    if not path:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size > 0 or st.st_mtime > float(since or 0.0)


def _grace(session: Session) -> Any:
    """How long an orphaned submit command may still be running: the executor's ``timeout``
    option (the bound our plugins put on one scheduler call), 60 s by default."""
    cache: dict[str, float] = {}

    def grace(name: str | None) -> float:
        if name not in cache:
            try:
                cache[str(name)] = float(session.executor(name).option("timeout", 60.0))
            except (ParaschutError, TypeError, ValueError):
                cache[str(name)] = 60.0
        return cache[str(name)]

    return grace


def _active_count(conn: Any) -> int:
    states = ", ".join(f"'{s}'" for s in sorted(ACTIVE_STATES - {SPAWN}))
    (jobs,) = conn.execute(f"SELECT COUNT(*) FROM jobs WHERE state IN ({states})").fetchone()
    (spawns,) = conn.execute("SELECT COUNT(*) FROM spawns WHERE state IN ('submit', 'run')").fetchone()
    return int(jobs) + int(spawns)


def _eligible_rows(conn: Any, where: str | None, scope: str | None, jobs_sql: str | None) -> list[Any]:
    """Run the priority-rule queries with the Filter, read-only; SQLite's complaints become
    InvalidFilterError."""
    top_sql, eligible_sql = scheduling.eligible_sql(where, scope)
    with filter_guard(conn, where):
        (top,) = conn.execute(top_sql).fetchone()
        return list(conn.execute(jobs_sql or eligible_sql, {"top": top}).fetchall())


def claim_eligible(
    session: Session, where: str | None, max_jobs: int | None, executor: Executor,
    jobs_sql: str | None = None, scope: str | None = None,
) -> list[JobInfo]:
    """Pick the jobs the priority rules allow and mark them submitted, in one write transaction.

    Concurrent submitters each claim a disjoint set: the claim is a compare-and-set from init.
    ``scope`` limits the global (>100) rule to some jobs (submit_one_batch: its batch).
    """
    index = session.index
    token = submitter_token()
    with index.write() as conn:
        doubtful, released = _release_dead_claims(conn, token, _grace(session))
        rows = _eligible_rows(conn, where, scope, jobs_sql)
        active = _active_count(conn) if max_jobs is not None else 0
        picked = scheduling.throttle([tuple(r) for r in rows], active, max_jobs)  # type: ignore[misc]
        claimed = []
        now = time.time()
        for start in range(0, len(picked), 500):
            chunk = [r[0] for r in picked[start : start + 500]]
            marks = ", ".join("?" * len(chunk))
            claimed += conn.execute(
                f"UPDATE jobs SET state='{SUBMIT}', submitter=?, executor=?, ClusterID=NULL, "
                f"exit_code=NULL, updated=?, version=version+1 WHERE id IN ({marks}) AND state='{INIT}' "
                f"RETURNING {JOB_COLUMNS}",
                (token, executor.name, now, *chunk),
            ).fetchall()
    for batch_id, job_index in released:
        session.manager.state_changed(batch_id, job_index, SUBMIT, INIT)
    if doubtful:
        reconcile(session, doubtful)
    jobs = [row_to_job(r) for r in claimed]
    jobs.sort(key=lambda j: (-j["priority"], j["BatchID"], j["JobIndex"]))
    return jobs


def _runs(session: Session, jobs: Sequence[Mapping[str, Any]]) -> dict[tuple[int, int], int]:
    batches = sorted({j["BatchID"] for j in jobs})
    runs: dict[tuple[int, int], int] = {}
    for start in range(0, len(batches), 500):
        chunk = batches[start : start + 500]
        rows = session.index.query(
            f"SELECT BatchID, JobIndex, MAX(run) + 1 FROM log_history WHERE SpawnID IS NULL AND "
            f"BatchID IN ({', '.join('?' * len(chunk))}) GROUP BY BatchID, JobIndex",
            chunk,
        )
        runs.update({(r[0], r[1]): int(r[2]) for r in rows})
    return runs


def _record(
    session: Session, done: list[tuple[JobSpec, Any]], executor: Executor, intend: Sequence[JobSpec] = ()
) -> None:
    """Record what the scheduler answered, and the intent to submit the next group, in one transaction.

    An intent is the run's log_history row without a cluster id, written before the scheduler is
    called: a submitter killed between the scheduler's answer and this record leaves it behind, and
    :func:`reconcile` asks the scheduler about that one run instead of submitting it again.
    """
    if not done and not intend:
        return
    now = time.time()
    with session.index.write() as conn:
        conn.executemany(
            "UPDATE jobs SET ClusterID=?, submit_time=?, submitter=NULL, updated=? WHERE BatchID=? AND JobIndex=?",
            [(sub.cluster_id, now, now, spec.batch_id, spec.job_index) for spec, sub in done],
        )
        conn.executemany(
            "UPDATE log_history SET ClusterID=?, stdout=?, stderr=?, submit_time=? WHERE BatchID=? AND "
            "JobIndex=? AND SpawnID IS NULL AND run=? AND ClusterID IS NULL",
            [(sub.cluster_id, sub.stdout or spec.stdout, sub.stderr or spec.stderr, now, spec.batch_id,
              spec.job_index, spec.run) for spec, sub in done],
        )
        conn.executemany(
            "INSERT INTO log_history (BatchID, JobIndex, SpawnID, run, executor, ClusterID, stdout, "
            "stderr, submit_time) VALUES (?, ?, NULL, ?, ?, NULL, ?, ?, ?)",
            [(spec.batch_id, spec.job_index, spec.run, executor.name, spec.stdout, spec.stderr, now)
             for spec in intend],
        )


def _release(session: Session, jobs: Sequence[Mapping[str, Any]], error: str) -> None:
    """Return claimed-but-unsubmitted jobs to init, keeping the reason (and dropping their intents)."""
    patch = json.dumps({"submit_error": error})
    released = []
    with session.index.write() as conn:
        for job in jobs:
            changed = conn.execute(
                f"UPDATE jobs SET state='{INIT}', submitter=NULL, updated=?, version=version+1, "
                "metadata=json_patch(metadata, ?) WHERE BatchID=? AND JobIndex=? AND state=? AND ClusterID IS NULL",
                (time.time(), patch, job["BatchID"], job["JobIndex"], SUBMIT),
            ).rowcount
            if changed:
                conn.execute(
                    "DELETE FROM log_history WHERE BatchID=? AND JobIndex=? AND SpawnID IS NULL AND ClusterID IS NULL",
                    (job["BatchID"], job["JobIndex"]),
                )
                released.append((job["BatchID"], job["JobIndex"]))
    for batch_id, job_index in released:
        session.manager.state_changed(batch_id, job_index, SUBMIT, INIT)


def _hold_uncertain(session: Session, jobs: Sequence[Mapping[str, Any]], error: str) -> None:
    """Keep jobs the scheduler may have queued in submit, without a cluster id, held (``held:<now>``
    instead of a claim, so no submitter returns them to init), with the reason in
    ``submit_error``; their intent stays in log_history. Once held for the executor's grace, the
    next ``submit_jobs`` asks the scheduler for them by their intent (:func:`reconcile`)."""
    patch = json.dumps({"submit_error": error})
    now = time.time()
    with session.index.write() as conn:
        for job in jobs:
            conn.execute(
                "UPDATE jobs SET submitter=?, submit_time=?, updated=?, version=version+1, "
                "metadata=json_patch(metadata, ?) WHERE BatchID=? AND JobIndex=? AND state=? AND ClusterID IS NULL",
                (f"{HELD}{now:.3f}", now, now, patch, job["BatchID"], job["JobIndex"], SUBMIT),
            )


def _array_groups(specs: Sequence[JobSpec], limit: int) -> list[list[int]]:
    """Positions of specs that can go in one array submission: same script, queue, resources and
    working directory, at most ``limit`` per group, in order of first appearance."""
    groups: dict[tuple[Any, ...], list[list[int]]] = {}
    order: list[list[int]] = []
    for position, spec in enumerate(specs):
        key = (spec.script, spec.queue, tuple(sorted(spec.resources.items())), spec.workdir)
        chunks = groups.setdefault(key, [])
        if not chunks or len(chunks[-1]) >= limit:
            chunks.append([])
            order.append(chunks[-1])
        chunks[-1].append(position)
    return order


def _submit_group(session: Session, executor: Executor, specs: Sequence[JobSpec], arrays: bool) -> list[Any]:
    if arrays and len(specs) > 1:
        return session.manager.submit_array(executor, specs)
    return [session.manager.submit(executor, spec) for spec in specs]


def submit_claimed(session: Session, jobs: Sequence[Mapping[str, Any]], executor: Executor) -> int:
    """Submit claimed jobs and record their ids in small transactions.

    Executors that support arrays get each group of jobs sharing a script and resources in one
    call (``max_array_size`` per call, default 1000); others get one call per job. On a scheduler
    error the unsubmitted rest goes back to init and the error is raised; a job that cannot be
    submitted (no script, ...) stays in init with ``submit_error`` while the others still go.
    """
    runs = _runs(session, jobs)
    specs: list[JobSpec] = []
    good: list[Mapping[str, Any]] = []
    bad: list[ParaschutError] = []
    for job in jobs:
        try:
            specs.append(build_spec(session, job, executor, runs.get((job["BatchID"], job["JobIndex"]), 0)))
            good.append(job)
        except ParaschutError as exc:  # one bad job does not hold back the others
            _release(session, [job], str(exc))
            bad.append(exc)
    jobs = good
    arrays = session.manager.supports_arrays(executor)
    limit = int(executor.option("max_array_size", 1000)) if arrays else 1
    groups = _array_groups(specs, limit) if arrays else [[i] for i in range(len(specs))]
    report, done = _progress.get(), 0
    if report is not None:
        report(0, len(specs))
    if groups:
        _record(session, [], executor, intend=[specs[i] for i in groups[0]])
    for number, group in enumerate(groups):
        try:
            subs = _submit_group(session, executor, [specs[i] for i in group], arrays)
        except SchedulerCommandError as exc:
            if not exc.uncertain:  # refused: this group and the rest go back to init
                _release(session, [jobs[i] for g in groups[number:] for i in g], str(exc))
                raise
            # the scheduler may have queued this group: never submit it again (decision 25)
            _release(session, [jobs[i] for g in groups[number + 1:] for i in g], str(exc))
            held = [jobs[i] for i in group]
            error = UncertainSubmissionError(exc, [(j["BatchID"], j["JobIndex"]) for j in held])
            _hold_uncertain(session, held, str(error))
            raise error from exc
        except BaseException as exc:  # any other error, or Ctrl-C: the rest goes back to init
            _release(session, [jobs[i] for g in groups[number:] for i in g], str(exc) or type(exc).__name__)
            raise
        # recorded at once, with the intent for the next group: a submitter killed now leaves at most
        # this group unrecorded, and its intent says which run to look for on the scheduler
        following = [specs[i] for i in groups[number + 1]] if number + 1 < len(groups) else []
        _record(session, [(specs[i], sub) for i, sub in zip(group, subs, strict=True)], executor, intend=following)
        done += len(group)
        if report is not None:
            report(done, len(specs))
    for job in jobs:
        session.manager.state_changed(job["BatchID"], job["JobIndex"], INIT, SUBMIT)
    if bad:
        raise type(bad[0])(f"{len(bad)} job(s) could not be submitted and stay in init: {bad[0]}")
    return len(jobs)
