"""Map step: count the words of one chunk of text, then let paraschut submit what comes next."""

import json
import os
from collections import Counter

import paraschut as psu

job = psu.get_job_info(SetID=True)  # marks the job 'run' and records host and cluster id
with open(job["input"], encoding="utf-8") as fh:
    counts = Counter(word.strip(".,;:!?()[]`'\"").lower() for word in fh.read().split())
counts = Counter({w: n for w, n in counts.items() if w.isalpha()})
out = os.path.join(os.path.dirname(job["input"]), f"counts_{job['JobIndex']}.json")
with open(out, "w", encoding="utf-8") as fh:
    json.dump(counts, fh)
job["output"] = out
job["n_words"] = sum(counts.values())
print(f"job {job['JobIndex']}: {job['n_words']} words")
psu.set_complete(job, Submit=True)  # complete, and submit the next priority group if it is ready
