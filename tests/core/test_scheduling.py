"""The priority rules: properties of the pure reference, and the SQL form agreeing with it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import paraschut as psu
import paraschut.session
from paraschut.scheduling import GLOBAL_PRIORITY, eligible, order_key, throttle

from ._fakes import job, script_lines

DONE = {"complete", "collected"}
STATES = ["init", "init", "init", "submit", "run", "spawn", "complete", "collected", "failed", "held"]
PRIORITIES = [-1, -0.5, 0, 1, 1, 2, 2.0, 2.5, 3, 100, 100.5, 101, 150, 150.0, 150.5]

job_tuples = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from(STATES), st.sampled_from(PRIORITIES)), max_size=25
).map(lambda rows: [(b, i, s, p) for i, (b, s, p) in enumerate(rows)])


def brute_force(jobs: list, candidates: set | None = None) -> set:
    """The README's rules, written independently and as plainly as possible."""
    out = set()
    unfinished = [j for j in jobs if j[2] not in DONE]
    globals_ = [j[3] for j in unfinished if j[3] > 100]
    for b, i, state, p in jobs:
        if state != "init" or (candidates is not None and (b, i) not in candidates):
            continue
        if globals_:
            if p == max(globals_):
                out.add((b, i))
        elif p == max(q for (bb, _, s, q) in unfinished if bb == b):
            out.add((b, i))
    return out


@given(job_tuples)
def test_eligible_matches_the_plain_rules(jobs: list) -> None:
    assert {(j[0], j[1]) for j in eligible(jobs)} == brute_force(jobs)


@given(job_tuples, st.data())
def test_eligible_respects_candidates(jobs: list, data: st.DataObject) -> None:
    keys = [(j[0], j[1]) for j in jobs]
    chosen = set(data.draw(st.lists(st.sampled_from(keys), unique=True)) if keys else [])
    got = {(j[0], j[1]) for j in eligible(jobs, chosen)}
    assert got == brute_force(jobs, chosen)
    assert got == {(j[0], j[1]) for j in eligible(jobs)} & chosen


@given(job_tuples)
def test_eligible_is_in_submission_order_and_only_init(jobs: list) -> None:
    got = eligible(jobs)
    assert got == sorted(got, key=order_key)
    assert all(j[2] == "init" for j in got)
    assert len({(j[0], j[1]) for j in got}) == len(got)


@given(job_tuples)
def test_within_a_batch_only_the_top_unfinished_group_runs(jobs: list) -> None:
    got = eligible(jobs)
    if any(j[3] > GLOBAL_PRIORITY and j[2] not in DONE for j in jobs):
        return
    for b, _, _, p in got:
        assert all(q <= p for (bb, _, s, q) in jobs if bb == b and s not in DONE)
    # every batch has at most one priority group in flight
    assert all(len({j[3] for j in got if j[0] == b}) == 1 for b in {j[0] for j in got})


@given(job_tuples)
def test_a_global_group_blocks_everything_else(jobs: list) -> None:
    tops = [j[3] for j in jobs if j[3] > GLOBAL_PRIORITY and j[2] not in DONE]
    if not tops:
        return
    assert {j[3] for j in eligible(jobs)} <= {max(tops)}


@given(job_tuples)
def test_done_jobs_do_not_matter(jobs: list) -> None:
    kept = [j for j in jobs if j[2] not in DONE]
    assert eligible(kept) == eligible(jobs)


@given(job_tuples)
def test_completing_the_running_group_advances_the_next(jobs: list) -> None:
    """Mark everything eligible complete, repeatedly: every init job eventually runs, in priority order."""
    jobs = list(jobs)
    seen: list[float] = []
    for _ in range(len(jobs) + 1):
        batch = eligible(jobs)
        if not batch:
            break
        done = {(j[0], j[1]) for j in batch}
        seen.append(batch[0][3])
        jobs = [(b, i, "complete" if (b, i) in done else s, p) for b, i, s, p in jobs]
    blocked = [j for j in jobs if j[2] == "init"]
    # what is left waits behind a job that is not init and not done (submitted, failed, user state)
    for b, _, _, p in blocked:
        blockers = [j for j in jobs if j[2] not in DONE | {"init"}]
        assert any(q >= p and (bb == b or q > GLOBAL_PRIORITY) for bb, _, _, q in blockers)


@given(
    st.lists(st.tuples(st.integers(), st.integers(), st.just("init"), st.integers()), max_size=20),
    st.integers(0, 30),
    st.one_of(st.none(), st.integers(0, 30)),
)
def test_throttle_keeps_a_prefix_that_fits(ordered: list, active: int, max_jobs: int | None) -> None:
    got = throttle(ordered, active, max_jobs)
    assert got == ordered[: len(got)]
    if max_jobs is None:
        assert got == ordered
    else:
        assert len(got) == max(0, min(len(ordered), max_jobs - active))


