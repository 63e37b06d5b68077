"""Fixtures for the local executor's tests: a private spool per test, and no job left running after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paraschut.manager import ExecutorManager
from paraschut.models import Executor

from .local_helpers import cancel_everything, local_manager


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def local_executor(spool_dir: Path) -> Iterator[Executor]:
    executor = Executor("local", {"spool_dir": str(spool_dir), "max_workers": 2, "kill_grace": 2})
    yield executor
    cancel_everything(executor)


@pytest.fixture
def manager() -> ExecutorManager:
    return local_manager()


@pytest.fixture
def jobdir(tmp_path: Path) -> Path:
    path = tmp_path / "jobs"
    path.mkdir()
    return path
