"""The get_queue report's pieces: compact index lists and batch titles."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paraschut.dashboard import batch_title, compact, render
from paraschut.refresh import Refresh


def test_compact_ranges_and_marks() -> None:
    assert compact([]) == "[]"
    assert compact([(0, 0)]) == "[0]"
    assert compact([(2, 0), (0, 0), (1, 0)]) == "[0-2]"
    assert compact([(0, 0), (1, 0), (2, 0), (4, 1), (5, 0), (6, 0), (8, 0)]) == "[0-2, 4*, 5-6, 8]"
    assert compact([(3, 2), (4, 0)]) == "[3**, 4]"


def _expand(text: str) -> list[tuple[int, int]]:
    out = []
    for part in filter(None, text.strip("[]").split(", ")):
        stars = len(part) - len(part.rstrip("*"))
        part = part.rstrip("*")
        if "-" in part:
            a, b = map(int, part.split("-"))
            out += [(i, 0) for i in range(a, b + 1)]
        else:
            out.append((int(part), stars))
    return out


@given(st.dictionaries(st.integers(0, 60), st.integers(0, 3)))
def test_compact_loses_nothing(items: dict) -> None:
    assert _expand(compact(items.items())) == sorted(items.items())


def test_batch_title() -> None:
    assert batch_title(5, ["a", "b"]) == "5: a/b"
    assert batch_title(5, "x") == "5: x"
    assert batch_title(5, None) == "5"


def test_render_orders_known_states_then_user_states() -> None:
    jobs = [{"BatchID": 1, "JobIndex": i, "state": s} for i, s in enumerate(["zzz", "complete", "init", "aaa"])]
    text = render(jobs, {1: "b"}, Refresh())
    states = [line.split(":")[0].strip() for line in text.splitlines()[1:5]]
    assert states == ["init", "complete", "aaa", "zzz"]
    assert text.splitlines()[-1] == "on queue: 0 jobs, 0 running | complete: 1/4"