# -- the SQL form against the reference ----------------------------------------------------------
FILTERS = {
    None: lambda b, i: True,
    "JobIndex % 2 = 0": lambda b, i: i % 2 == 0,
    "BatchID != 2": lambda b, i: b != 2,
    "BatchID IN (1, 3) AND JobIndex > 3": lambda b, i: b in (1, 3) and i > 3,
}


@contextmanager
def fresh_index(base: Path) -> Iterator[Path]:
    """A new, empty index for one hypothesis example."""
    home = Path(tempfile.mkdtemp(dir=base))
    old = {k: os.environ.get(k) for k in ("PARASCHUT_DB", "PARASCHUT_JOB_DIR")}
    os.environ["PARASCHUT_DB"] = str(home / "jobs.sqlite")
    os.environ["PARASCHUT_JOB_DIR"] = str(home / "jobs")
    paraschut.session.reset_sessions()
    try:
        yield home
    finally:
        paraschut.session.reset_sessions()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _load(jobs: list) -> None:
    by_batch: dict[int, list] = {}
    for b, i, s, p in jobs:
        by_batch.setdefault(b, []).append(job(i, state=s, priority=p))
    for b, batch in by_batch.items():
        psu.add_batch_to_queue(b, batch)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    jobs=job_tuples, where=st.sampled_from(sorted(FILTERS, key=str)), max_jobs=st.one_of(st.none(), st.integers(1, 12))
)
def test_submit_jobs_picks_exactly_what_the_reference_picks(
    env, tmp_path: Path, jobs: list, where: str | None, max_jobs: int | None
) -> None:
    with fresh_index(tmp_path) as home:
        _load(jobs)
        candidates = {(b, i) for b, i, _, _ in jobs if FILTERS[where](b, i)}
        expected = eligible(jobs, candidates)
        active = sum(1 for j in jobs if j[2] in ("submit", "run"))
        expected = throttle(expected, active, max_jobs)
        count = psu.submit_jobs(Filter=where, MaxJobs=max_jobs)
        assert count == len(expected)
        written = script_lines(home / "jobs" / "paraschut-jobs.sh")
        assert written == [f"psu{b}_{i}" for b, i, _, _ in expected]
        now = psu.get_queue(Verbose=False)
        after = {(j["BatchID"], j["JobIndex"]): j["state"] for js in now.values() for j in js}
        submitted = {k for k, s in after.items() if s == "submit"} - {(b, i) for b, i, s, _ in jobs if s == "submit"}
        assert submitted == {(b, i) for b, i, _, _ in expected}
        # a second call right away submits nothing new: the group is in flight
        if max_jobs is None:
            assert psu.submit_jobs(Filter=where) == 0


def test_readme_map_reduce_flow_with_a_global_batch(env) -> None:
    psu.add_batch_to_queue(1, [job(0, priority=2), job(1, priority=2), job(2, priority=1)])
    psu.add_batch_to_queue(2, [job(0, priority=5), job(1, priority=3)])
    psu.add_batch_to_queue(3, [job(0, priority=101), job(1, priority=1)])
    assert psu.submit_jobs() == 1
    assert script_lines(env.script) == ["psu3_0"]
    psu.set_job_field(3, 0, Value="complete")
    assert psu.submit_jobs() == 4
    assert script_lines(env.script)[1:] == ["psu2_0", "psu1_0", "psu1_1", "psu3_1"]


def test_max_jobs_caps_the_jobs_on_the_queue(env) -> None:
    psu.add_batch_to_queue(1, [job(i) for i in range(10)])
    assert psu.submit_jobs(MaxJobs=3) == 3
    assert psu.submit_jobs(MaxJobs=3) == 0
    assert psu.submit_jobs(MaxJobs=5) == 2
    psu.set_job_field(1, [0, 1, 2], Value="complete")
    assert psu.submit_jobs(MaxJobs=5) == 3
    assert psu.submit_jobs() == 2
    assert len(script_lines(env.script)) == 10


def test_max_jobs_from_the_environment(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_MAX_JOBS", "2")
    psu.add_batch_to_queue(1, [job(i) for i in range(5)])
    assert psu.submit_jobs() == 2
    assert psu.submit_jobs(MaxJobs=4) == 2


def test_running_spawns_count_against_max_jobs(env) -> None:
    psu.add_batch_to_queue(1, [job(0, priority=5)])
    psu.add_batch_to_queue(2, [job(i) for i in range(5)])
    psu.spawn_submit(psu.get_job_info(1, 0), 3)
    assert psu.submit_jobs(MaxJobs=4) == 1
