"""The example plugin of docs/writing-a-plugin.md (examples/plugin) passes the executor contract.

It is loaded through pluggy directly (no pip install): the same plugin manager the core builds,
with the example's module registered under its entry-point name.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from paraschut import Executor
from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED
from paraschut.plugins import get_plugin_manager
from paraschut.testing import ExecutorContract, make_spec, wait_for_state

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin"
sys.path.insert(0, str(EXAMPLE / "src"))
from paraschut_bg import plugin  # noqa: E402


def _manager() -> ExecutorManager:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(plugin, name="bg")
    return ExecutorManager(pm)


class TestExamplePlugin(ExecutorContract):
    executor_name = "bg"
    timeout = 20.0

    @pytest.fixture
    def manager(self) -> ExecutorManager:
        return _manager()

    @pytest.fixture
    def executor(self, tmp_path: Path) -> Executor:
        return Executor("bg", {"state_dir": str(tmp_path / "state")})


def test_the_entry_point_names_the_plugin_module() -> None:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["paraschut"] == {"bg": "paraschut_bg.plugin"}
    assert plugin.__name__ == "paraschut_bg.plugin"


def test_summary_and_current_job_id(tmp_path: Path) -> None:
    manager, executor = _manager(), Executor("bg", {"state_dir": str(tmp_path / "state")})
    spec = make_spec(tmp_path / "jobs", 'echo "$PARASCHUT_BG_ID"; exit 3')
    sub = manager.submit(executor, spec)
    status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, 20)
    assert status is not None and (status.state, status.exit_code, status.reason) == (FAILED, 3, "exit code 3")
    assert Path(spec.stdout).read_text().strip() == sub.cluster_id  # the job knows its own id
    assert manager.current_job_id(executor, {"PARASCHUT_BG_ID": sub.cluster_id}) == sub.cluster_id
    summary = manager.summary(executor, sub.cluster_id)
    assert (summary["id"], summary["exit_code"]) == (sub.cluster_id, 3)
    assert manager.summary(executor, "bg_never_issued") == {}
