"""Slots: never more than max_workers CPUs in use, across every submitting process; FIFO; sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from paraschut.manager import ExecutorManager
from paraschut.models import FAILED, Executor
from paraschut.testing import make_spec

from .local_helpers import wait_done


def _recording_body(events: Path, weight: int = 1, seconds: float = 0.3) -> str:
    """A job that appends "<time> +weight" when it starts and "<time> -weight" when it ends."""
    return (
        f'echo "$(date +%s.%N) {weight}" >> {events}\n'
        f"sleep {seconds}\n"
        f'echo "$(date +%s.%N) -{weight}" >> {events}'
    )


def _peak_usage(events: Path) -> tuple[int, int]:
    """(largest number of CPUs in use at once, number of events) from an events file."""
    moments = sorted(
        (float(when), int(delta)) for when, delta in (line.split() for line in events.read_text().splitlines())
    )
    level = peak = 0
    for _, delta in moments:
        level += delta
        peak = max(peak, level)
    return peak, len(moments)


def test_eight_jobs_never_exceed_two_slots(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    events = jobdir / "events.txt"
    ids = [
        manager.submit(local_executor, make_spec(jobdir, _recording_body(events), index=i)).cluster_id
        for i in range(8)
    ]
    statuses = wait_done(manager, local_executor, ids)
    assert {s.state for s in statuses.values()} == {"complete"}
    peak, count = _peak_usage(events)
    assert count == 16
    assert peak <= 2


def test_a_two_cpu_job_runs_alone(manager: ExecutorManager, local_executor: Executor, jobdir: Path) -> None:
    events = jobdir / "events.txt"
    ids = []
    for i, cpus in enumerate([1, 1, 2, 1, 1, 2, 1]):
        spec = make_spec(jobdir, _recording_body(events, cpus, 0.2), index=i, resources={"ncpus": str(cpus)})
        ids.append(manager.submit(local_executor, spec).cluster_id)
    statuses = wait_done(manager, local_executor, ids)
    assert {s.state for s in statuses.values()} == {"complete"}
    peak, count = _peak_usage(events)
    assert count == 14
    assert peak <= 2
    assert statuses[ids[2]].info["ncpus"] == 2


def test_jobs_start_in_submission_order(manager: ExecutorManager, spool_dir: Path, jobdir: Path) -> None:
    executor = Executor("local", {"spool_dir": str(spool_dir), "max_workers": 1})
    order = jobdir / "order.txt"
    ids = [
        manager.submit(executor, make_spec(jobdir, f"echo {i} >> {order}", index=i)).cluster_id
        for i in range(6)
    ]
    wait_done(manager, executor, ids)
    assert order.read_text().split() == [str(i) for i in range(6)]


def test_a_job_that_can_never_fit_fails_at_once(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    too_wide = manager.submit(local_executor, make_spec(jobdir, "true", index=0, resources={"nodes": "1:ppn=3"}))
    too_big = manager.submit(local_executor, make_spec(jobdir, "true", index=1, resources={"mem": "100000tb"}))
    bad = manager.submit(local_executor, make_spec(jobdir, "true", index=2, resources={"ncpus": "many"}))
    statuses = manager.status(local_executor, [too_wide.cluster_id, too_big.cluster_id, bad.cluster_id])
    assert statuses[too_wide.cluster_id].state == FAILED
    assert "3 CPUs" in (statuses[too_wide.cluster_id].reason or "")
    assert "max_workers=2" in (statuses[too_wide.cluster_id].reason or "")
    assert "max_memory" in (statuses[too_big.cluster_id].reason or "")
    assert "ncpus" in (statuses[bad.cluster_id].reason or "")


_SUBMITTER = """
import json, sys
from pathlib import Path
from paraschut.models import Executor
from paraschut.testing import make_spec
from paraschut_local import plugin
spool, jobdir, events, who = sys.argv[1:5]
executor = Executor("local", {"spool_dir": spool, "max_workers": 2})
body = '''%s'''
ids = []
for i in range(10):
    spec = make_spec(Path(jobdir), body, name=f"p{who}", index=i)
    ids.append(plugin.paraschut_submit(executor=executor, job=spec).cluster_id)
print(json.dumps(ids))
"""


def test_concurrent_submitters_share_the_slots(
    manager: ExecutorManager, local_executor: Executor, spool_dir: Path, jobdir: Path
) -> None:
    events = jobdir / "events.txt"
    code = _SUBMITTER % _recording_body(events, 1, 0.1)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(spool_dir), str(jobdir), str(events), str(n)],
            stdout=subprocess.PIPE, text=True,
        )
        for n in range(4)
    ]
    ids = [cid for proc in procs for cid in json.loads(proc.communicate(timeout=60)[0])]
    assert all(proc.returncode == 0 for proc in procs)
    assert len(set(ids)) == 40
    statuses = wait_done(manager, local_executor, ids, timeout=120)
    assert {s.state for s in statuses.values()} == {"complete"}
    peak, count = _peak_usage(events)
    assert count == 80
    assert peak <= 2
