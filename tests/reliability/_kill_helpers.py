"""Shared by test_kills.py and test_daemon_restart.py: the executor matrix, the scheduler's own view
of our jobs (by job name, independently of paraschut), pids of running jobs, and index checks.

Every executor runs for real: local everywhere; sge needs tests/clusters/sge.sh; slurm and pbs
(Slurm's PBS wrappers) need tests/clusters/slurm.sh. Absent schedulers skip through
paraschut.testing.require_scheduler.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import paraschut as psu
from paraschut.session import get_session, reset_sessions
from paraschut.testing import require_scheduler

ROOT = Path(__file__).resolve().parents[2]
TORQUE_BIN = "/opt/slurm-torque/usr/bin"
SGE_ACCOUNTING = "/var/lib/gridengine/default/common/accounting"
EXECUTORS = {
    "local": (None, ""),
    "sge": (("sge", ["qstat"]), ""),
    "pbs": (("slurm", [f"{TORQUE_BIN}/qstat", "-Q"]), f'[executors.pbs]\nbin_dir = "{TORQUE_BIN}"\n'),
    "slurm": (("slurm", ["squeue", "-h"]), ""),
}


def setup_executor(name: str, index_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip unless the executor's scheduler answers; point PARASCHUT_EXECUTOR and the config at it."""
    probe, _ = EXECUTORS[name]
    if probe is not None:
        require_scheduler(*probe)
    configure(name, index_env)
    monkeypatch.setenv("PARASCHUT_EXECUTOR", name)


def configure(name: str, index_env: Path, options: str = "") -> None:
    """Write the test's config file: the executor's table (bin_dir for pbs) plus ``options`` lines."""
    table = EXECUTORS[name][1] or f"[executors.{name}]\n"
    (index_env / "none.toml").write_text(table + options)
    reset_sessions()


def cleanup() -> None:
    """qdel every job of the index (nothing of ours left on a scheduler shared with other tests)."""
    try:
        for batch in list(psu.get_queue(Verbose=False) or {}):
            psu.qdel_batch(batch)
    finally:
        reset_sessions()


@pytest.fixture(params=sorted(EXECUTORS))
def executor(request: pytest.FixtureRequest, index_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The executor's name, with the index set up for it."""
    setup_executor(request.param, index_env, monkeypatch)
    yield request.param
    cleanup()


def db_path() -> str:
    """The job index of this test."""
    return os.environ["PARASCHUT_DB"]


def assert_index_intact() -> None:
    """PRAGMA integrity_check says ok."""
    conn = sqlite3.connect(db_path(), timeout=30)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def index_rows(sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """A read-only query straight on the index file (no paraschut code, no scheduler poll)."""
    conn = sqlite3.connect(f"file:{db_path()}?mode=ro", uri=True, timeout=30)
    try:
        return list(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.5) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` (and print the dashboard) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    psu.get_queue()
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def python_script(path: Path, body: str) -> str:
    """An executable Python job script importing paraschut as psu."""
    path.write_text(f"#!{sys.executable}\nimport os, sys, time\nimport paraschut as psu\n{body}\n")
    path.chmod(0o755)
    return str(path)


def shell_script(path: Path, body: str) -> str:
    """An executable /bin/sh job script."""
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def marker_lines(directory: Path, prefix: str) -> dict[str, list[str]]:
    """{file name: its lines} for the marker files ``prefix*`` jobs wrote into ``directory``."""
    return {p.name: p.read_text().split() for p in sorted(directory.glob(prefix + "*"))}


def job_process(pid: int) -> psutil.Process:
    """The job's process on this node, checked to be one a scheduler (or the local executor) started."""
    proc = psutil.Process(pid)
    names = [p.name() for p in proc.parents()]
    assert any(n in ("slurmstepd", "sge_shepherd") or n.startswith("python") for n in names), names
    return proc


def sigkill(pid: int) -> None:
    """SIGKILL one process and wait until it is gone (zombies count as gone)."""
    proc = psutil.Process(pid)
    os.kill(pid, signal.SIGKILL)
    try:
        proc.wait(timeout=30)
    except psutil.TimeoutExpired:
        assert proc.status() == psutil.STATUS_ZOMBIE, proc


# -- the scheduler's own records of our jobs, by job name --------------------------------------
def scheduler_jobs(executor: str, prefix: str) -> dict[str, list[str]]:
    """{job name: [scheduler ids]} for every job named ``prefix*`` the scheduler knows: queued,
    running, or finished (Slurm: squeue -t all within MinJobAge; SGE: qstat plus its accounting
    file; local: its spool), read with the scheduler's own commands, not through paraschut."""
    found: dict[str, list[str]] = {}

    def add(name: str, cid: str) -> None:
        if name.startswith(prefix) and cid not in found.setdefault(name, []):
            found[name].append(cid)

    if executor in ("slurm", "pbs"):
        out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%j"], capture_output=True, text=True,
                             check=True, timeout=60).stdout
        for line in out.splitlines():
            cid, _, name = line.partition("|")
            add(name.strip(), cid.strip())
    elif executor == "sge":
        import xml.etree.ElementTree as ET

        out = subprocess.run(["qstat", "-xml", "-u", "*"], capture_output=True, text=True, check=True,
                             timeout=60).stdout
        for job in ET.fromstring(out).iter("job_list"):
            add(job.findtext("JB_name") or "", job.findtext("JB_job_number") or "")
        if os.path.exists(SGE_ACCOUNTING):
            with open(SGE_ACCOUNTING, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    fields = line.split(":")
                    if len(fields) > 6 and not line.startswith("#"):
                        add(fields[4], fields[5])
    else:
        spool = db_path() + ".local/spool.sqlite"
        if os.path.exists(spool):
            conn = sqlite3.connect(f"file:{spool}?mode=ro", uri=True, timeout=30)
            try:
                for cid, name in conn.execute("SELECT id, name FROM jobs"):
                    add(name, str(cid))
            finally:
                conn.close()
    return found


def local_pid(cluster_id: str) -> int | None:
    """The pid the local executor recorded for a running job."""
    session = get_session()
    summary = session.manager.summary(session.executor("local"), cluster_id)
    return summary.get("pid") if summary else None


def dump(obj: object) -> str:
    """JSON for assertion messages."""
    return json.dumps(obj, indent=1, default=str, sort_keys=True)
