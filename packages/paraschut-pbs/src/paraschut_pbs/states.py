"""PBS job state codes and exit statuses -> paraschut job states (pure mapping)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paraschut.models import COMPLETE, FAILED, RUN, SUBMIT, UNKNOWN, JobStatus

from .parse import base_id, parse_slurm_time, parse_time

__all__ = [
    "FINISHED_CODES",
    "STATE_CODES",
    "collect",
    "describe_exit",
    "exit_status",
    "job_status",
    "job_times",
    "slurm_job_status",
    "slurm_task_status",
]

#: Every ``job_state`` letter of Torque, PBS Pro and Slurm's qstat wrapper, with its meaning.
STATE_CODES: Mapping[str, tuple[str, str]] = {
    "Q": (SUBMIT, "queued"),
    "H": (SUBMIT, "held"),
    "W": (SUBMIT, "waiting for its start time"),
    "T": (SUBMIT, "in transit to a server or queue"),
    "R": (RUN, "running"),
    "E": (RUN, "exiting after having run"),
    "S": (RUN, "suspended"),
    "B": (RUN, "array job begun (PBS Pro)"),
    # PBS Pro: suspended by workstation activity; Slurm's wrapper: a state it cannot name
    # (OUT_OF_MEMORY, DEADLINE, ... are finished jobs there): the truth is unknown either way.
    "U": (UNKNOWN, "suspended by workstation activity (PBS Pro) or unknown (Slurm wrapper)"),
    "M": (UNKNOWN, "moved to another server (PBS Pro)"),
    "C": (COMPLETE, "completed (Torque, Slurm wrapper)"),
    "F": (COMPLETE, "finished (PBS Pro history, qstat -x)"),
    "X": (COMPLETE, "subjob finished (PBS Pro)"),
}
#: Codes of jobs that left the queue: complete or failed according to their exit status.
FINISHED_CODES = frozenset(code for code, (state, _) in STATE_CODES.items() if state == COMPLETE)

#: Where each flavour's ``qstat -f`` says when a job started, and when a finished one ended (the
#: first that reads as a date wins). PBS Pro has ``stime`` and ``obittime``, Torque ``start_time``
#: and ``comp_time``; for a finished job of either, ``mtime`` (its last change: when it finished)
#: stands in when the end is not shown. Slurm's wrapper prints the job's start as ``mtime`` and its
#: end as ``ctime`` (while it runs, the end its time limit allows). Unknown flavour: only the
#: names no flavour uses for anything else.
_START_KEYS = {"pro": ("stime", "start_time"), "torque": ("start_time", "stime"), "slurm": ("mtime",)}
_END_KEYS = {"pro": ("obittime", "comp_time", "mtime"), "torque": ("comp_time", "obittime", "mtime"),
             "slurm": ("ctime",)}
_ANY_START, _ANY_END = ("stime", "start_time"), ("obittime", "comp_time")
_INFO_PREFIXES = ("Resource_List.", "resources_used.")
_INFO_KEYS = ("Job_Name", "queue", "comment", "exec_host", "qtime", "stime", "mtime", "Exit_status")
_SLURM_FAILED = {
    "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY",
}


def exit_status(attrs: Mapping[str, str]) -> int | None:
    """The job's exit status (``exit_status`` in Torque, ``Exit_status`` in PBS Pro), if any."""
    raw = attrs.get("Exit_status", attrs.get("exit_status"))
    try:
        return int(str(raw).strip()) if raw is not None else None
    except ValueError:
        return None


def describe_exit(code: int) -> str:
    """Say what a PBS exit status means: negative = PBS could not run it, >256 = killed by signal."""
    if code < 0:
        return f"PBS could not run the job (exit status {code})"
    if code > 256:
        return f"killed by signal {code - 256} (exit status {code})"
    if code > 128:
        return f"exit status {code} (killed by signal {code - 128}?)"
    return f"exit status {code}"


def _host(attrs: Mapping[str, str]) -> str | None:
    exec_host = attrs.get("exec_host", "")
    return exec_host.split("+", 1)[0].split("/", 1)[0] or None


def _info(attrs: Mapping[str, str]) -> dict[str, object]:
    return {k: v for k, v in attrs.items() if k in _INFO_KEYS or k.startswith(_INFO_PREFIXES)}


def _first_time(attrs: Mapping[str, str], keys: Sequence[str]) -> float | None:
    for key in keys:
        stamp = parse_time(attrs.get(key, ""))
        if stamp is not None:
            return stamp
    return None


def _times(started: float | None, ended: float | None) -> dict[str, float]:
    return {k: v for k, v in (("started", started), ("ended", ended)) if v is not None}


