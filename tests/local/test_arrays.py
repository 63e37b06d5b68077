"""Array submission on the local executor: many jobs queued in one spool transaction, each with its own environment."""

from __future__ import annotations

from pathlib import Path

from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, Executor
from paraschut.testing import make_spec

from .local_helpers import wait_done


def test_local_executor_supports_arrays(manager: ExecutorManager, local_executor: Executor) -> None:
    assert manager.supports_arrays(local_executor)


def test_an_array_runs_every_job_with_its_own_environment(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    out = jobdir / "seen"
    specs = [
        make_spec(jobdir, f'echo "$WHO" > {out}.{i}', index=i, env={"WHO": f"job {i}"}) for i in range(6)
    ]
    subs = manager.submit_array(local_executor, specs)
    assert len({s.cluster_id for s in subs}) == 6
    statuses = wait_done(manager, local_executor, [s.cluster_id for s in subs])
    assert {st.state for st in statuses.values()} == {COMPLETE}
    assert [Path(f"{out}.{i}").read_text().strip() for i in range(6)] == [f"job {i}" for i in range(6)]
