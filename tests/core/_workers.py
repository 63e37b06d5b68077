"""Worker processes for test_concurrency, forked from one launcher that imported paraschut once.

``python _workers.py <sync_dir> <tasks.json>``: forks one child per task. Each child opens its own
session (nothing is opened before the fork), signals it is ready (a file in the sync dir), waits for
the go file there, runs its task and writes its JSON result; the launcher prints all results.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import paraschut as psu
from paraschut import spawning
from paraschut.session import get_session


def _bump(job: dict) -> None:
    job["n"] += 1


def run_task(task: str, *args: int) -> dict:
    session = get_session()
    if task == "modify":
        b, j, n = args
        for _ in range(n):
            psu.modify_job(b, j, _bump)
        return {"ok": n}
    if task == "update":
        b, j, n = args
        ok = conflicts = 0
        for _ in range(n):
            info = psu.get_job_info(b, j)
            info["n"] += 1
            try:
                psu.update_job(info)
                ok += 1
            except psu.ConflictError:
                conflicts += 1
        return {"ok": ok, "conflicts": conflicts}
    if task == "own":
        b, j, n = args
        conflicts = 0
        for i in range(n):
            info = psu.get_job_info(b, j)
            info["n"] += 1
            info.setdefault("seen", []).append(i)
            try:
                psu.update_job(info)
            except psu.ConflictError:
                conflicts += 1
        return {"conflicts": conflicts}
    if task == "submit":
        (rounds,) = args
        return {"submitted": [psu.submit_jobs(Executor="file") for _ in range(rounds)]}
    if task == "finish":
        b, j, sid = args
        return {"last": spawning.finish_spawn(session, (b, j), sid, "complete", 0)}
    raise ValueError(f"unknown task {task}")


def _child(sync: Path, number: int, task: list) -> None:
    try:
        get_session().index.query("SELECT 1")
        (sync / f"ready-{number}").touch()
        deadline = time.monotonic() + 120
        while not (sync / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("no go signal")
            time.sleep(0.002)
        result = run_task(task[0], *map(int, task[1:]))
    except BaseException:  # noqa: BLE001 - reported to the test
        result = {"error": traceback.format_exc()}
    (sync / f"result-{number}.json").write_text(json.dumps(result))


def main(sync: Path, tasks: list[list]) -> list[dict]:
    pids = []
    for number, task in enumerate(tasks):
        pid = os.fork()
        if pid == 0:
            try:
                _child(sync, number, task)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    return [json.loads((sync / f"result-{n}.json").read_text()) for n in range(len(tasks))]


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), json.loads(sys.argv[2]))))
