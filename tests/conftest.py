"""Shared test fixtures: an isolated job index per test (absent schedulers: paraschut.testing.require_scheduler)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def index_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh job index and job dir for this test, set through the environment."""
    home = tmp_path / "psu"
    home.mkdir()
    os.chmod(tmp_path, 0o755)
    monkeypatch.setenv("PARASCHUT_DB", str(home / "jobs.sqlite"))
    monkeypatch.setenv("PARASCHUT_JOB_DIR", str(home / "jobs"))
    monkeypatch.setenv("PARASCHUT_CONFIG", str(home / "none.toml"))
    monkeypatch.setenv("PARASCHUT_STATUS_INTERVAL", "0")  # every poll asks the executor
    monkeypatch.setenv("PARASCHUT_MISSING_GRACE", "0")  # an absent job is missing at once
    monkeypatch.delenv("PARASCHUT_EXECUTOR", raising=False)
    monkeypatch.delenv("PARASCHUT_MAX_JOBS", raising=False)
    for var in ("PARASCHUT_BATCH_ID", "PARASCHUT_JOB_INDEX", "PARASCHUT_SPAWN_ID", "PARASCHUT_SPAWN_COUNT"):
        monkeypatch.delenv(var, raising=False)
    yield home
    from paraschut.session import reset_sessions

    reset_sessions()


@pytest.fixture
def time_zone() -> Iterator[Callable[[str], None]]:
    """Switch this process's local time zone (``TZ``, then ``time.tzset()``); restored afterwards."""
    before = os.environ.get("TZ")

    def switch(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield switch
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()
