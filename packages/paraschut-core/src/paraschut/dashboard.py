"""The get_queue report (per batch a title, job indices by state with running marks, and a summary)
and the same as a table for the command line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import frozen

from . import terminal
from .models import COLLECTED, COMPLETE, FAILED, INIT, RUN, SPAWN, SUBMIT
from .refresh import Refresh
from .terminal import Bar, Cell, Style

__all__ = ["STATE_ORDER", "BatchRow", "batch_rows", "batch_title", "compact", "as_json", "render", "summary", "table"]

STATE_ORDER = (INIT, SUBMIT, RUN, SPAWN, COMPLETE, COLLECTED, FAILED)
MISSING = "missing"
#: jobs in spawn with a failed spawn (shown like missing jobs: a marker, not a state)
SPAWN_FAILED = "spawn failed"


def _joined(name: Any) -> str:
    if isinstance(name, (list, tuple)):
        return "/".join(str(n) for n in name)
    return str(name) if name else ""


def batch_title(batch_id: int, name: Any) -> str:
    """``BatchID: name`` with a list name joined by '/'."""
    name = _joined(name)
    return f"{batch_id}: {name}" if name else str(batch_id)


def compact(items: Iterable[tuple[int, int]]) -> str:
    """Job indices with their running marks: consecutive unmarked indices shown as ranges."""
    parts: list[str] = []
    run_start = run_end = None
    for index, marks in sorted(items):
        if marks == 0 and run_end is not None and index == run_end + 1:
            run_end = index
            continue
        if run_start is not None:
            parts.append(str(run_start) if run_start == run_end else f"{run_start}-{run_end}")
            run_start = run_end = None
        if marks:
            parts.append(f"{index}{'*' * marks}")
        else:
            run_start = run_end = index
    if run_start is not None:
        parts.append(str(run_start) if run_start == run_end else f"{run_start}-{run_end}")
    return "[" + ", ".join(parts) + "]"


def _shown(
    jobs: Sequence[Mapping[str, Any]], status: Refresh, display: set[str] | None
) -> dict[str, list[tuple[int, int]]]:
    """One batch's job indices (with running marks) by state, then its missing jobs and jobs a
    failed spawn holds, as far as ``display`` asks for them."""
    by_state: dict[str, list[tuple[int, int]]] = {}
    for job in jobs:
        key = (job["BatchID"], job["JobIndex"])
        by_state.setdefault(job["state"], []).append((job["JobIndex"], status.online.get(key, 0)))
    order = [s for s in STATE_ORDER if s in by_state] + sorted(set(by_state) - set(STATE_ORDER))
    shown = {s: by_state[s] for s in order if display is None or s in display}
    for marker, keys, shown_with in (
        (MISSING, status.missing, {SUBMIT, RUN, SPAWN}), (SPAWN_FAILED, status.spawn_failed, {SPAWN}),
    ):
        marked = [(j["JobIndex"], 0) for j in jobs if (j["BatchID"], j["JobIndex"]) in keys]
        if marked and (display is None or marker in display or display & shown_with):
            shown[marker] = marked
    return shown


def _batch_lines(
    jobs: Sequence[Mapping[str, Any]], status: Refresh, display: set[str] | None
) -> list[str]:
    stuck = any((j["BatchID"], j["JobIndex"]) in status.spawn_failed for j in jobs)
    width = max(len(s) for s in {j["state"] for j in jobs} | {MISSING} | ({SPAWN_FAILED} if stuck else set())) + 1
    return [f"    {state + ':':<{width}} {compact(marks)}" for state, marks in _shown(jobs, status, display).items()]


def render(
    jobs: Sequence[Mapping[str, Any]], names: Mapping[int, Any], status: Refresh, display: set[str] | None = None
) -> str:
    """The whole report, as the text get_queue prints."""
    out: list[str] = []
    batches: dict[int, list[Mapping[str, Any]]] = {}
    for job in jobs:
        batches.setdefault(job["BatchID"], []).append(job)
    for batch_id, batch_jobs in batches.items():
        lines = _batch_lines(batch_jobs, status, display)
        if lines:
            out.append(batch_title(batch_id, names.get(batch_id)))
            out.extend(lines)
            out.append("")
    out.append(summary(jobs, status))
    return "\n".join(out)


def summary(jobs: Sequence[Mapping[str, Any]], status: Refresh) -> str:
    """The report's last line (and one line per executor that could not be polled)."""
    done = sum(1 for j in jobs if j["state"] in (COMPLETE, COLLECTED))
    running = sum(1 for v in status.online.values() if v)
    on_queue = sum(status.on_queue.values())
    failed = sum(1 for j in jobs if j["state"] == FAILED)
    text = f"on queue: {on_queue} jobs, {running} running | complete: {done}/{len(jobs)}"
    if status.missing:
        text += f" | missing: {len(status.missing)}"
    if failed:
        text += f" | failed: {failed}"
    if status.spawn_failed:
        text += f" | spawn failed: {len(status.spawn_failed)} (spawn_resubmit)"
    for name, error in sorted(status.errors.items()):
        text += f"\n! executor {name!r} could not be polled: {error}"
    return text


# -- the command line's table ------------------------------------------------------------------
COLORS = {
    RUN: "green", SPAWN: "green", FAILED: "red", MISSING: "yellow", SPAWN_FAILED: "red", COMPLETE: "blue",
    COLLECTED: "blue",
}


