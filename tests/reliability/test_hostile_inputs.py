"""Hostile job names, variables and paths reach the job intact, on every executor, and never run as shell.

A whole pipeline goes through the documented API (add_batch_to_queue, generate_data,
submit_jobs, get_queue, get_job_info and set_complete inside the job, print_log): the job dir,
the index, the script and the data file all live under folders whose names hold spaces, quotes,
``;|&``, backquotes, ``$(...)``, glob characters, a leading dash, a tab, non-ASCII, emoji and an
RTL override; the job's name and variables are as bad. Each job writes what it received (its
name, working directory, variables, data, index path) to a file the test compares exactly, and
none of it may create the canary file. What a scheduler cannot carry (a ``$`` or newline in a
path on SGE, a backslash in a log path on Slurm) must be refused with a ParaschutError before
anything is submitted, the jobs staying in init with the reason.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import paraschut as psu
import paraschut.session
from paraschut import Executor
from paraschut.testing import require_scheduler
from paraschut.testing.contract import CANARY_NAME, HOSTILE_VALUES

TORQUE_BIN = "/opt/slurm-torque/usr/bin"
#: A folder name every executor must carry (no '$', newline or backslash: see UNCARRIABLE).
HOSTILE_DIR = "jobs 'q' \"dq\" ;|&`touch psu-canary` *?[x] -x\té😀\u05e9\u202e %j"
#: Per executor, folder names it must refuse (with the reason) rather than mangle.
UNCARRIABLE = {
    "sge": ["dollar $HOME $(touch psu-canary)", "new\nline"],
    "pbs": ["back\\slash"],
    "slurm": ["back\\slash"],
}
NAMES = ["$(touch psu-canary)", "`touch psu-canary`;x|y&z\n-N evil", ["é😀\u202e", "-o /dev/null", "%j\t*"]]
VARIABLES = {**HOSTILE_VALUES, "PSU_NEWLINE": "a\nb", "PSU_TAB": "\t", "PSU_PERCENT": "%j %x", "PSU_EMPTY": "",
             "PSU_BACKSLASH": "a\\nb\\", "PSU_OPTION": "-v X=1,Y", "PSU_CANARY": "$(touch psu-canary)"}

JOB_SCRIPT = """#!{python}
import json, os, sys
import paraschut as psu

job = psu.get_job_info(SetID=True)
with open(job["data"], encoding="utf-8") as fh:
    data = json.load(fh)
seen = {{"name": job["name"], "cwd": os.getcwd(), "db": os.environ["PARASCHUT_DB"], "data": data,
        "vars": {{k: os.environ.get(k) for k in job["vars"]}}}}
with open(job["result"], "w", encoding="utf-8") as fh:
    json.dump(seen, fh)
