"""Job arrays on Grid Engine: one ``qsub -t 1-N`` for many jobs; task ``i`` of job ``N`` is ``N.i``.

Every task runs ``python -m paraschut.arrays`` (see :mod:`paraschut.arrays`) on a manifest of the
jobs, written next to the first job's stdout: the task finds its job by ``SGE_TASK_ID``, sets up
that job's environment, working directory and logs, and becomes its script. qstat lists an
array's running tasks one by one and its pending ones as ranges (``3,4,8-12:1``); qacct has one
record per task that ran (``taskid``); ``qdel N.i`` deletes one task; a task sees ``JOB_ID`` and
``SGE_TASK_ID``. The plugin's status, cancel, summary and current-id hooks all speak ``N.i``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from paraschut import arrays as launcher
from paraschut.commands import run
from paraschut.errors import ParaschutError, SchedulerCommandError
from paraschut.models import Executor, JobSpec

from . import commands
from .parse import parse_qsub

__all__ = ["array_ids", "qsub_array_argv", "submit_array"]


def qsub_array_argv(qsub: str, executor: Executor, jobs: Sequence[JobSpec], manifest: str,
                    python: str | None = None) -> list[str]:
    """The ``qsub -t 1-N`` command line of an array: task ``i`` runs ``jobs[i-1]`` from ``manifest``.

    The tasks run ``python -m paraschut.arrays`` as a binary (``-b y -shell n``: exec'd, no shell
    parses the paths), which sets up each job's environment, workdir and logs; SGE's own log of
    task ``i`` (``MANIFEST.i.log``, launcher errors only) is next to the manifest.
    """
    queue, resources = commands.placement(executor, jobs[0])
    log = commands.path(f"{os.path.splitext(manifest)[0]}.$TASK_ID.log")
    argv = [qsub, "-terse", "-t", f"1-{len(jobs)}", "-N", commands.job_name(jobs[0]), "-o", log, "-j", "y",
            "-wd", jobs[0].workdir, "-b", "y", "-shell", "n", *queue, *resources]
    argv += [str(a) for a in executor.option("extra_args") or ()]
    return [*argv, *launcher.task_command(manifest, first=1, python=python)]


def array_ids(number: str, count: int) -> list[str]:
    """The cluster ids of an array's tasks: ``N.1`` ... ``N.count``."""
    return [f"{number}.{task}" for task in range(1, count + 1)]


def submit_array(executor: Executor, jobs: Sequence[JobSpec]) -> list[str]:
    """Submit jobs as one array (one ``qsub -t``); returns the tasks' ids, ``N.1`` to ``N.len(jobs)``.

    The manifest goes next to the first job's stdout. A ``qsub`` that timed out is not retried.

    :raises SchedulerCommandError: qsub refused the array (nothing was submitted).
    """
    commands.check_paths(jobs)  # before the manifest is written
    manifest = launcher.write_manifest(jobs, os.path.dirname(jobs[0].stdout) or jobs[0].workdir)
    # SGE creates a log it does not find with its own umask (0644): make the tasks' logs owner-only first
    stem = os.path.splitext(manifest)[0]
    logs = [f"{stem}.{task}.log" for task in range(1, len(jobs) + 1)]
    launcher.create_private_files(logs)
    argv = qsub_array_argv(commands.binary(executor, "qsub"), executor, jobs, manifest)
    try:
        proc = run(argv, timeout=float(executor.option("timeout", 60)), retries=int(executor.option("retries", 3)),
                   transient=commands.TRANSIENT, env=commands.command_env(executor), retry_timeouts=False)
    except SchedulerCommandError as exc:
        if not exc.uncertain:  # refused: nothing will ever read them
            for path in [manifest, *logs]:
                os.unlink(path)
        raise
    try:
        return array_ids(parse_qsub(proc.stdout), len(jobs))
    except ParaschutError:  # no job number in its output
        raise SchedulerCommandError(argv, proc.returncode, proc.stdout + proc.stderr) from None
