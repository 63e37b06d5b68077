"""Many real processes on one job index, released together: nothing lost, nothing done twice, no error surfaced.

Each test forks its workers from one launcher (tests/reliability/_workers.py) and releases them at
the same moment; each opens its own connection after the release. Latencies are printed (run
with ``-s`` to see them), never asserted: the machine is shared.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

import paraschut as psu
from paraschut.scheduling import eligible

from ._workers import run_together


def _job(index: int, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"JobIndex": index, "priority": 1, "name": "job", "script": "run.sh", "state": "init"}
    out.update(fields)
    return out


def _no_errors(results: list[dict[str, Any]]) -> None:
    errors = [r["error"] for r in results if "error" in r]
    assert not errors, f"{len(errors)} worker(s) failed; the first:\n{errors[0]}"


def _report(what: str, results: list[dict[str, Any]]) -> None:
    worst = max(r["max_latency"] for r in results)
    print(f"\n{what}: slowest single call {worst:.3f} s over {len(results)} processes")


@pytest.mark.parametrize("task", ["modify", "locked"])
def test_64_processes_updating_their_own_jobs_lose_nothing_and_never_time_out(index: Path, task: str) -> None:
    """64 writers x 50 atomic read-modify-writes on 2 cores, with the default 30 s busy timeout."""
    psu.add_batch_to_queue(1, [_job(i, n=0) for i in range(64)])
    results = run_together(index, [[task, 1, i, 50] for i in range(64)])
    _no_errors(results)  # an IndexBusyError in any worker fails here
    _report(f"64 x 50 {task}", results)
    values = [psu.get_job_info(1, i)["n"] for i in range(64)]
    assert values == [50] * 64
    assert sum(values) == 3200


def test_16_processes_incrementing_one_field_through_modify_job_reach_320(index: Path) -> None:
    psu.add_batch_to_queue(1, [_job(0, n=0)])
    results = run_together(index, [["modify", 1, 0, 20]] * 16)
    _no_errors(results)
    _report("16 x 20 modify_job on one job", results)
    assert psu.get_job_info(1, 0)["n"] == 320


def test_16_processes_incrementing_through_update_job_either_land_or_get_a_conflict(index: Path) -> None:
    """Plain get_job_info + update_job: every call lands or raises ConflictError, none is lost silently."""
    psu.add_batch_to_queue(1, [_job(0, n=0)])
    results = run_together(index, [["update", 1, 0, 20]] * 16)
    _no_errors(results)
    _report("16 x 20 get_job_info + update_job on one job", results)
    landed = sum(r["ok"] for r in results)
    conflicts = [c for r in results for c in r["conflicts"]]
    final = psu.get_job_info(1, 0)["n"]
    print(f"landed {landed}, conflicts {len(conflicts)}")
    assert final == landed  # every increment reported as written is in the index
    assert final + len(conflicts) == 320  # and every other one was refused out loud
    for conflict in conflicts:
        assert conflict["class"] == "ConflictError" and conflict["fields"] == ["n"]
        assert "job 1/0: field(s) n were changed by another process" in conflict["message"]
        assert "nothing was written" in conflict["message"] and "modify_job" in conflict["message"]


#: batch -> priorities of its jobs: priority groups inside batches, and a global (>100) group
LAYOUT = {1: [2] * 10 + [1] * 5, 2: [5] * 8 + [3] * 4, 3: [1] * 12, 4: [101] * 3 + [1] * 2}


def _eligible_now() -> set[tuple[int, int]]:
    rows = [(j["BatchID"], j["JobIndex"], j["state"], j["priority"]) for js in psu.get_queue(Verbose=False).values()
            for j in js]
    return {(b, i) for b, i, _, _ in eligible(rows)}


def _submitted_jobs() -> dict[tuple[int, int], str]:
    return {(j["BatchID"], j["JobIndex"]): j["ClusterID"] for js in psu.get_queue(Verbose=False).values()
            for j in js if j["state"] != "init"}


def _submit_in_two_rounds(index: Path, executor: str) -> tuple[list[set[tuple[int, int]]], int]:
    """8 submitters at once, twice: first only the global group may go, then every first group.

    Returns what was eligible before each round and how many submissions the submitters reported.
    """
    for batch, priorities in LAYOUT.items():
        psu.add_batch_to_queue(batch, [_job(i, priority=p, script=str(index / "ok.sh")) for i, p in
                                       enumerate(priorities)])
    expected = []
    reported = 0
    for _ in range(2):
        expected.append(_eligible_now())
        results = run_together(index, [["submit", executor, 2]] * 8)
        _no_errors(results)
        _report(f"8 submitters ({executor})", results)
        reported += sum(sum(r["submitted"]) for r in results)
        if not _submitted_jobs().keys() >= {(4, 0), (4, 1), (4, 2)}:
            break
        psu.set_job_field(4, [0, 1, 2], Value="complete")
    return expected, reported


def test_8_submitters_at_once_submit_every_eligible_job_exactly_once_to_the_file_executor(index: Path) -> None:
    (index / "ok.sh").write_text("#!/bin/sh\ntrue\n")
    (index / "ok.sh").chmod(0o700)
    expected, reported = _submit_in_two_rounds(index, "file")
    assert expected[0] == {(4, 0), (4, 1), (4, 2)}
    assert len(expected[1]) == 10 + 8 + 12 + 2
    everything = expected[0] | expected[1]
    script = (index / "jobs" / "paraschut-jobs.sh").read_text()
    written = [line[2:] for line in script.splitlines() if line.startswith("# psu")]
    assert sorted(written) == sorted(f"psu{b}_{i}" for b, i in everything)  # each once in the record
    assert len(written) == reported == len(everything)
    index_ids = _submitted_jobs()
    assert index_ids.keys() == everything and len(set(index_ids.values())) == len(everything)
    for (b, i), cluster_id in index_ids.items():  # the index names the record's own entry
        assert cluster_id.startswith(f"file:psu{b}_{i}@")


def test_8_submitters_at_once_submit_every_job_exactly_once_to_the_local_executor(
    index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real local executor: each job is a process that appends its key to one file.

    Its jobs finish by themselves, so later priority groups become eligible while the submitters
    run: rounds of 8 submitters go on until every job has been submitted, and each must have been
    submitted (spool rows, index ids) and run exactly once.
    """
    ran = index / "ran.txt"
    (index / "ok.sh").write_text(f'#!/bin/sh\necho "$PARASCHUT_BATCH_ID/$PARASCHUT_JOB_INDEX" >> {ran}\n')
    (index / "ok.sh").chmod(0o700)
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "local")
    for batch, priorities in LAYOUT.items():
        psu.add_batch_to_queue(batch, [_job(i, priority=p, script=str(index / "ok.sh")) for i, p in
                                       enumerate(priorities)])
    everything = {(b, i) for b, priorities in LAYOUT.items() for i in range(len(priorities))}
    reported = 0
    try:
        deadline = time.monotonic() + 240
        while _submitted_jobs().keys() != everything:
            assert time.monotonic() < deadline, f"never submitted: {everything - _submitted_jobs().keys()}"
            results = run_together(index, [["submit", "local", 2]] * 8)
            _no_errors(results)
            _report("8 submitters (local)", results)
            reported += sum(sum(r["submitted"]) for r in results)
            time.sleep(0.5)
        index_ids = _submitted_jobs()
        assert reported == len(everything)
        spool = sqlite3.connect(f"file:{index / 'jobs.sqlite.local' / 'spool.sqlite'}?mode=ro", uri=True)
        try:
            rows = spool.execute("SELECT id, json_extract(spec, '$.key') FROM jobs").fetchall()
        finally:
            spool.close()
        assert sorted(key for _, key in rows) == sorted(f"psu{b}_{i}" for b, i in everything)
        assert {str(job_id) for job_id, _ in rows} == set(index_ids.values())  # index and spool agree
        while len(_ran(ran)) < len(everything) and time.monotonic() < deadline:
            psu.get_queue(Verbose=False)  # any call dispatches queued jobs
            time.sleep(0.2)
        assert sorted(_ran(ran)) == sorted(f"{b}/{i}" for b, i in everything)  # each ran exactly once
    finally:
        _cancel_local(index)


def _ran(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _cancel_local(index: Path) -> None:
    active = [(j["BatchID"], j["JobIndex"]) for js in psu.get_queue(Verbose=False).values() for j in js
              if j["state"] in ("submit", "run")]
    for batch, job_index in active:
        psu.qdel_job(batch, job_index)


def test_20_spawns_finishing_at_once_complete_the_job_exactly_once(index: Path) -> None:
    psu.add_batch_to_queue(1, [_job(0)])
    assert psu.submit_jobs() == 1
    psu.spawn_submit(psu.get_job_info(1, 0), 20)
    results = run_together(index, [["spawn_complete", 1, 0, sid] for sid in range(20)])
    _no_errors(results)
    assert sum(r["last"] for r in results) == 1
    assert psu.get_job_info(1, 0)["state"] == "complete"
    assert {sid: row["state"] for sid, row in psu.spawn_get_info(1, 0).items()} == dict.fromkeys(range(20), "complete")
