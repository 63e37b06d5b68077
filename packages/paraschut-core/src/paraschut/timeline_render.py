"""Drawing timeline spans: a self-contained SVG/HTML page (no dependency) or a PNG (matplotlib)."""

from __future__ import annotations

import html
import statistics
import time
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from .errors import ParaschutError
from .timeline import Span

__all__ = ["LEGEND", "html_page", "layout", "render_svg", "require_matplotlib", "write_png"]

#: colour and legend label per final state (Okabe-Ito: told apart with common colour blindness)
LEGEND: dict[str, tuple[str, str]] = {
    "complete": ("#009E73", "complete"),
    "collected": ("#0072B2", "collected"),
    "failed": ("#D55E00", "failed"),
    "run": ("#E69F00", "still running"),
    "spawn": ("#CC79A7", "spawning"),
    "submit": ("#999999", "still queued"),
    "init": ("#C8C8C8", "reset (back to init)"),
}
OTHER_COLOUR = "#56B4E9"
ROW, GROUP, LEFT, WIDTH, TOP = 18, 22, 230, 860, 84
NICE_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
              21600, 43200, 86400, 172800, 604800]


def colour(state: str) -> str:
    """The colour of a final state (user-defined states share one)."""
    return LEGEND.get(state, (OTHER_COLOUR, state))[0]


def label(state: str) -> str:
    """The legend label of a final state."""
    return LEGEND.get(state, (OTHER_COLOUR, state))[1]


@frozen
class Layout:
    """Rows to draw, top to bottom, and the time range: rows are ('group', priority, []) headers
    and ('job', 'index name', spans) rows."""

    rows: list[tuple[str, str, list[Span]]]
    start: float
    end: float
    now: float
    states: list[str]


def layout(spans: Sequence[Span], now: float | None = None) -> Layout:
    """Group spans by job (one row per job, every submission on it) under priority headers."""
    now = time.time() if now is None else now
    rows: list[tuple[str, str, list[Span]]] = []
    group: Any = object()
    for span in spans:  # already sorted by priority, then job, then run
        if span.priority != group:
            group = span.priority
            rows.append(("group", f"priority {group}", []))
        if rows[-1][0] == "job" and rows[-1][2][0].JobIndex == span.JobIndex:
            rows[-1][2].append(span)
        else:
            rows.append(("job", f"{span.JobIndex} {span.name}", [span]))
    start = min((s.queued for s in spans), default=now)
    end = max((s.ended if s.ended is not None else now for s in spans), default=now)
    states = list(dict.fromkeys(s.state for s in spans))
    ordered = [s for s in LEGEND if s in states] + [s for s in states if s not in LEGEND]
    return Layout(rows, start, max(end, start + 1.0), now, ordered)


def ticks(length: float, most: int = 10) -> tuple[float, list[float]]:
    """A round tick step for a time range of ``length`` seconds, and the ticks from 0."""
    step = next((s for s in NICE_STEPS if length / s <= most), NICE_STEPS[-1])
    count = int(length / step) + 1
    return step, [i * step for i in range(count)]


def tick_label(seconds: float, length: float) -> str:
    """A tick's offset from the start: '12 s', '3:05' (minutes) or '2:10 h'."""
    if length < 120:
        return f"{seconds:g} s"
    whole = int(round(seconds))
    if length < 7200:
        return f"{whole // 60}:{whole % 60:02d}"
    return f"{whole // 3600}:{whole % 3600 // 60:02d} h"


def axis_title(start: float, length: float) -> str:
    """The time axis title: what the tick labels count, and from when."""
    unit = "s" if length < 120 else ("min:s" if length < 7200 else "h:min")
    return f"time since the first submission ({_stamp(start)}), {unit}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _stamp(epoch: float | None) -> str:
    return "-" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def describe(span: Span, now: float) -> str:
    """The tooltip text of one submission."""
    end = span.ended if span.ended is not None else now
    wait = (span.started if span.started is not None else end) - span.queued
    parts = [f"job {span.JobIndex} ({span.name}), submission {span.run + 1}: {label(span.state)}",
             f"queued {_stamp(span.queued)}, waited {_duration(wait)}"]
    if span.started is not None:
        parts.append(f"started {_stamp(span.started)}, ran {_duration(end - span.started)}")
    if span.spawned is not None:
        parts.append(f"spawned {_stamp(span.spawned)}")
    parts.append(f"ended {_stamp(span.ended)}" if span.ended is not None else "not ended yet")
    if span.hostname or span.ClusterID:
        parts.append(f"on {span.hostname or '?'} as {span.ClusterID or '?'}")
    return "\n".join(parts)


