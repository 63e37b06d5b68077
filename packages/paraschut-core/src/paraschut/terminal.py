"""Terminal output without dependencies: colour when wanted, tables fitted to a width, progress bars,
and a screen redrawn in place."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any

from attrs import frozen

__all__ = [
    "Bar", "Cell", "Live", "ProgressBar", "Style", "clip", "color_wanted", "fit", "output_width", "plain", "table",
    "visible_len",
]

ANSI = re.compile(r"\033\[[0-9;?]*[A-Za-z]")
CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}
COLOR_MODES = ("auto", "always", "never")

#: a piece of text and the colour it is painted in (None: unpainted)
Span = tuple[str, "str | None"]


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def color_wanted(stream: Any, mode: str = "auto") -> bool:
    """Whether to colour what goes to ``stream``.

    ``always`` and ``never`` decide; ``auto`` follows NO_COLOR (set and not empty: never), then
    FORCE_COLOR (set, not empty and not 0/false: always), then whether the stream is a terminal
    (and TERM is not ``dumb``).
    """
    if mode not in COLOR_MODES:
        raise ValueError(f"colour mode must be one of {', '.join(COLOR_MODES)}, not {mode!r}")
    if mode != "auto":
        return mode == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "").lower() not in ("", "0", "false", "no"):
        return True
    return _isatty(stream) and os.environ.get("TERM") != "dumb"


def _unicode_ok(stream: Any) -> bool:
    try:
        "─█░…".encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def output_width(stream: Any = None) -> int | None:
    """Columns to fit output to: the terminal's width (or COLUMNS); None (no limit) when piped and
    COLUMNS is not set, so piped output never loses text to truncation."""
    stream = sys.stdout if stream is None else stream
    if not _isatty(stream) and not os.environ.get("COLUMNS"):
        return None
    return max(20, shutil.get_terminal_size().columns)


@frozen
class Style:
    """How to decorate output: ANSI colours, and box-drawing/bar glyphs rather than ASCII."""

    color: bool = False
    glyphs: bool = False

    @classmethod
    def for_stream(cls, stream: Any, mode: str = "auto") -> Style:
        """Colour and glyphs for ``stream``: both only when colour is wanted (a terminal, NO_COLOR unset,
        or --color=always) and the stream can encode the glyphs."""
        color = color_wanted(stream, mode)
        return cls(color=color, glyphs=color and _unicode_ok(stream))

    @property
    def ellipsis(self) -> str:
        """What marks truncated text."""
        return "…" if self.glyphs else "..."

    def paint(self, text: str, color: str | None) -> str:
        """``text`` in ``color`` (a name of CODES, several joined by '+'), or as is without colour."""
        if not self.color or not color or not text:
            return text
        codes = ";".join(CODES[c] for c in color.split("+"))
        return f"\033[{codes}m{text}\033[0m"

    def bar(self, done: int, total: int, width: int) -> str:
        """A progress bar ``width`` characters wide (unpainted)."""
        if width <= 0:
            return ""
        filled = width if total <= 0 else min(width, done * width // total)
        full, empty = ("█", "░") if self.glyphs else ("#", "-")
        return full * filled + empty * (width - filled)


@frozen
class Bar:
    """A table cell holding a progress bar, drawn as wide as its column."""

    done: int
    total: int
    color: str | None = "green"


Cell = str | Sequence[Span] | Bar


def visible_len(text: str) -> int:
    """Length of ``text`` on screen, not counting ANSI escape sequences."""
    return len(ANSI.sub("", text))


def _spans(cell: str | Sequence[Span]) -> list[Span]:
    return [(cell, None)] if isinstance(cell, str) else list(cell)


def plain(cell: Cell) -> str:
    """A cell's text without colour (a bar cell is empty: it has no text of its own)."""
    return "" if isinstance(cell, Bar) else "".join(text for text, _ in _spans(cell))


def fit(cell: str | Sequence[Span], width: int | None, style: Style) -> str:
    """The cell painted, cut to ``width`` with an ellipsis when longer (None: never cut)."""
    spans = _spans(cell)
    if width is not None and sum(len(t) for t, _ in spans) > width:
        mark = style.ellipsis if width > len(style.ellipsis) else ""
        room, cut = width - len(mark), []
        for text, color in spans:
            if room <= 0:
                break
            cut.append((text[:room], color))
            room -= len(text[:room])
        spans = [*cut, (mark, "dim")]
    return "".join(style.paint(text, color) for text, color in spans)