@frozen
class BatchRow:
    """One batch of the table: job counts and compacted indices per state ('missing' included)."""

    batch_id: int
    name: str
    counts: dict[str, int]
    indices: dict[str, str]
    done: int
    total: int


def batch_rows(
    jobs: Sequence[Mapping[str, Any]], names: Mapping[int, Any], status: Refresh, display: set[str] | None = None
) -> list[BatchRow]:
    """The table's rows, in the report's batch order, with the report's rules for ``display``."""
    batches: dict[int, list[Mapping[str, Any]]] = {}
    for job in jobs:
        batches.setdefault(job["BatchID"], []).append(job)
    rows = []
    for batch_id, batch_jobs in batches.items():
        shown = _shown(batch_jobs, status, display)
        if not shown:
            continue
        rows.append(BatchRow(
            batch_id=batch_id, name=_joined(names.get(batch_id)),
            counts={s: len(v) for s, v in shown.items()}, indices={s: compact(v) for s, v in shown.items()},
            done=sum(1 for j in batch_jobs if j["state"] in (COMPLETE, COLLECTED)), total=len(batch_jobs),
        ))
    return rows


def _summary_lines(text: str, style: Style, done: int, total: int, width: int | None) -> list[str]:
    """The summary painted, the first line led by an overall bar when ``width`` leaves room."""
    lines = []
    for number, line in enumerate(text.splitlines()):
        if line.startswith("!"):
            lines.append(style.paint(line, "red"))
            continue
        parts = [style.paint(p, COLORS.get(p.split(":")[0])) for p in line.split(" | ")]
        room = 20 if width is None else min(20, width - len(line) - 2)
        bar = style.paint(style.bar(done, total, room), "green") + "  " if room >= 5 and number == 0 else ""
        lines.append(bar + " | ".join(parts))
    return lines


def table(
    rows: Sequence[BatchRow], summary_text: str, style: Style, width: int | None, bars: bool = False
) -> list[str]:
    """The dashboard as a table: one line per batch (BatchID, name, complete/total with a bar when
    ``bars``, counts per state, job indices by state), a blank line, then the summary line."""
    states = [s for s in [*STATE_ORDER, MISSING, SPAWN_FAILED] if any(s in r.counts for r in rows)]
    states += sorted({s for r in rows for s in r.counts} - set(states))
    headers = ["BatchID", "name", *(["progress"] if bars else []), "done", *states, "jobs"]
    cells: list[list[Cell]] = []
    for row in rows:
        jobs: list[tuple[str, str | None]] = []
        for state, text in row.indices.items():
            jobs += [("  " if jobs else "", None), (f"{state} {text}", COLORS.get(state))]
        counts = [
            (str(row.counts[s]), COLORS.get(s) if s in (FAILED, MISSING, SPAWN_FAILED) else None) if row.counts.get(s)
            else ("0" if s in row.counts else "-", "dim") for s in states
        ]
        cells.append([str(row.batch_id), row.name, *([Bar(row.done, row.total)] if bars else []),
                      f"{row.done}/{row.total}", *([c] for c in counts), jobs])
    first_count, jobs_col = (4 if bars else 3), len(headers) - 1
    lines = terminal.table(
        headers, cells, style, width, right=range(first_count - 1, first_count + len(states)),
        shrink=[(jobs_col, 40), (1, 16), (jobs_col, 16), *([(2, 0)] if bars else []), (1, 8), (jobs_col, 8)],
    )
    done, total = sum(r.done for r in rows), sum(r.total for r in rows)
    summary = _summary_lines(summary_text, style, done, total, width if bars else 0)
    return [*lines, "", *(summary if width is None else [terminal.clip(line, width, style) for line in summary])]


def as_json(
    jobs: Sequence[Mapping[str, Any]], names: Mapping[int, Any], status: Refresh, display: set[str] | None = None
) -> dict[str, Any]:
    """The dashboard for scripts: per batch its name, counts per state, the jobs (only those in
    ``display`` states, when given), running marks and missing jobs; then the summary's numbers."""
    batches: dict[int, list[Mapping[str, Any]]] = {}
    for job in jobs:
        batches.setdefault(job["BatchID"], []).append(job)
    out = []
    for batch_id, batch_jobs in batches.items():
        counts: dict[str, int] = {}
        for job in batch_jobs:
            counts[job["state"]] = counts.get(job["state"], 0) + 1
        shown = [j for j in batch_jobs if not display or j["state"] in display]
        if shown:
            out.append({
                "BatchID": batch_id, "name": names.get(batch_id), "counts": counts, "jobs": shown,
                "running": {str(j): n for (b, j), n in sorted(status.online.items()) if b == batch_id and n},
                "missing": sorted(j for b, j in status.missing if b == batch_id),
                "spawn_failed": sorted(j for b, j in status.spawn_failed if b == batch_id),
            })
    totals = {
        "jobs": len(jobs), "complete": sum(1 for j in jobs if j["state"] in (COMPLETE, COLLECTED)),
        "failed": sum(1 for j in jobs if j["state"] == FAILED), "on_queue": sum(status.on_queue.values()),
        "running": sum(1 for v in status.online.values() if v), "missing": len(status.missing),
        "spawn_failed": len(status.spawn_failed), "executor_errors": dict(status.errors),
    }
    return {"batches": out, "summary": totals}
