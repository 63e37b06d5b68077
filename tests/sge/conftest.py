"""Fixtures for the SGE tests: recorded outputs, and the skip (or failure) when no SGE answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture
def fixture_text() -> Callable[[str], str]:
    """Read a recorded SGE output from tests/sge/fixtures/."""
    return lambda name: (FIXTURES / name).read_text()


@pytest.fixture(scope="session")
def require_sge(request: pytest.FixtureRequest) -> None:
    """Skip (or fail under PARASCHUT_REQUIRE_CLUSTERS=1) unless ``qstat`` answers; checked once per session.

    Uses ``require_scheduler`` from tests/conftest.py. ``from conftest import require_scheduler``
    works when tests/sge runs alone, but in a run over all of tests/ the name ``conftest`` is
    taken by the last loaded non-package conftest (tests/local/conftest.py), so the root one is
    fetched from pytest's plugin manager, where it is registered under its path.
    """
    root = request.config.pluginmanager.get_plugin(str(ROOT_CONFTEST))
    if root is None:  # pragma: no cover - pytest registers every conftest under its path
        from conftest import require_scheduler
    else:
        require_scheduler = root.require_scheduler
    require_scheduler("sge", ["qstat"])
