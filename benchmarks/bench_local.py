"""Local executor benchmark: N trivial jobs from add to all complete, beside xargs -P <cpus> running the same commands.

Run: python benchmarks/bench_local.py [N [ROUNDS]]   (default 1000 jobs, 3 rounds)
Prints both wall times (medians of alternating rounds), their ratio and paraschut's per-job
overhead; asserts nothing.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time


def phases(t0_epoch: float) -> tuple[float, float]:
    """(first job started, last job ended) after t0, from the local executor's spool."""
    spool = os.path.join(os.environ["PARASCHUT_DB"] + ".local", "spool.sqlite")
    with sqlite3.connect(spool) as conn:
        first, last = conn.execute("SELECT MIN(started), MAX(ended) FROM jobs").fetchone()
    return first - t0_epoch, last - t0_epoch


def run_paraschut(n: int, script: str, split: list[tuple[float, float, float]]) -> float:
    import paraschut as psu
    from paraschut.session import reset_sessions

    reset_sessions()
    jobs = [{"script": script, "priority": 1, "name": f"t{i}"} for i in range(n)]
    t0_epoch = time.time()
    t0 = time.perf_counter()
    psu.add_batch_to_queue(1, jobs)
    psu.submit_jobs(Executor="local")
    batch = psu.wait_jobs(Timeout=600)  # returns once the index has recorded every job's end
    states = [j["state"] for j in batch.get(1, [])]
    elapsed = time.perf_counter() - t0
    split.append((*phases(t0_epoch), elapsed))
    failed = states.count("failed")
    if failed:
        print(f"warning: {failed} job(s) failed")
    return elapsed


def run_xargs(n: int, script: str, cpus: int) -> float:
    t0 = time.perf_counter()
    # the same script n times (each run gets its number as an argument, which it ignores)
    subprocess.run(
        ["xargs", "-P", str(cpus), "-n", "1", script],
        input="\n".join(str(i) for i in range(n)) + "\n", text=True, check=True,
    )
    return time.perf_counter() - t0


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 1000
    rounds = int(argv[1]) if len(argv) > 1 else 3
    cpus = os.cpu_count() or 1
    xargs_times, psu_times = [], []
    split: list[tuple[float, float, float]] = []
    # alternate the two, several rounds, and compare medians: a shared machine's load drifts.
    # Every round's files are deleted only at the end: deleting 2,000 log files between rounds
    # left the file system work to do (ext4 here mounts with online discard) that slowed the next
    # round's job starts by up to half, rounds after rounds, and only paraschut's (xargs creates
    # no files): a cost of the benchmark's own cleanup, not of running jobs.
    with tempfile.TemporaryDirectory() as parent:
        for number in range(rounds):
            tmp = os.path.join(parent, f"round{number}")
            os.mkdir(tmp)
            os.environ.update(
                PARASCHUT_DB=os.path.join(tmp, "jobs.sqlite"), PARASCHUT_JOB_DIR=os.path.join(tmp, "jobs"),
                PARASCHUT_CONFIG=os.path.join(tmp, "none.toml"),
                # the default: wait_jobs polls every 5 s and learns the end from the local executor
                PARASCHUT_STATUS_INTERVAL="5",
            )
            script = os.path.join(tmp, "job.sh")
            with open(script, "w") as fh:
                fh.write("#!/bin/sh\ntrue\n")
            os.chmod(script, 0o755)
            xargs_times.append(run_xargs(n, script, cpus))
            psu_times.append(run_paraschut(n, script, split))
    xargs, psu = statistics.median(xargs_times), statistics.median(psu_times)
    ratios = sorted(p / x for p, x in zip(psu_times, xargs_times, strict=True))
    print(f"{n} trivial jobs on {cpus} cpus, median of {rounds} alternating rounds")
    print(f"xargs -P {cpus}:        {xargs:8.2f} s  ({xargs / n * 1000:.2f} ms/job)")
    print(f"paraschut local:     {psu:8.2f} s  ({psu / n * 1000:.2f} ms/job, add -> all complete)")
    print(
        f"ratio paraschut/xargs: {psu / xargs:.2f}  (per round: {', '.join(f'{r:.2f}' for r in ratios)};"
        " target: within 2x)"
    )
    overhead = (psu - xargs) / n * 1000
    print(f"per-job overhead:    {overhead:.2f} ms wall, {overhead * cpus:.2f} ms of a slot")
    first, last, seen = (statistics.median(column) for column in zip(*split, strict=True))
    print(
        f"paraschut's phases (medians): first job started at {first:.3f} s (add, submit, a worker's start), "
        f"last job ended at {last:.3f} s, wait_jobs returned (all recorded) at {seen:.3f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