def _widths(headers: Sequence[str], rows: Sequence[Sequence[Cell]], width: int | None,
            shrink: Sequence[tuple[int, int]], bars: dict[int, int]) -> list[int]:
    """Natural column widths, then flexible columns (in ``shrink`` order, each down to its minimum)
    narrowed until the table fits ``width``."""
    widths = [max([len(h), *(len(plain(r[i])) for r in rows)]) for i, h in enumerate(headers)]
    for column, natural in bars.items():
        widths[column] = max(widths[column], natural)
    if width is None:
        return widths
    natural_widths = list(widths)
    for column, minimum in shrink:
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        if excess <= 0:
            break
        widths[column] = max(minimum, widths[column] - excess)
    for column in bars:  # a bar too narrow to read gives its room to the last flexible column
        if 0 < widths[column] < 5:
            freed, widths[column] = widths[column] + 2, 0
            if shrink:
                last = shrink[-1][0]
                widths[last] = min(natural_widths[last], widths[last] + freed)
    return widths


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], style: Style, width: int | None = None,
          right: Sequence[int] = (), shrink: Sequence[tuple[int, int]] = (), bar_width: int = 12) -> list[str]:
    """Lines of a table: a header (bold, ruled with box drawing when ``style.glyphs``), then one
    line per row, columns two spaces apart.

    :param width: fit the table to this many columns (None: natural widths, nothing cut).
    :param right: columns aligned right (numbers).
    :param shrink: (column, minimum width) of columns that may be narrowed to fit, in that order (a
        column may come back with a smaller minimum); their text is cut with an ellipsis. A column of
        Bar cells narrower than 5 disappears, its room going to the last column listed.
    """
    bars = {i: bar_width for i in range(len(headers)) if any(isinstance(r[i], Bar) for r in rows)}
    widths = _widths(headers, rows, width, shrink, bars)
    keep = [i for i, w in enumerate(widths) if w > 0 or i not in bars]
    # the column sum counts separators of dropped bar columns too: fine, the lines are clipped below

    def line(cells: Sequence[Cell], header: bool = False) -> str:
        out = []
        for i in keep:
            cell, w = cells[i], widths[i]
            if isinstance(cell, Bar):
                text = style.paint(style.bar(cell.done, cell.total, w), cell.color)
            else:
                text = fit(cell, w, style) if not header else style.paint(fit(cell, w, style), "bold")
            pad = " " * max(0, w - visible_len(text))
            out.append(pad + text if i in right else text + pad)
        return "  ".join(out).rstrip()

    lines = [line(headers, header=True)]
    if style.glyphs:
        lines.append(style.paint("─" * (sum(widths[i] for i in keep) + 2 * (len(keep) - 1)), "dim"))
    lines += [line(r) for r in rows]
    if width is not None:  # the last resort: never let a line wrap
        lines = [clip(text, width, style) for text in lines]
    return lines


def clip(text: str, width: int, style: Style) -> str:
    """A painted line cut to ``width`` visible characters (escape sequences kept, colour reset)."""
    if visible_len(text) <= width:
        return text
    out, seen, pos = [], 0, 0
    limit = width - len(style.ellipsis)
    for match in ANSI.finditer(text):
        chunk = text[pos:match.start()][: max(0, limit - seen)]
        out.append(chunk)
        seen += len(chunk)
        out.append(match.group())
        pos = match.end()
    out.append(text[pos:][: max(0, limit - seen)])
    return "".join(out) + ("\033[0m" if style.color else "") + style.ellipsis


class ProgressBar:
    """A one-line progress bar on a terminal (stderr by default), redrawn at most ten times a second;
    silent when the stream is not a terminal or the work is small."""

    def __init__(self, label: str, stream: IO[str] | None = None, mode: str = "auto", min_total: int = 100) -> None:
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _isatty(self.stream) or mode == "always"
        self.style = Style.for_stream(self.stream, mode)
        self.min_total = min_total
        self.shown = False
        self._last = 0.0

    def update(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` (the last update is always drawn)."""
        if not self.enabled or total < self.min_total:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        count = f" {done}/{total}"
        room = (output_width(self.stream) or 80) - len(self.label) - len(count) - 2
        bar = self.style.paint(self.style.bar(done, total, max(0, min(40, room))), "green")
        erase = "\033[K" if _isatty(self.stream) else ""
        self.stream.write(f"\r{self.label} {bar}{count}{erase}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """End the bar's line so what follows starts on a fresh one."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


class Live:
    """A screen redrawn in place: on a terminal, the alternate screen with the cursor hidden, each
    frame drawn from the top-left corner over the last (no clearing, so no flicker); restored on
    exit, where the last frame is printed to the normal screen. Elsewhere, frames follow each other."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = sys.stdout if stream is None else stream
        self.tty = _isatty(self.stream)
        self.last: list[str] = []

    def height(self) -> int | None:
        """Rows a frame may use (None: unlimited)."""
        return shutil.get_terminal_size().lines if self.tty else None

    def draw(self, lines: Sequence[str]) -> None:
        """Show one frame."""
        self.last = list(lines)
        if self.tty:
            self.stream.write("\033[H" + "\033[K\n".join(lines) + "\033[K\033[J")
        else:
            self.stream.write("\n".join(lines) + "\n\n")
        self.stream.flush()

    @contextlib.contextmanager
    def running(self) -> Iterator[Live]:
        """Enter the alternate screen for the duration (on a terminal), and always leave it."""
        if self.tty:
            self.stream.write("\033[?1049h\033[?25l\033[H\033[2J")
            self.stream.flush()
        try:
            yield self
        finally:
            if self.tty:
                self.stream.write("\033[?25h\033[?1049l")
                self.stream.write("\n".join(self.last) + "\n" if self.last else "")
                self.stream.flush()
