"""Spawns: a job multiplying itself, each spawn finishing, and the last one completing the job."""

from __future__ import annotations

import pytest

import paraschut as psu
from paraschut import spawning
from paraschut.session import get_session

from ._fakes import job, script_lines


@pytest.fixture
def spawner(env, monkeypatch: pytest.MonkeyPatch):
    psu.add_batch_to_queue(1, [job(0, priority=2), job(1, priority=1)])
    psu.submit_jobs()
    monkeypatch.setenv("PARASCHUT_BATCH_ID", "1")
    monkeypatch.setenv("PARASCHUT_JOB_INDEX", "0")
    psu.get_job_info(SetID=True)
    return env


def _be_spawn(monkeypatch: pytest.MonkeyPatch, spawn_id: int, count: int) -> None:
    monkeypatch.setenv("PARASCHUT_SPAWN_ID", str(spawn_id))
    monkeypatch.setenv("PARASCHUT_SPAWN_COUNT", str(count))


def test_spawn_submit_complete_and_get_info(spawner, monkeypatch: pytest.MonkeyPatch) -> None:
    assert psu.spawn_submit(3) == 3
    assert psu.get_job_info()["state"] == "spawn"
    assert script_lines(spawner.script)[-3:] == ["psu1_0_s0", "psu1_0_s1", "psu1_0_s2"]
    assert "PARASCHUT_SPAWN_ID=2" in spawner.script.read_text().splitlines()[-1]
    info = psu.spawn_get_info()
    assert sorted(info) == [0, 1, 2]
    assert {row["state"] for row in info.values()} == {"submit"}
    assert len({row["ClusterID"] for row in info.values()}) == 3
    results = []
    for sid in (2, 0, 1):
        _be_spawn(monkeypatch, sid, 3)
        me = psu.get_job_info(SetID=True)
        assert (me["SpawnID"], me["SpawnCount"]) == (sid, 3)
        assert psu.spawn_get_info()[sid]["state"] == "run"
        assert psu.get_job_info(1, 0)["state"] == "spawn"  # the job itself stays spawning
        results.append(psu.spawn_complete())
    assert results == [False, False, True]
    assert psu.spawn_complete() is False  # finishing twice changes nothing
    assert psu.get_job_info(1, 0)["state"] == "complete"
    assert {row["state"] for row in psu.spawn_get_info(1, 0).values()} == {"complete"}


def test_set_complete_in_a_spawn_finishes_the_spawn(spawner, monkeypatch: pytest.MonkeyPatch) -> None:
    psu.spawn_submit(psu.get_job_info(), 2)
    _be_spawn(monkeypatch, 0, 2)
    psu.set_complete()
    assert psu.get_job_info(1, 0)["state"] == "spawn"
    _be_spawn(monkeypatch, 1, 2)
    psu.set_complete(Submit=True)
    assert psu.get_job_info(1, 0)["state"] == "complete"
    assert script_lines(spawner.script)[-1] == "psu1_1"


def test_spawn_complete_submit_starts_the_next_group(spawner, monkeypatch: pytest.MonkeyPatch) -> None:
    psu.spawn_submit(1)
    _be_spawn(monkeypatch, 0, 1)
    assert psu.spawn_complete(Submit=True) is True
    assert script_lines(spawner.script)[-1] == "psu1_1"


def test_spawn_errors(spawner) -> None:
    with pytest.raises(psu.InvalidJobError):
        psu.spawn_submit(0)
    with pytest.raises(psu.InvalidJobError):
        psu.spawn_submit()
    with pytest.raises(psu.ParaschutError, match="outside a spawn"):
        psu.spawn_complete()
    with pytest.raises(psu.ParaschutError, match="not spawning"):
        psu.spawn_resubmit()


def test_a_failed_spawn_never_completes_the_job(spawner) -> None:
    psu.spawn_submit(2)
    session = get_session()
    assert spawning.finish_spawn(session, (1, 0), 0, "failed", 3) is False
    assert spawning.finish_spawn(session, (1, 0), 1, "complete", 0) is False
    assert spawning.finish_spawn(session, (1, 0), 0, "complete", 0) is False
    assert psu.get_job_info(1, 0)["state"] == "spawn"
    assert psu.spawn_get_info(1, 0)[0]["exit_code"] == 3


