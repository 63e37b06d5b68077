"""Collect step (lower priority: runs once every map job is complete): merge the counts."""

import json
from collections import Counter

import paraschut as psu

job = psu.get_job_info(SetID=True)
batch = psu.get_queue(Filter=f"BatchID = {job['BatchID']} AND priority > {job['priority']}", Verbose=False)
maps = batch[job["BatchID"]]
total: Counter = Counter()
for m in maps:
    # a map job wrote one file; the spawning job one per spawn
    for output in m["output"] if isinstance(m["output"], list) else [m["output"]]:
        with open(output, encoding="utf-8") as fh:
            total.update(json.load(fh))
job["total_words"] = sum(total.values())
job["top_words"] = total.most_common(5)
print(f"{len(maps)} jobs of priority {maps[0]['priority']}, {job['total_words']} words; top: {job['top_words']}")
# the map outputs have been consumed: mark them 'collected'
psu.set_job_field(job["BatchID"], [m["JobIndex"] for m in maps], Field="state", Value="collected", Unless={})
psu.set_complete(job, Submit=True)
