"""Preparing jobs: the template, job scripts from templates, data files (JSON) and adding batches."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import arguments
from .bulk import paused_gc
from .config import load_settings
from .errors import InvalidArgumentError, InvalidJobError
from .files import make_private_dirs
from .jobinfo import check_fields, check_value, validate_job
from .session import Session, get_session

__all__ = ["add_batch_to_queue", "add_job_to_queue", "generate_data", "generate_script", "get_job_template"]


def get_job_template(SetID: bool = False) -> dict[str, Any]:
    """The minimal job metadata; with SetID, BatchID is the current time in seconds."""
    settings = load_settings()
    template: dict[str, Any] = {
        "BatchID": int(time.time()) if SetID else None,
        "JobIndex": None,
        "priority": 1,
        "name": ["human", "genome_map"],
        "data_type": "foo",
        "data": None,
        "script": "my_template_script.sh",
        "queue": None,
        "resources": {"cput": "04:59:00", "mem": "1gb", "pmem": "1gb", "pvmem": "3gb", "vmem": "3gb"},
        "state": "init",
    }
    template.update(json.loads(json.dumps(dict(settings.template))))
    return template


def _batch_dir(session: Session, batch_id: int) -> str:
    return make_private_dirs(session.batch_dir(batch_id))


def _check_job_key(info: Any, caller: str) -> None:
    """A job dict whose BatchID and JobIndex are whole numbers (they name files: never a path)."""
    if not isinstance(info, dict):
        raise InvalidArgumentError("JobInfo", f"must be a job's dict, not {type(info).__name__}")
    if info.get("BatchID") is None or info.get("JobIndex") is None:
        raise InvalidJobError(f"set BatchID and JobIndex before {caller}", "JobIndex")
    check_fields({"BatchID": info["BatchID"], "JobIndex": info["JobIndex"]})


def generate_script(JobInfo: dict[str, Any], Template: str | None = None) -> str:
    """Write a job-specific script from a template, replacing ``@field`` with the job's values.

    Besides the job's own fields, ``@PYTHON`` is this Python, ``@DB`` the index and ``@JOBDIR`` the
    job dir. The script is written into the batch folder, made executable, and stored in
    JobInfo['script'].
    """
    session = get_session()
    _check_job_key(JobInfo, "generate_script")
    source = Template if Template is not None else JobInfo.get("script")
    if source is not None and not isinstance(source, (str, os.PathLike)):
        raise InvalidArgumentError("Template", f"must be a path, not {type(source).__name__}")
    template_path = os.path.expanduser(arguments.text(os.fspath(source or ""), "Template"))
    if not template_path or not os.path.isfile(template_path):
        raise InvalidJobError(f"template {template_path!r} does not exist", "script")
    with open(template_path, encoding="utf-8") as fh:
        text = fh.read()
    values = {k: v for k, v in JobInfo.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    values.update(PYTHON=sys.executable, DB=session.settings.db, JOBDIR=session.settings.job_dir)
    # one pass, longest names first: a value is inserted verbatim, never substituted again
    names = "|".join(re.escape(k) for k in sorted(values, key=len, reverse=True))
    text = re.sub(f"@({names})", lambda m: str(values[m.group(1)]), text)
    if not text.startswith("#!"):
        text = "#!/bin/bash\n" + text
    out_dir = _batch_dir(session, JobInfo["BatchID"])
    out = os.path.join(out_dir, f"job_{JobInfo['JobIndex']}_{os.path.basename(template_path)}")
    with open(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700), "w", encoding="utf-8") as fh:
        fh.write(text)
    JobInfo["script"] = out
    return out


def generate_data(JobInfo: dict[str, Any], Data: Any) -> str:
    """Save ``Data`` as JSON in the batch folder and store its path in JobInfo['data'] (no pickle)."""
    session = get_session()
    _check_job_key(JobInfo, "generate_data")
    payload = check_value(Data, "Data")
    path = os.path.join(_batch_dir(session, JobInfo["BatchID"]), f"data_{JobInfo['JobIndex']}.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
    JobInfo["data"] = path
    return path


@paused_gc
def add_batch_to_queue(BatchID: int, JobInfoList: Sequence[Mapping[str, Any]]) -> int:
    """Add a batch of jobs (JobIndex defaults to the position in the list); all or nothing."""
    session = get_session()
    if isinstance(JobInfoList, (str, bytes, Mapping)) or not isinstance(JobInfoList, Iterable):
        raise InvalidArgumentError("JobInfoList", f"must be a list of job dicts, not {type(JobInfoList).__name__}")
    jobs = []
    for position, info in enumerate(JobInfoList):
        if not isinstance(info, Mapping):
            raise InvalidArgumentError("JobInfoList", f"item {position} is a {type(info).__name__}, not a job dict")
        job = dict(info)
        job["BatchID"] = BatchID
        if job.get("JobIndex") is None:
            job["JobIndex"] = position
        jobs.append(validate_job(job, copy=False))  # already this call's own copy
    if not jobs:
        raise InvalidJobError("the batch has no jobs", "JobInfoList")
    return _insert(session, BatchID, jobs)


def _insert(session: Session, batch_id: int, jobs: list[dict[str, Any]], next_index: bool = False) -> int:
    directory = os.path.join(session.settings.job_dir, str(batch_id))
    name = jobs[0].get("name")
    batch = {"BatchID": batch_id, "name": json.dumps(name), "job_dir": directory}
    session.index.add_jobs(batch, jobs, next_index=next_index)
    if session.manager.observed():
        for job in jobs:
            session.manager.state_changed(batch_id, job["JobIndex"], None, job["state"])
    make_private_dirs(directory)
    return len(jobs)


def add_job_to_queue(JobInfo: dict[str, Any]) -> int:
    """Add one job to its batch (created if new); JobIndex defaults to the next free one."""
    session = get_session()
    if not isinstance(JobInfo, dict):
        raise InvalidArgumentError("JobInfo", f"must be a job's dict, not {type(JobInfo).__name__}")
    if JobInfo.get("BatchID") is None:
        raise InvalidJobError("set BatchID (get_job_template(SetID=True) does)", "BatchID")
    auto = JobInfo.get("JobIndex") is None
    job = validate_job({**JobInfo, "JobIndex": 0} if auto else JobInfo)
    _insert(session, JobInfo["BatchID"], [job], next_index=auto)
    JobInfo["JobIndex"] = job["JobIndex"]
    return int(job["JobIndex"])
