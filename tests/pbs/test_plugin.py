"""The hooks against fake Torque and PBS Pro commands (recorded outputs, scripted exit codes), not a cluster."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from paraschut.errors import SchedulerCommandError, SchedulerNotFoundError
from paraschut.manager import ExecutorManager
from paraschut.models import COMPLETE, FAILED, RUN, Executor, JobSpec
from paraschut.testing.contract import HOSTILE_VALUES

from .fakes import FIXTURES, Fake, executor


def job(tmp_path: Path) -> JobSpec:
    return JobSpec(batch_id=1, job_index=2, name="step one", script=str(tmp_path / "job.sh"), workdir=str(tmp_path),
                   stdout=str(tmp_path / "o"), stderr=str(tmp_path / "e"), env=HOSTILE_VALUES)


def test_torque_submit_passes_values_in_the_environment(fake: Fake, manager: ExecutorManager) -> None:
    fake.answer("qstat", version="Version: 6.1.2\n")
    fake.answer("qsub", out=(FIXTURES / "torque-qsub.txt").read_text())
    sub = manager.submit(executor(fake), job(fake.path))
    assert (sub.cluster_id, sub.stdout) == ("4101.head.example.org", str(fake.path / "o"))
    (call,) = fake.calls("qsub")
    assert call["argv"][call["argv"].index("-v") + 1] == ",".join(sorted(HOSTILE_VALUES))
    assert call["env"] == HOSTILE_VALUES
    assert call["argv"][-3:] == ["-d", str(fake.path), str(fake.path / "job.sh")]


def test_torque_status_is_one_call_and_unknown_ids_are_left_out(fake: Fake, manager: ExecutorManager) -> None:
    fake.answer("qstat", version="Version: 6.1.2\n", out=(FIXTURES / "torque-qstat-f.txt").read_text(),
                err="qstat: Unknown Job Id Error 999.head.example.org\n", rc=153)
    ids = ["4101.head.example.org", "4096.head.example.org", "4095.head.example.org", "999.head.example.org"]
    statuses = manager.status(executor(fake), ids)
    assert {k: (v.state, v.exit_code) for k, v in statuses.items()} == {
        "4101.head.example.org": (RUN, None), "4096.head.example.org": (FAILED, 7),
        "4095.head.example.org": (COMPLETE, 0),
    }
    # Torque's start_time and comp_time, in epoch seconds (the flavour decides which names count)
    done = statuses["4095.head.example.org"].info
    assert (done["started"], done["ended"]) == (time.mktime((2015, 3, 3, 10, 1, 12, 0, 0, -1)),
                                                time.mktime((2015, 3, 3, 10, 1, 56, 0, 0, -1)))
    assert statuses["4101.head.example.org"].info["started"] == time.mktime((2015, 3, 3, 10, 15, 6, 0, 0, -1))
    assert [c["argv"] for c in fake.calls("qstat")] == [["-f", *ids]]
    assert manager.summary(executor(fake), "999.head.example.org") == {}
    assert manager.summary(executor(fake), "4096")["exit_status"] == "7"


def test_a_server_that_does_not_answer_is_an_error_after_retries(fake: Fake, manager: ExecutorManager) -> None:
    fake.answer("qstat", version="Version: 6.1.2\n", err="qstat: cannot connect to server head (errno=111)\n", rc=111)
    with pytest.raises(SchedulerCommandError, match="cannot connect") as error:
        manager.status(executor(fake), ["1.head"])
    assert error.value.returncode == 111 and error.value.argv[-2:] == ["-f", "1.head"]
    assert len(fake.calls("qstat")) == 2  # retried once (retries=1)


def test_pro_reads_history_as_json_and_falls_back_to_text(fake: Fake, manager: ExecutorManager) -> None:
    fake.answer("qstat", version="pbs_version = 19.1.3\n", json='{"Jobs": {"1231.pbsserver": {"comment": "\\q"}}}',
                out=(FIXTURES / "pro-qstat-x-f.txt").read_text())
    statuses = manager.status(executor(fake), ["1231.pbsserver", "1229.pbsserver"])
    assert {k: (v.state, v.exit_code) for k, v in statuses.items()} == {"1231.pbsserver": (FAILED, 7)}
    assert [c["argv"] for c in fake.calls("qstat")] == [
        ["-f", "-x", "-F", "json", "1231.pbsserver", "1229.pbsserver"],
        ["-f", "-x", "1231.pbsserver", "1229.pbsserver"],
    ]


def test_pro_json(fake: Fake, manager: ExecutorManager) -> None:
    fake.answer("qstat", version="pbs_version = 19.1.3\n", json=(FIXTURES / "pro-qstat-f-json.txt").read_text())
    statuses = manager.status(executor(fake), ["1230.pbsserver", "1234.pbsserver"])
    assert {k: v.state for k, v in statuses.items()} == {"1230.pbsserver": COMPLETE, "1234.pbsserver": RUN}
    assert statuses["1234.pbsserver"].info["started"] == time.mktime((2019, 6, 12, 9, 20, 12, 0, 0, -1))  # stime
    assert len(fake.calls("qstat")) == 1


def test_cancel_skips_ids_the_server_refused(fake: Fake, manager: ExecutorManager) -> None:
    fake.answer("qstat", version="Version: 6.1.2\n")
    fake.answer("qdel", err="qdel: Unknown Job Id 12.head\n", rc=153)
    assert manager.cancel(executor(fake), ["11.head", "12.head", "112.head"]) == ["11.head", "112.head"]
    assert [c["argv"] for c in fake.calls("qdel")] == [["11.head", "12.head", "112.head"]]
    fake.answer("qdel", err="qdel: Connection refused\n", rc=1)
    with pytest.raises(SchedulerCommandError):
        manager.cancel(executor(fake), ["11.head"])


def test_missing_commands_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manager: ExecutorManager) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SchedulerNotFoundError, match="/qsub' not found"):
        manager.submit(Executor("pbs", {"bin_dir": str(tmp_path), "flavour": "torque"}), job(tmp_path))
    with pytest.raises(SchedulerNotFoundError, match="'qstat'"):
        manager.status(Executor("pbs", {"flavour": "pro"}), ["1"])


def test_bin_dir_is_never_left_for_path(fake: Fake, tmp_path_factory: pytest.TempPathFactory,
                                        monkeypatch: pytest.MonkeyPatch, manager: ExecutorManager) -> None:
    # With Grid Engine installed, PATH's qsub is SGE's: a wrong bin_dir must fail, not submit there.
    monkeypatch.setenv("PATH", str(fake.path))
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(SchedulerNotFoundError, match=f"'{empty}/qsub'"):
        manager.submit(Executor("pbs", {"bin_dir": str(empty), "flavour": "torque"}), job(fake.path))
    assert fake.calls("qsub") == []
