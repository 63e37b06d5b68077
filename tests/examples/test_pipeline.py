"""The example pipeline (map jobs, a spawning job, a collect job) on the local executor, and its timeline
drawn by the ``paraschut timeline`` command: subprocesses on a real index, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], int]:
    """Run examples/pipeline/run.py once on the local executor with a private index: (env, BatchID)."""
    home = tmp_path_factory.mktemp("pipeline")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARASCHUT_")}
    env.update(
        PARASCHUT_DB=str(home / "jobs.sqlite"), PARASCHUT_JOB_DIR=str(home / "jobs"),
        PARASCHUT_CONFIG=str(home / "none.toml"), PARASCHUT_EXECUTOR="local", EXAMPLE_TIMEOUT="200",
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "pipeline" / "run.py")],
        capture_output=True, text=True, timeout=240, env=env, cwd=home,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "complete: 6/6" in proc.stdout and "total words:" in proc.stdout
    found = re.search(r"^batch (\d+):", proc.stdout, re.M)
    assert found, proc.stdout
    return env, int(found.group(1))


def paraschut(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "paraschut.cli", *args], capture_output=True, text=True, env=env, timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_the_spawning_job_spawned_and_the_collect_job_read_every_part(pipeline: Any) -> None:
    env, batch = pipeline
    info = json.loads(paraschut(env, "info", str(batch), "4", "--json").stdout)
    assert info["state"] == "collected" and len(info["output"]) >= 2  # the docs are split into parts
    collect = json.loads(paraschut(env, "info", str(batch), "5", "--json").stdout)
    assert collect["state"] == "complete" and collect["total_words"] > 1000


def test_timeline_json_shows_the_pipeline_order(pipeline: Any) -> None:
    env, batch = pipeline
    spans = json.loads(paraschut(env, "timeline", str(batch), "--json").stdout)["spans"]
    by_job = {s["JobIndex"]: s for s in spans}
    assert sorted(by_job) == list(range(6)) and len(spans) == 6
    assert [s["JobIndex"] for s in spans] == [0, 1, 2, 3, 4, 5]  # priority 1 first, then 0
    assert {by_job[i]["state"] for i in range(5)} == {"collected"} and by_job[5]["state"] == "complete"
    for span in spans:
        assert span["queued"] <= span["started"] <= span["ended"], span
        assert span["hostname"] and span["ClusterID"]
    assert by_job[4]["spawned"] is not None  # the spawning job waited for its spawns
    # the collect job was queued only once every job of the higher group had ended
    assert by_job[5]["queued"] >= max(by_job[i]["ended"] for i in range(5))


def test_timeline_html_is_drawn(pipeline: Any, tmp_path: Path) -> None:
    env, batch = pipeline
    out = tmp_path / "timeline.html"
    assert f"wrote {out}" in paraschut(env, "timeline", str(batch), "-o", str(out)).stdout
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert page.count('class="running"') == 6 and "priority 0" in page and "example_spawn" in page


def test_timeline_png_is_drawn(pipeline: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    env, batch = pipeline
    out = tmp_path / "timeline.png"
    paraschut(env, "timeline", str(batch), "-o", str(out))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_timeline_usage_and_errors(pipeline: Any, tmp_path: Path) -> None:
    env, batch = pipeline
    cmd = [sys.executable, "-m", "paraschut.cli", "timeline"]
    usage = subprocess.run([*cmd, str(batch)], capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and "-o FILE" in usage.stderr
    bad = subprocess.run([*cmd, str(batch), "-o", str(tmp_path / "t.pdf")], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("paraschut: error: cannot draw a timeline")
    missing = subprocess.run([*cmd, "12345", "--json"], capture_output=True, text=True, env=env)
    assert missing.returncode == 1 and "no batch 12345" in missing.stderr
    assert not list(tmp_path.iterdir())
