"""The contract every executor plugin passes: submit, batched status, exit codes, cancel, environment,
and hostile job names and paths that must reach the job intact and never run as shell code."""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from attrs import evolve

from ..errors import ParaschutError
from ..manager import ExecutorManager
from ..models import COMPLETE, FAILED, Executor, JobSpec, JobStatus, Submission
from ..plugins import get_plugin_manager

__all__ = [
    "CANARY_NAME", "CANARY_VARIABLE", "HOSTILE_NAMES", "HOSTILE_PATHS", "HOSTILE_VALUES", "ExecutorContract",
    "make_spec", "wait_for_state", "write_script",
]

#: Values that break naive quoting: they must reach the job byte for byte.
HOSTILE_VALUES: dict[str, str] = {
    "PSU_SPACES": "a b  c",
    "PSU_COMMA": "x,y=z",
    "PSU_QUOTES": "it's \"quoted\"",
    "PSU_DOLLAR": "$HOME and `id` and $(id)",
    "PSU_SEMI": "a;b|c&d>e",
    "PSU_UNICODE": "é😀",
}

#: The variable holding the canary file's path: hostile names and paths try to create it
#: (``touch $PSU_CANARY``) if some shell ever evaluates them. It is set in the job's environment
#: and in the submitting process's, so a shell on either side would find it. Payloads without a
#: ``$`` (which some schedulers cannot carry in paths) create ``psu-canary`` in the shell's
#: working directory instead: the test runs in the canary's folder, and the job's folders and
#: the home directory are searched too.
CANARY_VARIABLE = "PSU_CANARY"
CANARY_NAME = "psu-canary"

#: Job names (label -> name) that break naive quoting or option parsing. A scheduler may show a
#: cleaned-up name, but the job must run as submitted and none of it may run as shell code.
HOSTILE_NAMES: dict[str, str] = {
    "command substitution": "$(touch $PSU_CANARY)",
    "backquotes": "`touch $PSU_CANARY`",
    "chaining": "x; touch $PSU_CANARY | cat & wait",
    "relative payload": "`touch psu-canary`;touch psu-canary",
    "newline": "first\nsecond; touch $PSU_CANARY",
    "tab": "a\tb",
    "leading dash": "-N evil -o /dev/null",
    "glob": "*?[ab]{c,d}",
    "quotes": "it's \"quoted\"",
    "non-ASCII": "é😀 \u05e9\u05dc\u05d5\u05dd \u202eevil",
    "percent": "%j %x %%",
    "empty": "",
    "long": "n" * 500,
}

#: Path parts (label -> one file-name component) used in a job's working directory, script,
#: stdout and stderr paths. Each must reach the job byte for byte, or the executor must refuse
#: the job with a ParaschutError before submitting it (and list the label in ``refused_paths``).
HOSTILE_PATHS: dict[str, str] = {
    "space": "a b  c",
    "single quote": "it's",
    "double quote": 'say "hi"',
    "command substitution": "$(touch $PSU_CANARY)",
    "backquotes": "`touch psu-canary`",
    "chaining": "x;touch psu-canary|y&z",
    "newline": "line1\nline2",
    "tab": "a\tb",
    "glob": "*?[x]",
    "leading dash": "-o x",
    "non-ASCII": "é😀\u05e9\u202eevil",
    "percent": "100%j %x",
    "dollar": "$HOME$JOB_ID${USER}",
    "comma and colon": "a,b:c",
    "backslash": "a\\nb\\",
    "hash and at": "#x@y",
}


def write_script(path: Path, body: str) -> str:
    """Write an executable ``#!/bin/sh`` script and return its absolute path."""
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path.resolve())


