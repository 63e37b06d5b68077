"""examples/example.ipynb runs from top to bottom on the local executor (nbclient), so it can never rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.session import reset_sessions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOK = EXAMPLES / "example.ipynb"


def test_the_notebook_is_committed_without_outputs() -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, "the notebook has no code"
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None, cell["source"][:1]


def test_the_notebook_runs_the_pipeline_to_the_end(index_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat", reason="needs nbformat (noxfile TEST_DEPS)")
    nbclient = pytest.importorskip("nbclient", reason="needs nbclient and ipykernel (noxfile TEST_DEPS)")
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "local")  # the kernel inherits the temp index's environment
    monkeypatch.setenv("EXAMPLE_TIMEOUT", "200")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs)  # the timeline was drawn inline
    reset_sessions()
    queue = psu.get_queue(Verbose=False) or {}
    assert len(queue) == 1, "the notebook should have made exactly one batch"
    (jobs,) = queue.values()
    assert len(jobs) == 6
    assert [j["state"] for j in jobs] == ["collected"] * 5 + ["complete"], [j["state"] for j in jobs]
    assert jobs[-1]["total_words"] > 1000
    assert not list(EXAMPLES.glob("*.svg")) and not list(EXAMPLES.glob("*.html"))  # wrote nothing beside it