def test_spawn_resubmit_redoes_only_lost_spawns(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "fake")
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs()
    psu.spawn_submit(psu.get_job_info(1, 0), 3)
    rows = psu.spawn_get_info(1, 0)
    env.fake.lose(rows[1]["ClusterID"])
    spawning.finish_spawn(get_session(), (1, 0), 2, "complete", 0)
    assert psu.spawn_resubmit(1, 0) == [1]
    after = psu.spawn_get_info(1, 0)
    assert after[1]["ClusterID"] != rows[1]["ClusterID"] and after[1]["state"] == "submit"
    assert after[0]["ClusterID"] == rows[0]["ClusterID"]
    history = get_session().index.query("SELECT SpawnID, run FROM log_history WHERE SpawnID IS NOT NULL ORDER BY id")
    assert [tuple(r) for r in history] == [(0, 0), (1, 0), (2, 0), (1, 1)]


def test_the_scheduler_finishing_spawns_completes_the_job(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "fake")
    psu.add_batch_to_queue(1, [job(0, priority=2), job(1)])
    psu.submit_jobs()
    psu.spawn_submit(psu.get_job_info(1, 0), 2)
    rows = psu.spawn_get_info(1, 0)
    env.fake.run(rows[0]["ClusterID"])
    env.fake.finish(rows[1]["ClusterID"])
    psu.get_queue(Verbose=False)
    assert psu.get_job_info(1, 0)["state"] == "spawn"
    env.fake.finish(rows[0]["ClusterID"])
    assert psu.submit_jobs() == 1
    assert psu.get_job_info(1, 0)["state"] == "complete"
    assert psu.get_job_info(1, 1)["state"] == "submit"


def test_a_failed_spawn_is_redone_by_spawn_resubmit(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "fake")
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs()
    psu.spawn_submit(psu.get_job_info(1, 0), 2)
    rows = psu.spawn_get_info(1, 0)
    env.fake.finish(rows[0]["ClusterID"], exit_code=1)
    env.fake.finish(rows[1]["ClusterID"])
    psu.get_queue(Verbose=False)
    assert {k: v["state"] for k, v in psu.spawn_get_info(1, 0).items()} == {0: "failed", 1: "complete"}
    assert psu.get_job_info(1, 0)["state"] == "spawn"  # waits for the user (README: spawn_resubmit)
    assert psu.spawn_resubmit(1, 0) == [0]
    redo = psu.spawn_get_info(1, 0)[0]["ClusterID"]
    env.fake.finish(redo)
    psu.get_queue(Verbose=False)
    assert psu.get_job_info(1, 0)["state"] == "complete"


def test_the_dashboard_flags_a_job_a_failed_spawn_holds_in_spawn(
    env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from paraschut.api import queue_snapshot
    from paraschut.dashboard import as_json

    monkeypatch.setenv("PARASCHUT_EXECUTOR", "fake")
    psu.add_batch_to_queue(1, [job(0), job(1)])
    psu.submit_jobs()
    psu.spawn_submit(psu.get_job_info(1, 1), 2)
    rows = psu.spawn_get_info(1, 1)
    env.fake.finish(rows[0]["ClusterID"], exit_code=3)
    psu.get_queue()
    report = capsys.readouterr().out
    assert "    spawn failed: [1]" in report and "| spawn failed: 1 (spawn_resubmit)" in report
    snap = queue_snapshot()
    assert snap.status.spawn_failed == {(1, 1)}
    data = as_json(snap.jobs, snap.names, snap.status)
    assert data["batches"][0]["spawn_failed"] == [1] and data["summary"]["spawn_failed"] == 1
    psu.get_queue(Display={"complete"})  # not asked for: not shown
    assert "spawn failed:" not in capsys.readouterr().out.split("on queue")[0]
    assert psu.spawn_resubmit(1, 1) == [0]
    assert queue_snapshot().status.spawn_failed == set()


def test_a_job_a_spawn_submits_is_not_that_spawn(spawner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Executors that pass the submitter's whole environment on (sbatch --export=ALL, qsub -V) must
    not make the next job, submitted from inside the last spawn, believe it is that spawn."""
    psu.spawn_submit(psu.get_job_info(), 1)
    _be_spawn(monkeypatch, 0, 1)
    psu.set_complete(Submit=True)
    line = spawner.script.read_text().splitlines()[-1]
    assert script_lines(spawner.script)[-1] == "psu1_1"
    assert "PARASCHUT_SPAWN_ID= " in line or "PARASCHUT_SPAWN_ID=''" in line, line
    # job 1 runs with its own (empty) spawn variables over the inherited ones
    monkeypatch.setenv("PARASCHUT_JOB_INDEX", "1")
    _be_spawn(monkeypatch, 0, 1)
    monkeypatch.setenv("PARASCHUT_SPAWN_ID", "")
    monkeypatch.setenv("PARASCHUT_SPAWN_COUNT", "")
    me = psu.get_job_info(SetID=True)
    assert "SpawnID" not in me and me["state"] == "run"
    psu.set_complete(me)
    assert psu.get_job_info(1, 1)["state"] == "complete"
