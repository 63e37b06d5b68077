"""qsub, qstat and qdel: executor options, argv builders (pure) and the calls that run them (no shell)."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from attrs import field, frozen

from paraschut.commands import TRANSIENT_PATTERNS, resolve, run
from paraschut.errors import (
    ConfigError,
    InvalidJobError,
    ParaschutError,
    SchedulerCommandError,
)
from paraschut.models import Executor, JobSpec, JobStatus

from .parse import (
    Attributes,
    base_id,
    parse_qstat_full,
    parse_qstat_json,
    parse_qsub_output,
    parse_scontrol_jobs,
    pbs_version,
    slurm_task,
)
from .states import collect, slurm_job_status, slurm_task_status

__all__ = [
    "FLAVOURS",
    "NAME",
    "Options",
    "cancel",
    "cancel_argv",
    "check",
    "detect_flavour",
    "find_submitted",
    "legal_job_name",
    "log_path",
    "options",
    "poll",
    "query",
    "query_slurm",
    "resource_list",
    "status_argv",
    "run_tool",
    "submit",
    "submit_argv",
    "summary",
    "tool",
]

NAME = "pbs"
#: ``torque``; ``pro`` (PBS Professional / OpenPBS); ``slurm`` (Slurm's slurm-wlm-torque wrappers).
FLAVOURS = ("torque", "pro", "slurm")
NAME_MAX = 15
#: qstat exit codes that only mean "some ids are unknown" (PBSE_UNKJOBID 15001 & 0xff, PBSE_HISTJOBID).
UNKNOWN_ID_CODES = (153, 35)
_UNKNOWN_ID_MESSAGE = re.compile(r"unknown job id|job has finished|invalid job id|does not exist", re.I)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESOURCE_KEY = re.compile(r"^[A-Za-z_][\w.\-]*$")
_RESOURCE_VALUE = re.compile(r"^[\w.:+=@%/\-]+$")
_QUEUE = re.compile(r"^[\w.@\-]+$")
_MEMORY = re.compile(r"^(\d+)\s*([kmgtp]?)([bw]?)$", re.I)
_MEMORY_KEYS = frozenset({"mem", "pmem", "vmem", "pvmem"})
_CPU_KEYS = ("cpus", "ppn")
_IDS_PER_CALL = 5000
_SLURM_TASK = re.compile(r"^\d+_\d+$")  # an array task, in Slurm's notation (see arrays.py)


@frozen
class Options:
    """The pbs executor's options (``[executors.pbs]`` in the config), with their defaults."""

    bin_dir: str | None = None
    timeout: float = 60.0
    retries: int = 3
    flavour: str = "auto"
    json: bool | None = None
    env_mode: str | None = None
    workdir_flag: str | None = None
    queue: str | None = None
    resources: Mapping[str, Any] = field(factory=dict)
    extra_args: tuple[str, ...] = ()


def options(executor: Executor) -> Options:
    """Read and check an executor's options.

    :raises ConfigError: an option has a value this plugin cannot use.
    """
    o = executor.options
    flavour, env_mode = str(o.get("flavour", "auto")), o.get("env_mode")
    extra, json = o.get("extra_args"), o.get("json")
    if flavour not in (*FLAVOURS, "auto") or env_mode not in (None, "names", "all"):
        raise ConfigError(f"pbs executor: flavour must be auto|{'|'.join(FLAVOURS)}, env_mode names|all")
    try:
        return Options(
            bin_dir=o.get("bin_dir"), timeout=float(o.get("timeout", 60.0)), retries=int(o.get("retries", 3)),
            flavour=flavour, json=None if json is None else bool(json), env_mode=env_mode,
            workdir_flag=o.get("workdir_flag"), queue=o.get("queue"), resources=dict(o.get("resources") or {}),
            extra_args=tuple(shlex.split(extra) if isinstance(extra, str) else (str(a) for a in extra or ())),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"pbs executor: bad option value ({exc})") from exc


