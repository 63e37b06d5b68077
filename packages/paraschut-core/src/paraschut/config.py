"""Settings: function argument > environment > config file > default, each value with its source."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attrs import field, frozen

from .errors import ConfigError
from .models import Executor

__all__ = ["Settings", "config_file", "load_settings", "resolve_executor"]

ENV = {
    "db": "PARASCHUT_DB",
    "job_dir": "PARASCHUT_JOB_DIR",
    "executor": "PARASCHUT_EXECUTOR",
    "max_jobs": "PARASCHUT_MAX_JOBS",
    "journal_mode": "PARASCHUT_JOURNAL_MODE",
    "busy_timeout": "PARASCHUT_BUSY_TIMEOUT",
    "status_interval": "PARASCHUT_STATUS_INTERVAL",
    "missing_grace": "PARASCHUT_MISSING_GRACE",
}
JOURNAL_MODES = ("auto", "wal", "delete", "truncate", "persist")


def _home() -> Path:
    return Path(os.path.expanduser("~")) / ".paraschut"


def _defaults() -> dict[str, Any]:
    return {
        "db": str(_home() / "jobs.sqlite"),
        "job_dir": str(_home() / "jobs"),
        "executor": "local",
        "max_jobs": None,
        "journal_mode": "auto",
        "busy_timeout": 30.0,
        "status_interval": 5.0,
        "missing_grace": 30.0,
    }


def _int_or_none(key: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"{key} must be a whole number, not {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a whole number, not {value!r}") from None
    if number < 1:
        raise ConfigError(f"{key} must be at least 1, not {number}")
    return number


def _float(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number of seconds, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number of seconds, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"{key} must not be negative, not {number}")
    return number


def _journal(value: Any) -> str:
    mode = str(value).lower()
    if mode not in JOURNAL_MODES:
        raise ConfigError(f"journal_mode must be one of {', '.join(JOURNAL_MODES)}, not {value!r}")
    return mode


@frozen
class Settings:
    """The effective configuration; ``sources`` says where each value came from."""

    db: str = field(converter=lambda p: os.path.abspath(os.path.expanduser(str(p))))
    job_dir: str = field(converter=lambda p: os.path.abspath(os.path.expanduser(str(p))))
    executor: str
    max_jobs: int | None
    journal_mode: str
    busy_timeout: float
    status_interval: float
    missing_grace: float
    executors: Mapping[str, Mapping[str, Any]] = field(factory=dict)
    template: Mapping[str, Any] = field(factory=dict)
    sources: Mapping[str, str] = field(factory=dict)
    config_path: str | None = None


def config_file() -> Path | None:
    """The config file in use: $PARASCHUT_CONFIG, ./paraschut.toml, ~/.config/paraschut/config.toml."""
    explicit = os.environ.get("PARASCHUT_CONFIG")
    if explicit:
        return Path(explicit)
    for candidate in (Path("paraschut.toml"), Path.home() / ".config" / "paraschut" / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def _read_file(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    unknown = set(data) - set(ENV) - {"executors", "template"}
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(sorted(unknown))}")
    if not isinstance(data.get("template", {}), dict):
        raise ConfigError(f"config file {path}: template must be a table, not {data['template']!r}")
    executors = data.get("executors", {})
    if not isinstance(executors, dict):
        raise ConfigError(f"config file {path}: executors must be a table of tables, not {executors!r}")
    for name, options in executors.items():
        if not isinstance(options, dict):
            raise ConfigError(f"config file {path}: executors.{name} must be a table, not {options!r}")
    return data


_CACHE: dict[tuple[Any, ...], Settings] = {}


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; keyword arguments (not None) override everything else.

    Without overrides the result is cached until the environment or the config file changes.
    """
    if any(v is not None for v in overrides.values()):
        return _build(**overrides)
    path = config_file()
    try:
        stamp = path.stat().st_mtime_ns if path is not None else None
    except OSError:
        stamp = None
    key = (tuple(os.environ.get(v) for v in ENV.values()), str(path), stamp, os.getcwd())
    cached = _CACHE.get(key)
    if cached is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        cached = _CACHE[key] = _build()
    return cached


def _build(**overrides: Any) -> Settings:
    path = config_file()
    from_file = _read_file(path)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, default in _defaults().items():
        if overrides.get(key) is not None:
            values[key], sources[key] = overrides[key], "argument"
        elif os.environ.get(ENV[key]):
            values[key], sources[key] = os.environ[ENV[key]], f"environment {ENV[key]}"
        elif key in from_file:
            values[key], sources[key] = from_file[key], f"config file {path}"
        else:
            values[key], sources[key] = default, "default"
    return Settings(
        db=values["db"],
        job_dir=values["job_dir"],
        executor=str(values["executor"]),
        max_jobs=_int_or_none("max_jobs", values["max_jobs"]),
        journal_mode=_journal(values["journal_mode"]),
        busy_timeout=_float("busy_timeout", values["busy_timeout"]),
        status_interval=_float("status_interval", values["status_interval"]),
        missing_grace=_float("missing_grace", values["missing_grace"]),
        executors=dict(from_file.get("executors", {})),
        template=dict(from_file.get("template", {})),
        sources=sources,
        config_path=str(path) if path else None,
    )


def resolve_executor(value: Executor | str | None, settings: Settings) -> Executor:
    """Turn an ``Executor=`` argument (name, object or None) into an Executor with its options.

    Options: config file ``[executors.NAME]`` < the object's own options; the index path and job
    dir are always added as ``db`` and ``job_dir``.
    """
    own: dict[str, Any]
    if value is None:
        name, own = settings.executor, {}
    elif isinstance(value, str):
        name, own = value, {}
    elif isinstance(value, Executor):
        name, own = value.name, dict(value.options)
    else:
        raise ConfigError(f"Executor must be a name or a paraschut.Executor, not {type(value).__name__}")
    options = {"db": settings.db, "job_dir": settings.job_dir}
    options.update(settings.executors.get(name, {}))
    options.update(own)
    try:
        return Executor(name, options)
    except ValueError as exc:
        raise ConfigError(f"invalid executor name {name!r}: {exc}") from None
