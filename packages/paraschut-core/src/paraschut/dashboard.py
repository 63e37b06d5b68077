"""The get_queue report: per batch a title, job indices by state with running marks, and a summary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .models import COLLECTED, COMPLETE, FAILED, INIT, RUN, SPAWN, SUBMIT
from .refresh import Refresh

__all__ = ["STATE_ORDER", "batch_title", "compact", "render"]

STATE_ORDER = (INIT, SUBMIT, RUN, SPAWN, COMPLETE, COLLECTED, FAILED)


def batch_title(batch_id: int, name: Any) -> str:
    """``BatchID: name`` with a list name joined by '/'."""
    if isinstance(name, (list, tuple)):
        name = "/".join(str(n) for n in name)
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


def _batch_lines(
    jobs: Sequence[Mapping[str, Any]], status: Refresh, display: set[str] | None
) -> list[str]:
    by_state: dict[str, list[tuple[int, int]]] = {}
    for job in jobs:
        key = (job["BatchID"], job["JobIndex"])
        by_state.setdefault(job["state"], []).append((job["JobIndex"], status.online.get(key, 0)))
    order = [s for s in STATE_ORDER if s in by_state] + sorted(set(by_state) - set(STATE_ORDER))
    width = max((len(s) for s in [*order, "missing"]), default=8) + 1
    lines = []
    for state in order:
        if display is None or state in display:
            lines.append(f"    {state + ':':<{width}} {compact(by_state[state])}")
    missing = [(j["JobIndex"], 0) for j in jobs if (j["BatchID"], j["JobIndex"]) in status.missing]
    if missing and (display is None or "missing" in display or display & {SUBMIT, RUN, SPAWN}):
        lines.append(f"    {'missing:':<{width}} {compact(missing)}")
    return lines


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
    done = sum(1 for j in jobs if j["state"] in (COMPLETE, COLLECTED))
    running = sum(1 for v in status.online.values() if v)
    on_queue = sum(status.on_queue.values())
    failed = sum(1 for j in jobs if j["state"] == FAILED)
    summary = f"on queue: {on_queue} jobs, {running} running | complete: {done}/{len(jobs)}"
    if status.missing:
        summary += f" | missing: {len(status.missing)}"
    if failed:
        summary += f" | failed: {failed}"
    for name, error in sorted(status.errors.items()):
        summary += f"\n! executor {name!r} could not be polled: {error}"
    out.append(summary)
    return "\n".join(out)