# -- pure builders ----------------------------------------------------------------------------
def legal_job_name(name: str, key: str) -> str:
    """A PBS-legal job name: at most 15 characters, alphabetic first, only ``[A-Za-z0-9_.-]``."""
    for candidate in (name, key, "psu"):
        cleaned = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.\-]", "_", candidate or ""))
        cleaned = re.sub(r"^[^A-Za-z]+", "", cleaned)[:NAME_MAX].rstrip("_.-")
        if cleaned:
            return cleaned
    return "psu"  # pragma: no cover - "psu" itself is legal


def _memory(value: str) -> str:
    match = _MEMORY.match(value)
    if not match or not match.group(2):
        return value
    number, unit, word = match.groups()
    return f"{number}{unit.lower()}{(word or 'b').lower()}"


def _walltime(value: str) -> str:
    if not value.isdigit():
        return value
    seconds = int(value)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def resource_list(resources: Mapping[str, Any], flavour: str) -> str:
    """One ``-l`` value from a resources mapping: ``walltime=01:00:00,mem=4gb,nodes=1:ppn=4``.

    ``cpus`` (or ``ppn``) asks for that many cores on one node: ``nodes=1:ppn=N`` (Torque, Slurm
    wrapper) or ``ncpus=N`` (PBS Pro). Memory values get PBS units (``4G`` -> ``4gb``); a walltime
    given in seconds becomes ``HH:MM:SS``.

    :raises InvalidJobError: a key or value that PBS would split or misread (commas, spaces, ...).
    """
    items: dict[str, str] = {}
    cpus: str | None = None
    for key, raw in resources.items():
        value = str(raw).strip()
        if not _RESOURCE_KEY.match(str(key)) or not _RESOURCE_VALUE.match(value):
            raise InvalidJobError(f"resource {key}={value!r} is not a valid PBS resource", "resources")
        if key in _CPU_KEYS:
            cpus = value
        elif key in _MEMORY_KEYS:
            items[key] = _memory(value)
        elif key in ("walltime", "cput"):
            items[key] = _walltime(value)
        else:
            items[key] = value
    if cpus is not None:
        if flavour == "pro":
            items.setdefault("ncpus", cpus)
        else:
            items["nodes"] = f"{items.get('nodes', '1').split(':', 1)[0]}:ppn={cpus}"
    return ",".join(f"{k}={v}" for k, v in items.items())


def log_path(path: str, flavour: str, kind: str = "stdout") -> str:
    """A literal log path as qsub's ``-o``/``-e`` takes it: Slurm's wrapper hands it to sbatch, which
    reads ``%`` patterns (``%j``...), so there a literal ``%`` is written ``%%``.

    :raises InvalidJobError: a backslash in a path for Slurm, which removes it and has no escape.
    """
    if flavour != "slurm":
        return path
    if "\\" in path:
        raise InvalidJobError(
            f"log path {path!r} contains a backslash, which Slurm removes from log paths; choose a job_dir "
            f"without one", kind)
    return path.replace("%", "%%")


