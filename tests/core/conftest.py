"""Core fixtures: a fresh index per test, the file executor by default, and fake executors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import define

import paraschut.session
from paraschut.manager import ExecutorManager
from paraschut.plugins import get_plugin_manager

from ._fakes import FakeExecutor


@define
class Env:
    """What a core test works with."""

    home: Path
    db: Path
    job_dir: Path
    script: Path  # where the file executor appends jobs
    fake: FakeExecutor
    broken: FakeExecutor
    manager: ExecutorManager


@pytest.fixture
def env(index_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """A fresh index, PARASCHUT_EXECUTOR=file, and a plugin manager with no entry points but two
    fake executors ('fake', controllable; 'broken', whose status raises)."""
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "file")
    monkeypatch.delenv("PARASCHUT_DISABLE_PLUGINS", raising=False)
    paraschut.session.reset_sessions()
    pm = get_plugin_manager(load_entrypoints=False)
    fake, broken = FakeExecutor("fake"), FakeExecutor("broken")
    broken.broken = True
    pm.register(fake, name="fake")
    pm.register(broken, name="broken")
    manager = ExecutorManager(pm)
    monkeypatch.setattr(paraschut.session, "ExecutorManager", lambda: manager)
    yield Env(
        home=index_env,
        db=index_env / "jobs.sqlite",
        job_dir=index_env / "jobs",
        script=index_env / "jobs" / "paraschut-jobs.sh",
        fake=fake,
        broken=broken,
        manager=manager,
    )
    paraschut.session.reset_sessions()
