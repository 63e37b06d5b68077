"""The ``pbs`` entry point loads, and its executor is listed by the core."""

from __future__ import annotations

import importlib.metadata

from paraschut.manager import ExecutorManager
from paraschut.models import Executor
from paraschut.plugins import ENTRY_POINT_GROUP, plugin_sources


def test_entry_point_loads() -> None:
    (entry,) = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "pbs"]
    assert entry.value == "paraschut_pbs.plugin"
    assert entry.load().paraschut_register_executors()[0].name == "pbs"


def test_pbs_is_a_registered_executor() -> None:
    manager = ExecutorManager()
    assert "pbs" in manager.executors
    assert plugin_sources(manager.pm)["pbs"]["distribution"] == "paraschut-pbs"


def test_other_executors_are_not_answered() -> None:
    from paraschut_pbs import plugin

    other = Executor("local")
    assert plugin.paraschut_status(executor=other, cluster_ids=["1"]) is None
    assert plugin.paraschut_cancel(executor=other, cluster_ids=["1"]) is None
    assert plugin.paraschut_job_summary(executor=other, cluster_id="1") is None
    assert plugin.paraschut_current_job_id(executor=other, environ={"PBS_JOBID": "1"}) is None
    assert plugin.paraschut_current_job_id(executor=Executor("pbs"), environ={"PBS_JOBID": "5.s"}) == "5.s"
    assert plugin.paraschut_current_job_id(executor=Executor("pbs"), environ={}) is None
