"""Fixtures of the pbs tests: fake PBS commands and an executor manager."""

from __future__ import annotations

from pathlib import Path

import pytest

from paraschut.manager import ExecutorManager

from .fakes import Fake


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    monkeypatch.setenv("FAKE_PBS", str(tmp_path))
    return Fake(tmp_path)


@pytest.fixture
def manager() -> ExecutorManager:
    return ExecutorManager()
