"""Pure parsers of Slurm output: sbatch --parsable, squeue, scontrol -o show job, sacct -P, jobcomp lines."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import datetime

from paraschut.errors import ParaschutError

__all__ = [
    "SQUEUE_FIELDS",
    "SQUEUE_FORMAT",
    "SACCT_FIELDS",
    "Record",
    "SlurmParseError",
    "is_job_id",
    "parse_exit_code",
    "parse_jobcomp",
    "parse_key_values",
    "parse_sacct",
    "parse_sbatch",
    "parse_scontrol_jobs",
    "parse_sinfo_partitions",
    "parse_squeue",
    "parse_time",
    "rejected_ids",
]

#: One job's fields, keyed as scontrol names them: ``{"JobId": "7", "JobState": "FAILED", ...}``.
Record = dict[str, str]

#: squeue ``-o`` fields, in order, and the scontrol key each one fills. The name goes last: it may hold ``|``.
#: ``%S`` is the start time (expected, while pending), ``%e`` the end time (expected, while running).
SQUEUE_FIELDS = (("%i", "JobId"), ("%T", "JobState"), ("%r", "Reason"), ("%N", "NodeList"),
                 ("%P", "Partition"), ("%M", "RunTime"), ("%l", "TimeLimit"), ("%S", "StartTime"),
                 ("%e", "EndTime"), ("%j", "JobName"))
SQUEUE_FORMAT = "|".join(code for code, _ in SQUEUE_FIELDS)
#: sacct ``-o`` fields (``-P``: ``|``-separated), named as sacct prints them.
SACCT_FIELDS = ("JobID", "State", "ExitCode", "NodeList", "Partition", "Start", "End", "JobName")
_SACCT_KEYS = {"JobID": "JobId", "State": "JobState", "JobName": "JobName", "Start": "StartTime", "End": "EndTime"}

_JOB_ID = re.compile(r"^\d+(_\d+)?$")
_SBATCH = re.compile(r"^(\d+)(?:;[\w.\-]+)?$")
#: ``Key=`` at the start of an ``scontrol -o``/jobcomp token: keys look like ``CPUs/Task`` or ``ReqB:S:C:T``.
_KEY = re.compile(r"(?:^|\s)([A-Za-z][\w:/]*)=")
_EXIT = re.compile(r"^\s*(\d+)(?::(\d+))?\s*$")
_JOBCOMP_TASK = re.compile(r" ArrayJobId=(\d+) ArrayTaskId=(\d+) ")
_REJECTED = re.compile(r"error on job id (\d+(?:_\d+)?)", re.I)
#: Slurm's dates (SLURM_TIME_FORMAT=standard): ``2026-12-03T03:41:57``, local time.
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})", re.A)


class SlurmParseError(ParaschutError):
    """A Slurm command printed something this plugin cannot read (quoted in the message)."""

    def __init__(self, what: str, text: str) -> None:
        super().__init__(f"cannot read the output of {what}: {text.strip()[:200]!r}")


def is_job_id(cluster_id: str) -> bool:
    """True for ids Slurm can be asked about: ``123`` or an array task ``123_4``."""
    return _JOB_ID.match(cluster_id) is not None


def parse_sbatch(text: str) -> str:
    """The job id ``sbatch --parsable`` printed (``123``, or ``123;cluster`` on a federation).

    :raises SlurmParseError: no id on the last non-empty line.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    match = _SBATCH.match(lines[-1]) if lines else None
    if match is None:
        raise SlurmParseError("sbatch --parsable (expected a job id)", text)
    return match.group(1)


def parse_squeue(text: str) -> dict[str, Record]:
    """Parse ``squeue -h -o`` with :data:`SQUEUE_FORMAT` into ``{id: record}``.

    :raises SlurmParseError: a non-empty line without the fields asked for.
    """
    jobs: dict[str, Record] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        values = line.split("|", len(SQUEUE_FIELDS) - 1)
        if len(values) != len(SQUEUE_FIELDS) or not values[0].strip():
            raise SlurmParseError(f"squeue -o {SQUEUE_FORMAT}", line)
        record = {key: value.strip() for (_, key), value in zip(SQUEUE_FIELDS, values, strict=True)}
        jobs[record["JobId"]] = record
    return jobs


