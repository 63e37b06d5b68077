"""How status, cancel and summary combine squeue, scontrol, sacct and the jobcomp file (scheduler faked)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from paraschut import Executor
from paraschut.errors import SchedulerCommandError
from paraschut.models import COMPLETE, FAILED, RUN
from paraschut_slurm import commands, plugin

FIXTURES = Path(__file__).parent / "fixtures"
Answer = Callable[[list[str]], tuple[int, str, str]]


class FakeSlurm:
    """Stands in for paraschut.commands.run: answers by command name and records every argv."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []
        self.time_formats: list[str | None] = []

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        self.time_formats.append((kwargs.get("env") or {}).get("SLURM_TIME_FORMAT"))
        rc, out, err = self.answers[Path(argv[0]).name](argv)
        if rc != 0:
            raise SchedulerCommandError(argv, rc, err)
        return subprocess.CompletedProcess(argv, rc, out, err)

    def count(self, name: str) -> int:
        return sum(Path(argv[0]).name == name for argv in self.calls)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Answer]], FakeSlurm]:
    monkeypatch.setattr(commands, "_ACCOUNTING", {})
    monkeypatch.setattr(commands, "resolve", lambda command, bin_dir, executor: f"/fake/{command}")

    def install(answers: dict[str, Answer]) -> FakeSlurm:
        slurm = FakeSlurm(answers)
        monkeypatch.setattr(commands, "run", slurm)
        return slurm

    return install


@pytest.fixture
def jobcomp(tmp_path: Path) -> Path:
    path = tmp_path / "jobcomp.log"
    path.write_text(
        "JobId=30 UserId=root(0) Name=old JobState=FAILED Partition=debug NodeList=vm ExitCode=3:0\n"
        "JobId=31 UserId=root(0) Name=done JobState=COMPLETED Partition=debug NodeList=vm ExitCode=0:0\n"
        "JobId=32 UserId=root(0) Name=slow JobState=TIMEOUT Partition=debug NodeList=vm ExitCode=0:15\n"
    )
    return path


SQUEUE = ("1|FAILED|NonZeroExitCode|vm|debug|0:00|UNLIMITED|2026-12-03T03:41:50|2026-12-03T03:41:57|a\n"
          "2|RUNNING|None|vm|debug|0:05|UNLIMITED|2026-12-03T03:41:52|NONE|b\n")
def local(text: str) -> float:
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


NO_ACCOUNTING: Answer = lambda argv: (1, "", "Slurm accounting storage is disabled\n")  # noqa: E731


def test_status_resolves_every_way_with_one_squeue(fake: Callable[..., FakeSlurm], jobcomp: Path) -> None:
    slurm = fake({
        "squeue": lambda argv: (0, SQUEUE, ""),
        "scontrol": lambda argv: (0, "JobId=1 JobState=FAILED Reason=NonZeroExitCode ExitCode=7:0 NodeList=vm\n", ""),
        "sacct": NO_ACCOUNTING,
    })
    executor = Executor("slurm", {"jobcomp": str(jobcomp)})
    got = plugin.paraschut_status(executor=executor, cluster_ids=["1", "2", "30", "31", "32", "404", "bogus"])
    assert got is not None
    assert {cid: (s.state, s.exit_code) for cid, s in got.items()} == {
        "1": (FAILED, 7), "2": (RUN, None), "30": (FAILED, 3), "31": (COMPLETE, 0), "32": (FAILED, None)}
    assert got["32"].reason is not None and got["32"].reason.startswith("timeout")
    assert slurm.calls[0] == ["/fake/squeue", "-h", "-r", "-t", "all", "-j", "1,2,30,31,32,404", "-o",
                              "%i|%T|%r|%N|%P|%M|%l|%S|%e|%j"]
    assert ["/fake/scontrol", "-o", "show", "job", "1"] in slurm.calls
    # squeue's %S/%e, as Slurm printed them, whatever SLURM_TIME_FORMAT the user has
    assert set(slurm.time_formats) == {"standard"}
    assert got["2"].info["started"] == local("2026-12-03T03:41:52") and "ended" not in got["2"].info
    assert (got["1"].info["started"], got["1"].info["ended"]) == (local("2026-12-03T03:41:50"),
                                                                  local("2026-12-03T03:41:57"))
    assert "started" not in got["31"].info  # the jobcomp line here names no times
    # accounting is off: found out once, then never asked again
    plugin.paraschut_status(executor=executor, cluster_ids=["30"])
    assert (slurm.count("squeue"), slurm.count("sacct")) == (2, 1)


