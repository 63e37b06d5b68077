"""Array submission: jobs sharing a script and resources go to an array-capable executor in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

import paraschut as psu
from paraschut import ExecutorInfo, SchedulerCommandError, Submission, hookimpl

from ._fakes import FakeExecutor, job


class ArrayFake(FakeExecutor):
    """A fake executor that takes arrays, and counts its calls."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.array_calls: list[int] = []
        self.refuse_arrays = False

    @hookimpl
    def paraschut_register_executors(self) -> Sequence[ExecutorInfo]:
        return [ExecutorInfo(self.name, "fake array executor", supports_arrays=True)]

    @hookimpl
    def paraschut_submit_array(self, executor: Any, jobs: Sequence[Any]) -> Sequence[Submission] | None:
        if executor.name != self.name:
            return None
        if self.refuse_arrays:
            raise SchedulerCommandError(["fakesub", "-t"], 1, "array too large")
        self.array_calls.append(len(jobs))
        return [self.paraschut_submit(executor, spec) for spec in jobs]


@pytest.fixture
def arrays(env):  # noqa: ANN001, ANN201
    fake = ArrayFake("arr")
    env.manager.pm.register(fake, name="arr")
    env.manager._infos = None
    return fake


def test_a_group_sharing_script_and_resources_is_one_call_per_thousand(env, arrays) -> None:  # noqa: ANN001
    psu.add_batch_to_queue(1, [job(i, script="a.sh") for i in range(2500)] + [job(2500, script="b.sh")])
    assert psu.submit_jobs(Executor="arr") == 2501
    assert sorted(arrays.array_calls) == [500, 1000, 1000]  # b.sh alone goes through the single submit
    specs = [spec for _, spec in arrays.submitted]
    assert len({(s.batch_id, s.job_index) for s in specs}) == 2501
    assert all(s.env["PARASCHUT_JOB_INDEX"] == str(s.job_index) for s in specs)


def test_max_array_size_option(env, arrays) -> None:  # noqa: ANN001
    psu.add_batch_to_queue(1, [job(i) for i in range(10)])
    psu.submit_jobs(Executor=psu.Executor("arr", {"max_array_size": 4}))
    assert arrays.array_calls == [4, 4, 2]
    assert len(arrays.submitted) == 10


def test_a_refused_array_returns_its_jobs_to_init(env, arrays) -> None:  # noqa: ANN001
    arrays.refuse_arrays = True
    psu.add_batch_to_queue(1, [job(i) for i in range(5)])
    with pytest.raises(SchedulerCommandError):
        psu.submit_jobs(Executor="arr")
    got = psu.get_queue(Verbose=False)[1]
    assert {j["state"] for j in got} == {"init"}
    assert all("array too large" in j["submit_error"] for j in got)


def test_executors_without_arrays_get_one_call_per_job(env) -> None:  # noqa: ANN001
    psu.add_batch_to_queue(1, [job(i) for i in range(3)])
    psu.submit_jobs(Executor="fake")
    assert len(env.fake.submitted) == 3
