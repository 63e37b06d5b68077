"""Workers claim quick jobs several at a time: one slot each, handed back behind a long job, reaped when dead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, Executor
from paraschut.testing import make_spec
from paraschut_local import dispatch
from paraschut_local.dispatch import HOST, Capacity, fill
from paraschut_local.launch import base_env, dumps, job_record
from paraschut_local.procs import stamp
from paraschut_local.spool import DONE, QUEUED, RUNNING, Spool, open_spool

from .local_helpers import dead_pid, wait_done


def _queue(spool: Spool, sizes: list[tuple[int, int]]) -> list[int]:
    with spool.transaction():
        return [spool.add(f"j{i}", "{}", cpus, mem) for i, (cpus, mem) in enumerate(sizes)]


def test_a_worker_holding_several_jobs_takes_one_slot(tmp_path: Path) -> None:
    spool = open_spool(str(tmp_path / "spool"))
    ids = _queue(spool, [(1, 10), (1, 10), (1, 10), (2, 5), (1, 0)])
    with spool.transaction():
        held = spool.claim_many(ids[:3], HOST, 111, 1.0)
        spool.claim(ids[3], HOST, 222, 1.0)
    assert [row.id for row in held] == ids[:3]
    assert all(row.state == RUNNING and row.worker_pid == 111 for row in held)
    head = spool.queue_head(5)
    assert head.jobs == [(ids[4], 1, 0)] and head.queued == 1
    assert (head.used_cpus, head.used_mem) == (1 + 2, 10 + 5)  # worker 111 once, however many jobs it holds


def test_fill_gives_a_worker_a_share_of_the_same_size_jobs_at_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    monkeypatch.setattr(dispatch, "start_worker", lambda _dir, job_id, _cap: (started.append(job_id), (4242, 1.0))[1])
    spool_dir = str(tmp_path / "spool")
    spool = open_spool(spool_dir)
    me = (os.getpid(), stamp(os.getpid()) or 0.0)
    ids = _queue(spool, [(1, 0)] * 12)
    with spool.transaction():
        mine = fill(spool, Capacity(2, 10**12), spool_dir, me, take=8)
    # 12 jobs queued over 2 slots: its share is 6; the free slot gets a worker for the next one
    assert [row.id for row in mine] == ids[:6]
    assert started == [ids[6]]
    more = _queue(spool, [(1, 0)] * 20)
    with spool.transaction():
        spool.hand_back(ids[:6], me[0])
        mine = fill(spool, Capacity(3, 10**12), spool_dir, me, take=8)
    # a long queue: a full batch, whatever the number of slots (it counts the queue up to 3 x 8)
    assert [row.id for row in mine] == ids[:6] + [ids[7], ids[8]]
    assert started == [ids[6], ids[9]]
    with spool.transaction():
        spool.conn.execute("UPDATE jobs SET state = ? WHERE id <= ?", (DONE, more[-1]))
    sizes = _queue(spool, [(1, 0), (1, 0), (1, 5), (1, 0)])  # the third is bigger: it ends a batch
    with spool.transaction():
        mine = fill(spool, Capacity(1, 10**12), spool_dir, me, take=8)
    assert [row.id for row in mine] == sizes[:2]
    assert started == [ids[6], ids[9]]  # one slot, taken by this worker


def test_jobs_handed_back_keep_their_place_and_a_cancelled_one_is_recorded(tmp_path: Path) -> None:
    spool = open_spool(str(tmp_path / "spool"))
    ids = _queue(spool, [(1, 0)] * 4)
    with spool.transaction():
        spool.claim_many(ids[1:], HOST, 111, 1.0)
        spool.ask_cancel(ids[2])
        spool.hand_back(ids[1:], 999)  # not its jobs: nothing changes
    assert [row.state for row in spool.many(ids)] == [QUEUED, RUNNING, RUNNING, RUNNING]
    with spool.transaction():
        spool.hand_back(ids[1:], 111)
    rows = spool.many(ids)
    assert [row.state for row in rows] == [QUEUED, QUEUED, DONE, QUEUED]
    assert rows[2].reason == "cancelled"
    assert rows[1].worker_pid is None and rows[1].host is None
    head = spool.queue_head(10)
    assert [job_id for job_id, _, _ in head.jobs] == [ids[0], ids[1], ids[3]] and head.used_cpus == 0


def test_the_jobs_a_dead_worker_held_are_run_by_another(
    manager: ExecutorManager, local_executor: Executor, spool_dir: Path, jobdir: Path
) -> None:
    spool = open_spool(str(spool_dir))
    specs = [make_spec(jobdir, f"echo {i} >> {jobdir / 'ran'}", index=i) for i in range(3)]
    with spool.transaction():  # claimed together by a worker that was then killed
        ids = [spool.add(spec.name, dumps(job_record(spec, base_env(os.environ))), 1, 0) for spec in specs]
        spool.claim_many(ids, HOST, *dead_pid())
    statuses = wait_done(manager, local_executor, [str(i) for i in ids])  # the status call reaps
    assert {s.state for s in statuses.values()} == {COMPLETE}
    assert sorted((jobdir / "ran").read_text().split()) == ["0", "1", "2"]


def test_quick_jobs_behind_a_long_one_run_in_the_other_slot(
    manager: ExecutorManager, local_executor: Executor, jobdir: Path
) -> None:
    # whoever takes the long job in a batch hands the rest back as it starts: they must not wait
    # behind it while the other slot is free
    first = [manager.submit(local_executor, make_spec(jobdir, "true", index=i)).cluster_id for i in range(24)]
    long = manager.submit(local_executor, make_spec(jobdir, "sleep 600", index=24)).cluster_id
    after = [manager.submit(local_executor, make_spec(jobdir, "true", index=25 + i)).cluster_id for i in range(24)]
    statuses = wait_done(manager, local_executor, first + after)  # far less than the long job's 600 s
    assert {s.state for s in statuses.values()} == {COMPLETE}
    assert manager.status(local_executor, [long])[long].state == "run"
