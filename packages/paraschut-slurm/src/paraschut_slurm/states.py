"""Slurm job states (long names and squeue's short codes) and exit codes -> paraschut job states (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from paraschut import JobStatus
from paraschut.models import COMPLETE, FAILED, RUN, SUBMIT, UNKNOWN

from .parse import parse_exit_code, parse_time

__all__ = [
    "FINISHED",
    "INFO_KEYS",
    "SHORT_CODES",
    "STATES",
    "job_status",
    "map_state",
    "needs_exit_code",
]

#: Every Slurm job state, with the paraschut state and what it means (the reason of a failure).
STATES: Mapping[str, tuple[str, str]] = {
    "PENDING": (SUBMIT, "pending"),
    "CONFIGURING": (SUBMIT, "nodes are being configured"),
    "REQUEUED": (SUBMIT, "requeued"),
    "REQUEUE_FED": (SUBMIT, "requeued (federation)"),
    "REQUEUE_HOLD": (SUBMIT, "requeued and held"),
    "RESV_DEL_HOLD": (SUBMIT, "held: its reservation was deleted"),
    "RUNNING": (RUN, "running"),
    "COMPLETING": (RUN, "completing"),
    "SUSPENDED": (RUN, "suspended"),
    "STOPPED": (RUN, "stopped (SIGSTOP)"),
    "RESIZING": (RUN, "resizing"),
    "SIGNALING": (RUN, "being signalled"),
    "STAGE_OUT": (RUN, "staging out"),
    "COMPLETED": (COMPLETE, "completed"),
    "FAILED": (FAILED, "failed"),
    "CANCELLED": (FAILED, "cancelled"),
    "TIMEOUT": (FAILED, "timeout: the job reached its time limit"),
    "OUT_OF_MEMORY": (FAILED, "out-of-memory: the job exceeded its memory limit"),
    "NODE_FAIL": (FAILED, "node failure"),
    "PREEMPTED": (FAILED, "preempted"),
    "BOOT_FAIL": (FAILED, "boot failure of its node"),
    "DEADLINE": (FAILED, "deadline: the job could not finish before its deadline"),
    "REVOKED": (FAILED, "revoked (a sibling ran elsewhere in the federation)"),
    "SPECIAL_EXIT": (FAILED, "special exit (requeued on hold by its epilog)"),
}
#: squeue's ``%t`` codes for the states above.
SHORT_CODES: Mapping[str, str] = {
    "PD": "PENDING", "CF": "CONFIGURING", "RQ": "REQUEUED", "RF": "REQUEUE_FED", "RH": "REQUEUE_HOLD",
    "RD": "RESV_DEL_HOLD", "R": "RUNNING", "CG": "COMPLETING", "S": "SUSPENDED", "ST": "STOPPED",
    "RS": "RESIZING", "SI": "SIGNALING", "SO": "STAGE_OUT", "CD": "COMPLETED", "F": "FAILED",
    "CA": "CANCELLED", "TO": "TIMEOUT", "OOM": "OUT_OF_MEMORY", "NF": "NODE_FAIL", "PR": "PREEMPTED",
    "BF": "BOOT_FAIL", "DL": "DEADLINE", "RV": "REVOKED", "SE": "SPECIAL_EXIT",
}
#: Fields kept in ``JobStatus.info`` (scontrol prints ~60; squeue, sacct and jobcomp fewer).
INFO_KEYS = ("JobName", "Partition", "Reason", "ExitCode", "RunTime", "TimeLimit", "SubmitTime", "StartTime",
             "EndTime", "TRES", "Tres", "WorkDir")
#: States of jobs that left the queue.
FINISHED = frozenset(name for name, (state, _) in STATES.items() if state in (COMPLETE, FAILED))


def _canonical(raw: str) -> str:
    # sacct says "CANCELLED by 0"; scontrol may add flags ("RUNNING+"); squeue may print the short code.
    word = raw.strip().split(" ", 1)[0].rstrip("+").upper()
    return SHORT_CODES.get(word, word)


def map_state(raw: str) -> tuple[str, str]:
    """The paraschut state and its meaning for a Slurm state (long or short); ``unknown`` if unrecognised."""
    name = _canonical(raw)
    return STATES.get(name, (UNKNOWN, f"unrecognised Slurm state {raw.strip()!r}"))


def needs_exit_code(fields: Mapping[str, str]) -> bool:
    """True for a finished job whose record lacks the ExitCode (squeue does not print it)."""
    name = _canonical(fields.get("JobState", ""))
    return name in FINISHED and name != "COMPLETED" and not fields.get("ExitCode")


def _failure(meaning: str, name: str, code: int | None, signal: int | None) -> str:
    parts = [meaning]
    parts += [f"exit status {code}"] if code else []
    parts += [f"signal {signal}"] if signal else []
    return ", ".join(parts) if name == "FAILED" or len(parts) == 1 else f"{meaning} ({', '.join(parts[1:])})"


def _times(state: str, fields: Mapping[str, str], ran: bool) -> dict[str, float]:
    """``started`` for a running or finished job, ``ended`` for a finished one (epoch seconds).

    A pending job's StartTime is only expected, as is a running job's EndTime; a job cancelled
    before it ran (``ran``: it had a node) has StartTime = EndTime = when it was cancelled.
    """
    finished = state in (COMPLETE, FAILED)
    started = parse_time(fields.get("StartTime", "")) if state == RUN or (finished and ran) else None
    ended = parse_time(fields.get("EndTime", "")) if finished else None
    return {k: v for k, v in (("started", started), ("ended", ended)) if v is not None}


def job_status(cluster_id: str, fields: Mapping[str, str]) -> JobStatus:
    """Map one job's record (``JobState``, ``ExitCode``, ``Reason``, ``NodeList``, ...) to a JobStatus.

    ``COMPLETED`` is exit code 0 by definition; a failed state keeps the exit status from
    ``ExitCode=N:S`` when N is not 0, and names the signal otherwise. When the record says when
    the job started (and ended), ``info`` has ``started`` (and ``ended``) in epoch seconds. Never raises.
    """
    raw = fields.get("JobState", "").strip()
    state, meaning = map_state(raw)
    code, signal = parse_exit_code(fields.get("ExitCode", ""))
    nodes = fields.get("NodeList", "").strip()
    # no node: pending ("(Resources)"), or never ran (scontrol "None", sacct "None assigned")
    host = None if nodes in ("", "None", "None assigned") or nodes.startswith("(") else nodes
    info: dict[str, object] = {k: fields[k] for k in INFO_KEYS if fields.get(k)}
    info.update(_times(state, fields, ran=host is not None))
    if state == COMPLETE:
        if code not in (None, 0) or signal:  # COMPLETED with a non-zero code: never seen, trust the code
            return JobStatus(cluster_id, FAILED, raw_state=raw, exit_code=code or None,
                             reason=_failure("failed", "FAILED", code, signal), host=host, info=info)
        return JobStatus(cluster_id, COMPLETE, raw_state=raw, exit_code=0, host=host, info=info)
    if state == FAILED:
        name = _canonical(raw)
        return JobStatus(cluster_id, FAILED, raw_state=raw, exit_code=code or None,
                         reason=_failure(meaning, name, code, signal), host=host, info=info)
    why = fields.get("Reason", "").strip()
    reason = meaning if why in ("", "None", "(null)") else f"{meaning}: {why}"
    return JobStatus(cluster_id, state, raw_state=raw, reason=reason, host=host, info=info)
