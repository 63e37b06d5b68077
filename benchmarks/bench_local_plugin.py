"""Benchmark: 1,000 trivial jobs through the local executor's hooks, beside ``xargs -P <ncpu>``.

Run: ``python benchmarks/bench_local_plugin.py [--jobs 1000] [--workers N]``. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from paraschut.manager import ExecutorManager
from paraschut.models import Executor, JobSpec
from paraschut.plugins import get_plugin_manager
from paraschut_local import plugin

__all__ = ["bench_local", "bench_xargs", "main"]


def _script(root: Path) -> str:
    path = root / "true.sh"
    path.write_text("#!/bin/sh\ntrue\n")
    path.chmod(0o755)
    return str(path)


def _cpu_seconds() -> float:
    """CPU time of this process and of every child it has waited for (xargs; workers and their jobs)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _reap_workers(seconds: float = 10.0) -> None:
    """Wait for the workers this process started to exit, so their CPU time is counted."""
    from paraschut_local import dispatch

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dispatch._reap_children()
        if not dispatch._children:
            return
        time.sleep(0.05)


def bench_xargs(script: str, jobs: int, workers: int) -> float:
    """Seconds for ``xargs -P workers`` to run the script ``jobs`` times."""
    lines = "\n".join(str(i) for i in range(jobs)) + "\n"  # one (ignored) argument per run
    began = time.perf_counter()
    subprocess.run(["xargs", "-P", str(workers), "-n", "1", script], input=lines.encode(), check=True)
    return time.perf_counter() - began


def bench_local(root: Path, script: str, jobs: int, workers: int) -> tuple[float, float]:
    """(seconds to submit all, seconds until all are done) through the plugin's hooks."""
    executor = Executor("local", {"spool_dir": str(root / "spool"), "max_workers": workers})
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(plugin, name="local")
    manager = ExecutorManager(pm)
    logs = root / "logs"
    logs.mkdir()
    began = time.perf_counter()
    ids = []
    for i in range(jobs):
        spec = JobSpec(batch_id=1, job_index=i, name="bench", script=script, workdir=str(root),
                       stdout=str(logs / f"{i}.out"), stderr=str(logs / f"{i}.err"))
        ids.append(manager.submit(executor, spec).cluster_id)
    submitted = time.perf_counter() - began
    while True:
        statuses = manager.status(executor, ids)
        if all(not s.on_queue for s in statuses.values()):
            break
        time.sleep(0.1)
    failed = sum(s.state != "complete" for s in statuses.values())
    if failed:
        print(f"warning: {failed} jobs did not complete")
    return submitted, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--dir", default=None, help="where the spool and logs go (default: system temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        script = _script(root)
        cpu0 = _cpu_seconds()
        xargs = bench_xargs(script, args.jobs, args.workers)
        cpu1 = _cpu_seconds()
        submitted, local = bench_local(root, script, args.jobs, args.workers)
        _reap_workers()
        cpu2 = _cpu_seconds()
    print(f"jobs={args.jobs} workers={args.workers}")
    print(f"xargs -P {args.workers}: {xargs:.3f} s")
    print(f"local executor: {local:.3f} s (all submitted after {submitted:.3f} s)")
    print(f"ratio local/xargs: {local / xargs:.2f}x")
    print(f"overhead per job: {(local - xargs) / args.jobs * 1000:.2f} ms")
    xcpu, lcpu = cpu1 - cpu0, cpu2 - cpu1
    print(f"CPU seconds (steadier on a busy machine): xargs {xcpu:.3f}, local {lcpu:.3f} "
          f"(ratio {lcpu / xcpu:.2f}x, {(lcpu - xcpu) / args.jobs * 1000:.2f} ms per job)")


if __name__ == "__main__":
    main()