def _bars(span: Span, now: float) -> list[tuple[str, float, float]]:
    """(kind, start, end) pieces of a span: 'queued', 'running', 'spawning'."""
    end = span.ended if span.ended is not None else now
    out = [("queued", span.queued, span.started if span.started is not None else end)]
    if span.started is not None:
        out.append(("running", span.started, end))
    if span.spawned is not None:
        out.append(("spawning", span.spawned, end))
    return out


# -- SVG / HTML ----------------------------------------------------------------------------------
def _legend_svg(states: Sequence[str]) -> list[str]:
    out, x = [], LEFT
    for state in states:
        out.append(f'<rect x="{x}" y="44" width="12" height="12" fill="{colour(state)}"/>'
                   f'<text x="{x + 16}" y="54">{html.escape(label(state))}</text>')
        x += 28 + 7 * len(label(state))
    out.append(f'<rect x="{x}" y="48" width="22" height="4" fill="#777" opacity="0.6"/>'
               f'<text x="{x + 26}" y="54">queued</text>')
    x += 80
    out.append(f'<rect x="{x}" y="44" width="22" height="12" fill="#777"/><text x="{x + 26}" y="54">running</text>')
    x += 86
    out.append(f'<rect x="{x}" y="44" width="22" height="4" fill="{LEGEND["spawn"][0]}"/>'
               f'<text x="{x + 26}" y="54">waiting for its spawns</text>')
    return out


def _axis_svg(lay: Layout, bottom: int) -> list[str]:
    length = lay.end - lay.start
    _, marks = ticks(length)
    out = [f'<line x1="{LEFT}" y1="{bottom}" x2="{LEFT + WIDTH}" y2="{bottom}" stroke="#333"/>']
    for mark in marks:
        x = LEFT + WIDTH * mark / length
        out.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{bottom}" stroke="#e4e4e4"/>'
                   f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{tick_label(mark, length)}</text>')
    out.append(f'<text x="{LEFT + WIDTH / 2}" y="{bottom + 34}" text-anchor="middle">'
               f"{axis_title(lay.start, length)}</text>")
    return out


def _rows_svg(lay: Layout) -> tuple[list[str], int]:
    length = lay.end - lay.start
    out, y = [], TOP
    for kind, text, spans in lay.rows:
        if kind == "group":
            out.append(f'<line x1="0" y1="{y + 2}" x2="{LEFT + WIDTH}" y2="{y + 2}" stroke="#888"/>'
                       f'<text x="4" y="{y + 16}" font-weight="bold">{html.escape(text)}</text>')
            y += GROUP
            continue
        short = text if len(text) <= 30 else text[:29] + "…"
        out.append(f'<text x="12" y="{y + 13}">{html.escape(short)}</text>')
        for span in spans:
            tip = html.escape(describe(span, lay.now))
            for piece, a, b in _bars(span, lay.now):
                x, w = LEFT + WIDTH * (a - lay.start) / length, max(WIDTH * (b - a) / length, 1.0)
                top, height, extra = {"queued": (y + 7, 4, ' opacity="0.6"'), "running": (y + 2, 14, ""),
                                      "spawning": (y + 2, 4, "")}[piece]
                fill = LEGEND["spawn"][0] if piece == "spawning" else colour(span.state)
                out.append(f'<rect class="{piece}" x="{x:.1f}" y="{top}" width="{w:.1f}" height="{height}" '
                           f'fill="{fill}"{extra}><title>{tip}</title></rect>')
        y += ROW
    return out, y


