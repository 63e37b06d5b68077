"""Spool rows -> paraschut's view of a job: JobStatus for polling, a summary dict for get_qstat."""

from __future__ import annotations

import json
from typing import Any

import psutil

from paraschut.models import COMPLETE, FAILED, RUN, SUBMIT, JobStatus

from .procs import alive
from .spool import DONE, QUEUED, JobRow

__all__ = ["info_of", "live_usage", "raw_state", "status_of", "summary_of"]


def raw_state(row: JobRow) -> str:
    """The spool's own word for the job: queued, starting, running, complete or failed."""
    if row.state == QUEUED:
        return "queued"
    if row.state != DONE:
        return "running" if row.pid is not None else "starting"
    return "complete" if row.exit_code == 0 and row.reason is None else "failed"


def info_of(row: JobRow) -> dict[str, Any]:
    """Times and resources used, as far as known (epoch floats, MB, seconds)."""
    info: dict[str, Any] = {"ncpus": row.cpus, "mem_mb": round(row.mem / 2**20, 3), "submitted": row.submitted}
    for key in ("pid", "host", "started", "ended", "peak_rss_mb", "cpu_time_s"):
        value = getattr(row, key)
        if value is not None:
            info[key] = value
    if row.started is not None and row.ended is not None:
        info["wall_time_s"] = round(row.ended - row.started, 4)
    return info


def status_of(row: JobRow) -> JobStatus:
    """The JobStatus of one row: queued/starting -> submit, running -> run, done -> complete/failed."""
    raw = raw_state(row)
    state = {"queued": SUBMIT, "starting": SUBMIT, "running": RUN, "complete": COMPLETE}.get(raw, FAILED)
    return JobStatus(
        str(row.id), state, raw_state=raw, exit_code=row.exit_code, reason=row.reason,
        host=row.host, info=info_of(row),
    )


def live_usage(pid: int) -> dict[str, Any]:
    """CPU seconds and resident memory of a running job's process tree right now."""
    try:
        leader = psutil.Process(pid)
        procs = [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return {}
    cpu = 0.0
    rss = 0
    for proc in procs:
        try:
            times = proc.cpu_times()
            cpu += times.user + times.system
            rss += proc.memory_info().rss
        except psutil.Error:
            continue
    return {"cpu_time_s": round(cpu, 3), "rss_mb": round(rss / 2**20, 3), "nprocs": len(procs)}


def summary_of(row: JobRow, queue_position: int | None = None) -> dict[str, Any]:
    """Everything known about one job (what get_qstat shows), JSON-serialisable."""
    spec = json.loads(row.spec)
    out: dict[str, Any] = {
        "executor": "local", "id": str(row.id), "state": raw_state(row), "name": row.name,
        "script": spec.get("script"), "workdir": spec.get("workdir"),
        "stdout": spec.get("stdout"), "stderr": spec.get("stderr"),
        "exit_code": row.exit_code, "reason": row.reason, "worker_pid": row.worker_pid,
        **info_of(row),
    }
    if queue_position is not None:
        out["queue_position"] = queue_position
    if row.pid is not None and row.state != DONE and alive(row.pid, row.stamp):
        out["usage"] = live_usage(row.pid)
    return out
