"""Fake qsub/qstat/qdel commands that answer from files and log their calls (for the hook tests)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from paraschut.models import Executor

__all__ = ["FAKE", "FIXTURES", "Fake", "executor"]

FIXTURES = Path(__file__).parent / "fixtures"
FAKE = f"""#!{sys.executable}
import json, os, pathlib, sys
d = pathlib.Path(os.environ["FAKE_PBS"]); tool = pathlib.Path(sys.argv[0]).name
env = {{k: v for k, v in os.environ.items() if k.startswith("PSU_")}}
with open(d / "calls.jsonl", "a") as log:
    log.write(json.dumps({{"tool": tool, "argv": sys.argv[1:], "env": env}}) + "\\n")
def part(ext, default=""):
    path = d / f"{{tool}}.{{ext}}"
    return path.read_text() if path.exists() else default
if sys.argv[1:] == ["--version"]:
    sys.stdout.write(part("version")); sys.exit(0)
sys.stdout.write(part("json" if "-F" in sys.argv else "out")); sys.stderr.write(part("err"))
sys.exit(int(part("rc", "0")))
"""


class Fake:
    """A bin dir of fake qsub/qstat/qdel answering from files in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for tool in ("qsub", "qstat", "qdel"):
            (path / tool).write_text(FAKE)
            (path / tool).chmod(0o755)

    def answer(self, tool: str, out: str = "", err: str = "", rc: int = 0, **parts: str) -> None:
        for ext, text in {"out": out, "err": err, "rc": str(rc), **parts}.items():
            (self.path / f"{tool}.{ext}").write_text(text)

    def calls(self, tool: str) -> list[dict[str, Any]]:
        log = self.path / "calls.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return [c for c in map(json.loads, lines) if c["tool"] == tool and c["argv"] != ["--version"]]


def executor(fake: Fake, **options: Any) -> Executor:
    return Executor("pbs", {"bin_dir": str(fake.path), "retries": 1, **options})
