"""Pure parsers of Grid Engine output: ``qstat -xml``, ``qstat -j``, ``qacct -j``, ``qsub -terse``, ``qdel``."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from attrs import frozen

from paraschut.errors import ParaschutError

__all__ = [
    "QueuedJob",
    "SGEOutputError",
    "error_reason",
    "last_record",
    "parse_qacct",
    "parse_qdel",
    "parse_qstat_j",
    "parse_qstat_xml",
    "parse_qsub",
    "parse_time",
    "task_in",
]


class SGEOutputError(ParaschutError):
    """Grid Engine printed something these parsers cannot read (the text is in the message)."""

    def __init__(self, what: str, text: str) -> None:
        self.text = text
        shown = text.strip()[:300] or "(nothing)"
        super().__init__(f"cannot read the output of {what}: {shown!r}")


@frozen
class QueuedJob:
    """One ``<job_list>`` entry of ``qstat -xml``: a job, or some tasks of an array job."""

    job_id: str
    state: str
    name: str = ""
    owner: str = ""
    #: Queue instance (``all.q@host``) of a running job; empty while pending.
    queue: str = ""
    slots: str = ""
    #: Array task ids (``1``, ``2,3``, ``1-3:1``); empty for a plain job.
    tasks: str = ""
    #: Start time when running, submission time when pending (ISO 8601, local time).
    time: str = ""
    #: ``JAT_start_time`` only: when the job (or task) started; empty while pending.
    start_time: str = ""


def _text(element: ET.Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def parse_qstat_xml(text: str) -> list[QueuedJob]:
    """Every job (running first, then pending) in ``qstat -xml`` output.

    :raises SGEOutputError: the text is not qstat's XML document.
    """
    try:
        root = ET.fromstring(text)  # noqa: S314 - the local qstat's output; expat limits entity expansion
    except (ET.ParseError, ValueError, RecursionError) as exc:
        raise SGEOutputError("qstat -xml", text) from exc
    if root.tag != "job_info":
        raise SGEOutputError("qstat -xml (no <job_info> document)", text)
    jobs = []
    for entry in root.iter("job_list"):
        number = _text(entry, "JB_job_number")
        if not number:
            continue
        jobs.append(QueuedJob(
            job_id=number, state=_text(entry, "state") or entry.get("state", ""),
            name=_text(entry, "JB_name"), owner=_text(entry, "JB_owner"),
            queue=_text(entry, "queue_name"), slots=_text(entry, "slots"), tasks=_text(entry, "tasks"),
            time=_text(entry, "JAT_start_time") or _text(entry, "JB_submission_time"),
            start_time=_text(entry, "JAT_start_time"),
        ))
    return jobs


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
#: qacct (ctime, ``Thu Dec  3 03:41:57 2026``), qstat -xml (``2026-12-03T03:41:57``, maybe with a
#: fraction and an offset) and Univa's qacct (``12/03/2026 03:41:57.123``).
_CTIME = re.compile(r"(?:[a-z]{3}\s+)?([a-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})", re.I | re.A)
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,6}))?"
                  r"(Z|[+-]\d{2}:?\d{2})?", re.A)
_US = re.compile(r"(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?", re.A)
#: Earlier "times" are SGE's epoch 0 (``Thu Jan  1 00:00:00 1970``) for a job that never started.
_EARLIEST = 86400.0


def parse_time(text: str) -> float | None:
    """A date SGE printed (local time unless it names an offset) as epoch seconds; None for
    ``-/-``, ``undefined``, an empty or unreadable value, or epoch 0. Never raises."""
    value = (text or "").strip()
    zone = None
    try:
        if match := _ISO.fullmatch(value):
            year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
            micro = int((match.group(7) or "0").ljust(6, "0"))
            if match.group(8):
                offset = match.group(8).replace(":", "")
                minutes = 0 if offset == "Z" else int(offset[1:3]) * 60 + int(offset[3:5])
                zone = timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
        elif match := _CTIME.fullmatch(value):
            if match.group(1).lower() not in _MONTHS:
                return None
            month = _MONTHS[match.group(1).lower()]
            day, hour, minute, second, year = (int(g) for g in match.groups()[1:])
            micro = 0
        elif match := _US.fullmatch(value):
            month, day, year, hour, minute, second = (int(g) for g in match.groups()[:6])
            micro = int((match.group(7) or "0").ljust(6, "0"))
        else:
            return None
        # naive: the machine's local time zone, as the commands (run in this environment) print it
        stamp = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone).timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return stamp if stamp >= _EARLIEST else None


_RANGE = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?$")


def task_in(tasks: str, task: int) -> bool:
    """True when array task ``task`` is in a qstat task list such as ``1``, ``2,3`` or ``1-9:2``."""
    for part in tasks.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            continue
        first = int(match.group(1))
        last = int(match.group(2) or first)
        step = max(int(match.group(3) or 1), 1)
        if first <= task <= last and (task - first) % step == 0:
            return True
    return False


_KEY = re.compile(r"^([^\s:][^:]*?):\s*(.*)$")


def parse_qstat_j(text: str) -> dict[str, dict[str, str]]:
    """``qstat -j ID[,ID...]`` output as one dict of fields per job number.

    Keys are qstat's labels with runs of blanks collapsed (``error reason 1``); indented lines
    continue the previous field (joined with newlines). Lines that are not ``key: value`` are
    ignored.
    """
    jobs: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    key = None
    for line in text.splitlines():
        if line.startswith("====="):
            current, key = None, None
        elif line[:1].isspace() and line.strip() and current is not None and key is not None:
            current[key] += "\n" + line.strip()
        elif match := _KEY.match(line):
            key, value = " ".join(match.group(1).split()), match.group(2).strip()
            if key == "job_number" or current is None:
                current = {}
                jobs[value if key == "job_number" else ""] = current
            current[key] = value
    jobs.pop("", None)
    return jobs


_STAMP = re.compile(r"^\d+/\d+/\d+ \d+:\d+:\d+ \[[^\]]*\]:\s*")


def error_reason(fields: dict[str, str]) -> str | None:
    """The first ``error reason`` of a ``qstat -j`` job (why it is in ``Eqw``), without its time stamp."""
    for key, value in fields.items():
        if key.startswith("error reason"):
            return _STAMP.sub("", value.strip()) or None
    return None


def parse_qacct(text: str) -> list[dict[str, str]]:
    """The records of ``qacct -j`` output, in file order (a re-run or each array task adds one).

    Values have their runs of blanks collapsed (``failed`` = ``26 : opening input/output file``).
    """
    records: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("====="):
            current = {}
            records.append(current)
            continue
        parts = line.split(None, 1)
        if not parts or line[:1].isspace():
            continue
        if current is None:
            current = {}
            records.append(current)
        current[parts[0]] = " ".join(parts[1].split()) if len(parts) > 1 else ""
    return [r for r in records if r]


def last_record(records: Iterable[dict[str, str]], task: int | None = None) -> dict[str, str] | None:
    """The latest accounting record (of array task ``task`` when given), or None."""
    found = None
    for record in records:
        if task is None or record.get("taskid", "").strip() == str(task):
            found = record
    return found


_SUBMITTED = re.compile(r"^\s*(\d+)(?:\.[0-9:,-]*)?\s*$|Your job(?:-array)? (\d+)", re.MULTILINE)


def parse_qsub(text: str) -> str:
    """The job number from ``qsub -terse`` (``12``, ``27.1-3:1``) or plain ``qsub`` output.

    :raises SGEOutputError: no job number in the text.
    """
    match = _SUBMITTED.search(text)
    if not match:
        raise SGEOutputError("qsub", text)
    return match.group(1) or match.group(2)


_DELETED = re.compile(
    r"has (?:deleted|registered the) job(?:-array task)?(?:-array)? (\d+(?:\.\d+)?)"
    r"|job(?:-array task)? (\d+(?:\.\d+)?) is already in deletion"
)
_MISSING = re.compile(r'job "?(\d+)"?(?: task "?(\d+)"?)? does not exist')


def parse_qdel(text: str) -> tuple[list[str], list[str], list[str]]:
    """``qdel`` output as (ids accepted for deletion, ids that do not exist, other non-empty lines).

    Ids are job numbers (``12``) or array tasks (``12.3``, from ``qdel 12.3`` or ``qdel 12 -t 3``).
    """
    accepted: list[str] = []
    missing: list[str] = []
    other: list[str] = []
    for line in text.splitlines():
        if match := _DELETED.search(line):
            accepted.append(match.group(1) or match.group(2))
        elif match := _MISSING.search(line):
            missing.append(".".join(g for g in match.groups() if g))
        elif line.strip():
            other.append(line.strip())
    return accepted, missing, other