def parse_key_values(line: str) -> Record:
    """Split one ``Key=value Key=value`` line (scontrol -o, jobcomp); a value may contain spaces."""
    matches = list(_KEY.finditer(line))
    out: Record = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        out.setdefault(match.group(1), line[match.end():end].strip())
    return out


def _with_array_id(record: Record) -> Record:
    # an array task is asked about as 7_3: file it under that id too (JobId is its own number)
    task, master = record.get("ArrayTaskId", ""), record.get("ArrayJobId", "")
    return {**record, "_ArrayId": f"{master}_{task}"} if task.isdigit() and master.isdigit() else record


def parse_scontrol_jobs(text: str) -> dict[str, Record]:
    """Parse ``scontrol -o show job`` (one line per job) into ``{id: record}``; array tasks also as ``A_T``."""
    jobs: dict[str, Record] = {}
    for line in text.splitlines():
        record = _with_array_id(parse_key_values(line))
        if record.get("JobId", "").isdigit():
            jobs[record["JobId"]] = record
            if "_ArrayId" in record:
                jobs[record["_ArrayId"]] = record
    return jobs


def parse_jobcomp(lines: Iterable[str], wanted: Collection[str]) -> dict[str, Record]:
    """The jobcomp/filetxt records of the ``wanted`` ids; a requeued job's last line wins.

    Lines are only split when they start with a wanted ``JobId=``, or, for wanted array tasks
    (``7_3``), when they name a wanted ``ArrayJobId=7 ArrayTaskId=3``, so a large file reads fast.
    An array task's line is filed under ``7_3`` (its ``JobId`` is its own number).
    """
    jobs: dict[str, Record] = {}
    prefixes = tuple(f"JobId={cid} " for cid in wanted if cid.isdigit())
    tasks = {cid for cid in wanted if "_" in cid}
    for line in lines:
        if line.startswith(prefixes):
            record = parse_key_values(line.rstrip("\n"))
            jobs[record["JobId"]] = record
        if tasks and " ArrayTaskId=" in line:
            match = _JOBCOMP_TASK.search(line)
            if match and f"{match.group(1)}_{match.group(2)}" in tasks:
                jobs[f"{match.group(1)}_{match.group(2)}"] = parse_key_values(line.rstrip("\n"))
    return jobs


def parse_sacct(text: str) -> dict[str, Record]:
    """Parse ``sacct -n -P -X -o`` :data:`SACCT_FIELDS` into ``{id: record}`` keyed like scontrol.

    :raises SlurmParseError: a non-empty line without the fields asked for.
    """
    jobs: dict[str, Record] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        values = line.split("|", len(SACCT_FIELDS) - 1)
        if len(values) != len(SACCT_FIELDS):
            raise SlurmParseError("sacct -P", line)
        record = {_SACCT_KEYS.get(k, k): v.strip() for k, v in zip(SACCT_FIELDS, values, strict=True)}
        jobs[record["JobId"]] = record
    return jobs


def parse_time(text: str) -> float | None:
    """A date Slurm printed (``2026-12-03T03:41:57``, local time) as epoch seconds; None for
    ``Unknown``, ``None``, ``N/A``, ``NONE``, an empty or unreadable value. Never raises."""
    match = _TIME.fullmatch((text or "").strip())
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        # naive: the machine's local time zone, in which squeue/scontrol/sacct (run here) print
        stamp = datetime(year, month, day, hour, minute, second).timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return stamp if stamp >= 86400 else None  # epoch 0 is no time


def parse_exit_code(text: str) -> tuple[int | None, int | None]:
    """``ExitCode=N:S`` -> (N, S); ``(None, None)`` when absent or unreadable."""
    match = _EXIT.match(text or "")
    if match is None:
        return None, None
    return int(match.group(1)), int(match.group(2) or 0)


def parse_sinfo_partitions(text: str) -> list[str]:
    """The partitions ``sinfo -h -o %P`` listed (the default one ends in ``*``)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def rejected_ids(stderr: str) -> set[str]:
    """Ids ``scancel -v`` refused (``Kill job error on job id N: ...``): unknown, or already finished."""
    return {match.group(1) for match in _REJECTED.finditer(stderr)}
