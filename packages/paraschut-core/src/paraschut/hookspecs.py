"""The plugin contract: every hook an executor plugin (or an observer) may implement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

from .models import Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("paraschut")
hookimpl = pluggy.HookimplMarker("paraschut")


@hookspec
def paraschut_register_executors() -> Sequence[ExecutorInfo]:
    """Declare the executors this plugin provides.

    Called once per process, the first time an executor is looked up; every plugin answers.

    :returns: the plugin's executors (an empty sequence when it provides none).
    """


@hookspec(firstresult=True)
def paraschut_submit(executor: Executor, job: JobSpec) -> Submission | None:
    """Submit one job (or one spawn of a job) to the executor's scheduler.

    Stops at first non-None result.

    :param executor: the executor chosen for the job, with its options.
    :param job: what to run: script, environment, log paths, queue and resources.
    :returns: the scheduler's id for the job, and the log paths when the scheduler chose them;
        ``None`` only when ``executor`` is not this plugin's.
    :raises SchedulerCommandError: the scheduler refused the job or could not be reached; the job
        must then not be on the scheduler.
    """


@hookspec(firstresult=True)
def paraschut_submit_array(executor: Executor, jobs: Sequence[JobSpec]) -> Sequence[Submission] | None:
    """Submit jobs that share a script and resources with as few scheduler calls as possible.

    Only called for executors whose :class:`ExecutorInfo` says ``supports_arrays``. Each job must
    find its own ``JobSpec.env`` in its environment when it runs.

    Stops at first non-None result.

    :param executor: the executor chosen for the jobs.
    :param jobs: the jobs, in the order their submissions are returned.
    :returns: one Submission per job, in order; ``None`` when ``executor`` is not this plugin's.
    :raises SchedulerCommandError: nothing of the array was submitted.
    """


@hookspec(firstresult=True)
def paraschut_status(executor: Executor, cluster_ids: Sequence[str]) -> Mapping[str, JobStatus] | None:
    """Report the state of many jobs with one scheduler call (batched: one call per poll).

    Jobs that already left the queue are resolved from the scheduler's records of finished jobs
    (accounting) where it keeps them, as ``complete`` or ``failed`` with the exit code.

    Stops at first non-None result.

    :param executor: the executor the jobs were submitted to.
    :param cluster_ids: the scheduler ids paraschut believes are queued or running.
    :returns: a mapping from cluster id to status for every id the scheduler knows; an id left out
        is unknown to the scheduler (neither queued nor recorded as finished). ``None`` only when
        ``executor`` is not this plugin's.
    :raises SchedulerCommandError: the scheduler could not be queried.
    """


@hookspec(firstresult=True)
def paraschut_wait(executor: Executor, cluster_ids: Sequence[str], timeout: float) -> bool | None:
    """Block until none of these jobs is queued or running any more, or until ``timeout`` passes.

    Optional, for executors that can tell cheaply and at once (the local executor reads its own
    spool): ``wait_jobs`` then notices the end of the last job within milliseconds instead of at
    its next poll, and polls the scheduler only every ``status_interval`` meanwhile. Answer from
    what the executor already knows, without a scheduler command per check; the poll that follows
    (``paraschut_status``) records how the jobs ended. Without it, ``wait_jobs`` sleeps
    ``status_interval`` between polls.

    Stops at first non-None result.

    :param executor: the executor the jobs were submitted to.
    :param cluster_ids: the jobs to wait for (an id the executor does not know counts as ended).
    :param timeout: at most this many seconds to block.
    :returns: ``True`` when none of them is queued or running any more, ``False`` when the timeout
        passed first; ``None`` when ``executor`` is not this plugin's.
    :raises SchedulerCommandError: the executor could not be asked.
    """


@hookspec(firstresult=True)
def paraschut_find_submitted(
    executor: Executor, jobs: Sequence[JobSpec], since: float
) -> Mapping[str, str] | None:
    """Find which of these submissions the scheduler has, by their stdout path (unique to a job's run).

    Asked after a submitter died between handing jobs to the scheduler and recording its answer
    (a killed ``submit_jobs``), and about jobs held after an uncertain submission (a ``qsub`` that
    timed out or answered without an id), once the executor's ``timeout`` has passed: a job found
    is recorded with its id, a job not found is submitted again. So answer only from what the
    scheduler knows (queued, running, or finished jobs it still remembers), and answer ``None``
    rather than guess. Optional: without it, a dead submitter's jobs are marked failed for the
    user to check, and held jobs stay held.

    Stops at first non-None result.

    :param executor: the executor the jobs were being submitted to.
    :param jobs: the submissions in doubt, each with the ``stdout`` it was submitted with.
    :param since: when (epoch seconds) they were about to be submitted: a record of the same name
        older than that is an earlier run's.
    :returns: ``{JobSpec.key: cluster id}`` for the jobs the scheduler has (an empty mapping when it
        has none of them); ``None`` when ``executor`` is not this plugin's or it cannot tell.
    :raises SchedulerCommandError: the scheduler could not be queried.
    """


@hookspec(firstresult=True)
def paraschut_cancel(executor: Executor, cluster_ids: Sequence[str]) -> Sequence[str] | None:
    """Cancel jobs (qdel), ending the whole process tree of a running job.

    Stops at first non-None result.

    :param executor: the executor the jobs were submitted to.
    :param cluster_ids: the jobs to cancel; ids the scheduler no longer knows are ignored.
    :returns: the ids the scheduler accepted to cancel; ``None`` only when ``executor`` is not this
        plugin's.
    :raises SchedulerCommandError: the scheduler could not be reached.
    """


@hookspec(firstresult=True)
def paraschut_log_paths(executor: Executor, job: JobSpec, cluster_id: str) -> LogPaths | None:
    """Find where a submitted job's stdout and stderr are written (log discovery).

    Asked by ``print_log`` when the file recorded at submission (the ``Submission``'s paths, else
    the ``JobSpec``'s) does not exist: a scheduler that chose its own names says where they are.
    ``job`` is rebuilt from the index (ids, name, script, the recorded stdout/stderr and spawn).

    Stops at first non-None result.

    :param executor: the executor the job was submitted to.
    :param job: the job as it was submitted.
    :param cluster_id: the scheduler's id for the job.
    :returns: the paths (either may be None when unknown); ``None`` when ``executor`` is not this
        plugin's.
    """


@hookspec(firstresult=True)
def paraschut_job_summary(executor: Executor, cluster_id: str) -> Mapping[str, Any] | None:
    """Return the scheduler's own summary of one job as a dict (what ``get_qstat`` shows).

    Stops at first non-None result.

    :param executor: the executor the job runs on.
    :param cluster_id: the scheduler's id for the job.
    :returns: a JSON-serialisable dict (empty when the scheduler no longer knows the job);
        ``None`` when ``executor`` is not this plugin's.
    :raises SchedulerCommandError: the scheduler could not be queried.
    """


@hookspec(firstresult=True)
def paraschut_current_job_id(executor: Executor, environ: Mapping[str, str]) -> str | None:
    """Tell a running job its own cluster id from its environment (PBS_JOBID, JOB_ID, ...).

    Stops at first non-None result.

    :param executor: the executor the job was submitted to.
    :param environ: the job's environment variables.
    :returns: the id, or ``None`` when ``executor`` is not this plugin's or the variable is unset.
    """


@hookspec(firstresult=True)
def paraschut_check_scheduler(executor: Executor) -> str | None:
    """Check that the executor's scheduler answers (for ``paraschut doctor``), cheaply.

    Stops at first non-None result.

    :param executor: the executor to check, with its options.
    :returns: a one-line description of what answered (a version, a server, a queue count);
        ``None`` when ``executor`` is not this plugin's.
    :raises SchedulerNotFoundError: the scheduler's commands are not installed.
    :raises SchedulerCommandError: the scheduler did not answer.
    """


@hookspec
def paraschut_job_state_changed(batch_id: int, job_index: int, old: str | None, new: str) -> None:
    """Observe a job's state change that this process made (audit, notifications).

    Called after the change is committed, for: a job added (``old`` None), claimed for
    submission (init -> submit), returned to init (a refused submission, a dead submitter's
    claim, qdel, set_batch_field/set_job_field), seen running or finished by a poll, set by the
    job itself (update_job, set_complete), spawning and its last spawn completing. Removals are
    not state changes. Changes other processes make are theirs to report; the index's
    ``job_events`` table holds every change whoever made it.

    Every plugin is called; exceptions are reported and ignored.

    :param batch_id: the job's batch.
    :param job_index: the job's index in its batch.
    :param old: the previous state (``None`` for a new job).
    :param new: the new state.
    :returns: nothing.
    """
