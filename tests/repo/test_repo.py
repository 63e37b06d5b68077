"""The repository's promises: one version, pinned plugins, typed packages, documented modules and hooks."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted((ROOT / "packages").iterdir())


def _project(package: Path) -> dict:
    return tomllib.loads((package / "pyproject.toml").read_text())["project"]


def test_every_distribution_shares_one_version_and_plugins_pin_the_core() -> None:
    versions = {p.name: _project(p)["version"] for p in PACKAGES}
    assert len(set(versions.values())) == 1, versions
    core = versions["paraschut-core"]
    for package in PACKAGES:
        if package.name != "paraschut-core":
            assert f"paraschut-core=={core}" in _project(package)["dependencies"], package.name


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_package_is_typed_and_plugins_declare_their_entry_point(package: Path) -> None:
    modules = [d for d in (package / "src").iterdir() if d.is_dir() and not d.name.startswith("_")]
    assert len(modules) == 1
    assert (modules[0] / "py.typed").exists()
    if package.name != "paraschut-core":
        name = package.name.removeprefix("paraschut-")
        eps = _project(package)["entry-points"]["paraschut"]
        assert eps == {name: f"paraschut_{name}.plugin"}


def _sources() -> list[Path]:
    return sorted(p for p in (ROOT / "packages").glob("*/src/*/**/*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT / "packages")))
def test_every_module_starts_with_a_docstring(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path} has no module docstring"


def test_hook_reference_is_up_to_date() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_hooks.py")], capture_output=True, text=True, check=True
    ).stdout
    assert out == (ROOT / "docs" / "hooks.md").read_text(), "run: python docs/gen_hooks.py > docs/hooks.md"
