"""Submitting jobs: claim eligible jobs in the index, hand them to an executor, record what it said."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psutil

from . import scheduling
from .db import JOB_COLUMNS, filter_guard, row_to_job
from .errors import InvalidJobError, ParaschutError
from .jobinfo import JobInfo
from .models import ACTIVE_STATES, INIT, SPAWN, SUBMIT, Executor, JobSpec
from .session import Session

__all__ = ["build_spec", "claim_eligible", "job_env", "submit_claimed", "submitter_token"]

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
    if spawn is not None:
        env[ENV_SPAWN_ID], env[ENV_SPAWN_COUNT] = str(spawn[0]), str(spawn[1])
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
    return JobSpec(
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


def _release_dead_claims(conn: Any) -> None:
    """Jobs claimed by a submitter on this host that died before submitting them return to init."""
    rows = conn.execute(
        f"SELECT id, submitter FROM jobs INDEXED BY jobs_pending_claims "
        f"WHERE submitter IS NOT NULL AND state='{SUBMIT}' AND ClusterID IS NULL"
    ).fetchall()
    dead = [r[0] for r in rows if not _claim_alive(r[1])]
    for start in range(0, len(dead), 500):
        chunk = dead[start : start + 500]
        conn.execute(
            f"UPDATE jobs SET state='{INIT}', submitter=NULL, updated=?, version=version+1 "
            f"WHERE id IN ({', '.join('?' * len(chunk))})",
            (time.time(), *chunk),
        )


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
        _release_dead_claims(conn)
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


def _record(session: Session, done: list[tuple[JobSpec, Any]], executor: Executor) -> None:
    if not done:
        return
    now = time.time()
    with session.index.write() as conn:
        conn.executemany(
            "UPDATE jobs SET ClusterID=?, submit_time=?, submitter=NULL, updated=? WHERE BatchID=? AND JobIndex=?",
            [(sub.cluster_id, now, now, spec.batch_id, spec.job_index) for spec, sub in done],
        )
        conn.executemany(
            "INSERT INTO log_history (BatchID, JobIndex, SpawnID, run, executor, ClusterID, stdout, "
            "stderr, submit_time) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?)",
            [(spec.batch_id, spec.job_index, spec.run, executor.name, sub.cluster_id,
              sub.stdout or spec.stdout, sub.stderr or spec.stderr, now) for spec, sub in done],
        )


def _release(session: Session, jobs: Sequence[Mapping[str, Any]], error: str) -> None:
    """Return claimed-but-unsubmitted jobs to init, keeping the reason."""
    patch = json.dumps({"submit_error": error})
    with session.index.write() as conn:
        for job in jobs:
            conn.execute(
                f"UPDATE jobs SET state='{INIT}', submitter=NULL, updated=?, version=version+1, "
                "metadata=json_patch(metadata, ?) WHERE BatchID=? AND JobIndex=? AND state=? AND ClusterID IS NULL",
                (time.time(), patch, job["BatchID"], job["JobIndex"], SUBMIT),
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
    for number, group in enumerate(groups):
        try:
            subs = _submit_group(session, executor, [specs[i] for i in group], arrays)
        except BaseException as exc:  # a scheduler error, or Ctrl-C: the rest goes back to init
            _release(session, [jobs[i] for g in groups[number:] for i in g], str(exc) or type(exc).__name__)
            raise
        # recorded at once: a submitter killed now leaves at most this group unrecorded
        _record(session, [(specs[i], sub) for i, sub in zip(group, subs, strict=True)], executor)
    for job in jobs:
        session.manager.state_changed(job["BatchID"], job["JobIndex"], INIT, SUBMIT)
    if bad:
        raise type(bad[0])(f"{len(bad)} job(s) could not be submitted and stay in init: {bad[0]}")
    return len(jobs)
