"""Scheduler calls counted: submitting a 1,000-job priority group, and 50 processes polling at once.

Run (with the schedulers of tests/clusters/ started):
    python benchmarks/bench_scheduler_calls.py [sge|pbs ...] [--jobs N] [--pollers P] [--seconds S]

A counting wrapper is put in front of the real commands (executor option bin_dir), so every qsub,
qstat, qacct, qdel or scontrol call is counted. Prints the counts and times; asserts nothing.
Targets: at most ceil(N/1000) submit calls for an array-able group; at most one status call per
status_interval per executor across all processes.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import stat
import sys
import tempfile
import time
from collections import Counter

REAL_BIN = {"sge": "/var/lib/gridengine/bin/lx-amd64", "pbs": "/opt/slurm-torque/usr/bin", "slurm": "/usr/bin"}
COMMANDS = {
    "sge": ["qsub", "qstat", "qacct", "qdel"],
    "pbs": ["qsub", "qstat", "qdel"],
    "slurm": ["sbatch", "squeue", "scontrol", "sacct", "scancel", "sinfo"],
}
SUBMIT = {"sge": "qsub", "pbs": "qsub", "slurm": "sbatch"}
STATUS = {"sge": ("qstat", "qacct"), "pbs": ("qstat",), "slurm": ("squeue", "scontrol", "sacct")}
EXTRA = {"pbs": 'flavour = "slurm"\n'}  # the wrapper hides the Perl script the flavour is read from


def make_wrappers(executor: str, directory: str, log: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for command in COMMANDS[executor]:
        path = os.path.join(directory, command)
        with open(path, "w") as fh:
            real = f"{REAL_BIN[executor]}/{command}"
            fh.write(f'#!/bin/sh\necho "{command} $(date +%s.%N) $1" >> "{log}"\nexec "{real}" "$@"\n')
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def counted(log: str) -> Counter[str]:
    if not os.path.exists(log):
        return Counter()
    with open(log) as fh:
        return Counter(line.split()[0] for line in fh if line.strip())


def poller(seconds: float, barrier: multiprocessing.synchronize.Barrier) -> None:
    import paraschut as psu

    barrier.wait()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        psu.submit_jobs()  # idle: nothing eligible, as every finishing job calls it
        psu.get_queue(Verbose=False)
        time.sleep(0.05)


def submit_time(executor: str, jobs: int, script: str, max_array_size: int) -> tuple[float, int, str]:
    """Wall time and submit calls for one group of ``jobs``; then the jobs are cancelled."""
    import paraschut as psu

    batch = int(time.time() * 1000) % 10**9
    group = [{"script": script, "name": "bench", "priority": 1} for _ in range(jobs)]
    psu.add_batch_to_queue(batch, [*group, {"script": script, "name": "collect", "priority": 0}])
    log = os.environ["BENCH_CALL_LOG"]
    open(log, "w").close()
    t0 = time.perf_counter()
    psu.submit_jobs(Executor=psu.Executor(executor, {"max_array_size": max_array_size}))
    elapsed = time.perf_counter() - t0
    calls = counted(log)[SUBMIT[executor]]
    psu.remove_batch(batch)  # cancelled and gone (qdel alone would return them to init)
    return elapsed, calls, str(batch)


def run(executor: str, jobs: int, pollers: int, seconds: float, interval: float) -> None:
    import paraschut as psu
    from paraschut.session import reset_sessions

    tmp = tempfile.mkdtemp(prefix="bench-calls-", dir="/tmp")
    os.chmod(tmp, 0o755)
    log, wrappers = os.path.join(tmp, "calls.log"), os.path.join(tmp, "bin")
    os.environ["BENCH_CALL_LOG"] = log
    make_wrappers(executor, wrappers, log)
    config = os.path.join(tmp, "paraschut.toml")
    with open(config, "w") as fh:
        fh.write(f'[executors.{executor}]\nbin_dir = "{wrappers}"\n{EXTRA.get(executor, "")}')
    os.environ.update(
        PARASCHUT_DB=os.path.join(tmp, "jobs.sqlite"), PARASCHUT_JOB_DIR=os.path.join(tmp, "jobs"),
        PARASCHUT_CONFIG=config, PARASCHUT_EXECUTOR=executor, PARASCHUT_STATUS_INTERVAL=str(interval),
    )
    reset_sessions()
    script = os.path.join(tmp, "job.sh")
    with open(script, "w") as fh:
        fh.write("#!/bin/sh\nsleep 600\n")
    os.chmod(script, 0o755)
    group = [{"script": script, "name": "bench", "priority": 1} for _ in range(jobs)]
    psu.add_batch_to_queue(1, [*group, {"script": script, "name": "collect", "priority": 0}])  # collect waits
    t0 = time.perf_counter()
    psu.submit_jobs()
    elapsed = time.perf_counter() - t0
    calls = counted(log)
    word = SUBMIT[executor]
    print(f"{executor}: submitting {jobs} jobs sharing a script: {calls[word]} {word} call(s) in {elapsed:.2f} s "
          f"(target: at most {math.ceil(jobs / 1000)})")
    if executor == "slurm":
        off, off_calls, _ = submit_time(executor, jobs, script, 1)
        print(f"{executor}: the same {jobs} jobs with arrays off: {off_calls} {word} call(s) in {off:.2f} s")
    open(log, "w").close()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(pollers)
    procs = [ctx.Process(target=poller, args=(seconds, barrier)) for _ in range(pollers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    calls = counted(log)
    status_calls = sum(calls[c] for c in STATUS[executor])
    print(f"{executor}: {pollers} processes polling for {seconds:g} s (status_interval {interval:g} s): "
          f"{status_calls} status call(s) ({dict(calls)}); target: at most {math.ceil(seconds / interval) + 1}")
    if os.environ.get("BENCH_KEEP_LOG"):
        print(open(log).read())
    psu.qdel_batch(1)
    shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("executors", nargs="*", default=["sge", "pbs", "slurm"])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--interval", type=float, default=5)
    args = parser.parse_args(argv)
    for executor in args.executors:
        if not os.path.isdir(REAL_BIN[executor]):
            print(f"{executor}: skipped ({REAL_BIN[executor]} not found: start tests/clusters/*.sh)")
            continue
        run(executor, args.jobs, args.pollers, args.seconds, args.interval)


if __name__ == "__main__":
    main(sys.argv[1:])
