"""Folders and files paraschut creates: readable and writable by their owner only (0700 and 0600).

The job index, its batch folders, scripts, data and logs say what a user runs and on what data,
so nothing paraschut creates is readable by other users, whatever the umask. Existing folders and
files keep their mode: paraschut never widens or narrows what the user set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "create_private_files", "make_private_dirs"]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private_dirs(path: str) -> str:
    """Create ``path`` and each missing parent with mode 0700; returns ``path``.

    ``os.makedirs(path, mode=0o700)`` gives only the last folder that mode: since Python 3.7 the
    parents it creates get ``0777 & ~umask`` (0755 under umask 022).
    """
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:  # another process made it meanwhile
            if not os.path.isdir(folder):
                raise
    return path


def create_private_files(paths: Iterable[str], mode: int = PRIVATE_FILE) -> None:
    """Create each file empty with ``mode`` (default 0600) unless it exists.

    A scheduler writing a job's log into an existing file keeps that file's mode, while one it
    creates itself gets the scheduler's umask (SGE and Slurm make them 0644): creating the logs
    before submitting keeps them private.
    """
    for path in paths:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        except FileExistsError:
            pass
