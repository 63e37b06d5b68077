"""The README's typical workflow: map jobs at priority 1, a collect job at priority 0 reading their results.

Beside the four map jobs, a fifth job of priority 1 spawns: it splits its input into as many parts
as it turns out to have and runs one spawn per part; it is complete when its last spawn is.

Runs on the executor named by PARASCHUT_EXECUTOR (default: local), with the job index at
PARASCHUT_DB (default: ~/.paraschut/jobs.sqlite). Prints the dashboard and the result.
"""

from __future__ import annotations

import os
import sys
import time

import paraschut as psu
from paraschut.config import load_settings

HERE = os.path.dirname(os.path.abspath(__file__))
N_MAP = 4
SPAWNING = N_MAP  # the JobIndex of the spawning job
COLLECT = N_MAP + 1


def docs_text(folder: str) -> str:
    """The text of the docs/*.md files, one after another (the spawning job's input)."""
    texts = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.endswith(".md"):
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                texts.append(fh.read())
    return "\n".join(texts) or "no docs found"


def make_batch() -> int:
    batch_id = psu.get_job_template(SetID=True)["BatchID"]
    while psu.get_queue(Filter=f"BatchID = {batch_id}", Verbose=False):
        batch_id += 1  # two runs within one second
    root = os.path.join(HERE, "..", "..")
    with open(os.path.join(root, "README.md"), encoding="utf-8") as fh:
        text = fh.read().split("\n")
    job_dir = load_settings().job_dir  # PARASCHUT_JOB_DIR, the config file, or ~/.paraschut/jobs
    data_dir = os.path.join(job_dir, str(batch_id), "input")  # inside the batch folder: removed with it
    os.makedirs(data_dir, exist_ok=True)
    jobs = []
    for i in range(COLLECT + 1):
        job = psu.get_job_template()
        job.update(BatchID=batch_id, JobIndex=i)  # the template's resources run on every executor
        if i < N_MAP:
            chunk = os.path.join(data_dir, f"chunk_{i}.txt")
            with open(chunk, "w", encoding="utf-8") as fh:
                fh.write("\n".join(text[i::N_MAP]))
            job.update(name=["example", "map"], priority=1, input=chunk, step=os.path.join(HERE, "map_step.py"))
        elif i == SPAWNING:
            docs = os.path.join(data_dir, "docs.txt")
            with open(docs, "w", encoding="utf-8") as fh:
                fh.write(docs_text(os.path.join(root, "docs")))
            job.update(name=["example", "spawn"], priority=1, input=docs, step=os.path.join(HERE, "spawn_step.py"))
        else:
            job.update(name=["example", "collect"], priority=0, step=os.path.join(HERE, "collect_step.py"))
        psu.generate_script(job, Template=os.path.join(HERE, "job.sh"))
        jobs.append(job)
    psu.add_batch_to_queue(batch_id, jobs)
    return batch_id


def main() -> int:
    batch_id = make_batch()
    print(f"batch {batch_id}: {N_MAP} map jobs and a spawning job (priority 1), a collect job (priority 0)")
    mine = f"BatchID = {batch_id}"
    psu.submit_jobs(Filter=mine)
    deadline = time.monotonic() + float(os.environ.get("EXAMPLE_TIMEOUT", "300"))
    while time.monotonic() < deadline:
        # until none is queued or running: the map jobs, then the collect job their last one submits
        try:
            jobs = psu.wait_jobs(Filter=mine, Timeout=max(0.0, deadline - time.monotonic()))[batch_id]
        except psu.WaitTimeoutError:
            break
        if jobs[COLLECT]["state"] in ("complete", "failed") or any(j["state"] == "failed" for j in jobs):
            break
        psu.submit_jobs(Filter=mine)  # nothing running: submit what the priority rules allow
    psu.get_queue(Filter=mine)
    collect = psu.get_job_info(batch_id, COLLECT)
    if collect["state"] != "complete":
        print(f"the pipeline did not finish: collect job is {collect['state']!r}", file=sys.stderr)
        return 1
    print(f"total words: {collect['total_words']}; top: {collect['top_words']}")
    print(f"timeline: paraschut timeline {batch_id} -o timeline.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
