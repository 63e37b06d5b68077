"""The local executor passes paraschut's executor contract, and its entry point loads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paraschut.manager import ExecutorManager
from paraschut.models import Executor
from paraschut.testing import ExecutorContract

from .local_helpers import cancel_everything


class TestLocalContract(ExecutorContract):
    executor_name = "local"

    @pytest.fixture
    def executor(self, tmp_path: Path) -> Iterator[Executor]:
        executor = Executor("local", {"spool_dir": str(tmp_path / "spool"), "max_workers": 2})
        yield executor
        cancel_everything(executor)


def test_entry_point_loads_and_local_is_listed() -> None:
    infos = ExecutorManager().executors
    assert "local" in infos
    assert infos["local"].name == "local"
