"""Job arrays: one ``qsub`` for many jobs (PBS Pro ``-J``, Torque and Slurm's wrapper ``-t``), and their ids.

Each task runs a generated two-line ``#!/bin/sh`` script (Slurm's qsub wrapper takes only ``#!``
scripts) that execs ``python -m paraschut.arrays`` on a manifest of the jobs (see
:mod:`paraschut.arrays`): the task finds its job by its index (``PBS_ARRAY_INDEX``,
``PBS_ARRAYID`` or ``SLURM_ARRAY_TASK_ID``), then sets up that job's environment, logs and
working directory and becomes its script. The manifest and the script sit next to the first
job's stdout, with the scheduler's own log of each task (launcher errors only).

Task ids, as each flavour's qstat and qdel take them:

- PBS Pro: ``qsub -J 1-N`` prints ``123[].server``; task ``i`` is ``123[i].server``.
- Torque: ``qsub -t 1-N`` prints ``123[].server``; task ``i`` is ``123[i].server``.
- Slurm's wrapper: ``qsub -t 1-N`` prints ``123``; task ``i`` is ``123_i``, Slurm's own notation
  (each task gets a job number of its own only when it starts, so the wrapper's qstat and qdel,
  which know only job numbers, cannot name a pending task: Slurm's scontrol and scancel do).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence

from attrs import evolve

from paraschut import arrays as launcher
from paraschut.errors import ParaschutError, SchedulerCommandError
from paraschut.models import JobSpec

from . import commands
from .parse import parse_qsub_output

__all__ = ["array_argv", "is_slurm_task", "launcher_script", "log_paths", "submit_array", "task_ids", "task_logs"]

_SLURM_TASK = re.compile(r"^\d+_\d+$")


def is_slurm_task(cluster_id: str) -> bool:
    """True for a Slurm array task id (``123_4``)."""
    return _SLURM_TASK.match(cluster_id) is not None


def task_ids(printed: str, count: int, flavour: str) -> list[str]:
    """The ids of tasks 1 to ``count`` from the id qsub printed for the array (see the module docstring)."""
    head, _, server = printed.partition(".")
    number = head.split("[", 1)[0]
    if flavour == "slurm":
        return [f"{number}_{i}" for i in range(1, count + 1)]
    suffix = f".{server}" if server else ""
    return [f"{number}[{i}]{suffix}" for i in range(1, count + 1)]


def launcher_script(manifest: str, python: str | None = None) -> str:
    """The script every task runs: exec the launcher on the manifest (quoted for ``sh``)."""
    return f"#!/bin/sh\nexec {shlex.join(launcher.task_command(manifest, first=1, python=python))}\n"


def log_paths(stem: str, flavour: str) -> tuple[str, str]:
    """The scheduler's stdout and stderr paths of each task: one pair per task where the flavour can say so.

    Slurm expands ``%a`` and PBS Pro ``^array_index^`` to the task index; Torque appends
    ``-INDEX`` to an array's log names by itself.
    """
    index = {"slurm": ".%a", "pro": ".^array_index^"}.get(flavour, "")
    return f"{stem}{index}.out", f"{stem}{index}.err"


def task_logs(stem: str, flavour: str, count: int) -> list[str]:
    """The scheduler's log files of tasks 1 to ``count`` where the flavour names them exactly (Slurm's
    wrapper, PBS Pro), to create owner-only before qsub (a scheduler creates them with its own umask,
    0644); none for Torque, whose names are its own business (they sit in the 0700 logs folder)."""
    if flavour not in ("slurm", "pro"):
        return []
    return [path.replace(".%a", f".{i}").replace(".^array_index^", f".{i}")
            for i in range(1, count + 1) for path in log_paths(stem, flavour)]


def array_argv(qsub: str, jobs: Sequence[JobSpec], opts: commands.Options, flavour: str, script: str) -> list[str]:
    """The qsub argv of an array of ``jobs`` whose tasks run ``script``: the first job's name, queue,
    resources and working directory (the core groups jobs that share them), no job variables (they
    are in the manifest), and the index range (``-J`` on PBS Pro, ``-t`` elsewhere)."""
    out, err = log_paths(commands.log_path(os.path.splitext(script)[0], flavour), flavour)
    carrier = evolve(jobs[0], script=script, stdout=out, stderr=err, env={})
    argv = commands.submit_argv(qsub, carrier, opts, flavour, patterns=True)
    return [*argv[:-1], "-J" if flavour == "pro" else "-t", f"1-{len(jobs)}", argv[-1]]


def _write_launcher(manifest: str) -> str:
    path = os.path.splitext(manifest)[0] + ".sh"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(launcher_script(manifest))
    return path


def submit_array(opts: commands.Options, jobs: Sequence[JobSpec]) -> list[str]:
    """Submit ``jobs`` with one qsub and return each task's id, in order (a single job: a plain qsub,
    since PBS Pro refuses a one-task array). A qsub that timed out is not retried.

    :raises SchedulerCommandError: qsub refused the array (nothing was submitted).
    """
    if len(jobs) == 1:
        return [commands.submit(opts, jobs[0])]
    flavour, _ = commands.flavour_of(opts)
    for job in jobs:  # refuse what the scheduler cannot carry before any file is written
        commands.log_path(job.stdout, flavour, "stdout")
        commands.log_path(job.stderr, flavour, "stderr")
    manifest = launcher.write_manifest(jobs, os.path.dirname(jobs[0].stdout) or jobs[0].workdir)
    script = _write_launcher(manifest)
    argv = array_argv(commands.tool(opts, "qsub"), jobs, opts, flavour, script)
    logs = task_logs(os.path.splitext(script)[0], flavour, len(jobs))
    launcher.create_private_files(logs)
    try:
        proc = commands.run_tool(opts, argv, env=dict(os.environ), retry_timeouts=False)
    except SchedulerCommandError as exc:
        if not exc.uncertain:  # refused: nothing will ever read them
            for path in [manifest, script, *logs]:
                os.unlink(path)
        raise
    try:
        return task_ids(parse_qsub_output(proc.stdout), len(jobs), flavour)
    except ParaschutError:
        raise SchedulerCommandError(argv, proc.returncode, proc.stdout + proc.stderr) from None
