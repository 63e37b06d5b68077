"""Job state transitions as a hypothesis state machine over the public API and a controllable executor.

A model of every job's state runs beside a real index; after each step the index must match the
model: submissions follow the priority rules exactly, a poll resolves only jobs that left the
queue, a state a job set itself is never overwritten, missing jobs reset to init, qdel returns
jobs to init.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import paraschut as psu
import paraschut.session
from paraschut import scheduling
from paraschut.manager import ExecutorManager
from paraschut.plugins import get_plugin_manager

from ._fakes import FakeExecutor

ENV_KEYS = (
    "PARASCHUT_DB", "PARASCHUT_JOB_DIR", "PARASCHUT_CONFIG", "PARASCHUT_STATUS_INTERVAL", "PARASCHUT_EXECUTOR",
    "PARASCHUT_MISSING_GRACE",
)
Key = tuple[int, int]


class JobStates(RuleBasedStateMachine):
    """The index against a model of job states."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp()
        self.saved = {k: os.environ.get(k) for k in ENV_KEYS}
        os.environ.update(
            PARASCHUT_DB=os.path.join(self.tmp, "jobs.sqlite"), PARASCHUT_JOB_DIR=os.path.join(self.tmp, "jobs"),
            PARASCHUT_CONFIG=os.path.join(self.tmp, "none.toml"), PARASCHUT_STATUS_INTERVAL="0",
            PARASCHUT_MISSING_GRACE="0",
            PARASCHUT_EXECUTOR="fake",
        )
        paraschut.session.reset_sessions()
        pm = get_plugin_manager(load_entrypoints=False)
        self.fake = FakeExecutor("fake")
        pm.register(self.fake, name="fake")
        self.original_manager = paraschut.session.ExecutorManager
        manager = ExecutorManager(pm)
        paraschut.session.ExecutorManager = lambda: manager  # type: ignore[assignment,misc]
        self.script = os.path.join(self.tmp, "job.sh")
        with open(self.script, "w") as fh:
            fh.write("#!/bin/sh\n")
        self.model: dict[Key, str] = {}
        self.priority: dict[Key, int] = {}
        self.cid: dict[Key, str] = {}
        self.next_batch = 1

    def teardown(self) -> None:
        paraschut.session.reset_sessions()
        paraschut.session.ExecutorManager = self.original_manager  # type: ignore[misc]
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------
    def _active(self) -> list[Key]:
        return sorted(k for k, s in self.model.items() if s in ("submit", "run"))

    def _queue_state(self, key: Key) -> str | None:
        status = self.fake.statuses.get(self.cid.get(key, ""))
        return None if status is None else status.state

    # -- rules ----------------------------------------------------------------------------
    @initialize(priorities=st.lists(st.sampled_from([0, 1, 2, 150]), min_size=1, max_size=5))
    def first_batch(self, priorities: list[int]) -> None:
        self.add_batch(priorities)

    @rule(priorities=st.lists(st.sampled_from([0, 1, 2, 150]), min_size=1, max_size=5))
    def add_batch(self, priorities: list[int]) -> None:
        batch = self.next_batch
        self.next_batch += 1
        jobs = [{"script": self.script, "priority": p, "name": f"b{batch}"} for p in priorities]
        psu.add_batch_to_queue(batch, jobs)
        for i, p in enumerate(priorities):
            self.model[(batch, i)] = "init"
            self.priority[(batch, i)] = p

    @rule()
    def submit(self) -> None:
        jobs = [(b, j, s, self.priority[(b, j)]) for (b, j), s in self.model.items()]
        expected = {(b, j) for b, j, _, _ in scheduling.eligible(jobs)}
        before = len(self.fake.submitted)
        count = psu.submit_jobs()
        new = {(spec.batch_id, spec.job_index): cid for cid, spec in self.fake.submitted[before:]}
        assert set(new) == expected, (new, expected)
        assert count == len(expected)
        for key, cid in new.items():
            self.model[key] = "submit"
            self.cid[key] = cid

    @precondition(lambda self: self._active())
    @rule(data=st.data(), what=st.sampled_from(["run", "exit0", "exit3", "lose"]))
    def scheduler_event(self, data: st.DataObject, what: str) -> None:
        key = data.draw(st.sampled_from(self._active()))
        cid = self.cid[key]
        if what == "run":
            self.fake.run(cid)
        elif what == "lose":
            self.fake.lose(cid)
        else:
            self.fake.finish(cid, 0 if what == "exit0" else 3)

    @precondition(lambda self: self._active())
    @rule(data=st.data())
    def job_completes_itself(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self._active()))
        psu.set_complete(psu.get_job_info(*key))
        self.model[key] = "complete"

    @rule(reset=st.booleans())
    def poll(self, reset: bool) -> None:
        psu.get_queue(Verbose=False, ResetMissing=reset)
        for key in self._active():
            queue = self._queue_state(key)
            if queue == "complete":
                self.model[key] = "complete"
            elif queue == "failed":
                self.model[key] = "failed"
            elif queue is None and reset:
                self.model[key] = "init"

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def qdel_batch(self, data: st.DataObject) -> None:
        batch = data.draw(st.sampled_from(sorted({b for b, _ in self.model})))
        psu.qdel_batch(batch)
        for key in self._active():
            if key[0] == batch:
                self.model[key] = "init"

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def reset_batch(self, data: st.DataObject) -> None:
        batch = data.draw(st.sampled_from(sorted({b for b, _ in self.model})))
        psu.set_batch_field(batch)
        for key, state in self.model.items():
            if key[0] == batch and state not in ("complete", "collected"):
                self.model[key] = "init"

    # -- invariants -----------------------------------------------------------------------
    @invariant()
    def index_matches_model(self) -> None:
        got = psu.get_queue(Verbose=False) if self.model else {}
        seen = {(j["BatchID"], j["JobIndex"]): j["state"] for jobs in (got or {}).values() for j in jobs}
        # get_queue polls: apply what that poll did to the model before comparing
        for key in self._active():
            queue = self._queue_state(key)
            if queue in ("complete", "failed"):
                self.model[key] = queue
        assert seen == self.model

    @invariant()
    def failed_jobs_keep_their_exit_code(self) -> None:
        for key, state in self.model.items():
            if state == "failed":
                assert psu.get_job_info(*key)["exit_code"] == 3


JobStates.TestCase.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestJobStates = JobStates.TestCase
