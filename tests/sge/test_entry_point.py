"""The installed distribution's entry point loads and registers the ``sge`` executor."""

from __future__ import annotations

import importlib.metadata

from paraschut.manager import ExecutorManager
from paraschut.plugins import ENTRY_POINT_GROUP


def test_entry_point_is_declared_and_loads() -> None:
    (entry,) = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "sge"]
    assert entry.value == "paraschut_sge.plugin"
    assert entry.load().NAME == "sge"


def test_sge_is_listed_by_the_executor_manager() -> None:
    info = ExecutorManager().executors["sge"]
    assert info.name == "sge" and info.supports_arrays
