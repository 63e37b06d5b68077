"""The state history of jobs run by the local executor: exact start and end times reach the timeline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.session import get_session, reset_sessions


def test_a_job_that_never_marks_itself_gets_the_executors_start_and_end(
    index_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "local")
    reset_sessions()
    script = index_env / "quiet.sh"
    script.write_text("#!/bin/sh\nsleep 0.3\n")  # no get_job_info(SetID=True), no set_complete
    script.chmod(0o755)
    psu.add_batch_to_queue(1, [{"script": str(script), "name": "quiet"}])
    assert psu.submit_jobs() == 1
    deadline = time.monotonic() + 60
    while psu.get_job_info(1, 0)["state"] == "submit":
        assert time.monotonic() < deadline, "the job did not finish within 60 s"
        psu.get_queue(Verbose=False)  # polls; a fresh poll resolves the job with its times
        time.sleep(0.1)
    job = psu.get_job_info(1, 0)
    assert job["state"] == "complete"
    (span,) = psu.get_timeline(1)
    assert (span["started"], span["ended"]) == (job["qstat"]["started"], job["qstat"]["ended"])
    assert span["queued"] <= span["started"] < span["ended"] and span["run_s"] >= 0.3
    sources = [r["source"] for r in get_session().index.job_events(1)]
    assert sources[0] == "index" and sources[-1] == "scheduler"
