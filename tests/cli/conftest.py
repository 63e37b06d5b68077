"""CLI fixtures: a fresh index holding one batch of three jobs that run a real script."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.session import reset_sessions

from ._run import BATCH

JOB_SCRIPT = """#!/bin/sh
for i in 1 2 3 4 5; do echo "out-$PARASCHUT_JOB_INDEX line$i"; done
echo "err-$PARASCHUT_JOB_INDEX oops" >&2
"""


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
