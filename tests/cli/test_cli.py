"""The paraschut command line, driven as a user would: a subprocess on a real index with the file executor
(the ``batch`` fixture is in conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.cli import main

from ._run import BATCH, on_tty, run, run_json, start


def states() -> dict[int, str]:
    """JobIndex -> state of the test batch, read through the CLI."""
    batches = run_json("queue")["batches"]
    return {j["JobIndex"]: j["state"] for b in batches if b["BatchID"] == BATCH for j in b["jobs"]}


def run_written_jobs(home: Path) -> None:
    """Do what a user of the file executor does: run the script it wrote."""
    subprocess.run(["sh", str(home / "jobs" / "paraschut-jobs.sh")], check=True)


# -- queue ---------------------------------------------------------------------------------------
def test_queue_table_shows_one_row_per_batch(batch: Path) -> None:
    lines = run("queue").stdout.splitlines()
    assert lines[0].split() == ["BatchID", "name", "done", "init", "jobs"]
    assert lines[1].split() == [str(BATCH), "cli/demo", "0/3", "3", "init", "[0-2]"]
    assert lines[-1] == "on queue: 0 jobs, 0 running | complete: 0/3"
    assert "\033[" not in "".join(lines)  # no colour when stdout is not a terminal


def test_queue_text_is_get_queues_report(batch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    psu.get_queue()
    assert run("queue", "--text").stdout == capsys.readouterr().out
    assert f"{BATCH}: cli/demo\n    init:" in run("queue", "--text").stdout


def test_queue_json_parses_back(batch: Path) -> None:
    data = run_json("queue")
    assert [b["BatchID"] for b in data["batches"]] == [BATCH]
    assert [j["JobIndex"] for j in data["batches"][0]["jobs"]] == [0, 1, 2]
    assert data["batches"][0]["jobs"][0]["name"] == ["cli", "demo"]


def test_queue_state_and_batch_options_select(batch: Path) -> None:
    assert run_json("queue", "--state", "submit")["batches"] == []
    assert run_json("queue", "--batch", "999")["batches"] == []
    assert len(run_json("queue", "--batch", str(BATCH), "--state", "init")["batches"][0]["jobs"]) == 3
    assert "init" not in run("queue", "--state", "submit").stdout


def test_invalid_filter_is_one_line_error_without_traceback(batch: Path) -> None:
    proc = run("queue", "--filter", "name = 1; DROP TABLE jobs", code=1)
    assert proc.stderr.startswith("paraschut: error: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert len(states()) == 3


def test_debug_shows_the_traceback(batch: Path) -> None:
    proc = run("--debug", "queue", "--filter", "nosuchcolumn = 1", code=1)
    assert "Traceback" in proc.stderr and "InvalidFilterError" in proc.stderr


def test_usage_errors_exit_2(batch: Path) -> None:
    run("queue", "--no-such-option", code=2)
    run("submit", "--job", "1", code=2)
    run("rm", code=2)
    assert main(["--version"]) == 0


def test_queue_colours_failed_jobs_on_a_terminal_only(batch: Path) -> None:
    psu.set_job_field(BATCH, 1, Value="failed", Unless={})
    code, shown = on_tty("queue")
    assert code == 0
    assert "\033[31mfailed [1]\033[0m" in shown and "─" in shown
    assert "\033[" not in run("queue").stdout
    code, shown = on_tty("queue", env={"NO_COLOR": "1"})
    assert code == 0 and "failed [1]" in shown and "\033[" not in shown and "─" not in shown


# -- wait ----------------------------------------------------------------------------------------
def test_wait_returns_0_once_every_job_ended_and_shows_the_table(batch: Path) -> None:
    run("submit", "--executor", "local")  # real processes (the file executor's jobs never end by themselves)
    lines = run("wait", "--timeout", "60").stdout.splitlines()
    assert lines[1].split()[:3] == [str(BATCH), "cli/demo", "3/3"]
    assert lines[-1] == "on queue: 0 jobs, 0 running | complete: 3/3"
    assert set(states().values()) == {"complete"}


def test_wait_returns_1_when_a_job_failed_and_prints_json(batch: Path) -> None:
    script = batch / "job.sh"
    script.write_text(script.read_text() + '[ "$PARASCHUT_JOB_INDEX" != 1 ]\n')
    run("submit", "--executor", "local")
    data = run_json("wait", "--batch", str(BATCH), code=1)
    assert [j["state"] for j in data["batches"][0]["jobs"]] == ["complete", "failed", "complete"]


def test_wait_gives_up_after_its_timeout_with_124_naming_the_jobs(batch: Path) -> None:
    run("submit", "--job", "2", "--batch", str(BATCH))  # submitted, never run
    proc = run("wait", "--timeout", "0.3", code=124)
    assert proc.stderr == f"paraschut wait: 1 job(s) still queued or running after 0.3 s: {BATCH}/2\n"
    assert proc.stdout == ""
    run("wait", "--timeout", "0", code=2)
    assert states() == {0: "init", 1: "init", 2: "submit"}


def test_wait_with_nothing_submitted_returns_at_once(batch: Path) -> None:
    assert run("wait").stdout.splitlines()[-1] == "on queue: 0 jobs, 0 running | complete: 0/3"


# -- submit, info, log ---------------------------------------------------------------------------
def test_submit_then_queue_shows_submit(batch: Path) -> None:
    assert run("submit", "--batch", str(BATCH)).stdout.strip() == "submitted 3 job(s)"
    assert "submit [0-2]" in run("queue").stdout
    assert set(states().values()) == {"submit"}
    written = (batch / "jobs" / "paraschut-jobs.sh").read_text()
    assert f"# psu{BATCH}_2" in written
    assert run("submit").stdout.strip() == "submitted 0 job(s)"


def test_submit_one_job_and_filter(batch: Path) -> None:
    run("submit", "--batch", str(BATCH), "--job", "1")
    assert states() == {0: "init", 1: "submit", 2: "init"}
    run("submit", "--filter", "JobIndex = 2")
    assert states() == {0: "init", 1: "submit", 2: "submit"}


def test_submit_to_unknown_executor_lists_registered_ones(batch: Path) -> None:
    proc = run("submit", "--executor", "nosuch", code=1)
    assert "unknown executor 'nosuch'" in proc.stderr and "file" in proc.stderr
    assert set(states().values()) == {"init"}


def test_info_json(batch: Path) -> None:
    info = run_json("info", str(BATCH), "1")
    assert (info["BatchID"], info["JobIndex"], info["state"]) == (BATCH, 1, "init")
    run("info", str(BATCH), "7", code=1)


def test_log_prints_the_recorded_logs(batch: Path) -> None:
    assert "no recorded runs" in run("log", str(BATCH), "0", code=1).stderr
    run("submit")
    run_written_jobs(batch)
    out = run("log", str(BATCH), "0").stdout
    assert out.splitlines() == [f"out-0 line{i}" for i in range(1, 6)]
    assert run("log", str(BATCH), "2", "--err").stdout.strip() == "err-2 oops"
    assert run("log", str(BATCH), "0", "--lines", "2").stdout.splitlines() == ["out-0 line4", "out-0 line5"]
    assert run("log", str(BATCH), "0", "--grep", "line[13]").stdout.splitlines() == ["out-0 line1", "out-0 line3"]
    assert "LogIdx" in run("log", str(BATCH), "0", "--history", "5", code=1).stderr
    run("log", str(BATCH), "0", "--grep", "(", code=2)


def test_log_follow_prints_new_lines_until_interrupted(batch: Path) -> None:
    run("submit")
    run_written_jobs(batch)
    proc = start("log", str(BATCH), "0", "--follow", "--lines", "1")
    assert proc.stdout is not None
    assert proc.stdout.readline() == "out-0 line5\n"
    with open(batch / "jobs" / str(BATCH) / "logs" / "0.0.out", "a") as log:
        log.write("appended later\n")
    assert proc.stdout.readline() == "appended later\n"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 0


# -- reset, qdel, rm -----------------------------------------------------------------------------
def test_reset_keeps_complete_jobs_unless_all(batch: Path) -> None:
    run("submit")
    psu.set_job_field(BATCH, 0, Value="complete", Unless={})
    assert run("reset", str(BATCH)).stdout.strip() == "reset 2 job(s) to init"
    assert states() == {0: "complete", 1: "init", 2: "init"}
    run("reset", str(BATCH), "--all")
    assert set(states().values()) == {"init"}


def test_reset_jobs_and_failed(batch: Path) -> None:
    run("submit")
    run("reset", str(BATCH), "2")
    assert states() == {0: "submit", 1: "submit", 2: "init"}
    psu.set_job_field(BATCH, 1, Value="failed", Unless={})
    assert run("reset", "--failed").stdout.strip() == "reset 1 job(s) to init"
    assert states() == {0: "submit", 1: "init", 2: "init"}
    run("reset", code=2)


def make_missing(job_index: int) -> None:
    """Pretend a job went to the local executor, which does not know its cluster id: it is missing."""
    if "local" not in [r["executor"] for r in run_json("plugins")["executors"]]:
        pytest.skip("paraschut-local is not installed")
    psu.set_job_field(BATCH, job_index, Field="executor", Value="local", Unless={})
    psu.set_job_field(BATCH, job_index, Field="ClusterID", Value="999999999", Unless={})


def test_reset_missing(batch: Path) -> None:
    run("submit")
    make_missing(0)
    assert "missing [0]" in run("queue").stdout
    assert "missing: [0]" in run("queue", "--text").stdout
    assert "missing job" in run("queue", "--report-missing").stdout
    run("reset", "--missing")
    assert states() == {0: "init", 1: "submit", 2: "submit"}


def test_queue_reset_missing(batch: Path) -> None:
    run("submit")
    make_missing(2)
    assert "missing" not in run("queue", "--reset-missing").stdout
    assert states() == {0: "submit", 1: "submit", 2: "init"}


def test_qdel_returns_jobs_to_init(batch: Path) -> None:
    run("submit")
    assert "cancelled 1 job(s)" in run("qdel", str(BATCH), "0").stdout
    assert states() == {0: "init", 1: "submit", 2: "submit"}
    run("qdel", str(BATCH))
    assert set(states().values()) == {"init"}


def test_rm_refuses_without_yes_when_stdin_is_not_a_tty(batch: Path) -> None:
    proc = run("rm", str(BATCH), code=2)
    assert "--yes" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert len(states()) == 3


def test_rm_asks_on_a_terminal(batch: Path) -> None:
    code, shown = on_tty("rm", str(BATCH), answer="n\n")
    assert code == 1 and "[y/N]" in shown and "aborted" in shown
    assert len(states()) == 3
    code, shown = on_tty("rm", str(BATCH), answer="y\n")
    assert code == 0 and "removed 3 job(s)" in shown
    assert states() == {}


def test_rm_yes_removes_batch(batch: Path) -> None:
    assert run("rm", str(BATCH), "--yes").stdout.strip() == "removed 3 job(s)"
    assert run_json("queue")["batches"] == []
    assert not (batch / "jobs" / str(BATCH)).exists()


def test_rm_by_state(batch: Path) -> None:
    psu.set_job_field(BATCH, [0, 2], Value="failed", Unless={})
    run("rm", "--state", "failed", "--yes")
    assert states() == {1: "init"}


# -- plugins, config, doctor ---------------------------------------------------------------------
def test_plugins_lists_the_file_executor(batch: Path) -> None:
    assert any(line.split()[:2] == ["file", "paraschut-core"] for line in run("plugins").stdout.splitlines())
    data = run_json("plugins")
    row = next(r for r in data["executors"] if r["executor"] == "file")
    assert row["distribution"] == "paraschut-core" and row["module"] == "paraschut.file_executor"
    assert data["failed"] == {}


def test_plugins_respects_disabled_plugins(batch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_DISABLE_PLUGINS", "file")
    assert "file" not in [r["executor"] for r in run_json("plugins")["executors"]]


def test_config_shows_sources(batch: Path) -> None:
    line = next(line for line in run("config").stdout.splitlines() if line.startswith("executor"))
    assert "file" in line and "environment" in line
    data = run_json("config")
    assert data["settings"]["executor"] == {"value": "file", "source": "environment PARASCHUT_EXECUTOR"}
    assert data["settings"]["db"]["value"] == str(batch / "jobs.sqlite")
    assert data["settings"]["max_jobs"]["source"] == "default"
    assert data["config_file_exists"] is False


def test_config_error_is_one_line(batch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_MAX_JOBS", "many")
    proc = run("config", code=1)
    assert proc.stderr.startswith("paraschut: error: max_jobs") and "Traceback" not in proc.stderr


def test_doctor_json_reports_a_healthy_index(batch: Path) -> None:
    report = run_json("doctor", "--executor", "file")
    assert report["ok"] is True and report["problems"] == []
    assert report["index"]["integrity"] == "ok"
    assert report["index"]["path"] == str(batch / "jobs.sqlite")
    assert report["index"]["tables"]["jobs"] == 3
    assert report["executors"]["file"]["ok"] is True
    assert "appends jobs to" in report["executors"]["file"]["detail"]
    assert "ok" in run("doctor", "--executor", "file").stdout


def test_doctor_fails_on_an_unknown_default_executor(batch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "nosuch")
    report = run_json("doctor", "--executor", "file", code=1)
    assert report["ok"] is False
    assert any("nosuch" in p for p in report["problems"])
    run("doctor", "--executor", "file", code=1)


def test_in_process_main_returns_status(batch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["batches"][0]["BatchID"] == BATCH
    assert main(["info", str(BATCH), "99"]) == 1
    assert capsys.readouterr().err.startswith("paraschut: error: no job")
    assert os.environ["PARASCHUT_EXECUTOR"] == "file"
