"""What a terminal shows: the table fitted to its width, colour and box drawing only where wanted,
--watch redrawn in place and stopped by a signal, progress bars, exit statuses, --json everywhere."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

import paraschut as psu

from ._run import BATCH, Terminal, on_tty, run, run_json, start

ANSI = re.compile(r"\033\[[0-9;?]*[A-Za-z]")
BIG_DONE = len(set(range(0, 400, 3)) - set(range(1, 400, 7)))  # complete jobs of the big batch


def visible(text: str) -> list[str]:
    """The lines a user reads, escape sequences removed."""
    return [ANSI.sub("", line) for line in text.replace("\r\n", "\n").split("\n")]


@pytest.fixture
def big(batch: Path) -> Path:
    """The batch plus one of 400 jobs with long index lists in four states."""
    template = psu.get_job_template()
    template.update(name=["a", "rather-long-batch-name", "for-the-table"], script=str(batch / "job.sh"))
    psu.add_batch_to_queue(BATCH + 1, [dict(template) for _ in range(400)])
    psu.set_job_field(BATCH + 1, list(range(0, 400, 3)), Value="complete", Unless={})
    psu.set_job_field(BATCH + 1, list(range(1, 400, 7)), Value="failed", Unless={})
    return batch


# -- the table -----------------------------------------------------------------------------------
@pytest.mark.parametrize("columns", [80, 200])
def test_table_fits_the_terminal_and_cuts_with_an_ellipsis(big: Path, columns: int) -> None:
    code, shown = on_tty("queue", columns=columns)
    assert code == 0
    lines = [line for line in visible(shown) if line]
    assert lines[0].split()[:2] == ["BatchID", "name"] and set(lines[1]) == {"─"}
    assert all(len(line) <= columns for line in lines), [len(line) for line in lines]
    row = next(line for line in lines if line.startswith(str(BATCH + 1)))
    assert row.endswith("…") and "\033[31m" in shown  # long index list cut; failed in red
    assert f"{BIG_DONE}/400" in row
    assert "█" in shown or "░" in shown  # progress bars on a terminal


def test_piped_output_is_plain_and_never_cut(big: Path) -> None:
    out = run("queue").stdout
    assert "\033[" not in out and "─" not in out and "…" not in out and "█" not in out
    row = next(line for line in out.splitlines() if line.startswith(str(BATCH + 1)))
    assert "398]" in row or "399]" in row  # the whole index list
    cut = run("queue", env={"COLUMNS": "80"}).stdout  # COLUMNS fits piped output too
    assert all(len(line) <= 80 for line in cut.splitlines()) and "..." in cut


def test_colour_modes(batch: Path) -> None:
    psu.set_job_field(BATCH, 1, Value="failed", Unless={})
    assert "\033[31m" in run("queue", "--color=always").stdout
    assert "\033[31m" in run("--color", "always", "queue").stdout
    assert "\033[31m" in run("queue", env={"FORCE_COLOR": "1"}).stdout
    assert "\033[31m" in run("queue", "--color=always", env={"NO_COLOR": "1"}).stdout  # --color decides
    assert "\033[" not in run("queue", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    code, shown = on_tty("queue", "--color=never")
    assert code == 0 and "\033[31m" not in shown and "failed [1]" in shown


# -- watch ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_watch_redraws_in_place_and_restores_the_terminal(big: Path, sig: int) -> None:
    term = Terminal("queue", "--watch", "0.2", columns=100, lines=30)
    first = term.read_until(f"complete: {BIG_DONE}/403")
    assert first.startswith("\033[?1049h\033[?25l")  # alternate screen, cursor hidden
    term.read_until("\033[H", timeout=60)
    shown_frames = term.text().count("every 0.2s: paraschut queue")
    deadline = time.monotonic() + 60
    while term.text().count("every 0.2s: paraschut queue") < shown_frames + 1:  # at least one redraw
        assert time.monotonic() < deadline
        term.read_until("every", timeout=5)
        term._read(0.5)
    code, shown = term.finish(sig)
    assert code == 0 and "Traceback" not in shown
    tail = shown[shown.rindex("\033[?1049l") - len("\033[?25h"):]
    assert tail.startswith("\033[?25h\033[?1049l")  # cursor shown, normal screen back
    assert f"complete: {BIG_DONE}/403" in tail  # and the last frame left on it
    assert "\033[2J" not in shown[shown.index("\033[?1049h") + 20:]  # no clearing between frames: no flicker
    last_frame = shown.split("\033[H")[-1].split("\033[?25h")[0]  # the last drawing on the alternate screen
    frame = [line for line in visible(last_frame) if line.strip()]
    assert all(len(line) <= 100 for line in frame), [line for line in frame if len(line) > 100]
    assert any("█" in line or "░" in line for line in frame)  # per batch and overall progress


def test_watch_frames_fit_a_short_terminal(big: Path) -> None:
    for number in range(2, 12):
        psu.add_batch_to_queue(BATCH + number, [psu.get_job_template() | {"script": "x"}])
    term = Terminal("queue", "--watch", "0.3", columns=100, lines=10)
    term.read_until("more batch(es)")
    code, shown = term.finish(signal.SIGTERM)
    assert code == 0
    frame = shown.split("\033[H")[-1].split("\033[?25h")[0]  # the last drawing on the alternate screen
    assert len(frame.split("\n")) <= 9 and "on queue:" in frame and "more batch(es)" in frame


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_watch_piped_prints_frames_and_stops_with_0(batch: Path, sig: int) -> None:
    proc = start("queue", "--watch", "0.2")
    assert proc.stdout is not None
    seen = ""
    while seen.count("every 0.2s") < 2:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        seen += line
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err
    assert "\033[" not in seen + out and f"{BATCH}  " in seen


# -- progress ------------------------------------------------------------------------------------
def test_submit_shows_progress_on_a_terminal_only(batch: Path) -> None:
    template = psu.get_job_template()
    template.update(script=str(batch / "job.sh"))
    psu.add_batch_to_queue(BATCH + 1, [dict(template) for _ in range(1500)])
    code, shown = on_tty("submit", "--batch", str(BATCH + 1))
    assert code == 0 and "submitted 1500 job(s)" in shown
    assert "submitting" in shown and "1500/1500" in shown and "█" in shown
    psu.add_batch_to_queue(BATCH + 2, [dict(template) for _ in range(1500)])
    proc = run("submit", "--batch", str(BATCH + 2))
    assert proc.stderr == "" and proc.stdout == "submitted 1500 job(s)\n"


# -- --json everywhere ---------------------------------------------------------------------------
def test_every_listing_command_prints_json(batch: Path) -> None:
    queue = run_json("queue")
    assert queue["batches"][0]["counts"] == {"init": 3} and queue["batches"][0]["name"] == ["cli", "demo"]
    assert queue["summary"] == {"jobs": 3, "complete": 0, "failed": 0, "on_queue": 0, "running": 0,
                                "missing": 0, "spawn_failed": 0, "executor_errors": {}}
    assert run_json("info", str(BATCH), "0")["JobIndex"] == 0
    assert "file" in [r["executor"] for r in run_json("plugins")["executors"]]
    assert run_json("config")["settings"]["executor"]["value"] == "file"
    assert run_json("doctor", "--executor", "file")["ok"] is True
    run("submit")
    # submitted, not run yet: its log exists (created owner-only before submission) and is empty
    assert run("log", str(BATCH), "0").stdout.strip() == ""
    subprocess.run(["sh", str(batch / "jobs" / "paraschut-jobs.sh")], check=True)
    log = run_json("log", str(BATCH), "0", "--lines", "2")
    assert log == {"BatchID": BATCH, "JobIndex": 0, "stream": "stdout", "history": -1,
                   "lines": ["out-0 line4", "out-0 line5"]}
    run("log", str(BATCH), "0", "--json", "--follow", code=2)
    run("queue", "--json", "--watch", "1", code=2)


def test_info_text_is_one_field_per_line(batch: Path) -> None:
    lines = run("info", str(BATCH), "2").stdout.splitlines()
    fields = dict(line.split(None, 1) for line in lines if len(line.split(None, 1)) == 2)
    assert fields["JobIndex"] == "2" and fields["name"] == json.dumps(["cli", "demo"])


# -- exit statuses -------------------------------------------------------------------------------
def test_help_documents_exit_statuses() -> None:
    out = run("--help").stdout
    for code in ("0", "1", "2", "3", "4", "130"):
        assert re.search(rf"^  {code} ", out, re.M), code


def test_index_busy_exits_3(batch: Path) -> None:
    holder = sqlite3.connect(batch / "jobs.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = run("reset", str(BATCH), code=3, env={"PARASCHUT_BUSY_TIMEOUT": "0.2"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.stderr.startswith("paraschut: error: ") and len(proc.stderr.splitlines()) == 1


def fake_sge(batch: Path, qsub: str) -> dict[str, str]:
    """A config whose sge executor takes its commands from a folder holding only ``qsub``."""
    bin_dir = batch / "bin"
    bin_dir.mkdir()
    (bin_dir / "qsub").write_text("#!/bin/sh\n" + qsub)
    (bin_dir / "qsub").chmod(0o755)
    config = batch / "paraschut.toml"
    config.write_text(f'[executors.sge]\nbin_dir = "{bin_dir}"\n')
    return {"PARASCHUT_CONFIG": str(config)}


def test_scheduler_failures_exit_4_and_leave_jobs_in_init(batch: Path) -> None:
    if "sge" not in [r["executor"] for r in run_json("plugins")["executors"]]:
        pytest.skip("paraschut-sge is not installed")
    env = fake_sge(batch, "echo 'qsub: unknown queue nosuch.q' >&2\nexit 1\n")
    proc = run("submit", "--executor", "sge", code=4, env=env)
    assert "unknown queue nosuch.q" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert {j["state"] for j in run_json("queue")["batches"][0]["jobs"]} == {"init"}
    (batch / "bin" / "qsub").unlink()
    assert "not found" in run("submit", "--executor", "sge", code=4, env=env).stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_submission_exits_128_plus_signal_and_releases_its_jobs(batch: Path, sig: int, code: int) -> None:
    if "sge" not in [r["executor"] for r in run_json("plugins")["executors"]]:
        pytest.skip("paraschut-sge is not installed")
    marker = batch / "qsub-started"
    env = fake_sge(batch, f"touch {marker}\nsleep 60\n")
    proc = start("submit", "--executor", "sge", env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and "interrupted" in err and "Traceback" not in err
    assert {j["state"] for j in run_json("queue")["batches"][0]["jobs"]} == {"init"}


def test_errors_are_one_line_and_debug_adds_the_traceback(batch: Path) -> None:
    for args in (["info", str(BATCH), "9"], ["queue", "--filter", "x = 1; DROP TABLE jobs"]):
        proc = run(*args, code=1)
        assert proc.stderr.startswith("paraschut: error: ") and len(proc.stderr.splitlines()) == 1
        debug = run("--debug", *args, code=1).stderr
        assert debug.startswith("Traceback") and debug.splitlines()[-1] == proc.stderr.strip()
    assert "Traceback" in run("info", str(BATCH), "9", "--debug", code=1).stderr


def test_rm_usage_without_terminal_exits_2_and_removes_nothing(batch: Path) -> None:
    assert "--yes" in run("rm", "--state", "init", code=2).stderr
    assert run_json("queue")["summary"]["jobs"] == 3


# -- the real local executor ---------------------------------------------------------------------
def test_a_batch_on_the_local_executor_from_submit_to_complete(batch: Path) -> None:
    if "local" not in [r["executor"] for r in run_json("plugins")["executors"]]:
        pytest.skip("paraschut-local is not installed")
    assert run("submit", "--executor", "local").stdout == "submitted 3 job(s)\n"
    deadline = time.monotonic() + 90
    while run_json("queue")["summary"]["complete"] < 3:
        assert time.monotonic() < deadline, run("queue").stdout
        time.sleep(0.5)
    row = next(line for line in run("queue").stdout.splitlines() if line.startswith(str(BATCH)))
    assert row.split() == [str(BATCH), "cli/demo", "3/3", "3", "complete", "[0-2]"]
    assert run_json("log", str(BATCH), "1", "--err")["lines"] == ["err-1 oops"]
    code, shown = on_tty("queue", columns=80)
    assert code == 0 and "████████████████████" in shown  # all done: full bars
