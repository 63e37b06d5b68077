"""The paraschut error tree: every error a user sees, with a message meant for a person."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "ConfigError",
    "ConflictError",
    "IndexBusyError",
    "InvalidArgumentError",
    "InvalidFilterError",
    "InvalidJobError",
    "JobNotFoundError",
    "ParaschutError",
    "PluginLoadError",
    "SchedulerCommandError",
    "SchedulerNotFoundError",
    "UncertainSubmissionError",
    "UnknownExecutorError",
    "WaitTimeoutError",
]


class ParaschutError(Exception):
    """Base of every error paraschut raises on purpose."""


class ConfigError(ParaschutError):
    """A setting has a value paraschut cannot use."""


class UnknownExecutorError(ParaschutError):
    """No installed plugin answers for the requested executor name."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        listed = ", ".join(self.known) or "none"
        super().__init__(
            f"unknown executor {name!r}; registered executors: {listed} "
            f"(install a plugin such as paraschut-local, or check PARASCHUT_DISABLE_PLUGINS)"
        )


class PluginLoadError(ParaschutError):
    """An installed plugin could not be imported or registered."""

    def __init__(self, name: str, cause: BaseException) -> None:
        self.name = name
        super().__init__(f"paraschut plugin {name!r} failed to load: {type(cause).__name__}: {cause}")


class JobNotFoundError(ParaschutError):
    """The job index has no job (or batch) with the given id."""

    def __init__(self, batch_id: object, job_index: object = None) -> None:
        self.batch_id = batch_id
        self.job_index = job_index
        if job_index is None:
            super().__init__(f"no batch {batch_id} in the job index")
        else:
            super().__init__(f"no job {batch_id}/{job_index} in the job index")


class InvalidJobError(ParaschutError):
    """A job's metadata cannot be stored or used; names the offending field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message if field is None else f"field {field!r}: {message}")




class InvalidArgumentError(InvalidJobError):
    """An argument of an API function has a type or value it cannot take; names the argument.

    A subclass of InvalidJobError: a bad BatchID, JobIndex or spawn count was one before."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        ParaschutError.__init__(self, f"argument {argument}: {message}")
        self.field = argument


class InvalidFilterError(ParaschutError):
    """A Filter string is not an allowed SQLite condition over the job columns."""


class ConflictError(ParaschutError):
    """Another process changed the same fields of a job since this process read it."""

    def __init__(self, batch_id: int, job_index: int, fields: Sequence[str]) -> None:
        self.batch_id = batch_id
        self.job_index = job_index
        self.fields = list(fields)
        super().__init__(
            f"job {batch_id}/{job_index}: field(s) {', '.join(self.fields)} were changed by another "
            f"process since this one read the job; nothing was written. Read the job again "
            f"(get_job_info) and retry, or use psu.modify_job() for an atomic read-modify-write"
        )


class IndexBusyError(ParaschutError):
    """The job index stayed locked by another process for longer than the busy timeout."""


class SchedulerNotFoundError(ParaschutError):
    """A scheduler command is not installed (or not on PATH)."""

    def __init__(self, command: str, executor: str | None = None) -> None:
        self.command = command
        who = f" for the {executor!r} executor" if executor else ""
        super().__init__(
            f"scheduler command {command!r} not found{who}: is the scheduler's client installed "
            f"and on PATH (or set the executor's 'bin_dir' option)?"
        )


#: Characters of a scheduler's stderr kept in a SchedulerCommandError's message (all of it in .stderr).
MAX_DETAIL = 600


class SchedulerCommandError(ParaschutError):
    """A scheduler command failed; carries its argv, exit code and stderr.

    ``uncertain`` is True when the command may have done its work all the same: it timed out, it
    exited 0 but printed nothing readable, or its message says the answer was lost (a socket
    timeout). A submission that failed so may have queued the job.
    """

    def __init__(
        self, argv: Sequence[str], returncode: int | None, stderr: str, *, timed_out: bool = False,
        uncertain: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.timed_out = timed_out
        self.uncertain = uncertain or timed_out or returncode == 0
        what = "timed out" if timed_out else f"exited with {returncode}"
        # every line: the reason is often first ('unknown resource "pmem"') and a generic line
        # last ('Exiting.', 'Try "sbatch --help"'); capped so a flood stays one readable line
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        detail = " / ".join(lines) or "no message"
        if len(detail) > MAX_DETAIL:
            detail = detail[: MAX_DETAIL - 1] + "…"
        super().__init__(f"scheduler command {' '.join(self.argv)!r} {what}: {detail}")


class UncertainSubmissionError(SchedulerCommandError):
    """A submission command failed in a way that may have queued the jobs anyway (see ``uncertain``).

    The jobs (``jobs``: (BatchID, JobIndex) pairs) stay in ``submit`` without a cluster id and are not
    submitted again: a job that starts marks itself ``run`` with its id (``get_job_info(SetID=True)``);
    one the scheduler does not have goes back to init only when a person resets it.
    """

    def __init__(self, cause: SchedulerCommandError, jobs: Sequence[tuple[int, int]]) -> None:
        super().__init__(cause.argv, cause.returncode, cause.stderr, timed_out=cause.timed_out, uncertain=True)
        self.jobs = list(jobs)
        shown = ", ".join(f"{b}/{j}" for b, j in self.jobs[:5]) + (", ..." if len(self.jobs) > 5 else "")
        self.args = (
            f"{cause}; the scheduler may have queued {len(self.jobs)} job(s) ({shown}) anyway: they stay in "
            f"'submit' without a cluster id and will not be submitted again (a job that starts and calls "
            f"get_job_info(SetID=True) records its id); if the scheduler does not have them, reset them "
            f"to init ('paraschut reset BATCH JOB...')",
        )


class WaitTimeoutError(ParaschutError, TimeoutError):
    """``wait_jobs`` gave up: jobs were still queued or running when its ``Timeout`` passed.

    ``jobs`` lists them as (BatchID, JobIndex) pairs.
    """

    def __init__(self, jobs: Sequence[tuple[int, int]], timeout: float) -> None:
        self.jobs = sorted(jobs)
        shown = ", ".join(f"{b}/{j}" for b, j in self.jobs[:5]) + (", ..." if len(self.jobs) > 5 else "")
        super().__init__(f"{len(self.jobs)} job(s) still queued or running after {timeout:g} s: {shown}")
