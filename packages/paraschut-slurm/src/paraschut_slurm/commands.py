"""sbatch, squeue, scontrol, sacct, scancel and sinfo: executor options, argv builders (pure) and calls (no shell)."""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from attrs import field, frozen

from paraschut import Executor, JobSpec, JobStatus, arrays
from paraschut.commands import TRANSIENT_PATTERNS, resolve, run
from paraschut.errors import ConfigError, InvalidJobError, ParaschutError, SchedulerCommandError

from .parse import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    Record,
    is_job_id,
    parse_jobcomp,
    parse_sacct,
    parse_sbatch,
    parse_scontrol_jobs,
    parse_sinfo_partitions,
    parse_squeue,
    rejected_ids,
)
from .states import job_status, needs_exit_code

__all__ = [
    "CPU_KEYS",
    "NAME",
    "Options",
    "array_files",
    "array_script",
    "array_task_ids",
    "cancel",
    "check",
    "check_log_paths",
    "find_submitted",
    "finished_records",
    "legal_job_name",
    "options",
    "resource_args",
    "sacct_argv",
    "scancel_argv",
    "scontrol_argv",
    "slurm_memory",
    "slurm_time",
    "squeue_argv",
    "status",
    "submit",
    "submit_argv",
    "submit_array",
    "submit_array_argv",
    "submit_env",
    "summary",
]

NAME = "slurm"
NAME_MAX = 64
DEFAULT_JOBCOMP = "/var/log/slurm/jobcomp.log"
#: Resource keys that ask for CPUs on one node: all become ``--cpus-per-task``.
CPU_KEYS = ("ncpus", "ppn", "cpus", "smp", "slots")
_TIME_KEYS = ("walltime", "cput", "time")
_MEMORY_KEYS = {"mem": "--mem", "pmem": "--mem-per-cpu", "mem_per_cpu": "--mem-per-cpu"}
_VIRTUAL_MEMORY_KEYS = ("vmem", "pvmem")
_SLURM_TIME = re.compile(r"^\d+-\d+(:\d+(:\d+)?)?$|^\d+:\d+(:\d+)?$")
_UNIT_TIME = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b|w)?$")
_KEY = re.compile(r"^[a-z][a-z0-9_\-]*$")
_PARTITION = re.compile(r"^[\w.\-]+(,[\w.\-]+)*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INVALID_ID = "invalid job id"
_NO_ACCOUNTING = "accounting storage is disabled"
_IDS_PER_CALL = 2000
#: sacct path -> whether accounting answered (detected once per process).
_ACCOUNTING: dict[str, bool] = {}


@frozen
class Options:
    """The slurm executor's options (``[executors.slurm]`` in the config), with their defaults."""

    bin_dir: str | None = None
    timeout: float = 60.0
    retries: int = 3
    queue: str | None = None
    resources: Mapping[str, Any] = field(factory=dict)
    extra_args: tuple[str, ...] = ()
    jobcomp: str | None = DEFAULT_JOBCOMP


def options(executor: Executor) -> Options:
    """Read and check an executor's options.

    :raises ConfigError: an option has a value this plugin cannot use.
    """
    o = executor.options
    extra = o.get("extra_args")
    try:
        return Options(
            bin_dir=o.get("bin_dir"), timeout=float(o.get("timeout", 60.0)), retries=int(o.get("retries", 3)),
            queue=o.get("queue"), resources=dict(o.get("resources") or {}),
            extra_args=tuple(shlex.split(extra) if isinstance(extra, str) else (str(a) for a in extra or ())),
            jobcomp=o.get("jobcomp", DEFAULT_JOBCOMP) or None,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"slurm executor: bad option value ({exc})") from exc


# -- pure builders ----------------------------------------------------------------------------
def legal_job_name(name: str, key: str) -> str:
    """A tidy job name: ``[A-Za-z0-9_.-]`` only, at most 64 characters, falling back to the job's key."""
    for candidate in (name, key, "psu"):
        cleaned = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.\-]", "_", candidate or ""))
        cleaned = cleaned.strip("_.-")[:NAME_MAX].rstrip("_.-")
        if cleaned:
            return cleaned
    return "psu"  # pragma: no cover - "psu" itself is legal


