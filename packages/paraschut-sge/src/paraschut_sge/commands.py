"""Grid Engine command lines (pure argv builders) and the calls that run them, never through a shell.

Executor options (``[executors.sge]`` in the config, or keyword arguments):

- ``bin_dir``: where ``qsub``, ``qstat``, ``qdel`` and ``qacct`` are. Unset: the real binaries
  under ``$SGE_ROOT/bin/<arch>`` when SGE_ROOT is known, else PATH. Debian's ``/usr/bin/q*`` are
  shell wrappers costing 50-95 ms a call; the binaries cost 6-15 ms.
- ``sge_root``, ``sge_cell``: given to the commands as ``SGE_ROOT``/``SGE_CELL``. Unset: the
  environment's, else those of Debian's ``/etc/default/gridengine``.
- ``timeout`` (seconds per command, default 60) and ``retries`` (default 3): a command that times
  out or fails with a transient error (qmaster unreachable, commlib error) is retried with backoff.
- ``queue``, ``resources`` (a table of defaults, overridden by the job's), ``extra_args`` (a list
  appended to every ``qsub``), ``pe`` (parallel environment for CPU counts, default ``smp``),
  ``mem_resource`` (default ``h_vmem``), ``user`` (whose jobs ``qstat`` lists; default the
  current user; ``"*"`` for everyone).

Resources of a job: ``walltime`` -> ``-l h_rt``, ``cput`` -> ``-l h_cpu`` (``SS``, ``MM:SS``,
``HH:MM:SS``, ``D:HH:MM:SS``, ``D-HH:MM:SS`` or ``1h30m`` become ``H:MM:SS``); a CPU count
(``ncpus``, ``ppn``, ``smp``, ``cpus``, ``slots``, or ``nodes=1:ppn=4``) -> ``-pe smp N``;
``mem`` -> ``-l h_vmem``: ``mem`` is what the whole job may use, and because SGE counts
``h_vmem`` per slot it is divided by the slot count. PBS's other memory requests (the defaults of
``get_job_template()``) map to the same single limit: ``vmem`` like ``mem``, ``pmem`` and
``pvmem`` (per process) as they are; the largest request wins, so one limit admits them all.
``h_vmem`` is chosen over ``mem_free`` because it is a limit SGE enforces (``mem_free`` only
picks a host with that much free memory at dispatch); set ``mem_resource = "mem_free"`` (or
``"virtual_free"``...) where a cluster wants that. Any other key is passed as ``-l key=value``.

The job's environment is never put on the command line: ``-v`` splits its argument on commas.
Each variable is named with ``-v NAME`` (no value) and ``qsub`` runs with the variable in its own
environment, so SGE copies the value byte for byte (spaces, commas, quotes, ``$``, newlines).
"""

from __future__ import annotations

import getpass
import math
import os
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from paraschut.commands import TRANSIENT_PATTERNS, resolve, run
from paraschut.errors import InvalidJobError, ParaschutError, SchedulerCommandError
from paraschut.models import Executor, JobSpec

from .parse import (
    QueuedJob,
    SGEOutputError,
    last_record,
    parse_qacct,
    parse_qdel,
    parse_qstat_j,
    parse_qstat_xml,
    parse_qsub,
    parse_time,
)

__all__ = [
    "CPU_KEYS",
    "DEBIAN_DEFAULTS",
    "accounting",
    "accounting_many",
    "accounting_records",
    "binary",
    "check_paths",
    "delete",
    "find_submitted",
    "command_env",
    "hms",
    "job_details",
    "job_name",
    "memory_mb",
    "path",
    "placement",
    "qsub_argv",
    "queued_jobs",
    "resource_args",
    "settings",
    "shell_args",
    "slot_count",
    "submit",
    "time_seconds",
]

CPU_KEYS = ("ncpus", "ppn", "smp", "cpus", "slots")
TRANSIENT = (*TRANSIENT_PATTERNS, "failed receiving gdi request")
DEBIAN_DEFAULTS = "/etc/default/gridengine"
_ARCH = {"x86_64": "lx-amd64", "aarch64": "lx-arm64", "ppc64le": "lx-ppc64le", "i686": "lx-x86"}


