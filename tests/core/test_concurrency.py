"""Real processes sharing one index: no lost update, no double submission, exactly one last spawn."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.scheduling import eligible

from ._fakes import clean_env, job, script_lines

WORKER = Path(__file__).with_name("_workers.py")


def run_together(env, tasks: list[list]) -> list[dict]:
    """Run one forked worker per task, released at the same moment; return their JSON results."""
    sync = env.home / f"sync-{time.monotonic_ns()}"
    sync.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(sync), json.dumps([[str(a) for a in t] for t in tasks])],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(sync.glob("ready-*"))) < len(tasks):
            if proc.poll() is not None:
                raise AssertionError(proc.communicate()[1])
            if time.monotonic() > deadline:
                raise AssertionError("workers did not start")
            time.sleep(0.005)
        (sync / "go").touch()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    results = json.loads(out.strip().splitlines()[-1])
    errors = [r["error"] for r in results if "error" in r]
    assert not errors, errors[0]
    return results


def test_modify_job_from_16_processes_loses_nothing(env) -> None:
    psu.add_batch_to_queue(1, [job(0, n=0)])
    run_together(env, [["modify", 1, 0, 20]] * 16)
    assert psu.get_job_info(1, 0)["n"] == 320


def test_update_job_from_16_processes_refuses_instead_of_losing(env) -> None:
    psu.add_batch_to_queue(1, [job(0, n=0)])
    results = run_together(env, [["update", 1, 0, 20]] * 16)
    ok = sum(r["ok"] for r in results)
    conflicts = sum(r["conflicts"] for r in results)
    final = psu.get_job_info(1, 0)["n"]
    assert ok + conflicts == 320
    assert final == ok  # every increment that returned success is in the final value


def test_8_processes_editing_their_own_jobs_keep_every_change(env) -> None:
    psu.add_batch_to_queue(1, [job(i, n=0) for i in range(8)])
    results = run_together(env, [["own", 1, i, 25] for i in range(8)])
    assert [r["conflicts"] for r in results] == [0] * 8
    for i in range(8):
        info = psu.get_job_info(1, i)
        assert info["n"] == 25 and info["seen"] == list(range(25))


def test_4_concurrent_submitters_submit_every_eligible_job_exactly_once(env) -> None:
    layout = {1: [2] * 10 + [1] * 5, 2: [5] * 8 + [3] * 4, 3: [1] * 12, 4: [101] * 3 + [1] * 2}
    for batch, priorities in layout.items():
        psu.add_batch_to_queue(batch, [job(i, priority=p) for i, p in enumerate(priorities)])
    global_first = [f"psu4_{i}" for i in range(3)]
    # round 1: only the global group may go
    results = run_together(env, [["submit", 3]] * 4)
    assert sum(sum(r["submitted"]) for r in results) == 3
    assert sorted(script_lines(env.script)) == global_first
    psu.set_job_field(4, [0, 1, 2], Value="complete")
    tuples = [
        (j["BatchID"], j["JobIndex"], j["state"], j["priority"])
        for js in psu.get_queue(Verbose=False).values()
        for j in js
    ]
    expected = sorted(f"psu{b}_{i}" for b, i, _, _ in eligible(tuples))
    results = run_together(env, [["submit", 3]] * 4)
    lines = script_lines(env.script)[3:]
    assert sorted(lines) == expected
    assert len(lines) == len(set(lines)) == sum(sum(r["submitted"]) for r in results) == 10 + 8 + 12 + 2
    cluster_ids = [j["ClusterID"] for js in psu.get_queue(Verbose=False).values() for j in js if j["ClusterID"]]
    assert len(cluster_ids) == len(set(cluster_ids)) == 3 + len(expected)


def test_10_spawns_finishing_together_complete_the_job_once(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs()
    psu.spawn_submit(psu.get_job_info(1, 0), 10)
    results = run_together(env, [["finish", 1, 0, sid] for sid in range(10)])
    assert sum(r["last"] for r in results) == 1
    assert psu.get_job_info(1, 0)["state"] == "complete"
    assert {row["state"] for row in psu.spawn_get_info(1, 0).values()} == {"complete"}


@pytest.mark.parametrize("rounds", [2])
def test_concurrent_modify_and_update_on_one_job_lose_no_modify(env, rounds: int) -> None:
    """modify_job increments survive update_job writers of another field of the same job."""
    psu.add_batch_to_queue(1, [job(0, n=0), job(1, n=0)])
    run_together(env, [["modify", 1, 0, 20]] * 4 + [["own", 1, 1, 20]] * rounds)
    assert psu.get_job_info(1, 0)["n"] == 80