def slurm_time(value: str) -> str:
    """A time limit in a form ``--time`` takes.

    Seconds (``3600``) and units (``1h30m``, ``2d``, ``90s``) become ``[D-]HH:MM:SS``; Slurm's own
    forms (``HH:MM:SS``, ``MM:SS``, ``D-HH[:MM[:SS]]``) and ``UNLIMITED`` pass unchanged.

    :raises InvalidJobError: not a time.
    """
    text = value.strip().lower()
    if text in ("unlimited", "infinite"):
        return "UNLIMITED"
    if _SLURM_TIME.match(text):
        return text
    unit = _UNIT_TIME.match(text)
    if text.isdigit():
        seconds = int(text)
    elif text and unit:
        days, hours, minutes, secs = (int(g or 0) for g in unit.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    else:
        raise InvalidJobError(f"{value!r} is not a time limit (use seconds, 1h30m or HH:MM:SS)", "resources")
    days, rest = divmod(seconds, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def slurm_memory(value: str) -> str:
    """A memory size as ``--mem`` takes it, in mebibytes rounded up: ``4gb`` -> ``4096M`` (a bare number is bytes).

    :raises InvalidJobError: not a size.
    """
    match = _MEMORY.match(value.strip().lower())
    if not match:
        raise InvalidJobError(f"{value!r} is not a memory size (use e.g. 4gb or 512M)", "resources")
    power = "bkmgtp".index(match.group(2) or "b")
    return f"{max(1, math.ceil(float(match.group(1)) * 1024.0**power / 1024**2))}M"


def _count(key: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise InvalidJobError(f"{key}={value!r} is not a positive whole number", "resources")
    return int(value)


def resource_args(resources: Mapping[str, Any]) -> list[str]:
    """sbatch options for a resources mapping.

    ``walltime``/``cput``/``time`` -> ``--time``; ``mem`` -> ``--mem``; ``pmem``/``mem_per_cpu`` ->
    ``--mem-per-cpu`` (with ``mem`` too, which sbatch refuses: one ``--mem`` admitting both);
    ``vmem``/``pvmem`` are dropped (Slurm takes no virtual memory request per job);
    ``ncpus``/``ppn``/``cpus``/``smp``/``slots`` -> ``--cpus-per-task``;
    ``nodes`` (``N`` or PBS's ``N:ppn=M``) -> ``--nodes`` (and CPUs); any other key ``k_x`` ->
    ``--k-x=value`` as given (``gres``, ``account``, ``qos``, ``constraint``, ...).

    :raises InvalidJobError: a value that is not a time, size or count, or a key sbatch cannot take.
    """
    args: dict[str, str] = {}
    for raw_key, raw in resources.items():
        key, value = str(raw_key).strip().lower(), str(raw).strip()
        if not _KEY.match(key) or "\n" in value:
            raise InvalidJobError(f"resource {raw_key}={value!r} cannot be given to sbatch", "resources")
        if key in _TIME_KEYS:
            args["--time"] = slurm_time(value)
        elif key in _MEMORY_KEYS:
            args[_MEMORY_KEYS[key]] = slurm_memory(value)
        elif key in _VIRTUAL_MEMORY_KEYS:
            continue  # Slurm has no per-job virtual memory request (VSizeFactor is the cluster's)
        elif key in CPU_KEYS:
            args["--cpus-per-task"] = str(_count(key, value))
        elif key == "nodes":
            nodes, _, rest = value.partition(":")
            args["--nodes"] = str(_count(key, nodes))
            ppn = dict(p.partition("=")[::2] for p in rest.split(":") if p).get("ppn")
            if ppn is not None:
                args.setdefault("--cpus-per-task", str(_count("ppn", ppn)))
        else:
            args["--" + key.replace("_", "-")] = value
    if "--mem" in args and "--mem-per-cpu" in args:
        # sbatch refuses both; PBS users give both (get_job_template's defaults): keep the total
        # that admits both requests
        cpus = int(args.get("--cpus-per-task", "1"))
        per_cpu = int(args.pop("--mem-per-cpu")[:-1]) * cpus
        args["--mem"] = f"{max(int(args['--mem'][:-1]), per_cpu)}M"
    return [f"{flag}={value}" for flag, value in args.items()]


def _pattern(path: str) -> str:
    # -o/-e are filename patterns (%j, %x, ...): a literal % must be written %%
    return path.replace("%", "%%")


def check_log_paths(jobs: Sequence[JobSpec]) -> None:
    """Refuse a log path Slurm would change: a backslash in ``--output``/``--error`` turns off the
    ``%`` patterns and is itself removed, and there is no way to escape it.

    :raises InvalidJobError: names the path.
    """
    for job in jobs:
        for kind in ("stdout", "stderr"):
            value = getattr(job, kind)
            if "\\" in value:
                raise InvalidJobError(
                    f"{kind} path {value!r} contains a backslash, which Slurm removes from log paths; "
                    f"choose a job_dir without one", kind)


def _job_args(
    sbatch: str, job: JobSpec, opts: Options, jobs: Sequence[JobSpec] = ()
) -> tuple[list[str], str | None]:
    """sbatch, ``--parsable`` and the job's name, and its partition (checked, like ``jobs``' variable names)."""
    queue = job.queue or opts.queue
    if queue and not _PARTITION.match(queue):
        raise InvalidJobError(f"queue {queue!r} is not a Slurm partition name", "queue")
    bad = sorted({name for j in (job, *jobs) for name in j.env if not _ENV_NAME.match(name)})
    if bad:
        raise InvalidJobError(f"environment variable names {bad} cannot be passed to a job", "vars")
    argv = [sbatch, "--parsable", f"--job-name={legal_job_name(job.name, job.key)}"]
    return argv, queue


def _common_args(job: JobSpec, opts: Options, queue: str | None) -> list[str]:
    argv = ["--export=ALL"]
    argv += [f"--partition={queue}"] if queue else []
    argv += [f"--chdir={job.workdir}"] if job.workdir else []
    return argv + resource_args({**opts.resources, **job.resources})


def submit_argv(sbatch: str, job: JobSpec, opts: Options) -> list[str]:
    """The ``sbatch --parsable`` argv for one job; its ``env`` travels in sbatch's environment.

    ``--export=ALL`` hands the job sbatch's whole environment: values reach the job byte for byte
    (``--export=ALL,NAME=value`` would split values on commas).

    :raises InvalidJobError: a partition, resource or variable name Slurm cannot take.
    """
    check_log_paths([job])
    head, queue = _job_args(sbatch, job, opts)
    argv = [*head, f"--output={_pattern(job.stdout)}", f"--error={_pattern(job.stderr)}",
            *_common_args(job, opts, queue)]
    return [*argv, *opts.extra_args, job.script]


def array_files(manifest: str) -> tuple[str, str]:
    """The array's launcher script and its scheduler log pattern, next to the manifest.

    ``/d/array-x1.json`` -> (``/d/array-x1.sh``, ``/d/array-x1.%a.log``): Slurm's own -o/-e of every
    task (``%a`` is the task index). Only launcher errors land there: each task writes its job's logs.
    """
    stem = os.path.splitext(manifest)[0]
    return f"{stem}.sh", f"{_pattern(stem)}.%a.log"


def array_script(manifest: str, python: str | None = None) -> str:
    """The ``#!/bin/sh`` script every task of the array runs: it execs ``paraschut.arrays``."""
    command = " ".join(shlex.quote(a) for a in arrays.task_command(manifest, first=1, python=python))
    # the manifest's path is quoted once, on the exec line: in a comment a newline in it would end
    # the comment and run the rest of the path as a command
    return f"#!/bin/sh\n# paraschut job array: each task becomes its job (see the manifest below)\nexec {command}\n"


def submit_array_argv(sbatch: str, jobs: Sequence[JobSpec], opts: Options, script: str, logs: str) -> list[str]:
    """The one ``sbatch --parsable --array=1-N`` argv of an array; options come from ``jobs[0]``.

    The core only groups jobs that share script, queue, resources and workdir, so the first job's
    name, partition, workdir and resources stand for all. ``logs`` is the scheduler's -o/-e pattern.

    :raises InvalidJobError: a partition, resource or variable name Slurm cannot take.
    """
    if not jobs:
        raise InvalidJobError("an array needs at least one job", "jobs")
    check_log_paths(jobs)
    head, queue = _job_args(sbatch, jobs[0], opts, jobs)
    argv = [*head, f"--array=1-{len(jobs)}", f"--output={logs}", f"--error={logs}",
            *_common_args(jobs[0], opts, queue)]
    return [*argv, *opts.extra_args, script]


def array_task_ids(job_id: str, count: int) -> list[str]:
    """Slurm's ids of an array's tasks, in job order: ``JOBID_1`` ... ``JOBID_N``."""
    return [f"{job_id}_{index}" for index in range(1, count + 1)]


def submit_env(job: JobSpec, base: Mapping[str, str]) -> dict[str, str]:
    """sbatch's environment: ``base`` plus the job's variables (exported to the job by ``--export=ALL``)."""
    return {**base, **job.env}


def squeue_argv(squeue: str, cluster_ids: Sequence[str]) -> list[str]:
    """``squeue -h -r -t all -j ID,ID -o FORMAT``: one call for many jobs, finished ones included.

    ``-r`` prints one row per array task (``7_3``) instead of one ``7_[2-5]`` row for the pending ones.
    """
    return [squeue, "-h", "-r", "-t", "all", "-j", ",".join(cluster_ids), "-o", SQUEUE_FORMAT]


def scontrol_argv(scontrol: str, cluster_ids: Sequence[str]) -> list[str]:
    """``scontrol -o show job [ID]``: it takes at most one id, so several ids ask for every job."""
    return [scontrol, "-o", "show", "job", *(cluster_ids if len(cluster_ids) == 1 else ())]


def sacct_argv(sacct: str, cluster_ids: Sequence[str]) -> list[str]:
    """``sacct -n -P -X -j ID,ID -o FIELDS``: allocations only, ``|``-separated."""
    return [sacct, "-n", "-P", "-X", "-j", ",".join(cluster_ids), "-o", ",".join(SACCT_FIELDS)]


def scancel_argv(scancel: str, cluster_ids: Sequence[str]) -> list[str]:
    """``scancel -v ID...``: one call; ``-v`` names the ids Slurm refused (it exits 0 regardless)."""
    return [scancel, "-v", *cluster_ids]


# -- calls --------------------------------------------------------------------------------------
def _tool(opts: Options, command: str) -> str:
    return resolve(command, opts.bin_dir, NAME)


def _run(opts: Options, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run(argv, timeout=opts.timeout, retries=opts.retries, **kwargs)


def _query_env() -> dict[str, str]:
    # the dates parse.parse_time reads, whatever SLURM_TIME_FORMAT the user likes ("relative" prints "Tomorr 04:00")
    return {**os.environ, "SLURM_TIME_FORMAT": "standard"}


def _unknown_ids(exc: SchedulerCommandError) -> bool:
    # squeue/scontrol exit 1 for "Invalid job id specified" -- and also for a dead controller
    return not exc.timed_out and _INVALID_ID in exc.stderr.lower()


def check(opts: Options) -> str:
    """One ``sinfo -h -o %P`` (the partitions): the controller answers, or this raises."""
    sinfo = _tool(opts, "sinfo")
    partitions = parse_sinfo_partitions(_run(opts, [sinfo, "-h", "-o", "%P"]).stdout)
    return f"slurm controller answered at {sinfo}: partitions {', '.join(partitions) or 'none'}"


def submit(opts: Options, job: JobSpec) -> str:
    """Run sbatch for one job and return the id it printed.

    :raises SchedulerCommandError: sbatch failed (the job is not queued).
    """
    argv = submit_argv(_tool(opts, "sbatch"), job, opts)
    # a sbatch that timed out may have queued the job: never run it twice
    proc = _run(opts, argv, env=submit_env(job, os.environ), retry_timeouts=False)
    try:
        return parse_sbatch(proc.stdout)
    except ParaschutError:
        raise SchedulerCommandError(argv, proc.returncode, proc.stdout + proc.stderr) from None


def submit_array(opts: Options, jobs: Sequence[JobSpec]) -> list[str]:
    """Submit jobs as one Slurm array (one sbatch); returns each job's task id, in order.

    Writes the manifest (:func:`paraschut.arrays.write_manifest`) and the launcher script next to
    ``jobs[0].stdout``; both stay there (each task reads the manifest when it starts).

    :raises SchedulerCommandError: sbatch failed (nothing of the array is queued).
    """
    if not jobs:
        return []
    sbatch = _tool(opts, "sbatch")
    submit_array_argv(sbatch, jobs, opts, "check", "check")  # refuse bad jobs before writing files
    manifest = arrays.write_manifest(jobs, os.path.dirname(os.path.abspath(jobs[0].stdout)))
    script, logs = array_files(manifest)
    # Slurm creates a log it does not find with the job's umask (0644): make the tasks' logs owner-only first
    stem = os.path.splitext(manifest)[0]
    arrays.create_private_files(f"{stem}.{task}.log" for task in range(1, len(jobs) + 1))
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(array_script(manifest))
    argv = submit_array_argv(sbatch, jobs, opts, script, logs)
    # a sbatch that timed out may have queued the array: never run it twice
    proc = _run(opts, argv, env=dict(os.environ), retry_timeouts=False)
    try:
        job_id = parse_sbatch(proc.stdout)
    except ParaschutError:
        raise SchedulerCommandError(argv, proc.returncode, proc.stdout + proc.stderr) from None
    return array_task_ids(job_id, len(jobs))


def _squeue(opts: Options, cluster_ids: Sequence[str]) -> dict[str, Record]:
    records: dict[str, Record] = {}
    for start in range(0, len(cluster_ids), _IDS_PER_CALL):
        argv = squeue_argv(_tool(opts, "squeue"), cluster_ids[start : start + _IDS_PER_CALL])
        try:
            records.update(parse_squeue(_run(opts, argv, env=_query_env()).stdout))
        except SchedulerCommandError as exc:
            if not _unknown_ids(exc):  # all ids unknown: nothing to add
                raise
    return records


def _scontrol(opts: Options, cluster_ids: Sequence[str]) -> dict[str, Record]:
    try:
        argv = scontrol_argv(_tool(opts, "scontrol"), cluster_ids)
        return parse_scontrol_jobs(_run(opts, argv, env=_query_env()).stdout)
    except SchedulerCommandError as exc:
        if _unknown_ids(exc):
            return {}
        raise


def _sacct(opts: Options, cluster_ids: Sequence[str]) -> dict[str, Record]:
    """Accounting records, or ``{}`` when this cluster keeps none (asked once per sacct, then remembered)."""
    try:
        sacct = _tool(opts, "sacct")
    except ParaschutError:
        return {}
    if _ACCOUNTING.get(sacct) is False:
        return {}
    try:
        records = parse_sacct(_run(opts, sacct_argv(sacct, cluster_ids), env=_query_env()).stdout)
    except SchedulerCommandError as exc:
        if _NO_ACCOUNTING in exc.stderr.lower():
            _ACCOUNTING[sacct] = False
        return {}  # slurmdbd down: the jobcomp file may still know
    except ParaschutError:
        return {}
    _ACCOUNTING[sacct] = True
    return records


def _jobcomp(opts: Options, cluster_ids: Sequence[str]) -> dict[str, Record]:
    if not opts.jobcomp:
        return {}
    try:
        with open(opts.jobcomp, encoding="utf-8", errors="replace") as handle:
            return parse_jobcomp(handle, cluster_ids)
    except OSError:
        return {}


def finished_records(opts: Options, cluster_ids: Sequence[str], listed: Collection[str]) -> dict[str, Record]:
    """Records of finished jobs: sacct when accounting is on, else scontrol (ids squeue ``listed``), else jobcomp."""
    found = _sacct(opts, cluster_ids)
    live = [cid for cid in cluster_ids if cid not in found and cid in listed]
    if live:
        found.update({cid: rec for cid, rec in _scontrol(opts, live).items() if cid in live})
    rest = [cid for cid in cluster_ids if cid not in found]
    if rest:
        found.update(_jobcomp(opts, rest))
    return found


def status(opts: Options, cluster_ids: Sequence[str]) -> dict[str, JobStatus]:
    """The status of every given job Slurm knows: one squeue call, then finished jobs' records if needed.

    Ids Slurm has never heard of (nor recorded as finished) are left out.

    :raises SchedulerCommandError: squeue failed for another reason than unknown ids.
    """
    wanted = [cid for cid in dict.fromkeys(cluster_ids) if is_job_id(cid)]
    if not wanted:
        return {}
    records = _squeue(opts, wanted)
    need = [cid for cid in wanted if cid not in records or needs_exit_code(records[cid])]
    if need:
        for cid, record in finished_records(opts, need, records).items():
            if cid in need:
                records[cid] = {**records.get(cid, {}), **record}
    return {cid: job_status(cid, records[cid]) for cid in wanted if cid in records}


def find_submitted(opts: Options, jobs: Sequence[JobSpec]) -> dict[str, str]:
    """{key: id} of the given submissions Slurm still remembers (``scontrol -o show job``: every job
    up to MinJobAge after it ends), matched by the stdout path each was submitted with."""
    by_stdout = {job.stdout: job.key for job in jobs}
    found: dict[str, str] = {}
    for cid, record in _scontrol(opts, []).items():
        key = by_stdout.get(record.get("StdOut", ""))
        if key is not None and cid.isdigit():
            found[key] = cid
    return found


def summary(opts: Options, cluster_id: str) -> dict[str, str]:
    """Slurm's record of one job (``scontrol -o show job ID``, else jobcomp); ``{}`` when nobody knows it."""
    if not is_job_id(cluster_id):
        return {}
    record = _scontrol(opts, [cluster_id]).get(cluster_id) or _jobcomp(opts, [cluster_id]).get(cluster_id)
    if not record:
        return {}
    return {"id": cluster_id, **{k: v for k, v in record.items() if not k.startswith("_")}}


def cancel(opts: Options, cluster_ids: Sequence[str]) -> list[str]:
    """scancel all the jobs at once; returns the ids Slurm did not refuse (unknown ids are not errors).

    :raises SchedulerCommandError: scancel could not reach the controller.
    """
    ids = [cid for cid in dict.fromkeys(cluster_ids) if is_job_id(cid)]
    if not ids:
        return []
    argv = scancel_argv(_tool(opts, "scancel"), ids)
    try:
        stderr = _run(opts, argv).stderr
    except SchedulerCommandError as exc:
        text = exc.stderr.lower()
        if exc.timed_out or any(pattern in text for pattern in TRANSIENT_PATTERNS) or not rejected_ids(text):
            raise
        stderr = exc.stderr
    refused = rejected_ids(stderr)
    return [cid for cid in ids if cid not in refused]
