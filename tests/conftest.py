"""Shared test fixtures: an isolated job index per test, and skips for absent schedulers."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Set by .ci/run: a scheduler that is absent fails the test instead of skipping it.
REQUIRE_CLUSTERS = os.environ.get("PARASCHUT_REQUIRE_CLUSTERS") == "1"


def require_scheduler(name: str, probe: list[str], env: dict[str, str] | None = None) -> None:
    """Skip (or, under PARASCHUT_REQUIRE_CLUSTERS=1, fail) unless ``probe`` runs and exits 0."""
    reason = None
    if shutil.which(probe[0], path=(env or os.environ).get("PATH")) is None:
        reason = f"{name} is not installed ({probe[0]} not on PATH); start it with tests/clusters/{name}.sh"
    else:
        try:
            proc = subprocess.run(probe, capture_output=True, text=True, timeout=30, env=env)
        except subprocess.TimeoutExpired:
            reason = f"{name} did not answer {' '.join(probe)} within 30 s"
        else:
            if proc.returncode != 0:
                reason = f"{name} is not running ({' '.join(probe)}: {proc.stderr.strip()[:200]})"
    if reason is None:
        return
    if REQUIRE_CLUSTERS:
        pytest.fail(f"PARASCHUT_REQUIRE_CLUSTERS=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def index_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh job index and job dir for this test, set through the environment."""
    home = tmp_path / "psu"
    home.mkdir()
    os.chmod(tmp_path, 0o755)
    monkeypatch.setenv("PARASCHUT_DB", str(home / "jobs.sqlite"))
    monkeypatch.setenv("PARASCHUT_JOB_DIR", str(home / "jobs"))
    monkeypatch.setenv("PARASCHUT_CONFIG", str(home / "none.toml"))
    monkeypatch.setenv("PARASCHUT_STATUS_INTERVAL", "0")  # every poll asks the executor
    monkeypatch.setenv("PARASCHUT_MISSING_GRACE", "0")  # an absent job is missing at once
    monkeypatch.delenv("PARASCHUT_EXECUTOR", raising=False)
    monkeypatch.delenv("PARASCHUT_MAX_JOBS", raising=False)
    for var in ("PARASCHUT_BATCH_ID", "PARASCHUT_JOB_INDEX", "PARASCHUT_SPAWN_ID", "PARASCHUT_SPAWN_COUNT"):
        monkeypatch.delenv(var, raising=False)
    yield home
    from paraschut.session import reset_sessions

    reset_sessions()
