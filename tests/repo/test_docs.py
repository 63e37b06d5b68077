"""The docs keep their promises: links resolve, every `paraschut COMMAND` exists, examples print what they say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from paraschut import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
SPAN = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"(?:^|[\s/;&|(])paraschut[ \t]+([a-z][a-z0-9-]*)")


def _prose(text: str) -> str:
    """The text outside fenced code blocks (links in code are not links)."""
    return FENCE.sub("", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", _prose(path.read_text()), re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file(doc: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(doc.read_text())):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.exists():
            broken.append(f"{target}: {path} does not exist")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.name}")
    assert not broken, f"{doc.name}: " + "; ".join(broken)


def _commands(text: str) -> set[str]:
    """Subcommands of `paraschut ...` in shell code blocks and inline code (not Python's `import paraschut`)."""
    pieces = [body for lang, body in FENCE.findall(text) if lang not in ("python", "toml", "mermaid")]
    pieces += SPAN.findall(_prose(text))
    found = set()
    for piece in pieces:
        for match in COMMAND.finditer(piece):
            if not re.search(r"\b(import|from)\s+paraschut[ \t]+$", piece[: match.start(1)]):
                found.add(match.group(1))
    return found


def test_the_command_finder_sees_commands_and_skips_python() -> None:
    text = "Run `paraschut queue --watch 5`.\n```\n$ .venv/bin/paraschut doctor\nx && paraschut rm 1\n```\n"
    text += "`import paraschut as psu` and `from paraschut import hookimpl`\n```python\nimport paraschut as psu\n```\n"
    assert _commands(text) == {"queue", "doctor", "rm"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_subcommand_exists(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = []
    for command in sorted(_commands(doc.read_text())):
        if cli.main([command, "--help"]) != 0:  # argparse: 0 after --help, 2 for an unknown command
            missing.append(command)
    capsys.readouterr()
    assert not missing, f"{doc.name} documents commands the CLI does not have: {missing}"


def test_the_worked_example_of_states_md_prints_what_the_doc_says(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "states.md").read_text()
    section = text[text.index("## A worked example"):]
    (lang, code), (_, expected) = FENCE.findall(section)[:2]
    assert lang == "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARASCHUT_")}
    env.update(HOME=str(tmp_path), TMPDIR=str(tmp_path))  # no user config file, nothing left behind
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected
