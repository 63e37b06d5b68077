"""Record types shared by the core and executor plugins (the plugin author's data contract)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from attrs import field, frozen, validators

__all__ = [
    "ACTIVE_STATES",
    "COMPLETE",
    "COLLECTED",
    "DONE_STATES",
    "FAILED",
    "INIT",
    "RUN",
    "SCHEDULER_STATES",
    "SPAWN",
    "SUBMIT",
    "UNKNOWN",
    "Executor",
    "ExecutorInfo",
    "JobSpec",
    "JobStatus",
    "LogPaths",
    "Submission",
]

# Job states of the index (users may add their own).
INIT = "init"
SUBMIT = "submit"
RUN = "run"
SPAWN = "spawn"
COMPLETE = "complete"
COLLECTED = "collected"
FAILED = "failed"
#: A status an executor reports for a code it does not recognise (never stored as a job state).
UNKNOWN = "unknown"

#: States in which a job is (supposed to be) on an executor's queue.
ACTIVE_STATES = frozenset({SUBMIT, RUN, SPAWN})
#: States that end a priority group's wait (the next group may start).
DONE_STATES = frozenset({COMPLETE, COLLECTED})
#: The states an executor may report in a JobStatus.
SCHEDULER_STATES = frozenset({SUBMIT, RUN, COMPLETE, FAILED, UNKNOWN})

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _str_mapping(value: Mapping[str, Any] | None) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in (value or {}).items()})


@frozen
class Executor:
    """An executor chosen by name, with its options (queue, resources defaults, bin_dir, ...).

    Options come from the config file's ``[executors.NAME]`` table merged with keyword
    arguments; a plugin reads them with :meth:`option`.
    """

    name: str = field(validator=validators.matches_re(_NAME))
    options: Mapping[str, Any] = field(factory=dict, converter=_frozen_mapping)

    def option(self, key: str, default: Any = None) -> Any:
        """Return one option, or ``default`` when it is not set."""
        return self.options.get(key, default)


@frozen
class ExecutorInfo:
    """What a plugin says about an executor it provides."""

    name: str = field(validator=validators.matches_re(_NAME))
    description: str = ""
    #: True when the plugin implements ``paraschut_submit_array``.
    supports_arrays: bool = False
    #: True when the executor itself creates each job's stdout and stderr readable by their owner
    #: only (0600) whatever the umask. Otherwise the core creates them empty and owner-only before
    #: submitting, since a scheduler keeps the mode of a log that exists (decision 24).
    creates_private_logs: bool = False


@frozen
class JobSpec:
    """One job (or one spawn of a job) to hand to a scheduler.

    ``env`` already holds the job's ``vars`` and the ``PARASCHUT_*`` variables the job needs to
    find itself in the index; a plugin passes it to the scheduler unchanged. ``stdout`` and
    ``stderr`` are absolute paths chosen by the core.
    """

    batch_id: int
    job_index: int
    name: str
    script: str
    workdir: str
    stdout: str
    stderr: str
    env: Mapping[str, str] = field(factory=dict, converter=_str_mapping)
    queue: str | None = None
    resources: Mapping[str, str] = field(factory=dict, converter=_str_mapping)
    spawn_id: int | None = None
    #: How many times this job was submitted before (0 for the first run).
    run: int = 0

    @property
    def key(self) -> str:
        """A unique, scheduler-safe token for this submission: ``psu<batch>_<job>[_s<spawn>]``."""
        spawn = "" if self.spawn_id is None else f"_s{self.spawn_id}"
        return f"psu{self.batch_id}_{self.job_index}{spawn}"


@frozen
class Submission:
    """What a scheduler answered to one submission."""

    cluster_id: str = field(converter=str)
    stdout: str | None = None
    stderr: str | None = None


@frozen
class LogPaths:
    """Where a submitted job's stdout and stderr are (or will be) written."""

    stdout: str | None
    stderr: str | None


@frozen
class JobStatus:
    """An executor's view of one job, by its cluster id.

    ``state`` is one of :data:`SCHEDULER_STATES`: ``submit`` (queued or held), ``run``,
    ``complete`` (left the queue with exit code 0), ``failed`` (non-zero exit, killed, timed out,
    cancelled: ``reason`` says which) or ``unknown`` (a code the plugin does not recognise;
    ``raw_state`` keeps it).
    """

    cluster_id: str = field(converter=str)
    state: str = field(validator=validators.in_(SCHEDULER_STATES))
    raw_state: str = ""
    exit_code: int | None = None
    reason: str | None = None
    host: str | None = None
    #: Anything else the scheduler said (used/requested resources, times): JSON-serialisable.
    #: ``started`` and ``ended``, when given as epoch seconds (floats), are when the job really
    #: started and ended: the core records them in the job's state history (the timeline).
    info: Mapping[str, Any] = field(factory=dict, converter=_frozen_mapping)

    @property
    def on_queue(self) -> bool:
        """True while the job is queued or running (not finished)."""
        return self.state in (SUBMIT, RUN, UNKNOWN)