def test_sacct_first_when_accounting_is_on(fake: Callable[..., FakeSlurm], jobcomp: Path) -> None:
    slurm = fake({
        "squeue": lambda argv: (1, "", "slurm_load_jobs error: Invalid job id specified\n"),
        "sacct": lambda argv: (0, "30|CANCELLED by 0|0:15|vm|debug|2026-12-03T03:41:50|2026-12-03T03:41:57|old\n", ""),
    })
    got = commands.status(commands.Options(jobcomp=str(jobcomp)), ["30", "31"])
    assert got["30"].state == FAILED and got["30"].reason is not None and "cancelled" in got["30"].reason
    assert got["31"].state == COMPLETE  # not in accounting: the jobcomp file still knows it
    assert (got["30"].info["started"], got["30"].info["ended"]) == (local("2026-12-03T03:41:50"),
                                                                    local("2026-12-03T03:41:57"))
    assert (got["30"].info["StartTime"], got["30"].info["EndTime"]) == ("2026-12-03T03:41:50", "2026-12-03T03:41:57")
    assert slurm.count("scontrol") == 0


def test_unknown_ids_are_left_out(fake: Callable[..., FakeSlurm], tmp_path: Path) -> None:
    fake({"squeue": lambda argv: (1, "", "slurm_load_jobs error: Invalid job id specified\n"),
          "sacct": NO_ACCOUNTING})
    assert commands.status(commands.Options(jobcomp=str(tmp_path / "absent.log")), ["987654321"]) == {}
    assert commands.status(commands.Options(), ["not-an-id"]) == {}


def test_a_dead_controller_is_an_error(fake: Callable[..., FakeSlurm]) -> None:
    fake({"squeue": lambda argv: (1, "", "slurm_load_jobs error: Unable to contact slurm controller\n")})
    with pytest.raises(SchedulerCommandError, match="Unable to contact"):
        commands.status(commands.Options(), ["1"])


def test_cancel_leaves_out_what_slurm_refused(fake: Callable[..., FakeSlurm]) -> None:
    stderr = (FIXTURES / "scancel-v.txt").read_text()
    ids = dict(pair.split("=") for pair in (FIXTURES / "ids.txt").read_text().split())
    slurm = fake({"scancel": lambda argv: (0, "", stderr)})
    asked = [ids["held"], "987654321", ids["ok"]]
    assert plugin.paraschut_cancel(executor=Executor("slurm"), cluster_ids=asked) == [ids["held"]]
    assert slurm.calls == [["/fake/scancel", "-v", *asked]]
    assert plugin.paraschut_cancel(executor=Executor("slurm"), cluster_ids=[]) == []


def test_summary_falls_back_to_jobcomp(fake: Callable[..., FakeSlurm], jobcomp: Path) -> None:
    fake({"scontrol": lambda argv: (1, "", "slurm_load_jobs error: Invalid job id specified\n")})
    executor = Executor("slurm", {"jobcomp": str(jobcomp)})
    summary = plugin.paraschut_job_summary(executor=executor, cluster_id="30")
    assert summary is not None and summary["id"] == "30" and summary["ExitCode"] == "3:0"
    assert plugin.paraschut_job_summary(executor=executor, cluster_id="404") == {}


def test_check_names_the_partitions(fake: Callable[..., FakeSlurm]) -> None:
    fake({"sinfo": lambda argv: (0, (FIXTURES / "sinfo-partitions.txt").read_text(), "")})
    answer = plugin.paraschut_check_scheduler(executor=Executor("slurm"))
    assert answer == "slurm controller answered at /fake/sinfo: partitions debug*, batch"
