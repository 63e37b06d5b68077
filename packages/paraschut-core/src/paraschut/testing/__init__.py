"""Opt-in test helpers for plugin authors: the executor contract suite and job-script builders.

Use it from a plugin's tests::

    from paraschut.testing import ExecutorContract

    class TestMyExecutor(ExecutorContract):
        executor_name = "myexec"

        @pytest.fixture
        def executor(self):
            return Executor("myexec", {"queue": "debug"})
"""

from .contract import ExecutorContract, make_spec, wait_for_state, write_script
from .schedulers import require_scheduler

__all__ = ["ExecutorContract", "make_spec", "require_scheduler", "wait_for_state", "write_script"]