print("hello from", job["JobIndex"], "é😀")
psu.set_complete(job)
"""


def _executor(name: str, tmp: Path) -> Executor:
    if name == "sge":
        require_scheduler("sge", ["qstat"])
        return Executor("sge", {"timeout": 30})
    if name == "pbs":
        require_scheduler("slurm", [f"{TORQUE_BIN}/qstat", "-Q"])
        return Executor("pbs", {"bin_dir": TORQUE_BIN, "timeout": 30})
    if name == "slurm":
        require_scheduler("slurm", ["squeue", "-h"])
        return Executor("slurm", {"timeout": 30})
    if name == "local":
        return Executor("local", {"spool_dir": str(tmp / "spool"), "max_workers": 2})
    return Executor("file")


@pytest.fixture(params=["local", "file", "sge", "pbs", "slurm"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[tuple[Executor, Path]]:
    """An executor, and a home folder (the test's cwd, where a relative canary would appear)."""
    os.chmod(tmp_path, 0o755)  # noqa: S103 - schedulers running as another user read it
    monkeypatch.chdir(tmp_path)
    for var in ("PARASCHUT_BATCH_ID", "PARASCHUT_JOB_INDEX", "PARASCHUT_SPAWN_ID", "PARASCHUT_DISABLE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PARASCHUT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PARASCHUT_STATUS_INTERVAL", "0")
    executor = _executor(request.param, tmp_path)
    monkeypatch.setenv("PARASCHUT_EXECUTOR", executor.name)
    paraschut.session.reset_sessions()
    yield executor, tmp_path
    paraschut.session.reset_sessions()


def _use_folder(home: Path, folder: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = home / folder
    base.mkdir(parents=True)
    monkeypatch.setenv("PARASCHUT_DB", str(base / f"index {folder[:8]}.sqlite"))
    monkeypatch.setenv("PARASCHUT_JOB_DIR", str(base / "job dir"))
    paraschut.session.reset_sessions()
    return base


def _add_jobs(base: Path, batch: int) -> list[dict[str, Any]]:
    script = base / "scripts ;|& `touch psu-canary`" / "run $(touch psu-canary) 'q' é😀.py"
    script.parent.mkdir()
    script.write_text(JOB_SCRIPT.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    jobs = []
    for index, name in enumerate(NAMES):
        info = {"BatchID": batch, "JobIndex": index, "name": name, "priority": 1, "script": str(script),
                "vars": VARIABLES, "result": str(base / f"result {index} ;`x`.json")}
        psu.generate_data(info, {"index": index, "text": "é😀 $(touch psu-canary)\n", "name": name})
        jobs.append(info)
    psu.add_batch_to_queue(batch, jobs)
    return jobs


def _finish(executor: Executor, batch: int, timeout: float = 90.0) -> dict[int, str]:
    if executor.name == "file":  # the user's part: run the written script, with bash
        path = Path(os.environ["PARASCHUT_JOB_DIR"]) / "paraschut-jobs.sh"
        subprocess.run(["bash", str(path)], check=True, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        queue = psu.get_queue(Verbose=False, Refresh=True, Executor=executor) or {}
        states = {j["JobIndex"]: j["state"] for j in queue.get(batch, [])}
        if all(s in ("complete", "failed") for s in states.values()):
            return states
        assert time.monotonic() < deadline, f"jobs not finished in {timeout} s: {states}"
        time.sleep(0.5)


def _no_canary(home: Path) -> None:
    found = list(home.rglob(CANARY_NAME)) + [p for p in (Path.home() / CANARY_NAME,) if p.exists()]
    assert not found, f"a hostile name, variable or path ran as shell code: {found}"


def test_hostile_names_variables_and_paths_reach_the_job_intact(
    setup: tuple[Executor, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    executor, home = setup
    base = _use_folder(home, HOSTILE_DIR, monkeypatch)
    jobs = _add_jobs(base, 11)
    assert psu.submit_jobs(Executor=executor) == len(jobs)
    assert _finish(executor, 11) == {i: "complete" for i in range(len(jobs))}
    for info in jobs:
        seen = json.loads(Path(info["result"]).read_text(encoding="utf-8"))
        assert seen == {
            "name": info["name"],
            "cwd": os.path.realpath(base / "job dir" / "11"),
            "db": os.environ["PARASCHUT_DB"],
            "data": {"index": info["JobIndex"], "text": "é😀 $(touch psu-canary)\n", "name": info["name"]},
            "vars": VARIABLES,
        }
        out = psu.print_log(11, info["JobIndex"], Verbose=False)
        assert out == f"hello from {info['JobIndex']} é😀"
    _no_canary(home)


@pytest.mark.parametrize("folder", sorted({f for fs in UNCARRIABLE.values() for f in fs}))
def test_paths_a_scheduler_cannot_carry_are_refused_before_submitting(
    setup: tuple[Executor, Path], monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    executor, home = setup
    base = _use_folder(home, folder, monkeypatch)
    jobs = _add_jobs(base, 12)
    if folder not in UNCARRIABLE.get(executor.name, []):  # this executor carries it: the job runs intact
        assert psu.submit_jobs(Executor=executor) == len(jobs)
        assert _finish(executor, 12) == {i: "complete" for i in range(len(jobs))}
        for info in jobs:
            assert json.loads(Path(info["result"]).read_text(encoding="utf-8"))["vars"] == VARIABLES
        _no_canary(home)
        return
    with pytest.raises(psu.ParaschutError, match="cannot carry|removes") as refused:
        psu.submit_jobs(Executor=executor)
    assert repr(str(base))[1:-1] in str(refused.value) or str(base) in str(refused.value)
    queue = psu.get_queue(Verbose=False) or {}
    assert {j["state"] for j in queue[12]} == {"init"}
    assert all(j["submit_error"] for j in queue[12])
    assert not any(Path(info["result"]).exists() for info in jobs)
    _no_canary(home)


# -- the plugins' own checks, without a scheduler -------------------------------------------------
def _spec(folder: str) -> psu.JobSpec:
    return psu.JobSpec(batch_id=1, job_index=0, name="x", script=f"/j/{folder}/run.sh", workdir=f"/j/{folder}",
                       stdout=f"/j/{folder}/0.out", stderr=f"/j/{folder}/0.err")


@pytest.mark.parametrize(("folder", "field"), [("a$HOME", "workdir"), ("new\nline", "workdir"), ("cr\rx", "workdir")])
def test_sge_refuses_what_it_would_expand_or_cut(folder: str, field: str) -> None:
    commands = pytest.importorskip("paraschut_sge.commands")
    with pytest.raises(psu.InvalidJobError, match=f"field '{field}'.*SGE cannot carry"):
        commands.check_paths([_spec(folder)])
    from attrs import evolve

    with pytest.raises(psu.InvalidJobError, match="field 'stdout'.*comma"):  # -o takes a list; -wd does not
        commands.check_paths([evolve(_spec("ok"), stdout="/j/a,b.out")])
    commands.check_paths([evolve(_spec("ok"), workdir="/j/a,b")])
    commands.check_paths([_spec(HOSTILE_DIR)])


def test_slurm_refuses_a_backslash_in_log_paths_and_keeps_paths_out_of_comments() -> None:
    commands = pytest.importorskip("paraschut_slurm.commands")
    with pytest.raises(psu.InvalidJobError, match="backslash"):
        commands.submit_argv("sbatch", _spec("back\\slash"), commands.Options())
    argv = commands.submit_argv("sbatch", _spec("100%j"), commands.Options())
    assert "--output=/j/100%%j/0.out" in argv
    manifest = "/j/a\ntouch psu-canary\n/array-1.json"
    script = commands.array_script(manifest)
    head, _, command = script.partition("\nexec ")
    assert "psu-canary" not in head  # the comment lines never hold the path
    assert shlex.split(command)[-1] == manifest  # one quoted argument of the exec line


def test_pbs_on_slurm_writes_a_literal_percent_and_refuses_a_backslash() -> None:
    commands = pytest.importorskip("paraschut_pbs.commands")
    opts = commands.Options()
    argv = commands.submit_argv("qsub", _spec("100%j"), opts, "slurm")
    assert argv[argv.index("-o") + 1] == "/j/100%%j/0.out"
    assert commands.submit_argv("qsub", _spec("100%j"), opts, "torque")[4] == "/j/100%j/0.out"
    with pytest.raises(psu.InvalidJobError, match="backslash"):
        commands.submit_argv("qsub", _spec("back\\slash"), opts, "slurm")
