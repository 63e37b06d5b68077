"""paraschut-slurm uses only paraschut's public plugin API, and its entry point loads and is listed."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import paraschut_slurm
from paraschut import Executor
from paraschut.manager import ExecutorManager

PACKAGE = Path(paraschut_slurm.__file__).parent
#: What a third-party plugin may import from paraschut: module -> allowed names (None: the module itself).
ALLOWED: dict[str, set[str] | None] = {
    "paraschut": {"hookimpl", "Executor", "ExecutorInfo", "JobSpec", "JobStatus", "LogPaths", "Submission",
                  "errors", "arrays"},
    "paraschut.arrays": None,
    "paraschut.commands": {"run", "resolve", "TRANSIENT_PATTERNS"},
    "paraschut.models": {"SUBMIT", "RUN", "COMPLETE", "FAILED", "UNKNOWN"},
    "paraschut.errors": None,
}


def paraschut_imports(tree: ast.AST) -> list[tuple[str, str | None]]:
    """(module, name) for every import of paraschut in a module; name None for ``import paraschut.x``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "paraschut"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "paraschut":
                found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            found.append((node.args[0].value, None))  # type: ignore[attr-defined]
    return found


def _dynamic_import(node: ast.Call) -> bool:
    """``importlib.import_module("paraschut.x")`` or ``__import__("paraschut.x")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    first = node.args[0] if node.args else None
    return (name in ("import_module", "__import__") and isinstance(first, ast.Constant)
            and isinstance(first.value, str) and first.value.split(".")[0] == "paraschut")


def violations(source: str) -> list[str]:
    bad = []
    for module, name in paraschut_imports(ast.parse(source)):
        if module not in ALLOWED or (name is None and ALLOWED[module] is not None and module != "paraschut"):
            bad.append(f"{module}" + (f".{name}" if name else ""))
            continue
        allowed = ALLOWED[module]
        if name is not None and allowed is not None and name not in allowed:
            bad.append(f"{module}.{name}")
    return bad


def test_the_checker_catches_private_imports() -> None:
    assert violations("from paraschut.manager import ExecutorManager") == ["paraschut.manager.ExecutorManager"]
    assert violations("import paraschut.db") == ["paraschut.db"]
    assert violations("from paraschut.models import INIT, RUN") == ["paraschut.models.INIT"]
    assert violations("from paraschut import get_queue, hookimpl") == ["paraschut.get_queue"]
    assert violations("def f():\n    from paraschut.hookspecs import hookimpl\n") == ["paraschut.hookspecs.hookimpl"]
    assert violations("import importlib\nimportlib.import_module('paraschut.plugins')") == ["paraschut.plugins"]
    assert violations("__import__('paraschut.session')") == ["paraschut.session"]
    assert violations("from paraschut.errors import SchedulerCommandError\nimport paraschut") == []


def test_package_imports_only_the_public_plugin_api() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "plugin.py", "commands.py", "parse.py", "states.py"}
    bad = {str(p.relative_to(PACKAGE)): violations(p.read_text()) for p in modules}
    assert {k: v for k, v in bad.items() if v} == {}
    assert any(paraschut_imports(ast.parse(p.read_text())) for p in modules)


def test_entry_point_loads() -> None:
    (entry,) = [ep for ep in importlib.metadata.entry_points(group="paraschut") if ep.name == "slurm"]
    assert entry.value == "paraschut_slurm.plugin"
    assert entry.load().paraschut_register_executors()[0].name == "slurm"


def test_slurm_is_a_registered_executor() -> None:
    assert "slurm" in ExecutorManager().executors


def test_other_executors_are_not_answered() -> None:
    from paraschut_slurm import plugin

    other = Executor("local")
    assert plugin.paraschut_submit(executor=other, job=None) is None  # type: ignore[arg-type]
    assert plugin.paraschut_status(executor=other, cluster_ids=["1"]) is None
    assert plugin.paraschut_cancel(executor=other, cluster_ids=["1"]) is None
    assert plugin.paraschut_log_paths(executor=other, job=None, cluster_id="1") is None  # type: ignore[arg-type]
    assert plugin.paraschut_job_summary(executor=other, cluster_id="1") is None
    assert plugin.paraschut_check_scheduler(executor=other) is None
    assert plugin.paraschut_current_job_id(executor=other, environ={"SLURM_JOB_ID": "1"}) is None


def test_current_job_id() -> None:
    from paraschut_slurm import plugin

    slurm = Executor("slurm")
    assert plugin.paraschut_current_job_id(executor=slurm, environ={"SLURM_JOB_ID": "12"}) == "12"
    array = {"SLURM_JOB_ID": "12", "SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "3"}
    assert plugin.paraschut_current_job_id(executor=slurm, environ=array) == "7_3"
    assert plugin.paraschut_current_job_id(executor=slurm, environ={}) is None
