"""Helpers for the bad-input tests: an isolated index, exact snapshots of it, and hostile values."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import paraschut as psu
import paraschut.session

__all__ = [
    "FUZZ",
    "Index",
    "files_of",
    "hashable",
    "hostile_values",
    "index_state",
    "job",
    "odd_text",
]

#: The fuzzing budget of each property: moderate, so the suite stays quick.
FUZZ = settings(
    max_examples=int(os.environ.get("PSU_FUZZ_EXAMPLES", "150")), deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Index:
    """The job index and job dir of one test, with exact before/after snapshots."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.db = home / "jobs.sqlite"
        self.job_dir = home / "jobs"
        self.script = self.job_dir / "paraschut-jobs.sh"

    def reset(self) -> Index:
        """Start again from an empty index and job dir (hypothesis runs many examples per test)."""
        paraschut.session.reset_sessions()
        for path in self.home.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            elif path.name.startswith(self.db.name):
                path.unlink()
        paraschut.session.get_session()  # an empty index with its schema, as any first call makes
        return self

    def state(self) -> tuple[list[str], dict[str, str]]:
        """Every row of every table (a logical dump) and every file under the home folder."""
        return index_state(self.db), files_of(self.home, skip=self.db.name)


def index_state(db: Path) -> list[str]:
    """A full logical dump of the index (every table, every row), through a separate connection."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def files_of(root: Path, skip: str = "") -> dict[str, str]:
    """sha256 of every file under ``root`` (the index's own files left out when ``skip`` names them)."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (skip and path.name.startswith(skip)):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            out[str(path.relative_to(root)) + "/"] = "dir"
    return out


@pytest.fixture
def index(index_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Index]:
    """A fresh index, PARASCHUT_EXECUTOR=file (jobs are appended to a script, never run), and only
    the built-in plugins (the executor packages are not needed to check the core's validation)."""
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "file")
    monkeypatch.setenv("PARASCHUT_DISABLE_PLUGINS", "local,pbs,sge,slurm")
    paraschut.session.reset_sessions()
    yield Index(index_env).reset()
    paraschut.session.reset_sessions()


def job(index: int | None = None, **fields: Any) -> dict[str, Any]:
    """A minimal valid job (priority 1, init, a script name); extra fields as given."""
    out: dict[str, Any] = {"JobIndex": index, "priority": 1, "name": "job", "script": "run.sh", "state": "init"}
    out.update(fields)
    return out


def hashable(value: Any) -> bool:
    """True when ``value`` can be a dict key or a set member."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


def add_sample_batches() -> None:
    """Two batches: 1 with jobs 0-2 (priorities 2, 2, 1), 2 with job 0 complete."""
    psu.add_batch_to_queue(1, [job(0, priority=2), job(1, priority=2), job(2, name=["a", "b"])])
    psu.add_batch_to_queue(2, [job(0, state="complete", vars={"X": "1"})])


#: Text that breaks naive code: NUL, lone surrogates, controls, RTL, look-alikes, huge.
odd_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from([
        "", "\x00", "a\x00b", "\ud800", "x\udfff", "\udc80", "\n", "\r\n", "\t", "\u202e", "\u200b", "é😀",
        "'", '"', "`id`", "$(id)", ";", "--", "/*", "%", "\\", "-v", "..", "../../etc/passwd", "*", "[",
        "\u0663", "Ｂａｔｃｈ", "x" * 100_000,
    ]),
)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-(2**63) + 1),
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]),
    odd_text,
    st.binary(max_size=8),
    st.complex_numbers(max_magnitude=10),
    st.sampled_from([object(), Ellipsis, NotImplemented, type, len, b"\x00", bytearray(b"x"), range(3)]),
)

#: Any value a user might pass by mistake: scalars, containers of them, unhashable and nested ones.
hostile_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.frozensets(st.integers(), max_size=3),
        st.sets(st.integers(), max_size=3),
        st.dictionaries(st.one_of(odd_text, st.integers(), st.none(), st.tuples(st.integers())), inner, max_size=3),
    ),
    max_leaves=8,
)
