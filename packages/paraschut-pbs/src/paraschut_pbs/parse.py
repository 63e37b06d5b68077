"""Pure parsers of PBS output: ``qstat -f`` (Torque, PBS Pro, Slurm's wrapper), ``-F json``, qsub, scontrol."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from paraschut.errors import ParaschutError

__all__ = [
    "QstatParseError",
    "base_id",
    "parse_qstat_full",
    "parse_qstat_json",
    "parse_qsub_output",
    "parse_scontrol_jobs",
    "parse_slurm_time",
    "parse_time",
    "pbs_version",
    "slurm_task",
    "task_in_range",
]

#: One attribute and its value in one job's record: ``{"job_state": "R", "Resource_List.mem": "1gb"}``.
Attributes = dict[str, str]

_JOB_ID_LINE = re.compile(r"^Job Id:\s*(\S+)")
_ATTRIBUTE = re.compile(r"^([A-Za-z_][\w.\-]*)\s=\s?(.*)$")
_JOB_ID = re.compile(r"^\d+(\[\d*\])?(\.[\w.\-]+)?$")
_SCONTROL_FIELD = re.compile(
    r"(?:^|\s)(JobId|ArrayJobId|ArrayTaskId|JobState|ExitCode|Reason|NodeList|StdOut|StartTime|EndTime)=(\S*)")
_TASK_RANGE = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?$")
_VERSION = re.compile(r"pbs_version\s*=\s*(\d+)(?:\.(\d+))?")
#: qstat -f's dates, in every flavour (C's ctime, Perl's scalar localtime): ``Thu Dec  3 03:41:57 2026``.
_CTIME = re.compile(r"(?:[a-z]{3}\s+)?([a-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})", re.I | re.A)
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
#: scontrol's dates (behind Slurm's wrappers): ``2026-12-03T03:41:57``.
_SLURM_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})", re.A)


class QstatParseError(ParaschutError):
    """A scheduler printed something this plugin cannot read (quoted in the message)."""

    def __init__(self, what: str, text: str) -> None:
        sample = text.strip()[:200]
        super().__init__(f"cannot read the output of {what}: {sample!r}")


def base_id(cluster_id: str) -> str:
    """The sequence number of a PBS id (``123[4].server`` -> ``123[4]``), for ids printed without server."""
    return cluster_id.split(".", 1)[0]


def parse_qstat_full(text: str) -> dict[str, Attributes]:
    """Parse ``qstat -f`` text into ``{job id: attributes}``.

    Attribute lines are indented (four spaces in Torque and PBS Pro, a tab in Slurm's wrapper);
    Torque and PBS Pro wrap long values onto lines indented differently (a tab), which are joined
    back. Empty output gives ``{}``; output with no ``Job Id:`` line at all raises.

    :raises QstatParseError: non-empty output with no job record in it.
    """
    jobs: dict[str, Attributes] = {}
    current: Attributes | None = None
    indent: str | None = None
    key: str | None = None
    for line in text.splitlines():
        match = _JOB_ID_LINE.match(line)
        if match:
            current, indent, key = jobs.setdefault(match.group(1), {}), None, None
            continue
        if not line.strip() or current is None:
            key = None if not line.strip() else key
            continue
        stripped = line.lstrip()
        lead = line[: len(line) - len(stripped)]
        attr = _ATTRIBUTE.match(stripped)
        if attr and lead and (indent is None or lead == indent):
            indent, key = lead, attr.group(1)
            current[key] = attr.group(2)
        elif key is not None and lead:
            # PBS Pro wraps at a fixed width, even inside a word or after a space: keep both.
            current[key] += line[1:] if line.startswith("\t") else stripped
    if not jobs and text.strip():
        raise QstatParseError("qstat -f", text)
    return {job_id: {k: v.strip() for k, v in attrs.items()} for job_id, attrs in jobs.items()}


def _flatten(prefix: str, value: Any, out: Attributes) -> None:
    if isinstance(value, Mapping):
        for name, inner in value.items():
            _flatten(f"{prefix}.{name}" if prefix else str(name), inner, out)
    elif isinstance(value, list):
        out[prefix] = ",".join(str(v) for v in value)
    elif value is not None:
        out[prefix] = str(value)


def parse_qstat_json(text: str) -> dict[str, Attributes]:
    """Parse PBS Pro's ``qstat -f -F json`` into ``{job id: attributes}``, nested keys dotted.

    ``Resource_List: {"ncpus": 1}`` becomes ``Resource_List.ncpus = "1"``, as in the text format.

    :raises QstatParseError: the text is not JSON, or has no ``Jobs`` object where one belongs.
    """
    if not text.strip():
        return {}
    try:
        # PBS Pro versions differ in escaping control characters: strict=False accepts them.
        data = json.loads(text, strict=False)
    except (ValueError, RecursionError) as exc:
        raise QstatParseError(f"qstat -F json ({exc})", text) from None
    if not isinstance(data, Mapping):
        raise QstatParseError("qstat -F json (not an object)", text)
    jobs = data.get("Jobs", {})
    if not isinstance(jobs, Mapping):
        raise QstatParseError("qstat -F json (Jobs is not an object)", text)
    out: dict[str, Attributes] = {}
    for job_id, attrs in jobs.items():
        flat: Attributes = {}
        _flatten("", attrs if isinstance(attrs, Mapping) else {}, flat)
        out[str(job_id)] = flat
    return out


def parse_qsub_output(text: str) -> str:
    """Return the job id qsub printed (``123.server``, or a bare ``123`` from Slurm's wrapper).

    :raises QstatParseError: no id on the last line of output.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    token = lines[-1].split()[-1] if lines else ""
    if not _JOB_ID.match(token):
        raise QstatParseError("qsub (expected a job id)", text)
    return token


def parse_scontrol_jobs(text: str) -> dict[str, Attributes]:
    """Parse ``scontrol -o show job`` (one line per job) into ``{id: {JobState, ExitCode, ...}}``."""
    jobs: dict[str, Attributes] = {}
    for line in text.splitlines():
        fields = dict(_SCONTROL_FIELD.findall(line))
        if fields.get("JobId"):
            jobs[fields["JobId"]] = fields
    return jobs


def _local(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float | None:
    """Epoch seconds of a local time (the machine's zone, the one qstat and scontrol print in)."""
    try:
        stamp = datetime(year, month, day, hour, minute, second).timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return stamp if stamp >= 86400 else None  # epoch 0 is no time


def parse_time(text: str) -> float | None:
    """A ``qstat -f`` date (``Thu Dec  3 03:41:57 2026``, local time) as epoch seconds; None for an
    empty or unreadable value. Never raises."""
    match = _CTIME.fullmatch((text or "").strip())
    month = _MONTHS.get(match.group(1).lower()) if match else None
    if match is None or month is None:
        return None
    day, hour, minute, second, year = (int(g) for g in match.groups()[1:])
    return _local(year, month, day, hour, minute, second)


def parse_slurm_time(text: str) -> float | None:
    """An ``scontrol`` date (``2026-12-03T03:41:57``, local time) as epoch seconds; None for
    ``Unknown``, ``None``, an empty or unreadable value. Never raises."""
    match = _SLURM_TIME.fullmatch((text or "").strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    return _local(year, month, day, hour, minute, second)


def task_in_range(spec: str, task: int) -> bool:
    """True when Slurm's ``ArrayTaskId`` (``4``, ``3-5``, ``1,3-9:2``, ``2-9%2`` throttled) covers ``task``."""
    for part in spec.partition("%")[0].split(","):
        match = _TASK_RANGE.match(part.strip())
        if match:
            first, last = int(match.group(1)), int(match.group(2) or match.group(1))
            if first <= task <= last and (task - first) % max(int(match.group(3) or 1), 1) == 0:
                return True
    return False


def slurm_task(cluster_id: str, jobs: Mapping[str, Attributes]) -> Attributes | None:
    """The ``scontrol`` record of array task ``JOB_TASK`` (its own once it started, else the pending rest's)."""
    array_id, sep, task = cluster_id.partition("_")
    if not sep or not task.isascii() or not task.isdigit():
        return None
    for fields in jobs.values():
        if fields.get("ArrayJobId") == array_id and task_in_range(fields.get("ArrayTaskId", ""), int(task)):
            return fields
    return None


def pbs_version(text: str) -> tuple[int, int] | None:
    """PBS Pro's version from ``qstat --version`` (``pbs_version = 19.1.3``); None for other flavours."""
    match = _VERSION.search(text)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None
