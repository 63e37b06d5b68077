"""Fixtures for the SGE tests: recorded outputs, and the skip (or failure) when no SGE answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from paraschut.testing import require_scheduler

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_text() -> Callable[[str], str]:
    """Read a recorded SGE output from tests/sge/fixtures/."""
    return lambda name: (FIXTURES / name).read_text()


@pytest.fixture(scope="session")
def require_sge() -> None:
    """Skip (or fail under PARASCHUT_REQUIRE_CLUSTERS=1) unless ``qstat`` answers; checked once per session."""
    require_scheduler("sge", ["qstat"])
