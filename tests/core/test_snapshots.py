"""One status call per interval per executor, however many processes poll: snapshots and the poll lease."""

from __future__ import annotations

import time

import pytest

import paraschut as psu
from paraschut.session import get_session

from ._fakes import job


@pytest.fixture
def interval(env, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("PARASCHUT_STATUS_INTERVAL", "60")
    psu.add_batch_to_queue(1, [job(i) for i in range(3)])
    psu.submit_jobs(Executor="fake")
    env.fake.status_calls.clear()
    return env


def test_a_fresh_snapshot_is_reused(interval) -> None:  # noqa: ANN001
    psu.get_queue(Verbose=False)
    psu.get_queue(Verbose=False)
    psu.submit_jobs(Executor="fake")
    assert len(interval.fake.status_calls) == 1


def test_a_fresh_poll_asks_about_every_active_job(interval) -> None:  # noqa: ANN001
    psu.get_queue(Verbose=False, Filter="JobIndex = 0")
    assert sorted(interval.fake.status_calls[0]) == ["fake-0", "fake-1", "fake-2"]
    psu.get_queue(Verbose=False)  # the other jobs are covered by that snapshot
    assert len(interval.fake.status_calls) == 1


def test_a_job_submitted_after_the_snapshot_is_queued_not_missing(interval) -> None:  # noqa: ANN001
    psu.get_queue(Verbose=False)
    psu.add_batch_to_queue(2, [job(0)])
    psu.submit_jobs(Executor="fake")
    from paraschut.refresh import refresh

    session = get_session()
    result = refresh(session, session.index.jobs())
    assert (2, 0) not in result.missing and len(interval.fake.status_calls) == 1


def test_a_stale_snapshot_is_reused_while_another_process_polls(interval) -> None:  # noqa: ANN001
    psu.get_queue(Verbose=False)
    index = get_session().index
    with index.write() as conn:
        conn.execute("UPDATE status_snapshots SET taken = taken - 120")  # stale
    assert index.take_poll_lease("fake", time.time(), 30)  # another process is polling now
    psu.get_queue(Verbose=False)
    assert len(interval.fake.status_calls) == 1
    index.release_poll_lease("fake")
    psu.get_queue(Verbose=False)  # stale and nobody polling: this process polls
    assert len(interval.fake.status_calls) == 2
    (until,) = index.query("SELECT polling_until FROM status_snapshots WHERE executor='fake'")[0]
    assert until is None  # the lease ends with the new snapshot


def test_a_failed_poll_gives_the_lease_back(interval) -> None:  # noqa: ANN001
    psu.get_queue(Verbose=False)
    index = get_session().index
    with index.write() as conn:
        conn.execute("UPDATE status_snapshots SET taken = taken - 120")
    interval.fake.broken = True
    psu.get_queue(Verbose=False)  # the error is reported in the dashboard, not raised
    assert index.take_poll_lease("fake", time.time(), 30)


def test_a_jobs_own_state_change_is_never_hidden_by_a_snapshot(interval) -> None:  # noqa: ANN001
    psu.get_queue(Verbose=False)
    psu.set_complete(psu.get_job_info(1, 0))
    got = {j["JobIndex"]: j["state"] for j in psu.get_queue(Verbose=False)[1]}
    assert got[0] == "complete"


def test_refresh_polls_now_whatever_the_snapshot(interval) -> None:  # noqa: ANN001
    psu.get_queue(Verbose=False)
    psu.get_queue(Verbose=False, Refresh=True)
    assert len(interval.fake.status_calls) == 2


def test_an_executor_argument_polls_with_its_options(interval, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    seen = []
    original = interval.manager.status

    def spy(executor, ids):  # noqa: ANN001, ANN202
        seen.append(dict(executor.options))
        return original(executor, ids)

    monkeypatch.setattr(interval.manager, "status", spy)
    psu.get_queue(Verbose=False, Refresh=True, Executor=psu.Executor("fake", {"queue": "special"}))
    assert seen and seen[0]["queue"] == "special"
