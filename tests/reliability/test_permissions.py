"""Who can read what paraschut writes, and what reading the index can do.

Everything paraschut or its executors create for a user (the index and its -wal/-shm/-journal, the
local executor's spool, the job dir, batch and log folders, generated scripts and data, job logs,
even those SGE and Slurm write) is readable by its owner only (0600 files, 0700 folders, scripts
0700), under umask 022. And loading the index never runs what is stored in it: values that look
like Python, pickle, SQL or shell payloads come back verbatim through every read path.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import paraschut as psu
from paraschut.session import get_session, reset_sessions
from paraschut.testing import require_scheduler

TORQUE_BIN = "/opt/slurm-torque/usr/bin"
SCHEDULERS = {
    "sge": (("sge", ["qstat"]), ""),
    "slurm": (("slurm", ["squeue", "-h"]), ""),
    "pbs": (("slurm", [f"{TORQUE_BIN}/qstat", "-Q"]), f'[executors.pbs]\nbin_dir = "{TORQUE_BIN}"\n'),
}


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, which would leave new files world-readable (0644) and folders 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def nested(index: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None) -> Path:
    """An index and a job dir whose folders do not exist yet (paraschut creates all of them)."""
    monkeypatch.setenv("PARASCHUT_DB", str(index / "state" / "index" / "jobs.sqlite"))
    monkeypatch.setenv("PARASCHUT_JOB_DIR", str(index / "work" / "jobs"))
    reset_sessions()
    return index


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def exposed(*roots: Path) -> list[str]:
    """Everything under ``roots`` (included) that is not owner-only: folders must be 0700, files
    must give nothing to group and others."""
    found = []
    for root in roots:
        for path in [root, *root.rglob("*")]:
            bits = mode(path)
            if path.is_dir() and bits != 0o700 or not path.is_dir() and bits & 0o077:
                found.append(f"{path.relative_to(root.parent)}: {oct(bits)}")
    return found


def _wait(predicate: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {psu.get_queue(Verbose=False)}"
        time.sleep(0.3)


def _states(batch: int) -> list[str]:
    queue = psu.get_queue(Verbose=False, Filter=f"BatchID = {batch}") or {}
    return [j["state"] for j in queue.get(batch, [])]


def _template(mine: Path) -> Path:
    """A job template the user owns (outside the folders under test): prints to both logs."""
    mine.mkdir(exist_ok=True)
    template = mine / "tpl.sh"
    template.write_text("#!/bin/sh\necho out @name\necho err @name >&2\n")
    template.chmod(0o755)
    return template


def _prepared(batch: int, count: int, template: Path, **fields: Any) -> list[dict[str, Any]]:
    jobs = []
    for i in range(count):
        job = {"BatchID": batch, "JobIndex": i, "name": f"b{batch}j{i}", "priority": 1, "state": "init", **fields}
        psu.generate_script(job, str(template))
        psu.generate_data(job, {"reads": i})
        jobs.append(job)
    return jobs


def test_everything_paraschut_and_the_local_executor_create_is_owner_only(nested: Path, tmp_path: Path) -> None:
    template = _template(tmp_path / "mine")
    psu.add_batch_to_queue(1, _prepared(1, 2, template))
    psu.add_batch_to_queue(2, _prepared(2, 1, template))
    assert psu.submit_one_batch(1, Executor="local") == 2
    assert psu.submit_one_batch(2, Executor="file") == 1
    _wait(lambda: _states(1) == ["complete", "complete"])
    db = nested / "state" / "index" / "jobs.sqlite"
    assert get_session().index.journal_mode == "wal"
    for suffix in ("", "-wal", "-shm"):  # the connection is open: the WAL files exist
        assert mode(Path(f"{db}{suffix}")) == 0o600, suffix
    spool = Path(f"{db}.local")
    assert mode(spool) == 0o700 and mode(spool / "spool.sqlite") == 0o600
    batch1 = nested / "work" / "jobs" / "1"
    scripts = sorted(batch1.glob("job_*_tpl.sh"))
    assert len(scripts) == 2 and all(mode(s) == 0o700 for s in scripts)  # executable by the owner
    assert mode(batch1 / "data_0.json") == 0o600
    logs = sorted((batch1 / "logs").iterdir())
    assert [p.name for p in logs] == ["0.0.err", "0.0.out", "1.0.err", "1.0.out"]
    assert (batch1 / "logs" / "1.0.out").read_text() == "out b1j1\n"  # the job itself wrote them
    jobs_script = nested / "work" / "jobs" / "paraschut-jobs.sh"
    assert mode(jobs_script) == 0o700  # the file executor's script
    assert not (nested / "work" / "jobs" / "2" / "logs" / "0.0.out").exists()  # its line opens the logs
    subprocess.run(["sh", str(jobs_script)], check=True)  # the user runs it, under umask 022
    assert (nested / "work" / "jobs" / "2" / "logs" / "0.0.err").read_text() == "err b2j0\n"
    assert exposed(nested / "state", nested / "work") == []


def test_the_file_executor_gives_the_job_the_users_umask(nested: Path, tmp_path: Path) -> None:
    """Its logs are opened under umask 077, then the job runs under the umask of whoever runs the script."""
    made = tmp_path / "made-by-the-job"
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/sh\ntouch {made}\n")
    script.chmod(0o755)
    psu.add_batch_to_queue(1, [{"BatchID": 1, "JobIndex": 0, "priority": 1, "script": str(script)}])
    assert psu.submit_jobs(Executor="file") == 1
    subprocess.run(["sh", str(nested / "work" / "jobs" / "paraschut-jobs.sh")], check=True)
    assert mode(made) == 0o644
    assert [mode(p) for p in sorted((nested / "work" / "jobs" / "1" / "logs").iterdir())] == [0o600, 0o600]


@pytest.mark.parametrize("journal", ["delete", "persist", "truncate"])
def test_the_rollback_journal_is_owner_only(nested: Path, monkeypatch: pytest.MonkeyPatch, journal: str) -> None:
    monkeypatch.setenv("PARASCHUT_JOURNAL_MODE", journal)
    db = nested / "state" / "index" / "jobs.sqlite"
    seen = set()
    holder = subprocess.Popen(  # watches for the journal while paraschut writes
        [sys.executable, "-c", "import os, sys, time\np = sys.argv[1] + '-journal'\nend = time.time() + 20\n"
         "while time.time() < end and not os.path.exists(p): time.sleep(0.0005)\n"
         "print(oct(os.stat(p).st_mode & 0o777) if os.path.exists(p) else 'none')", str(db)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        for batch in range(1, 200):
            psu.add_batch_to_queue(batch, [{"script": "x.sh", "name": "n", "blob": "x" * 20000}])
            if holder.poll() is not None:
                break
        seen.add(holder.communicate(timeout=30)[0].strip())
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert seen == {"0o600"}
    assert exposed(nested / "state") == []


@pytest.fixture(params=sorted(SCHEDULERS))
def scheduler(request: pytest.FixtureRequest, nested: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real scheduler's executor name (skipped when absent); nothing of the test is left on it."""
    probe, config = SCHEDULERS[request.param]
    require_scheduler(*probe)
    (nested / "none.toml").write_text(config)
    monkeypatch.setenv("PARASCHUT_EXECUTOR", request.param)
    reset_sessions()
    yield request.param
    for batch in list(psu.get_queue(Verbose=False) or {}):
        psu.qdel_batch(batch)


