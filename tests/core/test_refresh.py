"""Polling: one batched status call per executor, missing jobs, failures, and a broken scheduler."""

from __future__ import annotations

import pytest

import paraschut as psu

from ._fakes import job


def _submitted(env, executor: str = "fake", n: int = 2, batch: int = 1) -> list[str]:
    psu.add_batch_to_queue(batch, [job(i) for i in range(n)])
    psu.submit_jobs(Executor=executor, Filter=f"BatchID = {batch}")
    return [psu.get_job_info(batch, i)["ClusterID"] for i in range(n)]


def test_status_is_asked_once_per_executor_for_all_its_jobs(env) -> None:
    ids = _submitted(env, n=5)
    env.fake.status_calls.clear()
    psu.get_queue(Verbose=False)
    assert env.fake.status_calls == [ids]


def test_missing_jobs_are_reported_and_reset(env, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _submitted(env, n=3)
    psu.set_job_field(1, 2, Value="complete")
    env.fake.lose(ids[0])
    psu.get_queue()
    out = capsys.readouterr().out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "missing: [0]" in lines
    assert "| missing: 1" in out
    assert psu.get_job_info(1, 0)["state"] == "submit"  # reporting alone changes nothing
    psu.get_queue(ReportMissing=True)
    assert "missing job 1/0" in capsys.readouterr().out
    assert psu.get_queue(ResetMissing=True, Verbose=False)[1][0]["state"] == "init"
    assert psu.get_job_info(1, 1)["state"] == "submit"
    psu.get_queue()
    assert "missing" not in capsys.readouterr().out
    assert psu.submit_jobs(Executor="fake") == 1


def test_a_running_job_is_marked_in_the_display(env, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _submitted(env, n=3)
    psu.set_job_field(1, [0, 1, 2], Value="run")
    env.fake.run(ids[1])
    psu.get_queue()
    out = capsys.readouterr().out
    assert "run: [0, 1*, 2]" in [" ".join(line.split()) for line in out.splitlines()]
    assert "on queue: 3 jobs, 1 running" in out


def test_a_failed_status_resolves_to_failed_with_exit_code(env) -> None:
    ids = _submitted(env)
    env.fake.finish(ids[0], exit_code=137, reason="killed: memory limit")
    env.fake.finish(ids[1])
    jobs = psu.get_queue(Verbose=False)[1]
    assert (jobs[0]["state"], jobs[0]["exit_code"], jobs[0]["error"]) == ("failed", 137, "killed: memory limit")
    assert (jobs[1]["state"], jobs[1]["exit_code"]) == ("complete", 0)
    assert psu.set_batch_field(1) == 1  # the failed one goes back to init, the complete one stays


def test_a_failed_status_without_reason_records_the_exit_code(env, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _submitted(env, n=1)
    env.fake.finish(ids[0], exit_code=2)
    psu.get_queue()
    assert "| failed: 1" in capsys.readouterr().out
    assert psu.get_job_info(1, 0)["error"] == "exit code 2"


def test_a_job_that_set_its_own_state_is_not_overwritten(env) -> None:
    ids = _submitted(env, n=1)
    psu.set_complete(psu.get_job_info(1, 0))
    env.fake.finish(ids[0], exit_code=1)
    psu.get_queue(Verbose=False)
    assert psu.get_job_info(1, 0)["state"] == "complete"


def test_a_resubmitted_job_is_not_resolved_by_its_old_cluster_id(env) -> None:
    ids = _submitted(env, n=1)
    psu.set_job_field(1, 0, Value="init", Unless={})
    psu.submit_jobs(Executor="fake")
    new = psu.get_job_info(1, 0)["ClusterID"]
    assert new != ids[0]
    env.fake.finish(ids[0], exit_code=1)
    psu.get_queue(Verbose=False)
    assert psu.get_job_info(1, 0)["state"] == "submit"


def test_one_broken_executor_does_not_stop_the_others(env, capsys: pytest.CaptureFixture[str]) -> None:
    good = _submitted(env, executor="fake", batch=1)
    _submitted(env, executor="broken", batch=2)
    env.fake.finish(good[0])
    env.fake.lose(good[1])
    psu.get_queue()
    out = capsys.readouterr().out
    assert "! executor 'broken' could not be polled" in out
    assert "cannot connect to server" in out
    assert psu.get_job_info(1, 0)["state"] == "complete"
    assert "| missing: 1" in out  # only the fake job; the broken executor's jobs are not called missing
    assert {j["state"] for j in psu.get_queue(Verbose=False)[2]} == {"submit"}
    # and submitting still works
    psu.add_batch_to_queue(3, [job(0)])
    assert psu.submit_jobs(Executor="fake", Filter="BatchID = 3") == 1


def test_a_job_of_an_uninstalled_executor_is_an_error_not_missing(env, capsys: pytest.CaptureFixture[str]) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs()
    with psu.locked_job(1, 0) as j:
        j["executor"] = "gone"
    psu.get_queue()
    out = capsys.readouterr().out
    assert "! executor 'gone' could not be polled" in out and "missing" not in out


def test_an_executor_raising_a_plain_exception_is_wrapped(env, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _submitted(env, n=1)
    env.fake.plain_error = ValueError("parser choked")
    psu.get_queue()
    out = capsys.readouterr().out
    assert "! executor 'fake' could not be polled" in out
    assert "ValueError: parser choked" in out
    assert psu.get_job_info(1, 0)["ClusterID"] == ids[0]
    assert psu.get_job_info(1, 0)["state"] == "submit"


def test_running_spawns_show_one_mark_each(
    env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "fake")
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs()
    psu.spawn_submit(psu.get_job_info(1, 0), 3)
    rows = psu.spawn_get_info(1, 0)
    env.fake.run(rows[0]["ClusterID"])
    env.fake.run(rows[2]["ClusterID"])
    psu.get_queue()
    out = capsys.readouterr().out
    assert "spawn: [0**]" in [" ".join(line.split()) for line in out.splitlines()]
    assert "on queue: 3 jobs" in out


def test_an_absent_job_is_missing_only_after_the_grace_period(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_MISSING_GRACE", "3600")
    ids = _submitted(env, n=1)
    env.fake.lose(ids[0])
    assert psu.get_queue(ResetMissing=True, Verbose=False)[1][0]["state"] == "submit"
    monkeypatch.setenv("PARASCHUT_MISSING_GRACE", "0")
    assert psu.get_queue(ResetMissing=True, Verbose=False)[1][0]["state"] == "init"


def test_a_recent_snapshot_is_shared_instead_of_asking_again(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_STATUS_INTERVAL", "3600")
    ids = _submitted(env, n=2)
    env.fake.status_calls.clear()
    psu.get_queue(Verbose=False)
    psu.get_queue(Verbose=False)
    assert env.fake.status_calls == [ids]
    # a job submitted after the snapshot counts as queued, not missing
    psu.add_batch_to_queue(2, [job(0)])
    psu.submit_jobs(Executor="fake", Filter="BatchID = 2")
    psu.get_queue(ResetMissing=True, Verbose=False)
    assert psu.get_job_info(2, 0)["state"] == "submit"
    # what the snapshot says finished is only resolved by a real poll
    env.fake.finish(ids[0])
    psu.get_queue(Verbose=False)
    assert psu.get_job_info(1, 0)["state"] == "submit"
    monkeypatch.setenv("PARASCHUT_STATUS_INTERVAL", "0")
    psu.get_queue(Verbose=False)
    assert psu.get_job_info(1, 0)["state"] == "complete"
