"""End to end on every executor with a real backend: the README's example pipeline unchanged, a failing
job, qdel, a missing job, a spawning job and the start and end times the scheduler reports, through
the public API only.

local runs everywhere; sge needs the SGE that tests/clusters/sge.sh starts; pbs (through Slurm's PBS
wrappers) and slurm need the Slurm that tests/clusters/slurm.sh starts. Absent schedulers skip with the reason (and fail
under PARASCHUT_REQUIRE_CLUSTERS=1, as in CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.session import get_session, reset_sessions
from paraschut.testing import require_scheduler

ROOT = Path(__file__).resolve().parents[2]
TORQUE_BIN = "/opt/slurm-torque/usr/bin"
EXECUTORS = {
    "local": (None, ""),
    "sge": (("sge", ["qstat"]), ""),
    "pbs": (("slurm", [f"{TORQUE_BIN}/qstat", "-Q"]), f'[executors.pbs]\nbin_dir = "{TORQUE_BIN}"\n'),
    "slurm": (("slurm", ["squeue", "-h"]), ""),
}


@pytest.fixture(params=sorted(EXECUTORS))
def executor(request: pytest.FixtureRequest, index_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The executor name, with the index set up for it (PARASCHUT_EXECUTOR and a config file)."""
    name = request.param
    probe, config = EXECUTORS[name]
    if probe is not None:
        require_scheduler(*probe)
    (index_env / "none.toml").write_text(config)
    monkeypatch.setenv("PARASCHUT_EXECUTOR", name)
    reset_sessions()
    yield name
    for batch in list(psu.get_queue(Verbose=False) or {}):
        psu.qdel_batch(batch)  # leave nothing running on the scheduler


