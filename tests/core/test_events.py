"""The state history (job_events): every state change recorded by the index itself, polls adding
the starts and ends schedulers report, removal with the batch, and the v3 -> v4 migration."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import paraschut as psu
from paraschut import JobStatus
from paraschut.db import JobIndex
from paraschut.migrations import MIGRATIONS
from paraschut.session import get_session

from ._fakes import job


def _events(batch: int = 1, index: int | None = None) -> list[tuple[int, str, str]]:
    rows = get_session().index.job_events(batch)
    return [(r["JobIndex"], r["state"], r["source"]) for r in rows if index is None or r["JobIndex"] == index]


def test_each_state_change_is_recorded_once_by_every_code_path(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1)])
    assert _events() == []  # adding is not a state change
    psu.submit_jobs(Executor="fake")  # claim: init -> submit
    cid = psu.get_job_info(1, 0)["ClusterID"]
    env.fake.finish(cid, exit_code=3)
    psu.get_queue(Verbose=False)  # a poll: submit -> failed
    psu.set_job_field(1, 1, Field="state", Value="run")  # a user edit
    info = psu.get_job_info(1, 1)
    info["note"] = "no state change here"
    psu.update_job(info)
    psu.set_complete(info)  # merge_update: run -> complete
    psu.set_batch_field(1, Field="state", Value="init", Unless={})  # a reset of both
    assert _events(index=0) == [(0, "submit", "index"), (0, "failed", "index"), (0, "init", "index")]
    assert _events(index=1) == [
        (1, "submit", "index"), (1, "run", "index"), (1, "complete", "index"), (1, "init", "index"),
    ]
    rows = get_session().index.job_events(1)
    assert [r["ClusterID"] for r in rows if r["state"] == "failed"] == [cid]
    assert all(isinstance(r["time"], float) and abs(r["time"] - time.time()) < 60 for r in rows)


def test_a_poll_records_when_it_first_saw_a_job_running(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1)])
    psu.submit_jobs(Executor="fake")
    a, b = (psu.get_job_info(1, i)["ClusterID"] for i in (0, 1))
    env.fake.run(a)
    started = time.time() - 100
    env.fake.statuses[b] = JobStatus(b, "run", info={"started": started})
    psu.get_queue(Verbose=False)
    psu.get_queue(Verbose=False)  # seen again: not recorded twice
    assert _events() == [(0, "submit", "index"), (1, "submit", "index"),
                         (0, "run", "scheduler"), (1, "run", "scheduler")]
    assert get_session().index.job_events(1)[3]["time"] == started  # the scheduler's own start time
    assert psu.get_job_info(1, 0)["state"] == "submit"  # the job's state itself is left alone


def test_a_job_that_marks_itself_running_gets_no_second_run_event(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs(Executor="fake")
    cid = psu.get_job_info(1, 0)["ClusterID"]
    psu.get_job_info(1, 0, SetID=True)
    env.fake.run(cid)
    psu.get_queue(Verbose=False)
    assert _events() == [(0, "submit", "index"), (0, "run", "index")]


def test_reported_start_and_end_of_a_job_no_poll_saw_running(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs(Executor="fake")
    cid = psu.get_job_info(1, 0)["ClusterID"]
    now = time.time()
    env.fake.statuses[cid] = JobStatus(cid, "complete", exit_code=0, info={"started": now - 5, "ended": now - 2})
    psu.get_queue(Verbose=False)
    rows = get_session().index.job_events(1)
    assert [(r["state"], r["source"]) for r in rows] == [
        ("submit", "index"), ("run", "scheduler"), ("complete", "scheduler"),
    ]
    assert (rows[1]["time"], rows[2]["time"]) == (now - 5, now - 2)


def test_removing_a_batch_removes_its_history(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    psu.add_batch_to_queue(2, [job(0)])
    psu.submit_jobs(Executor="file")
    psu.remove_batch(1)
    counts = get_session().index.query("SELECT BatchID, COUNT(*) FROM job_events GROUP BY BatchID")
    assert [tuple(r) for r in counts] == [(2, 1)]
    psu.remove_batch_by_state("submit")
    assert get_session().index.query("SELECT COUNT(*) FROM job_events")[0][0] == 0


def test_an_index_from_before_keeps_what_it_knew(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:3]:
        migration(conn)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO batches (BatchID) VALUES (1)")
    rows = [(0, "init", None, 10.0), (1, "submit", 100.0, 101.0), (2, "complete", 200.0, 260.0)]
    conn.executemany(
        "INSERT INTO jobs (BatchID, JobIndex, state, priority, submit_time, updated) VALUES (1, ?, ?, 1, ?, ?)", rows
    )
    conn.close()
    index = JobIndex(str(path))
    try:
        got = [(r["JobIndex"], r["state"], r["time"]) for r in index.job_events(1)]
        assert sorted(got) == [(1, "submit", 100.0), (2, "complete", 260.0), (2, "submit", 200.0)]
        index.set_state("JobIndex=?", [1], "run")
        assert index.job_events(1)[-1]["state"] == "run"  # the trigger is in place too
    finally:
        index.close()


def test_observers_hear_what_this_process_changed_as_job_events_record_it(env) -> None:
    heard: list[tuple[int, str | None, str]] = []

    class Observer:
        @psu.hookimpl
        def paraschut_job_state_changed(self, batch_id, job_index, old, new):
            heard.append((job_index, old, new))

    env.manager.pm.register(Observer(), name="observer")
    psu.add_batch_to_queue(1, [job(0), job(1), job(2)])
    assert heard == [(0, None, "init"), (1, None, "init"), (2, None, "init")]
    heard.clear()
    psu.submit_jobs(Executor="fake")
    cid = psu.get_job_info(1, 0)["ClusterID"]
    env.fake.finish(cid)
    psu.get_queue(Verbose=False)
    psu.qdel_job(1, 1)
    psu.set_job_field(1, 2, Field="state", Value="init", Unless={})
    expected = [(0, "init", "submit"), (1, "init", "submit"), (2, "init", "submit"),
                (0, "submit", "complete"), (1, "submit", "init"), (2, "submit", "init")]
    assert sorted(heard) == sorted(expected)
    # every change the observer heard is in the index's own history, in the same order per job
    for index in (0, 1, 2):
        assert [new for j, _, new in heard if j == index] == [s for _, s, _ in _events(index=index)]