def test_logs_a_real_scheduler_writes_are_owner_only(scheduler: str, nested: Path, tmp_path: Path) -> None:
    """SGE and Slurm create a job's -o/-e files with their own umask (0644) unless they exist: paraschut
    creates them (0600) before submitting, for single jobs and for the tasks of an array."""
    template = _template(tmp_path / "mine")
    shared = tmp_path / "mine" / "array.sh"
    shared.write_text('#!/bin/sh\necho "task $PARASCHUT_JOB_INDEX"\necho "err $PARASCHUT_JOB_INDEX" >&2\n')
    shared.chmod(0o755)
    # batch 1: two jobs of one script (one array submission); batch 2: a generated script, alone
    psu.add_batch_to_queue(1, [{"script": str(shared), "name": "arr", "priority": 1, "state": "init"}] * 2)
    psu.add_batch_to_queue(2, _prepared(2, 1, template))
    assert psu.submit_jobs() == 3
    _wait(lambda: _states(1) == ["complete"] * 2 and _states(2) == ["complete"], timeout=180)
    logs = nested / "work" / "jobs" / "1" / "logs"
    assert (logs / "1.0.out").read_text() == "task 1\n"  # written by the job, through the scheduler
    assert (logs / "1.0.err").read_text() == "err 1\n"
    assert (nested / "work" / "jobs" / "2" / "logs" / "0.0.out").read_text() == "out b2j0\n"
    print(sorted(p.name for p in logs.iterdir()))
    assert exposed(nested / "state", nested / "work") == []


