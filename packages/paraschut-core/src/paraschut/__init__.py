"""paraschut: PARAllel SCHeduling UTils. ``import paraschut as psu`` for the documented API."""

from __future__ import annotations

from .errors import (
    ConfigError,
    ConflictError,
    IndexBusyError,
    InvalidFilterError,
    InvalidJobError,
    JobNotFoundError,
    ParaschutError,
    PluginLoadError,
    SchedulerCommandError,
    SchedulerNotFoundError,
    UnknownExecutorError,
)
from .hookspecs import hookimpl, hookspec
from .models import Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission
from .plugins import get_plugin_manager

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConflictError",
    "Executor",
    "ExecutorInfo",
    "IndexBusyError",
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
    "UnknownExecutorError",
    "__version__",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
]
