"""Skipping tests whose scheduler is absent, or failing them where a scheduler is required (CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

import pytest

__all__ = ["REQUIRE_ENV", "require_scheduler"]

#: Set to 1 (as CI does) and an absent scheduler fails its tests instead of skipping them.
REQUIRE_ENV = "PARASCHUT_REQUIRE_CLUSTERS"


def require_scheduler(name: str, probe: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """Skip the calling test unless ``probe`` runs and exits 0; fail instead under $PARASCHUT_REQUIRE_CLUSTERS=1.

    :param name: the scheduler, for the message (``sge`` names tests/clusters/sge.sh).
    :param probe: a cheap command that succeeds only when the scheduler answers.
    :param env: the environment to run the probe in (default: this process's).
    """
    reason = None
    if shutil.which(probe[0], path=(env or os.environ).get("PATH")) is None:
        reason = f"{name} is not installed ({probe[0]} not found); start it with tests/clusters/{name}.sh"
    else:
        try:
            proc = subprocess.run(list(probe), capture_output=True, text=True, timeout=30, env=env)
        except subprocess.TimeoutExpired:
            reason = f"{name} did not answer {' '.join(probe)} within 30 s"
        else:
            if proc.returncode != 0:
                reason = f"{name} is not running ({' '.join(probe)}: {proc.stderr.strip()[:200]})"
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)
