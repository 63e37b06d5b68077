"""What a running job calls, in its no-argument forms (PARASCHUT_BATCH_ID / PARASCHUT_JOB_INDEX)."""

from __future__ import annotations

import socket

import pytest

import paraschut as psu

from ._fakes import job, script_lines


@pytest.fixture
def inside_job(env, monkeypatch: pytest.MonkeyPatch):
    """The environment of job 1/1 of a two-group batch, as the file executor would set it."""
    psu.add_batch_to_queue(1, [job(0, priority=2), job(1, priority=2, counter=0), job(2, priority=1)])
    assert psu.submit_jobs() == 2
    monkeypatch.setenv("PARASCHUT_BATCH_ID", "1")
    monkeypatch.setenv("PARASCHUT_JOB_INDEX", "1")
    return env


def test_get_job_info_without_arguments_reads_the_environment(inside_job) -> None:
    info = psu.get_job_info()
    assert (info["BatchID"], info["JobIndex"], info["counter"]) == (1, 1, 0)
    assert info["state"] == "submit"
    info = psu.get_job_info(SetID=True)
    assert info["state"] == "run"
    assert info["hostname"] == socket.gethostname()
    assert info["ClusterID"].startswith("file:psu1_1@")  # kept when the executor cannot tell


def test_explicit_arguments_win_over_the_environment(inside_job) -> None:
    assert psu.get_job_info(1, 0)["JobIndex"] == 0
    assert psu.get_job_info("1", "2")["JobIndex"] == 2


def test_no_environment_and_no_arguments_is_a_clear_error(env) -> None:
    with pytest.raises(psu.ParaschutError, match="PARASCHUT_BATCH_ID"):
        psu.get_job_info()
    with pytest.raises(psu.InvalidJobError):
        psu.get_job_info(1)
    with pytest.raises(psu.InvalidJobError):
        psu.get_job_info("one", 0)


def test_update_job_and_set_complete_without_arguments(inside_job, env) -> None:
    info = psu.get_job_info(SetID=True)
    info["counter"] += 1
    info["result"] = {"reads": 10}
    psu.update_job(info)
    done = psu.set_complete()
    assert done["state"] == "complete"
    got = psu.get_job_info()
    assert (got["state"], got["counter"], got["result"]) == ("complete", 1, {"reads": 10})
    assert got["qstat"]["executor"] == "file"


def test_set_complete_submit_starts_the_next_group(inside_job, env) -> None:
    psu.set_complete(psu.get_job_info(1, 0))
    psu.set_complete(Submit=True)
    assert script_lines(env.script) == ["psu1_0", "psu1_1", "psu1_2"]


def test_get_qstat(inside_job, env) -> None:
    qstat = psu.get_qstat()
    assert qstat["executor"] == "file" and qstat["id"].startswith("file:psu1_1@")
    assert psu.get_qstat({"BatchID": 1, "JobIndex": 2}) == {}


def test_the_running_job_learns_its_cluster_id_from_its_executor(env, monkeypatch: pytest.MonkeyPatch) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs(Executor="fake")
    monkeypatch.setenv("PARASCHUT_BATCH_ID", "1")
    monkeypatch.setenv("PARASCHUT_JOB_INDEX", "0")
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "fake")
    monkeypatch.setenv("FAKE_JOB_ID", "fake-0.server")
    assert psu.ClusterID == "fake-0.server"
    assert psu.get_job_info(SetID=True)["ClusterID"] == "fake-0.server"
    assert psu.get_qstat() == {"id": "fake-0.server", "fake": True}
    psu.set_complete()
    assert psu.get_job_info()["qstat"] == {"id": "fake-0.server", "fake": True}


def test_cluster_id_outside_a_job_is_none(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARASCHUT_EXECUTOR")
    assert psu.ClusterID is None
    with pytest.raises(AttributeError):
        psu.NoSuchThing  # noqa: B018
