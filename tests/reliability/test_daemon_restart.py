"""The node daemon (slurmd, sge_execd) stopped for a few seconds while jobs run, then started again:
paraschut's view must follow the scheduler's (jobs that survived end complete, nothing is called
failed or missing while the daemon is away), and after the restart a forced refresh agrees with
squeue/qacct. The outage is short and the daemon always restarted: other tests share the clusters.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.refresh import refresh
from paraschut.session import get_session

try:
    from . import _kill_helpers as kh
except ImportError:  # tests/reliability is not a package: pytest put this folder on sys.path
    import _kill_helpers as kh  # type: ignore[no-redef]

CLUSTERS = kh.ROOT / "tests" / "clusters"
#: executor -> (script, stop command, start command)
DAEMONS = {"slurm": ("slurm.sh", "stop-node", "start-node"), "sge": ("sge.sh", "stop-execd", "start-execd")}


@pytest.fixture(params=sorted(DAEMONS))
def executor(request: pytest.FixtureRequest, index_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """sge or slurm, with the index set up for it (needs root: the test stops a daemon)."""
    kh.setup_executor(request.param, index_env, monkeypatch)
    if os.geteuid() != 0:
        pytest.skip("stopping and starting a node daemon needs root")
    yield request.param
    kh.cleanup()


def _cluster(script: str, command: str) -> str:
    proc = subprocess.run(["bash", str(CLUSTERS / script), command], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{script} {command}: {proc.stdout}{proc.stderr}"
    return proc.stdout


@contextmanager
def node_daemon_down(executor: str) -> Iterator[None]:
    """The node daemon stopped inside the block, always started again (and the cluster healthy) after."""
    script, stop, start = DAEMONS[executor]
    _cluster(script, stop)
    try:
        yield
    finally:
        _cluster(script, start)
        status = _cluster(script, "status")
        assert "not running" not in status, status


def _wait_file(path: Path, timeout: float = 120) -> None:
    kh.wait_for(path.exists, timeout, f"{path.name} to appear", step=0.2)


def _scheduler_says(executor: str, ids: list[str]) -> dict[str, str]:
    """Each job's final word from the scheduler's own commands: Slurm's JobState, SGE's qacct exit_status
    (or 'queued' while qstat still lists it)."""
    if executor == "slurm":
        out = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i %T"], capture_output=True,
                             text=True, check=True, timeout=60).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())
    qstat = subprocess.run(["qstat", "-xml", "-u", "*"], capture_output=True, text=True, check=True, timeout=60)
    listed = {j.findtext("JB_job_number") for j in ET.fromstring(qstat.stdout).iter("job_list")}
    says = {}
    for cid in ids:
        if cid in listed:
            says[cid] = "queued"
            continue
        acct = subprocess.run(["qacct", "-j", cid], capture_output=True, text=True, timeout=60).stdout
        fields = dict(line.split(None, 1) for line in acct.splitlines() if len(line.split(None, 1)) == 2)
        says[cid] = f"exit {fields.get('exit_status', '?').strip()}"
    return says


def test_node_daemon_restart_while_jobs_run(executor: str, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    body = (  # each job: a start marker, wait for the test's signal file (at most 2 min), an end marker
        'echo "$PARASCHUT_JOB_INDEX" >> "$MARKS/started.$PARASCHUT_JOB_INDEX"\n'
        'i=0; while [ ! -e "$MARKS/$WAIT_FOR" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n'
        'echo "$PARASCHUT_JOB_INDEX" >> "$MARKS/ended.$PARASCHUT_JOB_INDEX"\n'
    )
    script = kh.shell_script(tmp_path / "job.sh", body)
    waits = {0: "release", 1: "outage", 2: "go"}  # 0 outlives the outage, 1 ends during it, 2 is queued during it
    jobs = [{"JobIndex": i, "script": script, "name": f"dr{i}", "vars": {"MARKS": str(marks), "WAIT_FOR": w}}
            for i, w in waits.items()]
    psu.add_batch_to_queue(1, jobs[:2])
    assert psu.submit_jobs() == 2
    for i in (0, 1):
        _wait_file(marks / f"started.{i}")
    session = get_session()

    with node_daemon_down(executor):
        (marks / "outage").touch()
        _wait_file(marks / "ended.1")  # job 1 ended while its node daemon was away
        (marks / "go").touch()
        psu.add_batch_to_queue(2, jobs[2:])
        assert psu.submit_jobs() == 1  # the controller / qmaster still takes jobs
        during = refresh(session, session.index.jobs(), force=True)
        assert not during.missing and not during.errors, during
        states = {(j["BatchID"], j["JobIndex"]): j["state"] for j in session.index.jobs()}
        assert set(states.values()) <= {"submit", "run", "complete"}, states  # nothing called failed

    (marks / "release").touch()

    def converged() -> bool:
        psu.get_queue(Verbose=False, Refresh=True)
        return {j["state"] for j in session.index.jobs()} == {"complete"}

    # SGE's restarted execd notices a shepherd that ended meanwhile only after about a minute
    kh.wait_for(converged, 240, "every job to complete after the restart", step=1.0)
    ids = [str(j["ClusterID"]) for j in session.index.jobs()]
    says = _scheduler_says(executor, ids)
    expected = "COMPLETED" if executor == "slurm" else "exit 0"
    assert says == dict.fromkeys(ids, expected), says
    for i in waits:  # each ran once, and to its end
        assert (marks / f"started.{i}").read_text().split() == [str(i)]
        assert (marks / f"ended.{i}").read_text().split() == [str(i)]
    kh.assert_index_intact()
