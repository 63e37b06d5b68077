"""The paraschut command line, driven as a user would: a subprocess on a real index with the file executor."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import paraschut as psu
from paraschut.cli import main
from paraschut.session import reset_sessions

BATCH = 1001
JOB_SCRIPT = """#!/bin/sh
for i in 1 2 3 4 5; do echo "out-$PARASCHUT_JOB_INDEX line$i"; done
echo "err-$PARASCHUT_JOB_INDEX oops" >&2
"""


def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run ``paraschut ARGS`` (stdin not a terminal) and check its exit status."""
    proc = subprocess.run(
        [sys.executable, "-m", "paraschut.cli", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def start(*args: str) -> subprocess.Popen[str]:
    """Start ``paraschut ARGS`` in the background; killed after two minutes so a hang fails the test."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "paraschut.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    guard = threading.Timer(120, proc.kill)
    guard.daemon = True
    guard.start()
    return proc


def run_json(*args: str, code: int = 0) -> Any:
    return json.loads(run(*args, "--json", code=code).stdout)


def run_on_tty(*args: str, answer: str = "") -> tuple[int, str]:
    """Run ``paraschut ARGS`` with stdin and stdout on a terminal; returns (status, what it showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "paraschut.cli", *args], stdin=slave, stdout=slave, stderr=slave
    )
    guard = threading.Timer(120, proc.kill)
    guard.daemon = True
    guard.start()
    os.close(slave)
    if answer:
        os.write(master, answer.encode())
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode(errors="replace")


def states() -> dict[int, str]:
    """JobIndex -> state of the test batch, read through the CLI."""
    batches = run_json("queue")["batches"]
    return {j["JobIndex"]: j["state"] for b in batches if b["BatchID"] == BATCH for j in b["jobs"]}


@pytest.fixture
def batch(index_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A batch of three jobs running a real script, submitted (when asked) to the file executor."""
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "file")
    script = index_env / "job.sh"
    script.write_text(JOB_SCRIPT)
    script.chmod(0o755)
    template = psu.get_job_template()
    template.update(name=["cli", "demo"], script=str(script))
    psu.add_batch_to_queue(BATCH, [dict(template) for _ in range(3)])
    yield index_env
    reset_sessions()


def run_written_jobs(home: Path) -> None:
    """Do what a user of the file executor does: run the script it wrote."""
    subprocess.run(["sh", str(home / "jobs" / "paraschut-jobs.sh")], check=True)


# -- queue ---------------------------------------------------------------------------------------
def test_queue_text_shows_batch_title_and_states(batch: Path) -> None:
    out = run("queue").stdout
    assert f"{BATCH}: cli/demo" in out
    assert "init:" in out and "[0-2]" in out
    assert "\033[" not in out  # no colour when stdout is not a terminal


def test_queue_json_parses_back(batch: Path) -> None:
    data = run_json("queue")
    assert [b["BatchID"] for b in data["batches"]] == [BATCH]
    assert [j["JobIndex"] for j in data["batches"][0]["jobs"]] == [0, 1, 2]
    assert data["batches"][0]["jobs"][0]["name"] == ["cli", "demo"]


def test_queue_state_and_batch_options_select(batch: Path) -> None:
    assert run_json("queue", "--state", "submit")["batches"] == []
    assert run_json("queue", "--batch", "999")["batches"] == []
    assert len(run_json("queue", "--batch", str(BATCH), "--state", "init")["batches"][0]["jobs"]) == 3
    assert "init:" not in run("queue", "--state", "submit").stdout


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


def test_queue_colours_failed_jobs_on_a_terminal_only(batch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    psu.set_job_field(BATCH, 1, Value="failed", Unless={})
    code, shown = run_on_tty("queue")
    assert code == 0
    assert "\033[31m    failed:" in shown
    assert "\033[" not in run("queue").stdout
    monkeypatch.setenv("NO_COLOR", "1")
    code, shown = run_on_tty("queue")
    assert code == 0 and "failed:" in shown and "\033[" not in shown


def test_queue_watch_stops_cleanly_on_sigint_and_sigterm(batch: Path) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = start("queue", "--watch", "0.2")
        assert proc.stdout is not None
        lines = []
        while f"{BATCH}: cli/demo" not in "".join(lines):  # wait for one full draw
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Traceback" not in err


# -- submit, info, log ---------------------------------------------------------------------------
def test_submit_then_queue_shows_submit(batch: Path) -> None:
    assert run("submit", "--batch", str(BATCH)).stdout.strip() == "submitted 3 job(s)"
    assert "submit:" in run("queue").stdout
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
    assert "missing: [0]" in run("queue").stdout
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
    proc = run("rm", str(BATCH), code=1)
    assert "--yes" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert len(states()) == 3


def test_rm_asks_on_a_terminal(batch: Path) -> None:
    code, shown = run_on_tty("rm", str(BATCH), answer="n\n")
    assert code == 1 and "[y/N]" in shown and "aborted" in shown
    assert len(states()) == 3
    code, shown = run_on_tty("rm", str(BATCH), answer="y\n")
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
