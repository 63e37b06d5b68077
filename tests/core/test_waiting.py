"""wait_jobs: blocks until the selection's jobs left their queues, polling, or through an executor's paraschut_wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

import paraschut as psu
from paraschut import hookimpl
from paraschut import waiting as waiting_module

from ._fakes import FakeExecutor, dump, job


class WaitingFake(FakeExecutor):
    """A fake executor that can also block until its jobs end (paraschut_wait), like the local one."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.waits: list[tuple[list[str], float]] = []
        #: called on each wait before it looks at the statuses (a test's way to end jobs "meanwhile")
        self.during_wait: Any = None
        self.error: Exception | None = None
        #: answer "ended" whatever the statuses say (as the local executor does about ids it does not know)
        self.always_ended = False

    @hookimpl
    def paraschut_wait(self, executor: Any, cluster_ids: Sequence[str], timeout: float) -> bool | None:
        if executor.name != self.name:
            return None
        self.waits.append((list(cluster_ids), timeout))
        if self.error is not None:
            raise self.error
        if self.during_wait is not None:
            self.during_wait()
        if self.always_ended:
            return True
        done = all(
            (s := self.statuses.get(cid)) is None or not s.on_queue for cid in cluster_ids
        )
        if not done:
            time.sleep(timeout)
        return done


@pytest.fixture
def waiting(env) -> WaitingFake:
    fake = WaitingFake("waiting")
    env.manager.pm.register(fake, name="waiting")
    return fake


def _submit(executor: str, n: int, batch: int = 1) -> list[str]:
    psu.add_batch_to_queue(batch, [job(i) for i in range(n)])
    psu.submit_jobs(Executor=executor, Filter=f"BatchID = {batch}")
    return [psu.get_job_info(batch, i)["ClusterID"] for i in range(n)]


def _jobs_and_events(db: Any) -> list[str]:
    return [line for line in dump(db) if line.startswith(('INSERT INTO "jobs"', 'INSERT INTO "job_events"'))]


def _later(seconds: float, action: Any) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    thread.start()
    return thread


def test_returns_the_selection_once_every_job_left_its_queue(env) -> None:
    ids = _submit("fake", 3)
    _submit("fake", 1, batch=2)  # not selected: never ends, and does not hold the wait

    def finish() -> None:
        env.fake.finish(ids[0])
        env.fake.finish(ids[1], exit_code=3, reason="exit code 3")
        env.fake.finish(ids[2])

    _later(0.3, finish)
    batches = psu.wait_jobs(Filter="BatchID = 1", Timeout=30)
    assert list(batches) == [1]
    assert [(j["state"], j["exit_code"]) for j in batches[1]] == [("complete", 0), ("failed", 3), ("complete", 0)]
    assert psu.get_job_info(2, 0)["state"] == "submit"


def test_nothing_active_returns_at_once_without_polling(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1)])  # init: not submitted, so nothing to wait for
    env.fake.status_calls.clear()
    assert [j["state"] for j in psu.wait_jobs()[1]] == ["init", "init"]
    assert env.fake.status_calls == []


def test_a_timeout_names_the_jobs_still_queued_and_changes_nothing(env) -> None:
    ids = _submit("fake", 2)
    env.fake.finish(ids[1])
    psu.get_queue(Verbose=False)  # records job 1's end
    before = _jobs_and_events(env.db)
    with pytest.raises(psu.WaitTimeoutError, match=r"1 job\(s\) still queued or running after 0.2 s: 1/0") as info:
        psu.wait_jobs(Timeout=0.2)
    assert isinstance(info.value, TimeoutError)
    assert info.value.jobs == [(1, 0)]
    assert _jobs_and_events(env.db) == before  # (the polls' snapshots are not the jobs')
    assert psu.get_job_info(1, 0)["ClusterID"] == ids[0]