def make_spec(
    tmp: Path, body: str, *, name: str = "contract", index: int = 0, env: Mapping[str, str] | None = None,
    resources: Mapping[str, str] | None = None, queue: str | None = None,
) -> JobSpec:
    """A JobSpec for a script with ``body``, logging into ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    script = write_script(tmp / f"{name}_{index}.sh", body)
    return JobSpec(
        batch_id=1, job_index=index, name=name, script=script, workdir=str(tmp),
        stdout=str(tmp / f"{name}_{index}.out"), stderr=str(tmp / f"{name}_{index}.err"),
        env=dict(env or {}), resources=dict(resources or {}), queue=queue,
    )


def wait_for_state(
    manager: ExecutorManager, executor: Executor, cluster_id: str, states: set[str], timeout: float
) -> JobStatus | None:
    """Poll the batched status until the job reaches one of ``states`` (None: it left no trace)."""
    deadline = time.monotonic() + timeout
    status: JobStatus | None = None
    while time.monotonic() < deadline:
        status = manager.status(executor, [cluster_id]).get(cluster_id)
        if status is not None and status.state in states:
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {cluster_id} did not reach {sorted(states)} in {timeout} s: last {status}")


class ExecutorContract:
    """Subclass it in a plugin's tests and override the ``executor`` fixture."""

    executor_name: ClassVar[str] = ""
    #: False for executors that never run jobs themselves (the file executor).
    runs_jobs: ClassVar[bool] = True
    #: Seconds a trivial job may take from submission to its final state.
    timeout: ClassVar[float] = 60.0

    @pytest.fixture
    def manager(self) -> ExecutorManager:
        return ExecutorManager(get_plugin_manager())

    @pytest.fixture
    def executor(self) -> Executor:
        return Executor(self.executor_name)

    @pytest.fixture
    def jobdir(self, tmp_path: Path) -> Path:
        path = tmp_path / "jobs"
        path.mkdir()
        os.chmod(tmp_path, 0o755)  # noqa: S103 - schedulers running as another user read it
        return path

    def test_executor_is_registered(self, manager: ExecutorManager) -> None:
        assert self.executor_name in manager.executors

    def test_submit_returns_an_id(self, manager: ExecutorManager, executor: Executor, jobdir: Path) -> None:
        sub = manager.submit(executor, make_spec(jobdir, "exit 0"))
        assert sub.cluster_id
        again = manager.submit(executor, make_spec(jobdir, "exit 0", index=1))
        assert again.cluster_id != sub.cluster_id

    def test_check_scheduler_answers(self, manager: ExecutorManager, executor: Executor) -> None:
        answer = manager.check_scheduler(executor)
        assert answer and answer != "no check implemented by the plugin"

    def test_status_of_no_jobs_is_empty(self, manager: ExecutorManager, executor: Executor) -> None:
        assert manager.status(executor, []) == {}

    def test_job_completes(self, manager: ExecutorManager, executor: Executor, jobdir: Path) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        spec = make_spec(jobdir, "echo hello-out; echo hello-err >&2; exit 0")
        sub = manager.submit(executor, spec)
        status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        assert status is not None and status.state == COMPLETE, status
        out = Path(sub.stdout or spec.stdout)
        assert "hello-out" in out.read_text()
        assert "hello-err" in Path(sub.stderr or spec.stderr).read_text()

    def test_failing_job_keeps_its_exit_code(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        sub = manager.submit(executor, make_spec(jobdir, "exit 7"))
        status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        assert status is not None and status.state == FAILED
        assert status.exit_code == 7

    def test_find_submitted_finds_a_submission_by_its_stdout(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        """What a submitter killed before recording a job relies on (optional hook: None skips)."""
        since = time.time()
        spec = make_spec(jobdir, "exit 0", name="findme")
        never = make_spec(jobdir, "exit 0", name="neverseen", index=1)
        found = manager.find_submitted(executor, [spec, never], since)
        if found is None:
            pytest.skip(f"the {self.executor_name} executor does not implement paraschut_find_submitted")
        assert found == {}
        sub = manager.submit(executor, spec)
        assert manager.find_submitted(executor, [spec, never], since) == {spec.key: sub.cluster_id}

    def test_wait_says_whether_the_jobs_left_the_queue(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        """What wait_jobs relies on between polls (optional hook: None skips): False while a job
        runs (after the timeout, not before), True once the jobs ended, as status then agrees."""
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        long = manager.submit(executor, make_spec(jobdir, "sleep 30", name="waitlong")).cluster_id
        answer = manager.wait(executor, [long], 0.5)
        if answer is None:
            manager.cancel(executor, [long])
            pytest.skip(f"the {self.executor_name} executor does not implement paraschut_wait")
        assert answer is False
        quick = manager.submit(executor, make_spec(jobdir, "exit 3", name="waitquick", index=1)).cluster_id
        manager.cancel(executor, [long])
        assert manager.wait(executor, [long, quick], self.timeout) is True
        statuses = manager.status(executor, [long, quick])
        assert not any(status.on_queue for status in statuses.values()), statuses

    def test_environment_reaches_the_job_intact(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        dump = jobdir / "env.txt"
        body = "\n".join(f'printf "%s=%s\\n" {k} "${k}" >> {dump}' for k in HOSTILE_VALUES)
        sub = manager.submit(executor, make_spec(jobdir, body, env=HOSTILE_VALUES, name="env job"))
        status = wait_for_state(manager, executor, sub.cluster_id, {COMPLETE, FAILED}, self.timeout)
        assert status is not None and status.state == COMPLETE, status
        seen = dict(line.split("=", 1) for line in dump.read_text().splitlines())
        assert seen == HOSTILE_VALUES

    def test_cancel_stops_a_running_job(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        marker = jobdir / "finished"
        sub = manager.submit(executor, make_spec(jobdir, f"sleep 30; touch {marker}"))
        wait_for_state(manager, executor, sub.cluster_id, {"run"}, self.timeout)
        assert sub.cluster_id in manager.cancel(executor, [sub.cluster_id])
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            status = manager.status(executor, [sub.cluster_id]).get(sub.cluster_id)
            if status is None or not status.on_queue:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("cancelled job still on the queue")
        assert not marker.exists()

    # -- hostile names and paths --------------------------------------------------------------
    #: Labels of HOSTILE_PATHS this executor refuses (with a ParaschutError, before submitting):
    #: what its scheduler cannot carry. Document each one for your users.
    refused_paths: ClassVar[frozenset[str]] = frozenset()
    #: Labels of HOSTILE_NAMES this executor refuses.
    refused_names: ClassVar[frozenset[str]] = frozenset()

    def finish_jobs(
        self, manager: ExecutorManager, executor: Executor, subs: Sequence[Submission]
    ) -> dict[str, JobStatus]:
        """Wait until every submitted job has finished (one batched status call per round) and
        return their statuses. Executors that do not run jobs themselves override this to run
        them (the file executor runs its script with bash)."""
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        ids = [s.cluster_id for s in subs]
        deadline = time.monotonic() + self.timeout
        while True:
            statuses = manager.status(executor, ids) if ids else {}
            if all(c in statuses and statuses[c].state in (COMPLETE, FAILED) for c in ids):
                return statuses
            assert time.monotonic() < deadline, f"jobs not finished in {self.timeout} s: {statuses}"
            time.sleep(0.5)

    @pytest.fixture
    def canary(self, jobdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """The file a hostile name or path would create if a shell ever evaluated it."""
        path = jobdir.parent / CANARY_NAME
        monkeypatch.setenv(CANARY_VARIABLE, str(path))
        monkeypatch.chdir(jobdir.parent)
        return path

    @staticmethod
    def assert_no_canary(canary: Path) -> None:
        """No shell ran a payload: neither canary exists, here, in a job's folder or in $HOME."""
        found = [p for p in canary.parent.rglob(CANARY_NAME)] + [
            p for p in (Path.home() / CANARY_NAME,) if p.exists()]
        assert not found, f"a hostile name or path ran as shell code: {found}"

    def _submit_each(
        self, manager: ExecutorManager, executor: Executor, specs: Mapping[str, JobSpec], refused: frozenset[str],
        what: str,
    ) -> dict[str, Submission]:
        """Submit each spec; a refusal must be a ParaschutError and declared in ``refused``."""
        subs: dict[str, Submission] = {}
        for label, spec in specs.items():
            try:
                subs[label] = manager.submit(executor, spec)
            except ParaschutError as exc:
                assert label in refused, f"{what} {label!r} refused but not declared in refused_{what}s: {exc}"
                continue
            assert label not in refused, f"{what} {label!r} is declared refused but was submitted"
        return subs

    def test_hostile_job_names_run_the_job_and_never_a_shell(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path, canary: Path
    ) -> None:
        specs = {}
        for number, (label, name) in enumerate(HOSTILE_NAMES.items()):
            result = jobdir / f"name{number}.txt"
            body = f'printf "%s" "$PSU_VALUE" > {shlex.quote(str(result))}'
            env = {"PSU_VALUE": f"ran {name}", CANARY_VARIABLE: str(canary)}
            specs[label] = evolve(make_spec(jobdir, body, name="name", index=number, env=env), name=name)
        subs = self._submit_each(manager, executor, specs, self.refused_names, "name")
        statuses = self.finish_jobs(manager, executor, list(subs.values()))
        for number, (label, name) in enumerate(HOSTILE_NAMES.items()):
            if label not in subs:
                continue
            status = statuses.get(subs[label].cluster_id)
            assert status is None or status.state == COMPLETE, (label, status)
            assert (jobdir / f"name{number}.txt").read_bytes() == f"ran {name}".encode(), label
        self.assert_no_canary(canary)

    def _hostile_path_specs(self, jobdir: Path, canary: Path) -> dict[str, JobSpec]:
        specs = {}
        for number, (label, part) in enumerate(HOSTILE_PATHS.items()):
            folder = jobdir / f"path{number}" / part
            folder.mkdir(parents=True)
            result = shlex.quote(str(jobdir / f"path{number}.txt"))
            body = f'printf "%s" "$(pwd -P)" > {result}; echo "out {number}"; echo "err {number}" >&2'
            script = write_script(folder / f"{part}.sh", body)
            specs[label] = JobSpec(
                batch_id=1, job_index=number, name=f"path {number}", script=script, workdir=str(folder.resolve()),
                stdout=str(folder.resolve() / f"{part}.out"), stderr=str(folder.resolve() / f"{part}.err"),
                env={CANARY_VARIABLE: str(canary)},
            )
        return specs

    def _check_paths(self, specs: Mapping[str, JobSpec], subs: Mapping[str, Submission],
                     statuses: Mapping[str, JobStatus], jobdir: Path) -> None:
        for number, label in enumerate(HOSTILE_PATHS):
            if label not in subs:
                continue
            spec, sub = specs[label], subs[label]
            status = statuses.get(sub.cluster_id)
            assert status is None or status.state == COMPLETE, (label, status)
            assert (jobdir / f"path{number}.txt").read_bytes() == spec.workdir.encode(), label
            assert Path(sub.stdout or spec.stdout).read_bytes() == f"out {number}\n".encode(), label
            assert f"err {number}\n" in Path(sub.stderr or spec.stderr).read_text(), label

    def test_hostile_paths_reach_the_job_intact(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path, canary: Path
    ) -> None:
        specs = self._hostile_path_specs(jobdir, canary)
        subs = self._submit_each(manager, executor, specs, self.refused_paths, "path")
        statuses = self.finish_jobs(manager, executor, list(subs.values()))
        self._check_paths(specs, subs, statuses, jobdir)
        self.assert_no_canary(canary)

    def test_hostile_paths_reach_array_jobs_intact(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path, canary: Path
    ) -> None:
        if not manager.supports_arrays(executor):
            pytest.skip(f"the {self.executor_name} executor does not submit arrays")
        specs = self._hostile_path_specs(jobdir, canary)
        subs: dict[str, Submission] = {}
        every: list[Submission] = []
        for label, spec in specs.items():  # an array of two jobs sharing the hostile script and folder
            twin = evolve(spec, job_index=spec.job_index + 100, stdout=spec.stdout + "2", stderr=spec.stderr + "2")
            try:
                pair = manager.submit_array(executor, [spec, twin])
            except ParaschutError as exc:
                assert label in self.refused_paths, f"path {label!r} refused in an array but not declared: {exc}"
                continue
            assert label not in self.refused_paths, f"path {label!r} is declared refused but was submitted"
            subs[label] = pair[0]
            every += pair
        statuses = self.finish_jobs(manager, executor, every)
        self._check_paths(specs, subs, statuses, jobdir)
        self.assert_no_canary(canary)

    def test_logs_it_creates_itself_are_owner_only(
        self, manager: ExecutorManager, executor: Executor, jobdir: Path
    ) -> None:
        """An executor whose ExecutorInfo says ``creates_private_logs`` makes each job's stdout and
        stderr 0600 under a umask of 022 (the core does not create them for it), while what the job
        itself creates keeps the usual mode."""
        if not manager.check(executor).creates_private_logs:
            pytest.skip(f"the core creates the {self.executor_name} executor's logs owner-only before submitting")
        made = jobdir / "made-by-the-job"
        spec = make_spec(jobdir, f"echo out; echo err >&2; touch {shlex.quote(str(made))}")
        old = os.umask(0o022)
        try:
            sub = manager.submit(executor, spec)
            self.finish_jobs(manager, executor, [sub])
        finally:
            os.umask(old)
        for path in (sub.stdout or spec.stdout, sub.stderr or spec.stderr):
            assert os.stat(path).st_mode & 0o777 == 0o600, f"{path}: {oct(os.stat(path).st_mode & 0o777)}"
        assert os.stat(made).st_mode & 0o777 == 0o644, "the job's own files must keep the usual umask"

    def test_unknown_ids_are_left_out(self, manager: ExecutorManager, executor: Executor) -> None:
        if not self.runs_jobs:
            pytest.skip(f"the {self.executor_name} executor does not run jobs itself")
        assert "987654321" not in manager.status(executor, ["987654321"])