# -- finding and running the commands -----------------------------------------------------------
def settings(executor: Executor) -> dict[str, str]:
    """``SGE_ROOT`` and ``SGE_CELL`` for the commands: the executor's ``sge_root``/``sge_cell``
    options, else the environment, else Debian's ``/etc/default/gridengine`` (what its wrappers read)."""
    found: dict[str, str] = {}
    try:
        with open(DEBIAN_DEFAULTS) as defaults:
            for line in defaults:
                key, _, value = line.strip().partition("=")
                if key in ("SGE_ROOT", "SGE_CELL") and value:
                    found[key] = value.strip("\"'")
    except OSError:
        pass
    found.update({k: os.environ[k] for k in ("SGE_ROOT", "SGE_CELL") if os.environ.get(k)})
    found.update({k.upper(): str(executor.option(k)) for k in ("sge_root", "sge_cell") if executor.option(k)})
    return found


def binary(executor: Executor, command: str) -> str:
    """Absolute path of an SGE command for this executor (see the module docstring).

    :raises SchedulerNotFoundError: the command is nowhere to be found.
    """
    bin_dir = executor.option("bin_dir")
    root = settings(executor).get("SGE_ROOT")
    if not bin_dir and root:
        arch = os.environ.get("SGE_ARCH") or _ARCH.get(platform.machine(), "lx-amd64")
        candidate = os.path.join(root, "bin", arch, command)
        if os.access(candidate, os.X_OK):
            return candidate
    return resolve(command, bin_dir, executor.name)


