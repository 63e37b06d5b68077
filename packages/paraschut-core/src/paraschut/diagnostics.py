"""What `paraschut plugins`, `config` and `doctor` report, as data (the command line prints it)."""

from __future__ import annotations

import os
import warnings
from typing import Any

from .config import Settings
from .db import NETWORK_FILESYSTEMS, filesystem_type
from .errors import ParaschutError
from .manager import ExecutorManager
from .plugins import failed_plugins, plugin_sources
from .session import Session

__all__ = ["config_report", "doctor_report", "executor_checks", "plugins_report"]


def plugins_report() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every registered executor with the distribution, version and module providing it, and the
    plugins that failed to load with their error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # failed plugins are returned instead
        manager = ExecutorManager()
    sources = plugin_sources(manager.pm)
    executors = [
        {"executor": name, "description": info.description, "supports_arrays": info.supports_arrays,
         **sources.get(name, {"distribution": None, "version": None, "module": None, "file": None})}
        for name, info in sorted(manager.executors.items())
    ]
    failed = {name: str(error) for name, error in sorted(failed_plugins(manager.pm).items())}
    return executors, failed


def config_report(settings: Settings) -> dict[str, Any]:
    """The effective settings, each with where it came from, and the config file used."""
    values = {key: {"value": getattr(settings, key), "source": source} for key, source in settings.sources.items()}
    path = settings.config_path
    return {
        "config_file": path, "config_file_exists": bool(path and os.path.isfile(path)), "settings": values,
        "executors": dict(settings.executors), "template": dict(settings.template),
    }


def executor_checks(session: Session, names: list[str] | None) -> dict[str, dict[str, Any]]:
    """For each executor: ok, and what answered or the error (the plugin's own cheap check)."""
    out: dict[str, dict[str, Any]] = {}
    for name in names or sorted(session.manager.executors):
        try:
            out[name] = {"ok": True, "detail": session.manager.check_scheduler(session.executor(name))}
        except ParaschutError as exc:
            out[name] = {"ok": False, "detail": str(exc)}
    return out


def doctor_report(session: Session, names: list[str] | None) -> dict[str, Any]:
    """The index's integrity, journal mode and file system, each executor's check, failed plugins,
    and the problems found (``ok`` when there are none)."""
    settings, index = session.settings, session.index
    fs = filesystem_type(settings.db)
    report: dict[str, Any] = {
        "index": {"path": settings.db, "integrity": index.integrity_check(), "journal_mode": index.journal_mode,
                  "filesystem": fs, "network_filesystem": fs in NETWORK_FILESYSTEMS, "tables": index.table_counts()},
        "default_executor": settings.executor,
        "executors": executor_checks(session, names),
        "failed_plugins": {n: str(e) for n, e in failed_plugins(session.manager.pm).items()},
    }
    problems = [f"integrity check: {report['index']['integrity']}"] if report["index"]["integrity"] != "ok" else []
    if fs in NETWORK_FILESYSTEMS and index.journal_mode == "wal":
        problems.append(f"journal mode wal on a network file system ({fs}): set journal_mode = delete")
    if settings.executor not in session.manager.executors:
        problems.append(f"the default executor {settings.executor!r} is not registered")
    problems += [f"executor {n!r}: {c['detail']}" for n, c in report["executors"].items() if not c["ok"]]
    problems += [f"plugin {n!r}: {msg}" for n, msg in report["failed_plugins"].items()]
    report.update(ok=not problems, problems=problems)
    return report
