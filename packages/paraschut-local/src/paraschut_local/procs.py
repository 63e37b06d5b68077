"""Process identity (pid plus start time) and ending a job's whole process tree."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

__all__ = ["alive", "describe_signal", "kill_trees", "stamp", "tree_of"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = os.path.exists("/proc/self/stat")  # Linux: read process start times from /proc


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """(state letter, start time in seconds since boot) from /proc, or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[19]) / _TICKS


def stamp(pid: int) -> float | None:
    """A start time that, with the pid, names one process for the life of the machine.

    On Linux: seconds since boot from /proc (exact, immune to clock changes); elsewhere psutil's
    create time. ``None`` when there is no such process.
    """
    if _PROC:
        found = _proc_stat(pid)
        return None if found is None else found[1]
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def alive(pid: int | None, started: float | None) -> bool:
    """True when ``pid`` runs and is the very process that started at ``started`` (not a zombie).

    A pid that the system gave to another process since is not alive.
    """
    if not pid or started is None:
        return False
    if _PROC:
        found = _proc_stat(pid)
        return found is not None and found[0] not in ("Z", "X") and abs(found[1] - started) < 1e-6
    import psutil

    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - started) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def describe_signal(signum: int) -> str:
    """``"signal 9 (SIGKILL)"``."""
    try:
        return f"signal {signum} ({signal.Signals(signum).name})"
    except ValueError:
        return f"signal {signum}"


def _is_worker(proc: psutil.Process) -> bool:
    try:
        return "paraschut_local.worker" in proc.cmdline()
    except Exception:  # noqa: BLE001 - psutil.Error or a process gone meanwhile
        return False


def tree_of(pid: int) -> list[psutil.Process]:
    """The job leader, its descendants, and every process left in its session.

    Workers the job started (a job that submits jobs) are not part of its tree: they run other jobs.
    """
    import psutil

    found: dict[int, psutil.Process] = {}
    spared: set[int] = set()
    try:
        leader = psutil.Process(pid)
        found[pid] = leader
        for child in leader.children(recursive=True):
            found[child.pid] = child
            if _is_worker(child):
                spared.add(child.pid)
                spared.update(grandchild.pid for grandchild in child.children(recursive=True))
    except psutil.Error:
        pass
    for other in psutil.pids():
        if other in found or other == os.getpid():
            continue
        try:
            if os.getsid(other) == pid:
                found[other] = psutil.Process(other)
        except (OSError, psutil.Error):
            continue
    return [proc for key, proc in found.items() if key not in spared]


def _signal_all(procs: Iterable[psutil.Process], groups: Iterable[int], sig: int) -> None:
    import psutil

    for pgid in groups:
        try:
            os.killpg(pgid, sig)
        except OSError:
            pass
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


def _gone(proc: psutil.Process) -> bool:
    import psutil

    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def kill_trees(leaders: Iterable[tuple[int, float]], grace: float = 5.0) -> None:
    """End each job's process tree: SIGTERM to its group and every member, then SIGKILL.

    :param leaders: (pid, stamp) of each job process; pids that are no longer those processes
        are skipped, so a reused pid is never signalled.
    :param grace: seconds to wait after SIGTERM before SIGKILL.
    """
    groups = [pid for pid, started in leaders if alive(pid, started)]
    procs = [proc for pid in groups for proc in tree_of(pid)]
    if not procs:
        return
    _signal_all(procs, groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        procs = [proc for proc in procs if not _gone(proc)]
        if not procs:
            return
        time.sleep(0.05)
    _signal_all(procs, groups, signal.SIGKILL)