def submit_argv(qsub: str, job: JobSpec, opts: Options, flavour: str, patterns: bool = False) -> list[str]:
    """The qsub argv for one job; its ``env`` travels in qsub's environment (see :func:`submit_env`).

    Slurm's qsub wrapper pastes its arguments into a ``sh`` command line, so for that flavour
    paths are shell-quoted (and must be: a path with a space would split); PBS Pro and Torque
    get them verbatim. The job's stdout and stderr are literal paths (:func:`log_path`), or with
    ``patterns`` already in the scheduler's pattern syntax (an array's ``%a``).

    :raises InvalidJobError: a queue, resource, variable name or log path PBS cannot take.
    """
    quote: Callable[[str], str] = shlex.quote if flavour == "slurm" else str
    stdout, stderr = (job.stdout, job.stderr) if patterns else (log_path(job.stdout, flavour, "stdout"),
                                                                log_path(job.stderr, flavour, "stderr"))
    queue = job.queue or opts.queue
    if queue and not _QUEUE.match(queue):
        raise InvalidJobError(f"queue {queue!r} is not a PBS queue name", "queue")
    bad = [name for name in job.env if not _ENV_NAME.match(name)]
    if bad:
        raise InvalidJobError(f"environment variable names {bad} cannot be passed by PBS", "vars")
    argv = [qsub, "-N", legal_job_name(job.name, job.key), "-o", quote(stdout), "-e", quote(stderr)]
    argv += ["-q", queue] if queue else []
    resources = resource_list({**opts.resources, **job.resources}, flavour)
    argv += ["-l", resources] if resources else []
    if _env_mode(opts, flavour) == "all":
        argv.append("-V")
    elif job.env:
        argv += ["-v", ",".join(sorted(job.env))]
    flag = opts.workdir_flag if opts.workdir_flag is not None else {"torque": "-d", "slurm": "-wd"}.get(flavour)
    argv += [flag, quote(job.workdir)] if flag and job.workdir else []
    return [*argv, *opts.extra_args, quote(job.script)]


def _env_mode(opts: Options, flavour: str) -> str:
    # Slurm's wrapper turns "-v NAME" into NAME=<value> on a sh command line: never give it values.
    return "all" if flavour == "slurm" else (opts.env_mode or "names")


def submit_env(job: JobSpec, base: Mapping[str, str]) -> dict[str, str]:
    """qsub's environment: ``base`` plus the job's variables, which qsub reads by name (-v) or all (-V)."""
    return {**base, **job.env}


def status_argv(qstat: str, flavour: str, json: bool, cluster_ids: Sequence[str]) -> list[str]:
    """``qstat -f [-x] [-t] [-F json] ID...``: one call for many jobs (-x: PBS Pro's finished jobs;
    -t: array subjobs such as ``123[4].server``, on PBS Pro and Torque)."""
    argv = [qstat, "-f"]
    argv += ["-x"] if flavour == "pro" else []     # Torque's -x means XML; its C jobs show anyway
    argv += ["-t"] if flavour != "slurm" and any("[" in cid for cid in cluster_ids) else []
    argv += ["-F", "json"] if json else []
    return [*argv, *cluster_ids]


def cancel_argv(qdel: str, cluster_ids: Sequence[str]) -> list[str]:
    """``qdel ID...``: one call for all the jobs."""
    return [qdel, *cluster_ids]


def _named(cluster_id: str, text: str) -> bool:
    return re.search(rf"(?<![\w.\[]){re.escape(cluster_id.lower())}(?![\w\[])", text) is not None


# -- calls --------------------------------------------------------------------------------------
def tool(opts: Options, command: str) -> str:
    # scontrol and scancel (Slurm's wrappers only) are Slurm's own commands: on PATH, not beside the wrappers
    return resolve(command, None if command in ("scontrol", "scancel") else opts.bin_dir, NAME)


