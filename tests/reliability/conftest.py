"""Reliability fixtures: a fresh job index per test that worker processes inherit through the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paraschut.session import reset_sessions


@pytest.fixture
def index(index_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """index_env (PARASCHUT_DB=<home>/jobs.sqlite, PARASCHUT_JOB_DIR=<home>/jobs) with the file executor
    as default and no session cached before or after the test; yields ``<home>``.

    Worker processes started with this process's environment use the same index.
    """
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "file")
    reset_sessions()
    yield index_env
    reset_sessions()