# -- nothing stored is ever run --------------------------------------------------------------------
def payloads(canary: Path) -> list[str]:
    """Strings that would create ``canary`` if anything evaluated, unpickled, shelled or ran them as SQL."""
    c = str(canary)
    return [
        f"__import__('os').system('touch {c}')",
        f"cos\nsystem\n(S'touch {c}'\ntR.",  # a protocol-0 pickle calling os.system
        f"\x80\x04\x95cposix\nsystem\n(S'touch {c}'\ntR.",
        f"'); ATTACH DATABASE '{c}' AS x; CREATE TABLE x.t(a); --",
        f"1; DROP TABLE jobs; ATTACH '{c}' AS y; --",
        f"$(touch {c})",
        f"`touch {c}`",
        f"; touch {c} #",
        f"!!python/object/apply:os.system ['touch {c}']",
        f"{{{{ __import__('os').system('touch {c}') }}}}",
        "%s%s%n%x @DB @PYTHON ${HOME} \\x00 \u202e",
    ]


def test_values_that_look_like_code_come_back_verbatim_and_never_run(index: Path, tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    bad = payloads(canary)
    script = tmp_path / "env.py"
    script.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                      "json.dump({k: v for k, v in os.environ.items() if k.startswith('P_')}, "
                      "open(sys.argv[0] + '.' + os.environ['PARASCHUT_JOB_INDEX'], 'w'))\n")
    script.chmod(0o700)
    jobs = []
    for i, text in enumerate(bad):
        jobs.append({
            "JobIndex": i, "priority": 1, "state": "init", "script": str(script),
            "name": text if i % 2 else [text, "x"], "data_type": text, "note": text,
            "params": {text: [text, {"k": text}]}, "vars": {f"P_{n}": v for n, v in enumerate(bad)},
        })
    psu.add_batch_to_queue(1, jobs)
    tables = set(get_session().index.db.table_names())
    assert "jobs" in tables

    def check(job: dict[str, Any], i: int) -> None:
        assert job["name"] == (bad[i] if i % 2 else [bad[i], "x"])
        assert (job["data_type"], job["note"]) == (bad[i], bad[i])
        assert job["params"] == {bad[i]: [bad[i], {"k": bad[i]}]}
        assert job["vars"] == {f"P_{n}": v for n, v in enumerate(bad)}

    for i in range(len(bad)):
        check(psu.get_job_info(1, i), i)
    queue = psu.get_queue(Verbose=False)
    assert queue is not None
    for i, job in enumerate(queue[1]):
        check(job, i)
    psu.get_queue()  # the printed dashboard shows the names
    cli = [sys.executable, "-m", "paraschut.cli"]
    listed = json.loads(subprocess.run([*cli, "queue", "--json"], capture_output=True, text=True, check=True).stdout)
    for i, job in enumerate(listed["batches"][0]["jobs"]):
        check(job, i)
    for i in range(len(bad)):
        shown = subprocess.run([*cli, "info", "1", str(i), "--json"], capture_output=True, text=True, check=True)
        check(json.loads(shown.stdout), i)
    subprocess.run([*cli, "queue"], capture_output=True, text=True, check=True)
    # the values reach a job as its environment, through the file executor's shell script, unchanged
    assert psu.submit_jobs(Executor="file") == len(bad)
    subprocess.run(["sh", str(index / "jobs" / "paraschut-jobs.sh")], check=True, timeout=120)
    for i in range(len(bad)):
        seen = json.loads(Path(f"{script}.{i}").read_text())
        assert seen == {f"P_{n}": v for n, v in enumerate(bad)}
    assert not canary.exists()
    assert get_session().index.integrity_check() == "ok"
    assert set(get_session().index.db.table_names()) == tables  # nothing dropped, nothing attached
