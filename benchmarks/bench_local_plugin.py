"""Benchmark: 1,000 trivial jobs through the local executor's hooks, beside ``xargs -P <ncpu>``.

Run: ``python benchmarks/bench_local_plugin.py [--jobs 1000] [--workers N]``. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import os
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
        xargs = bench_xargs(script, args.jobs, args.workers)
        submitted, local = bench_local(root, script, args.jobs, args.workers)
    print(f"jobs={args.jobs} workers={args.workers}")
    print(f"xargs -P {args.workers}: {xargs:.3f} s")
    print(f"local executor: {local:.3f} s (all submitted after {submitted:.3f} s)")
    print(f"ratio local/xargs: {local / xargs:.2f}x")
    print(f"overhead per job: {(local - xargs) / args.jobs * 1000:.2f} ms")


if __name__ == "__main__":
    main()