def _python_script(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\nimport paraschut as psu\n{body}\n")
    path.chmod(0o755)
    return str(path)


def _wait(predicate: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    psu.get_queue()
    raise AssertionError("timed out waiting for the jobs")


def _state(batch: int, index: int) -> str:
    psu.get_queue(Verbose=False)  # one poll: resolves jobs that left the queue
    return str(psu.get_job_info(batch, index)["state"])


def test_the_example_pipeline_runs_unchanged(executor: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "pipeline" / "run.py")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "EXAMPLE_TIMEOUT": "240"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "total words:" in proc.stdout
    assert "complete: 6/6" in proc.stdout  # 4 map jobs, a spawning job, the collect job


def test_a_failing_job_is_failed_with_its_exit_code(executor: str, tmp_path: Path) -> None:
    script = tmp_path / "fail.sh"
    script.write_text("#!/bin/sh\necho about to fail >&2\nexit 3\n")
    script.chmod(0o755)
    psu.add_batch_to_queue(1, [{"script": str(script), "name": "fails"}])
    assert psu.submit_jobs() == 1
    _wait(lambda: _state(1, 0) != "submit")
    info = psu.get_job_info(1, 0)
    assert info["state"] == "failed" and info["exit_code"] == 3, info
    assert "about to fail" in psu.print_log(1, 0, "stderr", Verbose=False)


def test_qdel_ends_a_running_job_and_returns_it_to_init(executor: str, tmp_path: Path) -> None:
    marker = tmp_path / "finished"
    script = _python_script(
        tmp_path / "slow.py", f"psu.get_job_info(SetID=True)\nimport time\ntime.sleep(60)\nopen({str(marker)!r}, 'w')"
    )
    psu.add_batch_to_queue(1, [{"script": script, "name": "slow"}])
    psu.submit_jobs()
    _wait(lambda: psu.get_job_info(1, 0)["state"] == "run")
    assert psu.qdel_job(1, 0) == 1
    assert psu.get_job_info(1, 0)["state"] == "init"
    time.sleep(2)
    assert not marker.exists()
    psu.get_queue(Verbose=False)
    assert psu.get_job_info(1, 0)["state"] == "init"


def test_a_job_gone_from_the_scheduler_is_missing_and_reset(executor: str, tmp_path: Path) -> None:
    script = tmp_path / "ok.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    psu.add_batch_to_queue(1, [{"script": str(script), "name": "lost"}])
    psu.set_job_field(1, 0, Field="executor", Value=executor)
    psu.set_job_field(1, 0, Field="ClusterID", Value="987654")  # an id the scheduler never had
    psu.set_job_field(1, 0, Field="state", Value="run")
    batch = psu.get_queue(Verbose=False, ResetMissing=False)
    assert batch is not None
    from paraschut.refresh import refresh
    from paraschut.session import get_session

    session = get_session()
    assert (1, 0) in refresh(session, session.index.jobs()).missing
    psu.get_queue(Verbose=False, ResetMissing=True)
    assert psu.get_job_info(1, 0)["state"] == "init"
    psu.submit_jobs()
    _wait(lambda: _state(1, 0) == "complete")


def test_a_spawning_job_completes_when_its_last_spawn_does(executor: str, tmp_path: Path) -> None:
    out = tmp_path / "spawns"
    out.mkdir()
    script = _python_script(
        tmp_path / "spawner.py",
        "import os\n"
        "job = psu.get_job_info(SetID=True)\n"
        "if 'SpawnID' not in job:\n"
        "    psu.spawn_submit(3)\n"
        "else:\n"
        f"    open(os.path.join({str(out)!r}, str(job['SpawnID'])), 'w').close()\n"
        "    psu.spawn_complete(job)\n",
    )
    psu.add_batch_to_queue(1, [{"script": script, "name": "spawner"}])
    psu.submit_jobs()
    _wait(lambda: _state(1, 0) == "complete", timeout=180)
    assert sorted(p.name for p in out.iterdir()) == ["0", "1", "2"]
    spawns = psu.spawn_get_info(1, 0)
    assert sorted(spawns) == [0, 1, 2] and {s["state"] for s in spawns.values()} == {"complete"}


def _epochs(batch: int, index: int) -> list[int]:
    """The ``date +%s`` lines the job has printed so far (read from its log, without polling)."""
    return [int(line) for line in psu.print_log(batch, index, "stdout", Verbose=False).split() if line.isdigit()]


def test_scheduler_start_and_end_times_reach_the_timeline(executor: str, tmp_path: Path) -> None:
    # The job never marks itself, so its events come from the polls, each `late` seconds after
    # what it sees (the start, the end): a time within `tolerance` of the job's own clock can only
    # be the one its executor reported (SGE: qstat -xml, then qacct; Slurm: squeue; PBS through
    # Slurm's wrappers: qstat -f, then scontrol; local: its spool).
    tolerance, late = 3, 5
    script = tmp_path / "times.sh"
    script.write_text("#!/bin/sh\ndate +%s\nsleep 10\ndate +%s\n")
    script.chmod(0o755)
    psu.add_batch_to_queue(1, [{"script": str(script), "name": "times"}])
    assert psu.submit_jobs() == 1
    _wait(lambda: len(_epochs(1, 0)) >= 1)
    time.sleep(late)
    seen_running = time.time()
    assert _state(1, 0) == "submit"  # one poll while it runs: the job still says nothing itself
    events = {e["state"]: dict(e) for e in get_session().index.job_events(1)}
    assert abs(events["run"]["time"] - _epochs(1, 0)[0]) <= tolerance, (events, seen_running)
    _wait(lambda: len(_epochs(1, 0)) >= 2)
    time.sleep(late)
    _wait(lambda: _state(1, 0) != "submit")
    assert psu.get_job_info(1, 0)["state"] == "complete"
    started, ended = _epochs(1, 0)
    events = {e["state"]: dict(e) for e in get_session().index.job_events(1)}
    assert set(events) == {"submit", "run", "complete"}, events
    run, complete = events["run"], events["complete"]
    assert run["source"] == complete["source"] == "scheduler", events
    assert abs(run["time"] - started) <= tolerance, (run, started, seen_running)
    assert abs(complete["time"] - ended) <= tolerance, (complete, ended)
    (span,) = psu.get_timeline(1)
    assert (span["started"], span["ended"], span["state"]) == (run["time"], complete["time"], "complete")
