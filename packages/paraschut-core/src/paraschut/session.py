"""A process's working set: settings, the open job index and the executor manager, cached per process."""

from __future__ import annotations

import os
from typing import Any

from attrs import define, field

from .config import Settings, load_settings, resolve_executor
from .db import JobIndex
from .files import make_private_dirs
from .manager import ExecutorManager
from .models import Executor

__all__ = ["Session", "get_session", "reset_sessions"]

_INDEXES: dict[tuple[int, str, str, float], JobIndex] = {}
_MANAGERS: dict[tuple[int, str], ExecutorManager] = {}


@define
class Session:
    """What one API call works with."""

    settings: Settings
    index: JobIndex
    manager: ExecutorManager
    #: batch folders already looked up during this call
    _dirs: dict[int, str] = field(factory=dict)
    _logs: dict[int, str] = field(factory=dict)

    def executor(self, value: Executor | str | None = None) -> Executor:
        """Resolve an ``Executor=`` argument against the settings."""
        return resolve_executor(value, self.settings)

    def batch_dir(self, batch_id: int) -> str:
        """The folder of a batch: recorded at creation, else ``<job_dir>/<BatchID>``."""
        if batch_id not in self._dirs:
            row = self.index.batch(batch_id)
            if row is not None and row["job_dir"]:
                self._dirs[batch_id] = str(row["job_dir"])
            else:
                self._dirs[batch_id] = os.path.join(self.settings.job_dir, str(batch_id))
        return self._dirs[batch_id]

    def logs_dir(self, batch_id: int) -> str:
        """The batch's ``logs`` folder, created (owner only) on first use in this call."""
        if batch_id not in self._logs:
            path = os.path.join(self.batch_dir(batch_id), "logs")
            make_private_dirs(path)
            self._logs[batch_id] = path
        return self._logs[batch_id]


def get_session(**overrides: Any) -> Session:
    """The session for the current settings (one open index per file and process)."""
    settings = load_settings(**overrides)
    pid = os.getpid()
    key = (pid, settings.db, settings.journal_mode, settings.busy_timeout)
    index = _INDEXES.get(key)
    if index is None:
        index = _INDEXES[key] = JobIndex(settings.db, settings.journal_mode, settings.busy_timeout)
    disabled = os.environ.get("PARASCHUT_DISABLE_PLUGINS", "")
    manager = _MANAGERS.get((pid, disabled))
    if manager is None:
        manager = _MANAGERS[(pid, disabled)] = ExecutorManager()
    return Session(settings, index, manager)


def reset_sessions() -> None:
    """Forget cached indexes and plugin managers (tests, or after changing plugins)."""
    pid = os.getpid()
    for key, index in list(_INDEXES.items()):
        if key[0] == pid:  # never close a connection inherited from a parent process
            index.close()
    _INDEXES.clear()
    _MANAGERS.clear()
