"""Run one job of the ``bg`` executor: detach, run the script with its logs, record how it ended.

Started by jobs.submit as ``python runner.py FOLDER``; returns at once (the work goes on in a
detached child), so the submitter never waits for the job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil


def _write(path: str, data: dict[str, object]) -> None:
    """Write JSON atomically: readers see the whole file or none."""
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(path + ".tmp", path)


def _run(folder: str) -> None:
    with open(os.path.join(folder, "job.json"), encoding="utf-8") as fh:
        job = json.load(fh)
    started: list[subprocess.Popen[bytes]] = []
    cancelled: list[int] = []

    def stop(signum: int, frame: object) -> None:
        cancelled.append(signum)
        for proc in started:
            _kill_group(proc.pid)

    signal.signal(signal.SIGTERM, stop)  # before the job starts: no cancel is ever lost
    with open(job["stdout"], "wb") as out, open(job["stderr"], "wb") as err:
        try:  # its own process group, so a cancel ends the script's children too
            started.append(subprocess.Popen([job["script"]], cwd=job["workdir"], stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=err, start_new_session=True))
        except OSError as exc:
            err.write(f"bg runner: cannot start {job['script']}: {exc}\n".encode())
            _write(os.path.join(folder, "exit.json"), {"exit_code": 127, "signal": None})
            return
    if cancelled:  # the signal came while the job was starting
        _kill_group(started[0].pid)
    code = started[0].wait()
    _write(os.path.join(folder, "exit.json"),
           {"exit_code": code if code >= 0 else 128 - code, "signal": -code if code < 0 else None})


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # already gone


def main(folder: str) -> int:
    child = os.fork()
    if child:  # the submitter's process: record the runner and return
        _write(os.path.join(folder, "pid"), {"pid": child, "started": psutil.Process(child).create_time()})
        return 0
    os.setsid()  # detached from the submitter's session and terminal
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the submitter reads our output until every copy is closed
        os.dup2(devnull, fd)
    try:
        _run(folder)
    finally:
        os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
