"""The timeline: spans computed from state events (pure), their drawing, and plot_timeline's errors."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import paraschut as psu
from paraschut.timeline import Span, compute_spans
from paraschut.timeline_render import group_summary, html_page, layout, render_svg, tick_label, ticks

from ._fakes import dump, job


def ev(index: int, state: str, at: float, cid: str | None = None, batch: int = 1) -> dict[str, Any]:
    return {"BatchID": batch, "JobIndex": index, "state": state, "time": at, "ClusterID": cid}


def test_one_submission_queued_then_running_then_complete() -> None:
    (span,) = compute_spans([ev(0, "submit", 10), ev(0, "run", 12, "c1"), ev(0, "complete", 20)])
    assert (span.queued, span.started, span.ended, span.state, span.run) == (10, 12, 20, "complete", 0)
    assert span.ClusterID == "c1"
    got = span.to_dict(now=100)
    assert (got["wait_s"], got["run_s"]) == (2, 8)


def test_a_job_failed_then_reset_and_resubmitted_has_two_spans() -> None:
    events = [ev(0, "submit", 10), ev(0, "run", 11, "a"), ev(0, "failed", 15, "a"), ev(0, "init", 30),
              ev(0, "submit", 31), ev(0, "run", 40, "b"), ev(0, "complete", 50, "b")]
    first, second = compute_spans(events)
    assert (first.run, first.state, first.queued, first.started, first.ended, first.ClusterID) == (
        0, "failed", 10, 11, 15, "a")
    assert (second.run, second.state, second.queued, second.started, second.ended, second.ClusterID) == (
        1, "complete", 31, 40, 50, "b")


def test_collected_after_complete_is_the_final_state_and_keeps_the_end() -> None:
    (span,) = compute_spans([ev(0, "submit", 1), ev(0, "run", 2), ev(0, "complete", 3), ev(0, "collected", 9)])
    assert (span.state, span.ended) == ("collected", 3)


def test_still_queued_still_running_and_never_run() -> None:
    spans = compute_spans([
        ev(0, "submit", 1),
        ev(1, "submit", 1), ev(1, "run", 4),
        ev(2, "submit", 1), ev(2, "init", 2),  # a claim given back: the scheduler never had it
    ])
    assert [(s.JobIndex, s.state, s.started, s.ended) for s in spans] == [
        (0, "submit", None, None), (1, "run", 4, None), (2, "init", None, 2),
    ]
    assert spans[0].to_dict(now=11)["wait_s"] == 10 and spans[0].to_dict(now=11)["run_s"] is None


def test_the_earliest_of_a_poll_sighting_and_the_jobs_own_mark_is_the_start() -> None:
    for first, second in ((5, 3), (3, 5)):
        (span,) = compute_spans([ev(0, "submit", 1), ev(0, "run", first), ev(0, "run", second), ev(0, "complete", 9)])
        assert span.started == 3


def test_a_spawning_job_runs_until_its_last_spawn() -> None:
    (span,) = compute_spans([ev(0, "submit", 1), ev(0, "run", 2), ev(0, "spawn", 3), ev(0, "complete", 8)])
    assert (span.started, span.spawned, span.ended, span.state) == (2, 3, 8, "complete")
    (going,) = compute_spans([ev(0, "submit", 1), ev(0, "run", 2), ev(0, "spawn", 3)])
    assert (going.state, going.ended) == ("spawn", None)


def test_running_without_a_recorded_submission_and_a_second_submit() -> None:
    spans = compute_spans([ev(0, "run", 5), ev(0, "submit", 7), ev(0, "complete", 9)])
    assert [(s.queued, s.started, s.ended, s.state) for s in spans] == [(5, 5, 7, "init"), (7, None, 9, "complete")]


def test_spans_are_ordered_by_priority_then_index_and_named() -> None:
    events = [ev(i, "submit", i) for i in (3, 0, 2, 1)]
    jobs = {(1, 0): {"priority": 0, "name": "collect"}, (1, 1): {"priority": 1, "name": ["map", "a"]},
            (1, 2): {"priority": 1}, (1, 3): {"priority": 101, "name": "urgent"}}
    spans = compute_spans(events, jobs)
    assert [(s.JobIndex, s.priority, s.name) for s in spans] == [
        (3, 101, "urgent"), (1, 1, "map_a"), (2, 1, "job2"), (0, 0, "collect"),
    ]


STATES = ["submit", "run", "spawn", "complete", "failed", "collected", "init", "mine"]


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(STATES), st.floats(0, 5)), max_size=40))
def test_any_history_gives_ordered_non_overlapping_spans(steps: list[tuple[int, str, float]]) -> None:
    clock, events = 0.0, []
    for index, state, gap in steps:
        clock += gap
        events.append(ev(index, state, clock))
    spans = compute_spans(events)
    for index in range(4):
        mine = [s for s in spans if s.JobIndex == index]
        assert [s.run for s in mine] == list(range(len(mine)))
        assert len(mine) >= sum(1 for i, state, _ in steps if i == index and state == "submit")
        for span in mine:
            assert span.started is None or span.queued <= span.started
            assert span.ended is None or (span.started or span.queued) <= span.ended
        assert all(a.ended is not None and a.ended <= b.queued for a, b in zip(mine, mine[1:], strict=False))
        assert all(s.ended is not None for s in mine[:-1])


# -- drawing ----------------------------------------------------------------------------------------
def _sample() -> list[Span]:
    events = [ev(0, "submit", 100), ev(0, "run", 101), ev(0, "failed", 130), ev(0, "init", 131),
              ev(0, "submit", 132), ev(0, "run", 140), ev(0, "complete", 150), ev(1, "submit", 100),
              ev(1, "run", 120), ev(2, "submit", 151), ev(2, "run", 152), ev(2, "spawn", 153)]
    jobs = {(1, 0): {"priority": 1, "name": "m<&>"}, (1, 1): {"priority": 1}, (1, 2): {"priority": 0}}
    return compute_spans(events, jobs)


def test_the_svg_is_well_formed_with_a_bar_per_piece_and_a_tooltip_each() -> None:
    svg = render_svg(_sample(), "batch <1>", now=200)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.get("class")]
    assert sorted(r.get("class") for r in bars) == sorted(
        ["queued", "running"] * 2 + ["queued", "running"] + ["queued", "running", "spawning"]
    )
    assert all(r.find(f"{ns}title") is not None for r in bars)
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "priority 1" in texts and "priority 0" in texts and "0 m<&>" in texts
    assert "failed" in texts and "still running" in texts and "spawning" in texts


def test_the_html_page_is_self_contained() -> None:
    spans = _sample()
    page = html_page(render_svg(spans, "b", now=200), spans, "b", now=200)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "src=" not in page and "href" not in page and "@import" not in page
    assert page.count("http") == 1  # the SVG namespace only, never fetched


def test_group_summary_and_layout() -> None:
    spans = _sample()
    groups = {g["priority"]: g for g in group_summary(spans, now=200)}
    assert groups[1]["jobs"] == 2 and groups[1]["submissions"] == 3 and groups[1]["last_ended"] is None
    assert groups[1]["max_wait_s"] == 20 and groups[0]["first_queued"] == 151
    lay = layout(spans, now=200)
    assert [r[0] for r in lay.rows] == ["group", "job", "job", "group", "job"]
    assert (lay.start, lay.end) == (100, 200)


def test_ticks_are_round_and_labelled_in_the_right_unit() -> None:
    assert ticks(10) == (1, [float(i) for i in range(11)])
    assert ticks(1000)[0] == 120
    assert tick_label(5, 60) == "5 s" and tick_label(125, 600) == "2:05" and tick_label(7800, 20000) == "2:10 h"


def test_an_empty_batch_still_draws(tmp_path: Path) -> None:
    svg = render_svg([], "empty", now=5)
    assert "no job of this batch has been submitted yet" in svg
    ET.fromstring(svg)


# -- plot_timeline --------------------------------------------------------------------------------
def test_plot_timeline_writes_html_svg_and_json(env, tmp_path: Path) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1, priority=0)])
    psu.submit_jobs(Executor="file")
    for name in ("t.html", "t.svg"):
        path = psu.plot_timeline(1, tmp_path / name)
        assert Path(path).stat().st_size > 0
    spans = psu.get_timeline(1)
    assert [(s["JobIndex"], s["state"]) for s in spans] == [(0, "submit")]
    json.dumps(spans)


def test_plot_timeline_refuses_bad_input_and_writes_nothing(env, tmp_path: Path) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    before = dump(env.db)
    with pytest.raises(psu.ParaschutError, match=r"\.png, \.html, \.svg"):
        psu.plot_timeline(1, tmp_path / "t.pdf")
    with pytest.raises(psu.JobNotFoundError, match="no batch 2"):
        psu.plot_timeline(2, tmp_path / "t.html")
    with pytest.raises(psu.ParaschutError, match="whole number"):
        psu.get_timeline("one")
    assert dump(env.db) == before and not list(tmp_path.glob("t.*"))


def test_png_without_matplotlib_names_the_extra(env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(psu.ParaschutError, match=r"paraschut-core\[plot\]"):
        psu.plot_timeline(1, tmp_path / "t.png")
    assert not (tmp_path / "t.png").exists()


def test_png_with_matplotlib(env, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    psu.add_batch_to_queue(1, [job(0), job(1, priority=0)])
    psu.submit_jobs(Executor="file")
    path = psu.plot_timeline(1, tmp_path / "t.png")
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
