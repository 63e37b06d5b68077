"""paraschut: PARAllel SCHeduling UTils. ``import paraschut as psu`` for the documented API."""

from __future__ import annotations

from .api import (
    get_queue,
    periodic_submitter,
    print_log,
    qdel_batch,
    qdel_job,
    remove_batch,
    remove_batch_by_state,
    set_batch_field,
    set_job_field,
    submit_jobs,
    submit_one_batch,
    submit_one_job,
    wait_jobs,
)
from .errors import (
    ConfigError,
    ConflictError,
    IndexBusyError,
    InvalidArgumentError,
    InvalidFilterError,
    InvalidJobError,
    JobNotFoundError,
    ParaschutError,
    PluginLoadError,
    SchedulerCommandError,
    SchedulerNotFoundError,
    UncertainSubmissionError,
    UnknownExecutorError,
    WaitTimeoutError,
)
from .hookspecs import hookimpl, hookspec
from .models import Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission
from .plugins import get_plugin_manager
from .preparation import (
    add_batch_to_queue,
    add_job_to_queue,
    generate_data,
    generate_script,
    get_job_template,
)
from .runtime import (
    get_job_info,
    get_qstat,
    locked_job,
    modify_job,
    set_complete,
    spawn_complete,
    spawn_get_info,
    spawn_resubmit,
    spawn_submit,
    update_job,
)
from .timeline import get_timeline, plot_timeline

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConflictError",
    "Executor",
    "ExecutorInfo",
    "IndexBusyError",
    "InvalidArgumentError",
    "InvalidFilterError",
    "InvalidJobError",
    "JobNotFoundError",
    "JobSpec",
    "JobStatus",
    "LogPaths",
    "ParaschutError",
    "PluginLoadError",
    "SchedulerCommandError",
    "SchedulerNotFoundError",
    "Submission",
    "UncertainSubmissionError",
    "UnknownExecutorError",
    "WaitTimeoutError",
    "__version__",
    "add_batch_to_queue",
    "add_job_to_queue",
    "generate_data",
    "generate_script",
    "get_job_info",
    "get_job_template",
    "get_qstat",
    "get_queue",
    "get_timeline",
    "locked_job",
    "modify_job",
    "periodic_submitter",
    "plot_timeline",
    "print_log",
    "qdel_batch",
    "qdel_job",
    "remove_batch",
    "remove_batch_by_state",
    "set_batch_field",
    "set_complete",
    "set_job_field",
    "spawn_complete",
    "spawn_get_info",
    "spawn_resubmit",
    "spawn_submit",
    "submit_jobs",
    "submit_one_batch",
    "submit_one_job",
    "update_job",
    "wait_jobs",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
]


def __getattr__(name: str) -> object:
    """``psu.ClusterID``: the running job's own cluster id (the original's module attribute)."""
    if name == "ClusterID":
        from .runtime import current_cluster_id

        return current_cluster_id()
    raise AttributeError(f"module 'paraschut' has no attribute {name!r}")
