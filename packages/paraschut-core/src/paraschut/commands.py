"""Running scheduler commands for plugins: no shell, bounded time, retries on transient errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence

from .errors import SchedulerCommandError, SchedulerNotFoundError

__all__ = ["AMBIGUOUS_PATTERNS", "TRANSIENT_PATTERNS", "resolve", "run"]

#: stderr fragments that mean "try again later" on the schedulers we know.
TRANSIENT_PATTERNS: tuple[str, ...] = (
    "socket timed out",
    "timed out",
    "unable to contact slurm controller",
    "connection refused",
    "connect failure",
    "temporarily unavailable",
    "try again",
    "resource temporarily unavailable",
    "unable to contact qmaster",
    "can't connect to service",
    "got select error",
    "pbs_iff",
    "server is busy",
    "cannot connect to server",
    "problem loading jobs",
)

#: stderr fragments of failures after which the server may have acted all the same (the request
#: went out, the answer was lost): Slurm's "Socket timed out on send/recv operation", SGE's
#: "failed receiving gdi request response ... (got syncron message receive timeout error)".
AMBIGUOUS_PATTERNS: tuple[str, ...] = (
    "timed out",
    "timeout",
    "failed receiving gdi request",
    "cannot read reply",
    "end of file",
)


def resolve(command: str, bin_dir: str | None = None, executor: str | None = None) -> str:
    """Return the absolute path of ``command``: in ``bin_dir`` when it is set, else on PATH.

    With ``bin_dir`` set there is no fallback to PATH: on a machine with two schedulers,
    ``/usr/bin/qsub`` may well be the other one's.

    :raises SchedulerNotFoundError: the command is not there.
    """
    if bin_dir:
        candidate = os.path.join(bin_dir, command)
        if not os.access(candidate, os.X_OK):
            raise SchedulerNotFoundError(candidate, executor)
        return candidate
    found = shutil.which(command)
    if found is None:
        raise SchedulerNotFoundError(command, executor)
    return found


def _is_ambiguous(stderr: str) -> bool:
    text = stderr.lower()
    return any(pattern in text for pattern in AMBIGUOUS_PATTERNS)


def _is_transient(returncode: int | None, stderr: str, transient: Sequence[str]) -> bool:
    if returncode is None:  # timed out
        return True
    text = stderr.lower()
    return any(pattern in text for pattern in transient)


def run(
    argv: Sequence[str],
    *,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 0.5,
    transient: Sequence[str] = TRANSIENT_PATTERNS,
    ok_codes: Sequence[int] = (0,),
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    retry_timeouts: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a scheduler command (never through a shell) and return its completed process.

    A run that times out, or fails with stderr matching one of ``transient``, is retried up to
    ``retries`` more times with exponential backoff. Anything else fails at once. Pass
    ``retry_timeouts=False`` for commands that are not safe to repeat: a run that timed out, or
    failed with a message saying its answer was lost (:data:`AMBIGUOUS_PATTERNS`), is then raised
    at once with ``uncertain`` set (a ``qsub`` that timed out may have submitted the job). Output
    that is not UTF-8 is decoded with replacement characters, never an exception.

    :raises SchedulerNotFoundError: ``argv[0]`` does not exist.
    :raises SchedulerCommandError: the command failed (carries argv, exit code and stderr).
    """
    argv = [str(a) for a in argv]
    attempt = 0
    while True:
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                env=None if env is None else dict(env),
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            raise SchedulerNotFoundError(argv[0]) from None
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            error = SchedulerCommandError(argv, None, stderr or f"no answer within {timeout:g} s", timed_out=True)
            returncode: int | None = None
        else:
            if proc.returncode in ok_codes:
                return proc
            stderr = proc.stderr or proc.stdout
            error = SchedulerCommandError(argv, proc.returncode, stderr, uncertain=_is_ambiguous(stderr))
            returncode = proc.returncode
        if attempt >= retries or not _is_transient(returncode, stderr, transient):
            raise error
        if error.uncertain and not retry_timeouts:
            raise error
        time.sleep(backoff * (2**attempt))
        attempt += 1