def test_a_missing_job_ends_the_wait_as_it_will_not_change_by_itself(env) -> None:
    ids = _submit("fake", 2)
    env.fake.lose(ids[0])  # missing_grace is 0 in the tests
    env.fake.finish(ids[1])
    batches = psu.wait_jobs(Timeout=30)
    assert [j["state"] for j in batches[1]] == ["submit", "complete"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"Timeout": -1}, psu.InvalidArgumentError, "Timeout"),
        ({"Timeout": "soon"}, psu.InvalidArgumentError, "Timeout"),
        ({"Timeout": float("inf")}, psu.InvalidArgumentError, "Timeout"),
        ({"Filter": "state = 'x'; DROP TABLE jobs"}, psu.InvalidFilterError, "Filter"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_polled(env, kwargs, error, message) -> None:
    _submit("fake", 1)
    env.fake.status_calls.clear()
    before = dump(env.db)
    with pytest.raises(error, match=message):
        psu.wait_jobs(**kwargs)
    assert env.fake.status_calls == []
    assert dump(env.db) == before


def test_an_executor_that_can_wait_is_asked_before_polling_and_its_word_forces_a_fresh_poll(
    env, waiting: WaitingFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with a 30 s status_interval, a poll within 30 s of the last would reuse its snapshot: the
    # jobs' end is seen at once only because the executor said so (a fresh poll is forced)
    monkeypatch.setenv("PARASCHUT_STATUS_INTERVAL", "30")
    psu.session.reset_sessions()
    ids = _submit("waiting", 2)
    psu.get_queue(Verbose=False, Refresh=True)
    waiting.status_calls.clear()

    def end_them_on_the_second_look() -> None:
        if len(waiting.waits) == 2:
            for cid in ids:
                waiting.finish(cid)

    waiting.during_wait = end_them_on_the_second_look
    batches = psu.wait_jobs(Timeout=20)  # a reused snapshot would end in WaitTimeoutError
    assert [j["state"] for j in batches[1]] == ["complete", "complete"]
    # a look without blocking first (no poll of jobs all still running), then a block for the
    # time left, then the one poll that records the ends
    assert waiting.waits == [(ids, 0.0), (ids, pytest.approx(20, abs=1))]
    assert waiting.status_calls == [ids]


def test_an_executor_whose_wait_fails_is_polled_instead(env, waiting: WaitingFake, caplog) -> None:
    ids = _submit("waiting", 1)
    waiting.error = RuntimeError("spool unreadable")
    _later(0.2, lambda: waiting.finish(ids[0]))
    batches = psu.wait_jobs(Timeout=30)
    assert batches[1][0]["state"] == "complete"
    assert "could not wait on executor 'waiting'" in caplog.text
    assert "spool unreadable" in caplog.text


class FakeClock:
    """The waiting module's clock: sleeps are recorded and advance it at once (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        #: called after each sleep with how many there were (a test's way to end jobs "meanwhile")
        self.after_sleep: Any = None
        self._reads_since_sleep = 0

    def monotonic(self) -> float:
        # a loop that never sleeps would never see this clock move: fail instead of hanging
        self._reads_since_sleep += 1
        assert self._reads_since_sleep < 1000, "busy loop: the clock was read 1,000 times without a sleep"
        return self.now

    def sleep(self, seconds: float) -> None:
        self._reads_since_sleep = 0
        self.sleeps.append(seconds)
        self.now += seconds
        if self.after_sleep is not None:
            self.after_sleep(len(self.sleeps))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(waiting_module, "time", fake)
    return fake


def _counting_polls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each poll of a wait was forced (an executor said its jobs ended), in order."""
    polls: list[bool] = []
    real = waiting_module.refresh
    monkeypatch.setattr(
        waiting_module, "refresh", lambda *a, **k: (polls.append(bool(k.get("force"))), real(*a, **k))[1]
    )
    return polls


def test_executors_without_a_wait_are_polled_every_status_interval(env, clock: FakeClock) -> None:
    ids = _submit("fake", 1)  # status_interval is 0 in the tests: a wait polls every MIN_GAP (0.1 s)
    env.fake.status_calls.clear()
    clock.after_sleep = lambda count: env.fake.finish(ids[0]) if count == 2 else None
    psu.wait_jobs(Timeout=30)
    # a poll, a sleep, a poll, a sleep (the job ends), the poll that sees it
    assert clock.sleeps == [pytest.approx(waiting_module.MIN_GAP)] * 2
    assert len(env.fake.status_calls) == 3


def test_a_job_no_executor_can_be_asked_about_is_waited_for_by_polls_not_a_busy_loop(
    env, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    psu.add_batch_to_queue(2, [job(0)])
    psu.set_job_field(2, 0, Field="state", Value="submit")  # as a held job: in submit, no cluster id
    polls = _counting_polls(monkeypatch)
    with pytest.raises(psu.WaitTimeoutError, match="1 job"):
        psu.wait_jobs(Timeout=0.5)
    # one poll per status_interval, a sleep between two (21,475 polls in 0.5 s when it spun), and
    # none forced: no executor was asked, so none said the job ended
    assert sum(clock.sleeps) == pytest.approx(0.5)
    assert all(0 < seconds <= waiting_module.MIN_GAP + 1e-9 for seconds in clock.sleeps)
    assert polls == [False] * (len(clock.sleeps) + 1)


def test_an_executor_that_says_ended_when_a_poll_disagrees_is_not_asked_in_a_busy_loop(
    env, waiting: WaitingFake, clock: FakeClock
) -> None:
    # the local executor says "ended" about ids its spool does not know; a poll then reports them
    # absent, within missing_grace: neither ended nor missing yet
    _submit("waiting", 1)
    waiting.always_ended = True
    waiting.status_calls.clear()
    with pytest.raises(psu.WaitTimeoutError, match="1 job"):
        psu.wait_jobs(Timeout=0.5)
    # one poll per status_interval, a sleep between two (3,763 polls in 0.5 s when it spun)
    assert sum(clock.sleeps) == pytest.approx(0.5)
    assert all(0 < seconds <= waiting_module.MIN_GAP + 1e-9 for seconds in clock.sleeps)
    assert len(waiting.status_calls) == len(clock.sleeps) + 1
