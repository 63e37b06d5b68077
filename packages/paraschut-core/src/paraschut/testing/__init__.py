"""Opt-in test helpers for plugin authors: the executor contract suite, job-script builders, and
fault-injecting scheduler commands (:mod:`paraschut.testing.faults`).

Use it from a plugin's tests::

    from paraschut.testing import ExecutorContract

    class TestMyExecutor(ExecutorContract):
        executor_name = "myexec"

        @pytest.fixture
        def executor(self):
            return Executor("myexec", {"queue": "debug"})

and drive it through a scheduler that fails, hangs or prints garbage::

    from paraschut.testing import faults

    shims = faults.FaultyCommands(tmp_path / "shims", ["mysubmit", "mystat"], real="/opt/mysched/bin")
    executor = Executor("myexec", {"bin_dir": shims.bin_dir, "timeout": 2})
    shims.on("mysubmit", faults.real_then_hang())  # submitted, but the caller times out
"""

from . import faults
from .contract import ExecutorContract, make_spec, wait_for_state, write_script
from .faults import FaultyCommands
from .schedulers import require_scheduler

__all__ = [
    "ExecutorContract", "FaultyCommands", "faults", "make_spec", "require_scheduler", "wait_for_state", "write_script",
]
