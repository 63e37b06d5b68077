"""paraschut.terminal's pure pieces: the colour decision, cutting to a width, tables, bars."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraschut.terminal import Bar, ProgressBar, Style, clip, color_wanted, fit, table, visible_len

FANCY, PLAIN = Style(color=True, glyphs=True), Style()


class Tty(io.StringIO):
    """A stream that says it is a terminal."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("env", "mode", "tty", "wanted"),
    [
        ({}, "auto", True, True), ({}, "auto", False, False), ({"NO_COLOR": "1"}, "auto", True, False),
        ({"NO_COLOR": ""}, "auto", True, True), ({"FORCE_COLOR": "1"}, "auto", False, True),
        ({"FORCE_COLOR": "0"}, "auto", False, False), ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, "auto", True, False),
        ({"NO_COLOR": "1"}, "always", False, True), ({}, "never", True, False), ({"TERM": "dumb"}, "auto", True, False),
    ],
)
def test_color_wanted(monkeypatch: pytest.MonkeyPatch, env: dict, mode: str, tty: bool, wanted: bool) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert color_wanted(Tty() if tty else io.StringIO(), mode) is wanted
    with pytest.raises(ValueError, match="colour mode"):
        color_wanted(io.StringIO(), "sometimes")


spans = st.lists(st.tuples(st.text(st.characters(codec="ascii", exclude_categories=["Cc"])),
                           st.sampled_from([None, "red", "green+bold"])), max_size=5)


@given(spans, st.integers(0, 40), st.booleans())
def test_fit_never_exceeds_the_width_and_keeps_what_fits(cell: list, width: int, fancy: bool) -> None:
    style = FANCY if fancy else PLAIN
    text = "".join(t for t, _ in cell)
    shown = fit(cell, width, style)
    assert visible_len(shown) == min(len(text), width)
    if len(text) <= width:
        assert shown.replace("\033[0m", "") == "".join(style.paint(t, c).replace("\033[0m", "") for t, c in cell)
    else:
        assert shown.endswith(style.paint(style.ellipsis, "dim")) or width <= len(style.ellipsis)
    assert fit(cell, None, style).count("\033[0m") == sum(1 for t, c in cell if t and c) * fancy


@given(st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=80), st.integers(5, 60))
def test_clip_keeps_lines_within_the_width(text: str, width: int) -> None:
    painted = FANCY.paint(text[: len(text) // 2], "red") + text[len(text) // 2:]
    assert visible_len(clip(painted, width, FANCY)) <= width
    assert clip(text, width, PLAIN) == text if len(text) <= width else len(clip(text, width, PLAIN)) == width


def test_table_shrinks_flexible_columns_then_drops_a_narrow_bar() -> None:
    rows = [["1", "a-long-name-here", Bar(1, 2), "0-99, 101, 103, 105, 107, 109"]]
    wide = table(["id", "name", "bar", "jobs"], rows, FANCY, width=None)
    assert "0-99, 101, 103, 105, 107, 109" in wide[2] and "██████░░░░░░" in wide[2]
    narrow = table(["id", "name", "bar", "jobs"], rows, PLAIN, width=30, shrink=[(3, 10), (2, 0), (1, 6)])
    assert all(len(line) <= 30 for line in narrow)
    assert "#" not in narrow[1] and narrow[1].endswith("...")  # the bar went, the jobs were cut


def test_style_bar() -> None:
    assert FANCY.bar(1, 4, 8) == "██░░░░░░" and PLAIN.bar(4, 4, 4) == "####" and PLAIN.bar(0, 0, 3) == "###"
    assert PLAIN.bar(5, 10, 0) == ""


def test_progress_bar_only_on_a_terminal_and_for_enough_work() -> None:
    piped = io.StringIO()
    bar = ProgressBar("submitting", stream=piped)
    bar.update(500, 1000)
    bar.close()
    assert piped.getvalue() == ""
    tty = Tty()
    small = ProgressBar("submitting", stream=tty, min_total=100)
    small.update(5, 10)
    assert tty.getvalue() == ""
    big = ProgressBar("submitting", stream=tty)
    big.update(0, 1000)
    big.update(1000, 1000)
    big.close()
    assert tty.getvalue().startswith("\rsubmitting ") and "1000/1000" in tty.getvalue()
    assert tty.getvalue().endswith("\n")