def run_tool(opts: Options, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run(argv, timeout=opts.timeout, retries=opts.retries, **kwargs)


@functools.lru_cache(maxsize=32)
def detect_flavour(qstat: str, timeout: float = 30.0) -> tuple[str, tuple[int, int] | None]:
    """Which PBS answers at ``qstat``, and PBS Pro's version: Slurm's wrapper is a Perl script."""
    try:
        with open(qstat, "rb") as handle:
            head = handle.read(65536)
    except OSError:
        head = b""
    if head.startswith(b"#!") and b"Slurm" in head:
        return "slurm", None
    try:
        proc = run([qstat, "--version"], timeout=timeout, retries=0, ok_codes=range(256))
    except ParaschutError:
        return "torque", None
    version = pbs_version(proc.stdout + proc.stderr)
    return ("pro", version) if version else ("torque", None)


def flavour_of(opts: Options) -> tuple[str, bool]:
    """The flavour to speak and whether to ask for JSON (PBS Pro 13 and later, unless told)."""
    if opts.flavour != "auto":
        return opts.flavour, opts.json if opts.json is not None else opts.flavour == "pro"
    flavour, version = detect_flavour(tool(opts, "qstat"), opts.timeout)
    json = opts.json if opts.json is not None else flavour == "pro" and (version or (0, 0)) >= (13, 0)
    return flavour, bool(json)


def check(opts: Options) -> str:
    """One ``qstat -Q`` (the server's queues): the server answers, or this raises."""
    qstat = tool(opts, "qstat")
    flavour, _ = flavour_of(opts)
    proc = run_tool(opts, [qstat, "-Q"])
    queues = max(0, len([line for line in proc.stdout.splitlines() if line.strip()]) - 2)
    return f"{flavour} server answered at {qstat}: {queues} queue(s)"


def submit(opts: Options, job: JobSpec) -> str:
    """Run qsub for one job and return the id it printed.

    :raises SchedulerCommandError: qsub failed (the job is not queued).
    """
    flavour, _ = flavour_of(opts)
    argv = submit_argv(tool(opts, "qsub"), job, opts, flavour)
    # a qsub that timed out may have queued the job: never run it twice
    proc = run_tool(opts, argv, env=submit_env(job, os.environ), retry_timeouts=False)
    try:
        return parse_qsub_output(proc.stdout)
    except ParaschutError:
        raise SchedulerCommandError(argv, proc.returncode, proc.stdout + proc.stderr) from None


def _qstat(opts: Options, flavour: str, json: bool, ids: Sequence[str]) -> dict[str, Attributes]:
    argv = status_argv(tool(opts, "qstat"), flavour, json, ids)
    proc = run_tool(opts, argv, ok_codes=(0, *UNKNOWN_ID_CODES))
    noise = [ln for ln in proc.stderr.splitlines() if ln.strip() and not _UNKNOWN_ID_MESSAGE.search(ln)]
    if proc.returncode != 0 and noise:
        raise SchedulerCommandError(argv, proc.returncode, proc.stderr)
    return parse_qstat_json(proc.stdout) if json else parse_qstat_full(proc.stdout)


def query(opts: Options, cluster_ids: Sequence[str]) -> dict[str, Attributes]:
    """``qstat -f`` records of the given jobs (one call per 5,000 ids); unknown ids are absent.

    :raises SchedulerCommandError: qstat failed for another reason than unknown ids.
    """
    flavour, json = flavour_of(opts)
    jobs: dict[str, Attributes] = {}
    for start in range(0, len(cluster_ids), _IDS_PER_CALL):
        chunk = cluster_ids[start : start + _IDS_PER_CALL]
        try:
            jobs.update(_qstat(opts, flavour, json, chunk))
        except ParaschutError as exc:
            if not json or isinstance(exc, SchedulerCommandError):
                raise
            jobs.update(_qstat(opts, flavour, False, chunk))  # PBS Pro printed broken JSON
    return jobs


def query_slurm(opts: Options) -> dict[str, Attributes]:
    """JobState, ExitCode, StartTime... of every job Slurm still remembers (``scontrol -o show job``: one call)."""
    argv = [tool(opts, "scontrol"), "-o", "show", "job"]
    # StartTime/EndTime as parse_slurm_time reads them, whatever SLURM_TIME_FORMAT the user likes
    return parse_scontrol_jobs(run_tool(opts, argv, env={**os.environ, "SLURM_TIME_FORMAT": "standard"}).stdout)


def poll(opts: Options, cluster_ids: Sequence[str]) -> dict[str, JobStatus]:
    """The status of every listed job with one qstat, and on Slurm's wrappers at most one scontrol:
    for jobs qstat shows as finished (C for success and failure alike) and for array tasks (``123_4``),
    which the wrapper's qstat cannot name."""
    flavour = flavour_of(opts)[0]
    slurm = flavour == "slurm"
    tasks = [cid for cid in cluster_ids if slurm and _SLURM_TASK.match(cid)]
    plain = [cid for cid in cluster_ids if cid not in set(tasks)]
    found, unresolved = collect(plain, query(opts, plain), flavour) if plain else ({}, [])
    if tasks or (slurm and unresolved):
        records = query_slurm(opts)
        for cid in unresolved:
            fields = records.get(base_id(cid))
            status = slurm_job_status(cid, fields) if fields else None
            if status is not None:
                found[cid] = status
        for cid in tasks:
            if (fields := slurm_task(cid, records)) is not None:
                found[cid] = slurm_task_status(cid, fields)
    return found


def find_submitted(opts: Options, jobs: Sequence[JobSpec]) -> dict[str, str]:
    """{key: id} of the given submissions the server still lists, matched by the stdout path each was
    submitted with: ``Output_Path`` (``host:/path``) of ``qstat -f`` (PBS Pro: with finished jobs),
    or ``StdOut`` of Slurm's ``scontrol -o show job`` behind Slurm's wrappers."""
    by_stdout = {job.stdout: job.key for job in jobs}
    found: dict[str, str] = {}
    if flavour_of(opts)[0] == "slurm":
        records = {cid: attrs.get("StdOut", "") for cid, attrs in query_slurm(opts).items()}
    else:
        records = {cid: attrs.get("Output_Path", "").split(":", 1)[-1] for cid, attrs in query(opts, []).items()}
    for cid, stdout in records.items():
        key = by_stdout.get(stdout)
        if key is not None:
            found[key] = cid
    return found


def summary(opts: Options, cluster_id: str) -> dict[str, str]:
    """qstat's record of one job (Slurm's scontrol record for a Slurm array task); empty when unknown."""
    if _SLURM_TASK.match(cluster_id) and flavour_of(opts)[0] == "slurm":
        fields = slurm_task(cluster_id, query_slurm(opts))
        return {"id": cluster_id, **fields} if fields else {}
    jobs = query(opts, [cluster_id])
    by_base = {base_id(job_id): attrs for job_id, attrs in jobs.items()}
    attrs = jobs.get(cluster_id) or by_base.get(base_id(cluster_id)) or {}
    return {"id": cluster_id, **attrs} if attrs else {}


def cancel(opts: Options, cluster_ids: Sequence[str]) -> list[str]:
    """qdel all the jobs at once; returns the ids qdel accepted (unknown or finished ids are not errors).

    Slurm's qdel is silent and only counts the ids it refused in its exit code, so for that flavour
    one qstat first picks the jobs still on the queue, and only those are given to qdel.

    :raises SchedulerCommandError: qdel could not reach the server.
    """
    ids = list(cluster_ids)
    if flavour_of(opts)[0] == "slurm":
        found = poll(opts, ids)
        ids = [cid for cid in ids if cid in found and found[cid].on_queue and found[cid].raw_state != "U"]
        if not ids:
            return []
    # the wrapper's qdel takes job numbers only (123_4 would be read as 123, the whole array): scancel
    qdel = tool(opts, "scancel") if any(_SLURM_TASK.match(cid) for cid in ids) else tool(opts, "qdel")
    argv = cancel_argv(qdel, ids)
    try:
        run_tool(opts, argv)
    except SchedulerCommandError as exc:
        text = exc.stderr.lower()
        if exc.timed_out or any(pattern in text for pattern in TRANSIENT_PATTERNS):
            raise
        if text.strip():  # Torque and PBS Pro name each id they refused
            refused = [cid for cid in ids if _named(cid, text)]
            if not refused:  # an error about none of them: nothing is known to be cancelled
                raise
            return [cid for cid in ids if cid not in refused]
        # Slurm: some job ended between qstat and qdel; which one is unknowable (it is off the queue).
        return [] if exc.returncode == len(ids) else ids
    return ids
