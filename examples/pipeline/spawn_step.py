"""Spawn step: a job that only learns at run time how many parts its input has, and runs each as a spawn.

The same script runs twice over: first as the job itself, which splits its input and multiplies
into one spawn per part (spawn_submit), then as each spawn, which counts the words of its part.
The job is complete when the last spawn calls spawn_complete(), which then submits what comes next.
"""

import json
import os
from collections import Counter

import paraschut as psu

PART_LINES = 150  # lines per part: how many parts there are depends on the input

job = psu.get_job_info(SetID=True)  # for a spawn, also SpawnID and SpawnCount
folder = os.path.dirname(job["input"])
if "SpawnID" not in job:
    # the job itself: split the input, record where each part's counts will be, then spawn
    with open(job["input"], encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    parts = []
    for n, start in enumerate(range(0, len(lines), PART_LINES)):
        part = os.path.join(folder, f"part_{job['JobIndex']}_{n}.txt")
        with open(part, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines[start : start + PART_LINES]))
        parts.append(part)
    job["parts"] = parts
    job["output"] = [p.replace(".txt", ".json") for p in parts]  # what the collect step reads
    psu.update_job(job)
    print(f"job {job['JobIndex']}: {len(parts)} parts, one spawn each")
    psu.spawn_submit(len(parts))  # the job is now 'spawn' until its last spawn completes
else:
    part = job["parts"][job["SpawnID"]]
    with open(part, encoding="utf-8") as fh:
        counts = Counter(word.strip(".,;:!?()[]`'\"").lower() for word in fh.read().split())
    counts = Counter({w: n for w, n in counts.items() if w.isalpha()})
    with open(job["output"][job["SpawnID"]], "w", encoding="utf-8") as fh:
        json.dump(counts, fh)
    print(f"job {job['JobIndex']} spawn {job['SpawnID']}/{job['SpawnCount']}: {sum(counts.values())} words")
    psu.spawn_complete(job, Submit=True)  # the last spawn completes the job and submits the next group
