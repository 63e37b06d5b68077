"""A batch's timeline: each submission of each job as a queued span and a running span (from job_events)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import asdict, define, evolve, frozen

from .db import JOB_COLUMNS, row_to_job
from .errors import JobNotFoundError, ParaschutError
from .models import INIT, RUN, SPAWN, SUBMIT
from .session import get_session

__all__ = ["FORMATS", "Span", "compute_spans", "get_timeline", "plot_timeline", "timeline_spans"]

#: output formats of plot_timeline, by file extension
FORMATS = (".png", ".html", ".svg")


@frozen
class Span:
    """One submission of one job: queued from ``queued``, running from ``started``, until ``ended``.

    ``state`` is how the submission ended (``complete``, ``failed``, ``collected``, ``init`` for a
    reset or a submission that never reached its scheduler, or any state a user set), or the job's
    current state while it has not ended (``submit``, ``run``, ``spawn``). Times are epoch
    seconds; ``started`` is None for a submission that never ran, ``ended`` for one still going.
    ``spawned`` is when the job multiplied itself into spawns (it ends when the last spawn does).
    """

    BatchID: int
    JobIndex: int
    run: int
    state: str
    queued: float
    started: float | None = None
    spawned: float | None = None
    ended: float | None = None
    ClusterID: str | None = None
    hostname: str | None = None
    priority: Any = None
    name: str = ""

    @property
    def active(self) -> bool:
        """True while the submission has not ended."""
        return self.ended is None

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """The span as JSON-ready values, with ``wait_s`` (queued until started, or until now/the
        end) and ``run_s`` (started until ended, or until now)."""
        now = time.time() if now is None else now
        out = asdict(self)
        end = self.ended if self.ended is not None else now
        out["wait_s"] = round((self.started if self.started is not None else end) - self.queued, 3)
        out["run_s"] = None if self.started is None else round(end - self.started, 3)
        return out


@define
class _Open:
    queued: float
    cluster_id: str | None
    started: float | None = None
    spawned: float | None = None
    hostname: str | None = None
    state: str = SUBMIT


def _close(key: tuple[int, int], number: int, run: _Open, state: str, ended: float | None) -> Span:
    return Span(
        BatchID=key[0], JobIndex=key[1], run=number, state=state, queued=run.queued, started=run.started,
        spawned=run.spawned, ended=ended, ClusterID=run.cluster_id, hostname=run.hostname,
    )


def _job_spans(key: tuple[int, int], events: Sequence[Mapping[str, Any]]) -> list[Span]:
    """The spans of one job from its events in the order the index recorded them."""
    spans: list[Span] = []
    run: _Open | None = None
    for event in events:
        state, at = str(event["state"]), float(event["time"])
        cid = None if event.get("ClusterID") is None else str(event["ClusterID"])
        if state == SUBMIT:
            if run is not None:  # resubmitted without ending (a user's edit): the old one ends here
                spans.append(_close(key, len(spans), run, INIT, at))
            run = _Open(queued=at, cluster_id=cid)
        elif state in (RUN, SPAWN):
            if run is None:  # set running without a recorded submission (a user's edit, an old index)
                run = _Open(queued=at, cluster_id=cid)
            if run.started is None or at < run.started:
                run.started = at
            if state == SPAWN and run.spawned is None:
                run.spawned = at
            run.cluster_id = cid or run.cluster_id
            run.hostname = event.get("hostname") or run.hostname
            if run.state != SPAWN:  # a spawning job stays spawning until its last spawn ends
                run.state = state
        elif run is not None:  # any other state ends the submission
            run.cluster_id = cid or run.cluster_id
            spans.append(_close(key, len(spans), run, state, at))
            run = None
        elif spans and state != INIT:  # complete -> collected: what became of the last one
            spans[-1] = _with_state(spans[-1], state)
    if run is not None:
        spans.append(_close(key, len(spans), run, run.state, None))
    return spans


def _with_state(span: Span, state: str) -> Span:
    return evolve(span, state=state)


def compute_spans(
    events: Iterable[Mapping[str, Any]], jobs: Mapping[tuple[int, int], Mapping[str, Any]] | None = None,
) -> list[Span]:
    """Spans from state events (``BatchID``, ``JobIndex``, ``state``, ``time``, optional
    ``ClusterID``/``hostname``) given in the order they were recorded.

    A ``submit`` event starts a submission; ``run`` (or ``spawn``) marks it started (the earliest
    one counts: a job's own mark and a poll's sighting may both be there); any other state ends
    it, and a later non-``init`` state (``complete`` -> ``collected``) becomes its final state.
    ``jobs`` (by key) gives each span its job's priority and name. Spans are sorted by priority
    (highest first, the order jobs run in), then JobIndex, then run.
    """
    by_job: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    for event in events:
        by_job.setdefault((int(event["BatchID"]), int(event["JobIndex"])), []).append(event)
    jobs = jobs or {}
    spans = []
    for key, job_events in by_job.items():
        job = jobs.get(key, {})
        spans += [_with_job(s, job) for s in _job_spans(key, job_events)]
    return sorted(spans, key=lambda s: (-_priority(s.priority), s.BatchID, s.JobIndex, s.run))


def _priority(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _with_job(span: Span, job: Mapping[str, Any]) -> Span:
    name = job.get("name")
    if isinstance(name, (list, tuple)):
        name = "_".join(str(n) for n in name)
    return evolve(span, priority=job.get("priority"), name=str(name) if name else f"job{span.JobIndex}")


def timeline_spans(BatchID: Any) -> list[Span]:
    """The spans of every job of a batch, read from the index (JobNotFoundError: no such batch)."""
    try:
        batch_id = int(BatchID)
    except (TypeError, ValueError):
        raise ParaschutError(f"BatchID must be a whole number, not {BatchID!r}") from None
    index = get_session().index
    if index.batch(batch_id) is None:
        raise JobNotFoundError(batch_id)
    rows = index.query(f"SELECT {JOB_COLUMNS} FROM jobs WHERE BatchID=?", (batch_id,), raw=True)
    jobs = {(job["BatchID"], job["JobIndex"]): job for job in map(row_to_job, rows)}
    return compute_spans([dict(r) for r in index.job_events(batch_id)], jobs)


def get_timeline(BatchID: Any) -> list[dict[str, Any]]:
    """A batch's timeline as JSON-ready dicts: one per submission of a job, with its job's
    priority and name, when it was queued, started and ended, its final state, ``wait_s`` and
    ``run_s`` (see :class:`Span`)."""
    now = time.time()
    return [span.to_dict(now) for span in timeline_spans(BatchID)]


def plot_timeline(BatchID: Any, Output: str | os.PathLike[str], Title: str | None = None) -> str:
    """Draw a batch's timeline to ``Output``: ``.html`` or ``.svg`` (self-contained, no extra
    dependency) or ``.png`` (needs matplotlib: ``pip install 'paraschut-core[plot]'``).

    Each job is a row, grouped by priority (highest first); a thin bar is the time it waited in
    its queue, a thick bar the time it ran, coloured by how it ended. Returns the path written.
    """
    from . import timeline_render

    path = os.fspath(Output)
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise ParaschutError(
            f"cannot draw a timeline to {path!r}: the file name must end in {', '.join(FORMATS)}"
        )
    if extension == ".png":
        timeline_render.require_matplotlib()  # before reading anything: a clear error first
    spans = timeline_spans(BatchID)
    title = Title or f"batch {int(BatchID)}"
    if extension == ".png":
        timeline_render.write_png(spans, path, title)
    else:
        svg = timeline_render.render_svg(spans, title)
        text = svg if extension == ".svg" else timeline_render.html_page(svg, spans, title)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return path
