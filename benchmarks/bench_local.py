"""Local executor benchmark: N trivial jobs from add to all complete, beside xargs -P <cpus> running the same commands.

Run: python benchmarks/bench_local.py [N [ROUNDS]] [--no-wait]   (default 1000 jobs, 3 rounds)
Prints both wall times (medians of alternating rounds), their ratio and paraschut's per-job
overhead; asserts nothing. It first waits (up to 3 minutes) until creating a file is cheap where
the logs go; --no-wait measures at once (a smoke run).
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


def create_cost(parent: str, tag: str, n: int = 1000) -> float:
    """Microseconds to create one empty file in a new folder under ``parent`` (the files stay)."""
    folder = os.path.join(parent, f"probe-{tag}")
    os.mkdir(folder)
    t0 = time.perf_counter()
    for i in range(n):
        os.close(os.open(os.path.join(folder, str(i)), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    return (time.perf_counter() - t0) / n * 1e6


#: Touched when a run has deleted its files: the next run waits for the file system to absorb that.
CLEANED = os.path.join(tempfile.gettempdir(), "paraschut-bench-local.cleaned")
#: Creating a file on a quiet local disk: 5-20 us here. Probes create 1,000: a slow stretch can start after hundreds.
QUIET_US = 30


def settle(parent: str) -> float:
    """The cost of creating a file here, once two probes 5 s apart found it low (waiting up to 3
    minutes): what the previous run's cleanup leaves behind is not what running jobs costs."""
    try:
        since = time.time() - os.path.getmtime(CLEANED)
    except OSError:
        since = float("inf")
    if since < 20:  # the slowdown starts seconds after a deletion: a probe at once would miss it
        print(f"the previous run deleted its files {since:.0f} s ago: waiting {20 - since:.0f} s", flush=True)
        time.sleep(20 - since)
    deadline = time.monotonic() + 180
    quiet, step = 0, 0
    while True:
        cost = create_cost(parent, str(step))
        quiet = quiet + 1 if cost <= QUIET_US else 0
        if quiet == 2 or time.monotonic() > deadline:
            return cost
        if not quiet:
            print(f"creating a file here costs {cost:.0f} us (files deleted nearby lately?): waiting", flush=True)
        time.sleep(5)
        step += 1


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
    wait = "--no-wait" not in argv
    argv = [arg for arg in argv if arg != "--no-wait"]
    n = int(argv[0]) if argv else 1000
    rounds = int(argv[1]) if len(argv) > 1 else 3
    cpus = os.cpu_count() or 1
    xargs_times, psu_times = [], []
    split: list[tuple[float, float, float]] = []
    # alternate the two, several rounds, and compare medians: a shared machine's load drifts.
    # Every round's files are deleted only at the end, and the cost of creating a file is measured
    # before and after the rounds: each job's two logs are files paraschut creates and xargs does
    # not, and on ext4 without a journal (the 2-core VM's disk) creating a file in a block group
    # where thousands were deleted in the last minutes costs 10-40x more (docs/decisions.md, 34),
    # as it does right after this benchmark's own cleanup: a run waits for that to pass.
    with tempfile.TemporaryDirectory() as parent:
        creates = [settle(parent) if wait else create_cost(parent, "before")]
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
        creates.append(create_cost(parent, "after"))
    with open(CLEANED, "w"):
        pass
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
    print(
        f"creating a file where the logs go: {creates[0]:.0f} us before the rounds, {creates[1]:.0f} us after"
        " (each job creates two; xargs none)"
    )
    if max(creates) > QUIET_US:
        print(
            "note: file creation was slow here; on ext4 without a journal it is, for minutes,"
            " after many files were deleted nearby (run again later for the figures of a quiet disk)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