def job_times(attrs: Mapping[str, str], flavour: str = "") -> dict[str, float]:
    """``started`` (running or finished jobs) and ``ended`` (finished ones), in epoch seconds, from
    one job's ``qstat -f`` attributes as ``flavour`` prints them (see ``_START_KEYS``).

    A finished job without an ``exec_host`` never ran: Slurm's wrapper still prints a start for a
    job cancelled while pending (the moment of the cancel), so such a job gets ``ended`` only.
    """
    code = attrs.get("job_state", "").strip()
    finished = code in FINISHED_CODES
    if not finished and STATE_CODES.get(code, (UNKNOWN, ""))[0] != RUN:
        return {}
    ran = not finished or _host(attrs) is not None
    started = _first_time(attrs, _START_KEYS.get(flavour, _ANY_START)) if ran else None
    ended = _first_time(attrs, _END_KEYS.get(flavour, _ANY_END)) if finished else None
    return _times(started, ended)


def job_status(cluster_id: str, attrs: Mapping[str, str], flavour: str = "") -> JobStatus | None:
    """Map one job's ``qstat -f`` attributes to a JobStatus.

    A finished job (C, F, X) with no exit status is not guessed at: ``None`` (the caller may resolve
    it another way, or leave it out). An unrecognised code gives state ``unknown``. When qstat says
    when the job started (and ended), ``info`` has ``started`` (and ``ended``), see :func:`job_times`.
    """
    code = attrs.get("job_state", "").strip()
    state, meaning = STATE_CODES.get(code, (UNKNOWN, ""))
    host, info = _host(attrs), _info(attrs)
    info.update(job_times(attrs, flavour))
    if code in FINISHED_CODES:
        status = exit_status(attrs)
        if status is None:
            return None
        state = COMPLETE if status == 0 else FAILED
        return JobStatus(cluster_id, state, raw_state=code, exit_code=status,
                         reason=None if status == 0 else describe_exit(status), host=host, info=info)
    reason = attrs.get("comment") or meaning or f"unrecognised job_state {code!r}"
    return JobStatus(cluster_id, state, raw_state=code, reason=reason, host=host, info=info)


def _slurm_ran(fields: Mapping[str, str]) -> bool:
    nodes = fields.get("NodeList", "")
    return bool(nodes) and not nodes.startswith("(") and nodes != "None"


def slurm_job_status(cluster_id: str, fields: Mapping[str, str]) -> JobStatus | None:
    """Map ``scontrol`` JobState/ExitCode of a job Slurm's qstat shows as finished; None if not final.

    Its ``StartTime`` (when it got a node: a job cancelled while pending has a StartTime but none)
    and ``EndTime`` are ``info["started"]`` and ``info["ended"]``.
    """
    state = fields.get("JobState", "")
    code, _, signal = fields.get("ExitCode", "").partition(":")
    exit_code = int(code) if code.isdigit() else None
    sig = int(signal) if signal.isdigit() else 0
    host = fields.get("NodeList") or None
    started = parse_slurm_time(fields.get("StartTime", "")) if _slurm_ran(fields) else None
    info = _times(started, parse_slurm_time(fields.get("EndTime", "")))
    if state == "COMPLETED" and exit_code == 0 and sig == 0:
        return JobStatus(cluster_id, COMPLETE, raw_state=state, exit_code=0, host=host, info=info)
    if state == "COMPLETED" or state in _SLURM_FAILED:
        why = state.lower() + (f", signal {sig}" if sig else "") + (f", exit status {exit_code}" if exit_code else "")
        return JobStatus(cluster_id, FAILED, raw_state=state, exit_code=exit_code or None, reason=why, host=host,
                         info=info)
    return None


_SLURM_QUEUED = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})


def slurm_task_status(cluster_id: str, fields: Mapping[str, str]) -> JobStatus:
    """Map the ``scontrol`` record of a Slurm array task (``123_4``) at any stage of its life."""
    final = slurm_job_status(cluster_id, fields)
    if final is not None:
        return final
    state = fields.get("JobState", "")
    host = fields.get("NodeList") or None
    if state in _SLURM_QUEUED:
        return JobStatus(cluster_id, SUBMIT, raw_state=state, reason=fields.get("Reason"))
    if state in ("RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT"):
        started = parse_slurm_time(fields.get("StartTime", "")) if _slurm_ran(fields) else None
        return JobStatus(cluster_id, RUN, raw_state=state, host=host, info=_times(started, None))
    return JobStatus(cluster_id, UNKNOWN, raw_state=state, reason=f"Slurm state {state or '(none)'}")


def collect(
    cluster_ids: Sequence[str], jobs: Mapping[str, Mapping[str, str]], flavour: str = ""
) -> tuple[dict[str, JobStatus], list[str]]:
    """Statuses of the requested jobs found in ``jobs`` (matched by full id, else by sequence number),
    read as ``flavour`` (``pro``, ``torque``, ``slurm``) prints them.

    :returns: the statuses, and the ids qstat lists as finished (or ``U``) without an exit status,
        which the caller may resolve some other way; ids qstat does not list are in neither.
    """
    by_base = {base_id(job_id): attrs for job_id, attrs in jobs.items()}
    found: dict[str, JobStatus] = {}
    unresolved: list[str] = []
    for cid in cluster_ids:
        attrs = jobs.get(cid) or by_base.get(base_id(cid))
        if attrs is None:
            continue
        status = job_status(cid, attrs, flavour)
        if status is None or status.raw_state == "U":
            unresolved.append(cid)
        if status is not None:
            found[cid] = status
    return found, unresolved
