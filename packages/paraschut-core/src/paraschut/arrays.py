"""Job arrays for plugins: a manifest of the array's jobs, and the launcher each array task runs.

A scheduler array runs one command N times with a task index in the environment. paraschut's jobs
each have their own environment, working directory and log files, so a plugin writes a manifest
(one entry per job, JSON) and submits ``python -m paraschut.arrays MANIFEST`` as the array's
command; each task reads its entry, sets up its environment and logs, and becomes the job's
script (``execve``), so the scheduler sees and signals the job itself.

Usage from a plugin::

    manifest = arrays.write_manifest(jobs, directory)
    argv = [*scheduler_array_args, *arrays.task_command(manifest)]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence

from .errors import ParaschutError
from .files import create_private_files, make_private_dirs
from .models import JobSpec

__all__ = ["INDEX_VARIABLES", "create_private_files", "main", "read_entry", "task_command", "write_manifest"]

#: Where schedulers put an array task's index (first one set wins).
INDEX_VARIABLES = ("SGE_TASK_ID", "PBS_ARRAY_INDEX", "PBS_ARRAYID", "SLURM_ARRAY_TASK_ID", "PARASCHUT_TASK_ID")


def write_manifest(jobs: Sequence[JobSpec], directory: str) -> str:
    """Write the array's jobs (entry i is the task with index ``first + i``) and return its path."""
    make_private_dirs(directory)
    entries = [
        {"script": j.script, "workdir": j.workdir, "stdout": j.stdout, "stderr": j.stderr, "env": dict(j.env)}
        for j in jobs
    ]
    fd, path = tempfile.mkstemp(prefix="array-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(entries, out)
    return path


def task_command(manifest: str, first: int = 1, python: str | None = None) -> list[str]:
    """The command every array task runs: this Python, this module, the manifest, the first index."""
    return [python or sys.executable, "-m", "paraschut.arrays", "--first", str(first), manifest]


def task_index(environ: Mapping[str, str]) -> int:
    """The running task's index, from the scheduler's variable."""
    for name in INDEX_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    raise ParaschutError(f"no array task index in the environment (looked for {', '.join(INDEX_VARIABLES)})")


def read_entry(manifest: str, index: int, first: int = 1) -> dict[str, object]:
    """The manifest entry of task ``index``."""
    with open(manifest, encoding="utf-8") as fh:
        entries = json.load(fh)
    position = index - first
    if not 0 <= position < len(entries):
        raise ParaschutError(f"array task {index} is outside {manifest} ({len(entries)} tasks from {first})")
    return dict(entries[position])


def _become(entry: Mapping[str, object]) -> None:
    """Redirect stdout/stderr to the job's logs, enter its workdir and exec its script."""
    for fd, key in ((1, "stdout"), (2, "stderr")):
        target = os.open(str(entry[key]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    os.chdir(str(entry["workdir"]))
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in dict(entry["env"]).items()})  # type: ignore[call-overload]
    script = str(entry["script"])
    os.execve(script, [script], env)  # noqa: S606 - the job itself, never through a shell


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m paraschut.arrays [--first N] MANIFEST``: become this task's job."""
    parser = argparse.ArgumentParser(prog="paraschut.arrays", description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=1, help="the index of the manifest's first entry")
    parser.add_argument("manifest")
    args = parser.parse_args(argv)
    try:
        entry = read_entry(args.manifest, task_index(os.environ), args.first)
        _become(entry)
    except (ParaschutError, OSError) as exc:
        print(f"paraschut.arrays: {exc}", file=sys.stderr)
        return 127
    return 0  # pragma: no cover - execve does not return


if __name__ == "__main__":
    raise SystemExit(main())
