"""Real worker processes for the reliability tests, released together, each with its own session.

The test calls :func:`run_together`, which starts ``python _workers.py <sync_dir> <tasks.json>``
in a fresh interpreter. That launcher imports paraschut once and forks one child per task (64
interpreters importing paraschut one by one would take longer than the test itself on 2 cores).
Nothing is opened before the fork: each child signals it is ready (a file in the sync dir), waits
for the test's ``go`` file, and only then opens the job index and runs its task, so every child
opens, locks and writes at the same moment, as jobs starting together on a cluster do. Each child
writes its JSON result; an exception in a child is returned as ``{"error": traceback}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

WORKER = Path(__file__).resolve()
#: seconds a child waits for the go signal, and the test for all children to be ready
START_TIMEOUT = 180.0


def run_together(
    sync_parent: Path, tasks: list[list[Any]], env: Mapping[str, str] | None = None, timeout: float = 600.0
) -> list[dict[str, Any]]:
    """Run one forked worker per task, released at the same moment; return their JSON results.

    ``tasks`` are ``[name, arg, ...]`` lists (see :data:`TASKS`); ``env`` is the workers'
    environment (default: this process's, which carries the test's PARASCHUT_DB).
    """
    sync = sync_parent / f"sync-{time.monotonic_ns()}"
    sync.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(sync), json.dumps(tasks)],
        env=dict(env if env is not None else os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while len(list(sync.glob("ready-*"))) < len(tasks):
            if proc.poll() is not None:
                raise AssertionError(f"the worker launcher died: {proc.communicate()[1]}")
            if time.monotonic() > deadline:
                raise AssertionError("the workers did not start")
            time.sleep(0.01)
        (sync / "go").touch()
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    results: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    return results


def _timed(call: Callable[[], Any], latencies: list[float]) -> Any:
    start = time.monotonic()
    try:
        return call()
    finally:
        latencies.append(time.monotonic() - start)


def _bump(job: dict[str, Any]) -> None:
    job["n"] += 1


def task_modify(batch: int, index: int, times: int) -> dict[str, Any]:
    """``times`` atomic increments of job ``batch/index``'s field n through psu.modify_job."""
    import paraschut as psu

    latencies: list[float] = []
    for _ in range(times):
        _timed(lambda: psu.modify_job(batch, index, _bump), latencies)
    return {"ok": times, "max_latency": max(latencies)}


def task_locked(batch: int, index: int, times: int) -> dict[str, Any]:
    """``times`` atomic increments of field n through the ``with psu.locked_job(...)`` form."""
    import paraschut as psu

    latencies: list[float] = []

    def once() -> None:
        with psu.locked_job(batch, index) as job:
            job["n"] += 1

    for _ in range(times):
        _timed(once, latencies)
    return {"ok": times, "max_latency": max(latencies)}


def task_update(batch: int, index: int, times: int) -> dict[str, Any]:
    """``times`` plain read-modify-writes (get_job_info, n += 1, update_job): each lands or conflicts."""
    import paraschut as psu

    ok = 0
    conflicts: list[dict[str, Any]] = []
    latencies: list[float] = []
    for _ in range(times):
        start = time.monotonic()
        info = psu.get_job_info(batch, index)
        info["n"] += 1
        try:
            psu.update_job(info)
            ok += 1
        except psu.ConflictError as exc:
            conflicts.append({"class": type(exc).__name__, "message": str(exc), "fields": exc.fields})
        latencies.append(time.monotonic() - start)
    return {"ok": ok, "conflicts": conflicts, "max_latency": max(latencies)}


def task_submit(executor: str, rounds: int) -> dict[str, Any]:
    """``rounds`` calls of psu.submit_jobs(Executor=executor); what each one returned."""
    import paraschut as psu

    latencies: list[float] = []
    counts = [_timed(lambda: psu.submit_jobs(Executor=executor), latencies) for _ in range(rounds)]
    return {"submitted": counts, "max_latency": max(latencies)}


def task_spawn_complete(batch: int, index: int, spawn_id: int) -> dict[str, Any]:
    """One spawn of a job reporting it finished (psu.spawn_complete); whether it was the last."""
    import paraschut as psu

    return {"last": psu.spawn_complete({"BatchID": batch, "JobIndex": index, "SpawnID": spawn_id})}


TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "modify": task_modify,
    "locked": task_locked,
    "update": task_update,
    "submit": task_submit,
    "spawn_complete": task_spawn_complete,
}


def _child(sync: Path, number: int, task: list[Any]) -> None:
    try:
        (sync / f"ready-{number}").touch()
        deadline = time.monotonic() + START_TIMEOUT
        while not (sync / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("no go signal")
            time.sleep(0.002)
        result = TASKS[task[0]](*task[1:])
    except BaseException:  # noqa: BLE001 - reported to the test
        result = {"error": traceback.format_exc()}
    (sync / f"result-{number}.json").write_text(json.dumps(result))


def main(sync: Path, tasks: list[list[Any]]) -> list[dict[str, Any]]:
    """Fork one child per task, wait for all, and return their results in task order."""
    import paraschut  # noqa: F401 - imported once here, before the fork

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
    results = []
    for number in range(len(tasks)):
        path = sync / f"result-{number}.json"
        results.append(json.loads(path.read_text()) if path.exists() else {"error": f"worker {number} left no result"})
    return results


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), json.loads(sys.argv[2]))))
