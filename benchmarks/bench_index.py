"""Job-index benchmark: add, get_queue, submit_jobs and an idle submit_jobs at 10,000 and 100,000 jobs.

Run: python benchmarks/bench_index.py [SIZES...]   (default: 10000 100000)
Uses the built-in file executor (no scheduler), a fresh index in a temporary folder, and prints
the figures; it asserts nothing (the machines are shared and noisy). "idle" is a submit_jobs call
with nothing eligible and no status poll due (what every finishing job pays through
set_complete(Submit=True)); "status poll" is the call that polls the executor for every
submitted job, due once per status_interval for all processes sharing the index.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time


def measure(size: int) -> dict[str, float]:
    import paraschut as psu
    from paraschut.session import reset_sessions

    reset_sessions()
    script = os.path.join(os.environ["PARASCHUT_JOB_DIR"], "job.sh")
    os.makedirs(os.path.dirname(script), exist_ok=True)
    with open(script, "w") as fh:
        fh.write("#!/bin/sh\ntrue\n")
    jobs = []
    for i in range(size):
        job = psu.get_job_template()
        job.update(script=script, name=["bench", f"sample_{i % 97}"], priority=1 if i < size - 1 else 0)
        job["params"] = {"i": i, "tag": "x" * 16}
        jobs.append(job)
    t0 = time.perf_counter()
    psu.add_batch_to_queue(1, jobs)
    add = time.perf_counter() - t0
    t0 = time.perf_counter()
    psu.get_queue(Verbose=False)
    queue = time.perf_counter() - t0
    t0 = time.perf_counter()
    submitted = psu.submit_jobs(Executor="file")
    submit = time.perf_counter() - t0
    assert submitted == size - 1, submitted
    # the first call after submitting polls the executor for every submitted job (a status poll,
    # due once per status_interval for everyone sharing the index); the idle calls come after it
    t0 = time.perf_counter()
    psu.submit_jobs(Executor="file")
    poll = time.perf_counter() - t0
    idle = []
    for _ in range(20):
        t0 = time.perf_counter()
        psu.submit_jobs(Executor="file")
        idle.append(time.perf_counter() - t0)
    return {
        "add": add, "get_queue": queue, "submit": submit, "poll": poll,
        "idle_median": statistics.median(idle), "idle_max": max(idle),
    }


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10_000, 100_000]
    print(
        f"{'jobs':>8} {'add s':>8} {'get_queue s':>12} {'submit_jobs s':>14} "
        f"{'idle ms (median/max)':>22} {'status poll s':>14}"
    )
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["PARASCHUT_DB"] = os.path.join(tmp, "jobs.sqlite")
            os.environ["PARASCHUT_JOB_DIR"] = os.path.join(tmp, "jobs")
            os.environ["PARASCHUT_CONFIG"] = os.path.join(tmp, "none.toml")
            r = measure(size)
        print(
            f"{size:>8} {r['add']:>8.3f} {r['get_queue']:>12.3f} {r['submit']:>14.3f} "
            f"{r['idle_median'] * 1000:>15.1f} / {r['idle_max'] * 1000:<4.1f} {r['poll']:>14.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