def command_env(executor: Executor, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an SGE command: this process's, ``extra``, and the cell (:func:`settings`)."""
    return {**os.environ, **(extra or {}), **settings(executor)}


def _call(executor: Executor, argv: Sequence[str], *, benign: str | None = None,
          env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one command; exit code 1 is accepted when its output matches ``benign``."""
    kwargs: dict[str, Any] = {
        "timeout": float(executor.option("timeout", 60)), "retries": int(executor.option("retries", 3)),
        "transient": TRANSIENT, "env": env if env is not None else command_env(executor),
    }
    if benign is None:
        return run(argv, **kwargs)
    proc = run(argv, ok_codes=(0, 1), **kwargs)
    text = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode == 0 or re.search(benign, text):
        return proc
    return run(argv, **kwargs)  # once more, strictly: retries a transient failure, else raises with stderr


# -- pure builders ------------------------------------------------------------------------------
_FORBIDDEN = re.compile(r"[^\x21-\x7e]|[/:@\\*?$,'\"`]")


def job_name(job: JobSpec) -> str:
    """A legal, readable SGE job name: forbidden characters and blanks become ``_``, no leading digit."""
    name = re.sub(r"_+", "_", _FORBIDDEN.sub("_", job.name)).strip("_")[:120]
    if not name:
        return job.key
    return name if name[0].isalpha() or name[0] == "_" else f"j{name}"


_UNITS = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _ints(parts: Sequence[str]) -> list[int]:
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(parts)
    return [int(p) for p in parts]


def time_seconds(value: str) -> int:
    """Seconds in a duration: ``90``, ``1:30``, ``1:00:00``, ``1:00:00:00``, ``1-12``, ``1-12:00:00``, ``1h30m``.

    :raises InvalidJobError: not a duration.
    """
    text = value.strip().lower()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return math.ceil(float(text))
        if "-" in text:  # D-HH[:MM[:SS]]
            head, rest = text.split("-", 1)
            days, hms_ = _ints([head])[0], _ints(rest.split(":"))
            if len(hms_) > 3:
                raise ValueError(text)
            h, m, s = hms_ + [0] * (3 - len(hms_))
            return days * 86400 + h * 3600 + m * 60 + s
        if ":" in text:  # [[D:]HH:]MM:SS
            parts = _ints(text.split(":"))
            if len(parts) > 4:
                raise ValueError(text)
            d, h, m, s = [0] * (4 - len(parts)) + parts
            return d * 86400 + h * 3600 + m * 60 + s
        match = _UNITS.fullmatch(text)
        if not match or not any(match.groups()):
            raise ValueError(text)
        d, h, m, s = (int(g or 0) for g in match.groups())
        return d * 86400 + h * 3600 + m * 60 + s
    except ValueError:
        raise InvalidJobError(f"{value!r} is not a duration (use HH:MM:SS)", "resources") from None


def hms(seconds: int) -> str:
    """SGE's ``H:MM:SS`` time format."""
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


_MEM = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b|w)?$")


def memory_mb(value: str) -> int:
    """Mebibytes in a memory size (``4gb``, ``4G``, ``512MiB``, ``1.5g``; a bare number is bytes), rounded up.

    :raises InvalidJobError: not a size.
    """
    match = _MEM.match(value.strip().lower())
    if not match:
        raise InvalidJobError(f"{value!r} is not a memory size (use e.g. 4gb or 512mb)", "resources")
    power = "bkmgtp".index(match.group(2) or "b")
    return max(1, math.ceil(float(match.group(1)) * 1024.0**power / 1024**2))


def slot_count(resources: Mapping[str, str]) -> int | None:
    """The CPU count a job asks for (``ncpus``..., or ``nodes=1:ppn=N``); None when it asks for none.

    :raises InvalidJobError: a count that is not a positive integer, or more than one node.
    """
    found = None
    spec = resources.get("nodes", "")
    nodes, _, rest = spec.partition(":")
    extra = dict(p.partition("=")[::2] for p in rest.split(":") if p)
    for key in CPU_KEYS:
        raw = resources.get(key) or extra.get(key)
        if raw is not None:
            found = raw
            break
    try:
        if nodes.strip() and int(nodes) > 1:
            raise InvalidJobError(f"nodes={nodes}: the SGE executor runs single-node jobs only "
                                  "(request an MPI parallel environment through extra_args)", "resources")
        count = None if found is None else int(found)
    except ValueError:
        raise InvalidJobError(f"CPU count {found or nodes!r} is not an integer", "resources") from None
    if count is not None and count < 1:
        raise InvalidJobError(f"CPU count {count} must be at least 1", "resources")
    return count


#: PBS memory requests for the whole job (divided by the slot count) and per process (per slot).
JOB_MEMORY_KEYS = ("mem", "vmem")
PROCESS_MEMORY_KEYS = ("pmem", "pvmem")


def resource_args(resources: Mapping[str, str], *, pe: str = "smp", mem_resource: str = "h_vmem") -> list[str]:
    """``qsub`` arguments for a job's resources (see the module docstring for the mapping)."""
    slots = slot_count(resources)
    args = ["-pe", pe, str(slots)] if slots and slots > 1 else []
    per_slot: list[int] = []  # every memory request, per slot, in MiB
    for key, value in resources.items():
        if key in CPU_KEYS or key == "nodes":
            continue
        if key == "walltime":
            args += ["-l", f"h_rt={hms(time_seconds(value))}"]
        elif key == "cput":
            args += ["-l", f"h_cpu={hms(time_seconds(value))}"]
        elif key in JOB_MEMORY_KEYS:
            per_slot.append(math.ceil(memory_mb(value) / (slots or 1)))
        elif key in PROCESS_MEMORY_KEYS:
            per_slot.append(memory_mb(value))
        else:
            args += ["-l", f"{key}={value}"]
    if per_slot:
        # one limit must admit every request: the PBS family (get_job_template's defaults) at once
        args += ["-l", f"{mem_resource}={max(per_slot)}M"]
    return args


_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_args(env: Mapping[str, str]) -> list[str]:
    bad = [name for name in env if not _VAR.match(name)]
    if bad:
        raise InvalidJobError(f"environment variable names {bad} are not valid", "vars")
    return ["-v", ",".join(sorted(env))] if env else []


def path(path: str) -> str:
    """A path for ``-o``/``-e``: SGE reads ``host:path``, so an empty host keeps a colon in the path."""
    return f":{path}" if ":" in path else path


#: What SGE cannot carry in ``-wd``, ``-o`` and ``-e``: it expands ``$HOME``, ``$USER``, ``$JOB_ID``,
#: ``$JOB_NAME``, ``$HOSTNAME`` and ``$TASK_ID`` there with no way to escape a ``$``, cuts a path at
#: a newline, and reads ``-o`` and ``-e`` (not ``-wd``) as comma-separated lists.
_PATH_LIMITS = (("$", "a '$' (SGE expands $HOME, $JOB_ID... in it)"), ("\n", "a newline"),
                ("\r", "a carriage return"))
_LOG_LIMITS = (*_PATH_LIMITS, (",", "a comma (SGE reads a list of paths)"))


def check_paths(jobs: Sequence[JobSpec]) -> None:
    """Refuse, before anything is submitted, a working directory or log path SGE would mangle.

    :raises InvalidJobError: names the path and what SGE cannot carry in it.
    """
    for job in jobs:
        for field in ("workdir", "stdout", "stderr"):
            value = getattr(job, field)
            for char, what in _PATH_LIMITS if field == "workdir" else _LOG_LIMITS:
                if char in value:
                    raise InvalidJobError(
                        f"{field} path {value!r} contains {what}, which SGE cannot carry; choose a job_dir "
                        f"(or workdir) without it", field)


def shell_args(shebang: str | None) -> list[str]:
    """``-S`` for a script's ``#!`` line, for queues in ``posix_compliant`` mode (others ignore it)."""
    if not shebang or not shebang.startswith("#!"):
        return []
    words = shebang[2:].split()
    if not words:
        return []
    if len(words) == 1 and os.path.basename(words[0]) != "env":
        return ["-S", words[0]]
    return ["-S", "/usr/bin/env"]  # env execs the script, so the kernel honours the whole #! line


def placement(executor: Executor, job: JobSpec) -> tuple[list[str], list[str]]:
    """``-q`` and the resource arguments of a job (the executor's defaults overridden by the job's)."""
    resources = {**{str(k): str(v) for k, v in (executor.option("resources") or {}).items()}, **job.resources}
    queue = job.queue or executor.option("queue")
    return (["-q", queue] if queue else []), resource_args(
        resources, pe=executor.option("pe", "smp"), mem_resource=executor.option("mem_resource", "h_vmem"))


def qsub_argv(qsub: str, executor: Executor, job: JobSpec, shebang: str | None = None) -> list[str]:
    """The ``qsub`` command line for a job (its environment goes through qsub's own environment)."""
    queue, resources = placement(executor, job)
    argv = [qsub, "-terse", "-N", job_name(job), "-o", path(job.stdout), "-e", path(job.stderr),
            "-wd", job.workdir, *queue, *shell_args(shebang), *resources, *_env_args(job.env)]
    argv += [str(a) for a in executor.option("extra_args") or ()]
    return [*argv, job.script]


# -- the calls ----------------------------------------------------------------------------------
def _shebang(path: str) -> str | None:
    try:
        with open(path, "rb") as script:
            return script.readline(512).decode(errors="replace").strip()
    except OSError:
        return None  # qsub itself reports a missing script


def submit(executor: Executor, job: JobSpec) -> str:
    """Submit a job with one ``qsub``; returns its job number.

    A transient refusal (qmaster unreachable) is retried, but a ``qsub`` that timed out is not:
    it may have submitted the job, and a second try could run it twice.
    """
    check_paths([job])
    argv = qsub_argv(binary(executor, "qsub"), executor, job, _shebang(job.script))
    proc = run(
        argv, timeout=float(executor.option("timeout", 60)), retries=int(executor.option("retries", 3)),
        transient=TRANSIENT, env=command_env(executor, job.env), retry_timeouts=False,
    )
    try:
        return parse_qsub(proc.stdout)
    except ParaschutError:  # exit 0 but no job number: the job may be queued (the error is uncertain)
        raise SchedulerCommandError(argv, proc.returncode, proc.stdout + proc.stderr) from None


def queued_jobs(executor: Executor) -> list[QueuedJob]:
    """Every job of the executor's user that qstat lists, from one ``qstat -xml -u USER``."""
    user = str(executor.option("user") or getpass.getuser())
    return parse_qstat_xml(_call(executor, [binary(executor, "qstat"), "-xml", "-u", user]).stdout)


def job_details(executor: Executor, job_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """``qstat -j`` fields of the given jobs, by job number (one call; unknown ids are left out)."""
    if not job_ids:
        return {}
    argv = [binary(executor, "qstat"), "-j", ",".join(job_ids)]
    return parse_qstat_j(_call(executor, argv, benign=r"do not exist").stdout)


def find_submitted(executor: Executor, jobs: Sequence[JobSpec], since: float = 0.0) -> dict[str, str]:
    """{key: job number} of the given submissions SGE has: queued or running ones by the stdout path
    each was submitted with (``stdout_path_list`` of one ``qstat -j``), finished ones by their
    ``qacct -j NAME`` record (the accounting keeps no paths) submitted at ``since`` or later, when
    exactly one such record has the job's name.
    """
    by_stdout = {job.stdout: job.key for job in jobs}
    found: dict[str, str] = {}
    numbers = sorted({job.job_id for job in queued_jobs(executor)})
    for number, fields in job_details(executor, numbers).items():
        listed = fields.get("stdout_path_list", "")
        stdout = listed.split(":", 2)[-1] if listed.count(":") >= 2 else listed
        key = by_stdout.get(stdout)
        if key is not None:
            found[key] = number
    user = str(executor.option("user") or getpass.getuser())
    for job in jobs:
        if job.key in found:
            continue
        records = [r for r in accounting_records(executor, job_name(job))
                   if r.get("owner") == user and _epoch(r.get("qsub_time", "")) >= since - 1]
        if len(records) == 1 and records[0].get("jobnumber"):
            found[job.key] = records[0]["jobnumber"]
    return found


def _epoch(stamp: str) -> float:
    """qacct's ``Tue Nov 24 00:44:50 2026`` (local time) as epoch seconds; 0 when unreadable
    (parse_time, not strptime, whose day and month names follow the locale)."""
    return parse_time(stamp) or 0.0


_SGE_ID = re.compile(r"[0-9]+(\.[0-9]+)?")


def accounting(executor: Executor, cluster_id: str) -> dict[str, str] | None:
    """The latest ``qacct -j`` record of a job (``N`` or array task ``N.T``); None when there is none."""
    return accounting_many(executor, [cluster_id]).get(cluster_id)


def accounting_many(executor: Executor, cluster_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """The latest ``qacct`` record of each id that has one: one ``qacct -j N`` per job number
    (an array's tasks share one call), at most four at a time."""
    numbers = sorted({cid.partition(".")[0] for cid in cluster_ids if _SGE_ID.fullmatch(cid)})
    if not numbers:
        return {}
    with ThreadPoolExecutor(min(4, len(numbers))) as pool:
        records = dict(zip(numbers, pool.map(lambda n: accounting_records(executor, n), numbers), strict=True))
    found = {}
    for cid in filter(_SGE_ID.fullmatch, cluster_ids):  # not an SGE id: qacct would take it for a name
        number, _, task = cid.partition(".")
        record = last_record(records[number], int(task) if task else None)
        if record is not None:
            found[cid] = record
    return found


def accounting_records(executor: Executor, number: str) -> list[dict[str, str]]:
    """Every ``qacct -j N`` record of job number ``N`` (one per run, or per array task).

    :raises SGEOutputError: a record without ``failed`` or ``exit_status`` (garbage, or cut short):
        guessing from it would mark a job failed that may have succeeded.
    """
    text = _call(executor, [binary(executor, "qacct"), "-j", number], benign=r"not found").stdout
    records = parse_qacct(text)
    if any("failed" not in r or "exit_status" not in r for r in records):
        raise SGEOutputError(f"qacct -j {number} (a record without failed/exit_status)", text)
    return records


def delete(executor: Executor, cluster_ids: Sequence[str]) -> list[str]:
    """``qdel`` all the ids (jobs ``N``, array tasks ``N.T``) in one call; returns those SGE accepted
    (unknown ids are no error)."""
    argv = [binary(executor, "qdel"), *cluster_ids]
    proc = _call(executor, argv, benign=r"does not exist")
    accepted, _missing, other = parse_qdel(proc.stdout + "\n" + proc.stderr)
    if proc.returncode != 0 and other and not accepted:
        raise SchedulerCommandError(argv, proc.returncode, "\n".join(other))
    done = set(accepted)
    return [cid for cid in cluster_ids if cid in done or cid.partition(".")[0] in done]
