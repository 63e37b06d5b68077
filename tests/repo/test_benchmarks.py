"""The benchmarks still run (on tiny sizes): they print figures and assert nothing, so nothing else
would notice one broken by a change of the API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("bench_index.py", ["200"], "submit_jobs s"),
        ("bench_local.py", ["20", "1", "--no-wait"], "paraschut's phases"),
        ("bench_local_plugin.py", ["--jobs", "20"], "xargs"),
    ],
)
def test_a_benchmark_runs_on_a_tiny_size(script: str, args: list[str], expected: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert expected in proc.stdout, proc.stdout
