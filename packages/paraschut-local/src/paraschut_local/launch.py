"""One job process: what it is given (argv, environment, logs), how it starts and how its end is read."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .procs import describe_signal
from .spool import make_private_dirs

if TYPE_CHECKING:  # the worker never imports paraschut itself: it starts faster
    from paraschut.models import JobSpec

__all__ = [
    "BASE_ENV",
    "JOB_ID_VAR",
    "NCPUS_VAR",
    "SPOOL_VAR",
    "base_env",
    "dumps",
    "job_record",
    "outcome",
    "problem_of",
    "start",
    "stderr_tail",
]

#: Set in every job's environment: its cluster id, its spool and its CPU count.
JOB_ID_VAR = "PARASCHUT_LOCAL_JOB_ID"
SPOOL_VAR = "PARASCHUT_LOCAL_SPOOL"
NCPUS_VAR = "PARASCHUT_LOCAL_NCPUS"
#: Variables a job inherits from the process that submitted it.
BASE_ENV: tuple[str, ...] = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "SHELL", "TMPDIR", "TZ", "LC_ALL",
    "LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES", "LC_PAPER",
    "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION",
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TAIL_LINES = 20
TAIL_BYTES = 2048


def base_env(environ: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """The submitter's variables a job inherits: :data:`BASE_ENV` and ``extra``."""
    out = {}
    for name in (*BASE_ENV, *extra):
        value = environ.get(name)
        if value is not None:
            out[name] = value
    return out


def job_record(job: JobSpec, inherited: Mapping[str, str]) -> dict[str, Any]:
    """What the spool keeps of a job (JSON): everything a worker needs to start it."""
    script = job.script if os.path.isabs(job.script) else os.path.join(job.workdir, job.script)
    env = {**inherited, **job.env}
    return {
        "key": job.key, "name": job.name, "script": script, "workdir": job.workdir,
        "stdout": job.stdout, "stderr": job.stderr, "env": env, "queue": job.queue,
        "resources": dict(job.resources), "batch_id": job.batch_id, "job_index": job.job_index,
        "spawn_id": job.spawn_id, "run": job.run,
    }


def problem_of(record: Mapping[str, Any], memo: dict[Any, str | None] | None = None) -> str | None:
    """Why this job cannot start (missing script, bad variable name, missing workdir), or None.

    :param memo: answers to reuse across the jobs of one submission (the same script, folder and
        variable names come back in every job of a batch): each is checked once.
    """
    memo = {} if memo is None else memo
    for name, value in record["env"].items():
        if name not in memo:
            memo[name] = None if _ENV_NAME.match(name) else f"invalid environment variable name {name!r}"
        if memo[name] is not None:
            return memo[name]
        if "\0" in value:
            return f"environment variable {name!r} contains a NUL byte"
    place = (record["script"], record["workdir"])
    if place not in memo:
        memo[place] = _place_problem(*place)
    return memo[place]


def _place_problem(script: str, workdir: str) -> str | None:
    if not os.path.isdir(workdir):
        return f"working directory {workdir!r} does not exist"
    if not os.path.isfile(script):
        return f"script {script!r} does not exist"
    if not os.access(script, os.X_OK):
        return f"script {script!r} is not executable (chmod +x it)"
    return None


#: Log folders this process has already made (one mkdir per folder, not per job).
_made_dirs: set[str] = set()


def _open_log(path: str) -> int:
    """Open a job's log for writing, creating it (and its folders) readable by the owner only."""
    directory = os.path.dirname(path) or "."
    if directory not in _made_dirs:
        make_private_dirs(directory)
        _made_dirs.add(directory)
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except FileNotFoundError:  # the folder was removed since (remove_batch): make it again
        _made_dirs.discard(directory)
        make_private_dirs(directory)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


def start(record: Mapping[str, Any], job_id: int, spool_dir: str, cpus: int) -> int:
    """Start the job in its own session (so cancel can end its tree), with its env and logs.

    posix_spawn (vfork and exec, no Python between them) rather than subprocess.Popen: the
    worker starts one process per job, and Popen's bookkeeping cost as much as the spawn itself.
    The job's working directory is entered by the worker itself first (posix_spawn has no chdir):
    a worker is single-threaded and uses absolute paths only. Every descriptor the worker holds is
    close-on-exec (Python's own and SQLite's), so the job inherits stdin, stdout and stderr only.

    :returns: the job's pid.
    :raises OSError: the logs cannot be opened, the working directory entered or the script executed.
    """
    env = dict(record["env"])
    env.update({JOB_ID_VAR: str(job_id), SPOOL_VAR: spool_dir, NCPUS_VAR: str(cpus)})
    out = _open_log(record["stdout"])
    try:
        err = out if record["stderr"] == record["stdout"] else _open_log(record["stderr"])
        try:
            os.chdir(record["workdir"])
            script = record["script"]
            return os.posix_spawn(
                script, [script], env, setsid=True,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out, 1),
                    (os.POSIX_SPAWN_DUP2, err, 2),
                ],
            )
        finally:
            if err != out:
                os.close(err)
    finally:
        os.close(out)


def stderr_tail(path: str) -> str:
    """The last lines (at most 20 lines, 2 KB) of a log, or "" when it is empty or unreadable."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - TAIL_BYTES))
            data = fh.read()
    except OSError:
        return ""
    lines = data.decode(errors="replace").splitlines()[-TAIL_LINES:]
    return "\n".join(lines).strip()


def outcome(wait_status: int, stderr_path: str) -> tuple[int, str | None]:
    """(exit code, reason) from a wait status: reason is None on success, else says why with the stderr tail."""
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        code, reason = 128 + signum, f"killed by {describe_signal(signum)}"
    else:
        code = os.waitstatus_to_exitcode(wait_status)
        if code == 0:
            return 0, None
        reason = f"exit code {code}"
    tail = stderr_tail(stderr_path)
    return code, f"{reason}; stderr tail:\n{tail}" if tail else f"{reason} (nothing on stderr)"


def dumps(record: Mapping[str, Any]) -> str:
    """The record as compact JSON."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