def render_svg(spans: Sequence[Span], title: str, now: float | None = None) -> str:
    """The timeline as one standalone SVG document (inline styles, no external reference)."""
    lay = layout(spans, now)
    rows, bottom = _rows_svg(lay)
    if not spans:
        rows = [f'<text x="{LEFT}" y="{TOP + 14}">no job of this batch has been submitted yet</text>']
        bottom = TOP + ROW * 2
    height = bottom + 44
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 20}" height="{height}" '
        f'viewBox="0 0 {LEFT + WIDTH + 20} {height}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="4" y="24" font-size="16" font-weight="bold">{html.escape(title)}</text>',
        *_legend_svg(lay.states),
        *(_axis_svg(lay, bottom) if spans else []),
        *rows,
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def group_summary(spans: Sequence[Span], now: float | None = None) -> list[dict[str, Any]]:
    """Per priority group: jobs, submissions, first queued, last ended, median and longest wait."""
    now = time.time() if now is None else now
    groups: dict[Any, list[Span]] = {}
    for span in spans:
        groups.setdefault(span.priority, []).append(span)
    out = []
    for priority, members in groups.items():
        waits = [(s.started if s.started is not None else (s.ended or now)) - s.queued for s in members]
        out.append({
            "priority": priority, "jobs": len({s.JobIndex for s in members}), "submissions": len(members),
            "first_queued": min(s.queued for s in members),
            "last_ended": None if any(s.ended is None for s in members) else max(s.ended or 0 for s in members),
            "median_wait_s": statistics.median(waits), "max_wait_s": max(waits),
        })
    return out


def html_page(svg: str, spans: Sequence[Span], title: str, now: float | None = None) -> str:
    """A self-contained HTML page: the SVG inline and a table of waits per priority group."""
    now = time.time() if now is None else now
    rows = "".join(
        f"<tr><td>{html.escape(str(g['priority']))}</td><td>{g['jobs']}</td><td>{g['submissions']}</td>"
        f"<td>{_stamp(g['first_queued'])}</td><td>{_stamp(g['last_ended'])}</td>"
        f"<td>{_duration(g['median_wait_s'])}</td><td>{_duration(g['max_wait_s'])}</td></tr>"
        for g in group_summary(spans, now)
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)} - paraschut timeline</title>"
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-top:1em}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>\n"
        f"{svg}"
        "<table><tr><th>priority</th><th>jobs</th><th>submissions</th><th>first queued</th>"
        f"<th>last ended</th><th>median wait</th><th>longest wait</th></tr>{rows}</table>\n"
        f"<p>Drawn {_stamp(now)} by paraschut. Hover over a bar for its times.</p>\n</body></html>\n"
    )


# -- PNG ------------------------------------------------------------------------------------------
def require_matplotlib() -> None:
    """Raise a ParaschutError naming the extra to install when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ParaschutError(
            "drawing a PNG timeline needs matplotlib: pip install 'paraschut-core[plot]' "
            "(or write .html or .svg, which need nothing more)"
        ) from None


def write_png(spans: Sequence[Span], path: str, title: str, now: float | None = None) -> None:
    """Draw the timeline with matplotlib (no pyplot: no global state, no display needed)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    lay = layout(spans, now)
    length = lay.end - lay.start
    fig = Figure(figsize=(11, 2.0 + 0.25 * max(len(lay.rows), 2)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = []
    for number, (kind, text, row) in enumerate(lay.rows):
        y = -number
        labels.append(text)
        if kind == "group":
            ax.axhline(y + 0.5, color="#888", linewidth=0.8)
        for span in row:
            for piece, a, b in _bars(span, lay.now):
                height, offset, alpha = {"queued": (0.2, 0.1, 0.6), "running": (0.7, 0.35, 1.0),
                                         "spawning": (0.2, 0.35, 1.0)}[piece]
                fill = LEGEND["spawn"][0] if piece == "spawning" else colour(span.state)
                ax.broken_barh([(a - lay.start, max(b - a, length / 2000))], (y - offset, height),
                               facecolors=fill, alpha=alpha)
    ax.set_yticks([-n for n in range(len(lay.rows))], labels, fontsize=8)
    for tick, (kind, _, _) in zip(ax.get_yticklabels(), lay.rows, strict=True):
        tick.set_fontweight("bold" if kind == "group" else "normal")
    _, marks = ticks(length)
    ax.set_xticks(marks, [tick_label(m, length) for m in marks])
    ax.set_xlim(0, length)
    ax.set_ylim(-len(lay.rows) + 0.5, 0.5)
    ax.set_xlabel(axis_title(lay.start, length))
    ax.set_title(f"{title}   (thin bars: queued, thick bars: running)")
    ax.grid(axis="x", color="#e4e4e4")
    handles = [Patch(color=colour(s), label=label(s)) for s in lay.states]
    if any(s.spawned is not None for s in spans):
        handles.append(Patch(color=LEGEND["spawn"][0], label="waiting for its spawns"))
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=100)
