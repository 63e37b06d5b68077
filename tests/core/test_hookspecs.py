"""The plugin contract is documented: every hook has a full docstring in the house template."""

from __future__ import annotations

import inspect

import pytest

from paraschut import hookspecs

HOOKS = [
    (name, fn)
    for name, fn in vars(hookspecs).items()
    if name.startswith("paraschut_") and callable(fn) and hasattr(fn, "paraschut_spec")
]


def test_there_are_hooks() -> None:
    names = {name for name, _ in HOOKS}
    assert {
        "paraschut_register_executors",
        "paraschut_submit",
        "paraschut_status",
        "paraschut_cancel",
        "paraschut_log_paths",
        "paraschut_job_state_changed",
    } <= names
    assert all(name.startswith("paraschut_") for name in names)


@pytest.mark.parametrize(("name", "fn"), HOOKS, ids=[n for n, _ in HOOKS])
def test_every_hook_is_documented(name: str, fn) -> None:
    doc = inspect.getdoc(fn)
    assert doc, f"{name} has no docstring"
    summary = doc.splitlines()[0]
    assert summary and summary.endswith("."), f"{name}: the first line is the summary sentence"
    params = list(inspect.signature(fn).parameters)
    for param in params:
        assert f":param {param}:" in doc, f"{name}: no :param {param}:"
    documented = {line.split(":param ", 1)[1].split(":", 1)[0] for line in doc.splitlines() if ":param " in line}
    assert documented == set(params), f"{name}: documents parameters it does not have"
    assert ":returns:" in doc, f"{name}: no :returns:"
    firstresult = fn.paraschut_spec.get("firstresult", False)
    assert ("Stops at first non-None result." in doc) == firstresult, name
    if firstresult:
        returns = doc.split(":returns:", 1)[1].split(":raises")[0]
        assert "None" in returns, f"{name}: :returns: must say what None means"


@pytest.mark.parametrize(("name", "fn"), HOOKS, ids=[n for n, _ in HOOKS])
def test_every_hook_is_typed(name: str, fn) -> None:
    sig = inspect.signature(fn)
    assert sig.return_annotation is not inspect.Signature.empty, name
    assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values()), name


def test_the_module_has_every_hook_in_the_spec_registry() -> None:
    import pluggy

    pm = pluggy.PluginManager("paraschut")
    pm.add_hookspecs(hookspecs)
    assert {name for name in vars(pm.hook) if name.startswith("paraschut_")} == {n for n, _ in HOOKS}


def test_a_scheduler_error_keeps_every_line_of_stderr_in_its_message() -> None:
    from paraschut.errors import MAX_DETAIL, SchedulerCommandError

    sge = SchedulerCommandError(["qsub", "job.sh"], 1, 'Unable to run job: unknown resource "pmem".\nExiting.\n')
    assert str(sge).endswith('exited with 1: Unable to run job: unknown resource "pmem". / Exiting.')
    flood = SchedulerCommandError(["sbatch"], 1, "x" * 5000)
    assert len(str(flood)) < MAX_DETAIL + 100 and flood.stderr == "x" * 5000
    assert str(SchedulerCommandError(["qstat"], 2, "")).endswith("exited with 2: no message")
