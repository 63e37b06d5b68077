"""Fault-injecting scheduler commands for tests: shims that fail, hang or lie, then call the real command.

A plugin that runs its scheduler commands by path (``paraschut.commands.resolve`` with a ``bin_dir``
option, as paraschut-sge, -pbs and -slurm do) can be tested against a misbehaving scheduler without
touching its code: point ``bin_dir`` at :attr:`FaultyCommands.bin_dir` and say what the next calls do::

    from paraschut.testing import faults

    shims = faults.FaultyCommands(tmp_path / "faults", ["sbatch", "squeue", "scancel"], real="/usr/bin")
    executor = Executor("slurm", {"bin_dir": shims.bin_dir, "timeout": 2, "retries": 0})
    shims.on("sbatch", faults.fail(1, "sbatch: error: Batch job submission failed"))  # the next call
    shims.always("squeue", faults.garbage())                                         # every call
    shims.every("squeue", 3, faults.hang(30))                                        # every 3rd call
    shims.randomly("squeue", 0.2, faults.empty(), seed=7)                            # 20 % of calls
    ...
    assert shims.count("sbatch") == 1

Each shim is a small stdlib-only Python program; on every call it takes the next action of its rule
under a file lock, so concurrent calls from any number of processes (a submitter in a subprocess, jobs
themselves) each get their own action, and it records the call (arguments, action, exit code) for
:meth:`FaultyCommands.calls`. Actions: :func:`real` (run the real command), :func:`fail`,
:func:`hang` (sleep past the caller's timeout), :func:`output` / :func:`garbage` / :func:`empty`
(exit 0 printing something that is not the answer), :func:`truncated` (the real answer, cut short),
and the dangerous pair :func:`real_then_fail` / :func:`real_then_hang`: the real command ran (a job
was submitted, cancelled...) but the caller sees a failure or a timeout.

``real`` is a directory holding the real commands, a mapping of command names to paths, or None (found
on PATH). Without a real scheduler, give it paths of your own fake commands. Nothing here touches
paraschut's production code paths.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import frozen

from . import _fault_shim

__all__ = [
    "Action",
    "Call",
    "FaultyCommands",
    "empty",
    "fail",
    "garbage",
    "hang",
    "output",
    "real",
    "real_then_fail",
    "real_then_hang",
    "truncated",
]

#: Bytes no scheduler prints, and that are not UTF-8 (the caller must not crash decoding them).
GARBAGE = "<<<\x00 this is not what you asked for \udcff\udcfe >>>\n#!$%^&*( 12abc\n"


@frozen
class Action:
    """What one call of a shim does (build it with :func:`fail`, :func:`hang`, ... rather than directly)."""

    kind: str
    code: int = 0
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    keep: float = 1.0

    def to_json(self) -> dict[str, Any]:
        """The action as the shims read it."""
        return {"kind": self.kind, "code": self.code, "stdout": self.stdout, "stderr": self.stderr,
                "seconds": self.seconds, "keep": self.keep}


def real() -> Action:
    """Run the real command (its output and exit code unchanged)."""
    return Action("real")


def fail(code: int = 1, stderr: str = "error: injected failure\n") -> Action:
    """Exit with ``code`` and ``stderr``, without running the real command."""
    return Action("fail", code=code, stderr=stderr)


def hang(seconds: float = 30.0) -> Action:
    """Sleep ``seconds`` (past the caller's timeout), then exit 0 with no output; the real command never runs."""
    return Action("hang", seconds=seconds)


def output(stdout: str, stderr: str = "", code: int = 0) -> Action:
    """Print ``stdout`` and ``stderr`` and exit with ``code`` (default 0), without running the real command."""
    return Action("output", code=code, stdout=stdout, stderr=stderr)


def garbage() -> Action:
    """Exit 0 printing text no parser should accept (with a NUL and bytes that are not UTF-8)."""
    return output(GARBAGE)


def empty() -> Action:
    """Exit 0 printing nothing."""
    return output("")


def truncated(keep: float = 0.5) -> Action:
    """Run the real command and print only the first ``keep`` fraction of its stdout (its exit code kept)."""
    if not 0.0 <= keep < 1.0:
        raise ValueError(f"keep must be in [0, 1): {keep}")
    return Action("truncated", keep=keep)


def real_then_fail(code: int = 1, stderr: str = "error: injected failure after the real command ran\n") -> Action:
    """Run the real command (it does its work), then hide its output and exit with ``code`` and ``stderr``."""
    return Action("real_then_fail", code=code, stderr=stderr)


def real_then_hang(seconds: float = 30.0) -> Action:
    """Run the real command (it does its work), then sleep past the caller's timeout printing nothing."""
    return Action("real_then_hang", seconds=seconds)


@frozen
class Call:
    """One call of a shim: its arguments, the action it took, and its exit code (None: killed, or running)."""

    id: int
    command: str
    args: tuple[str, ...]
    action: str
    returncode: int | None
    pid: int


class FaultyCommands:
    """Shim executables for ``commands`` in ``directory/bin``, each doing what its rule says, then the real thing.

    :param directory: where the shims, their rules and the call log live (created).
    :param commands: the command names to shim (``qsub``, ``qstat``, ``sbatch``...).
    :param real: the real commands: a directory, a mapping name -> path, or None for PATH.
    :raises FileNotFoundError: a real command cannot be found.
    """

    def __init__(self, directory: str | os.PathLike[str], commands: Sequence[str],
                 real: str | os.PathLike[str] | Mapping[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.bin_dir = str(self.directory / "bin")
        os.makedirs(self.bin_dir, exist_ok=True)
        self.commands = list(commands)
        self._state = self.directory / "state.json"
        if not self._state.exists():
            self._save({"rules": {}, "counters": {}, "next_call": 0})
        (self.directory / "calls.jsonl").touch()
        source = Path(_fault_shim.__file__).read_text(encoding="utf-8")
        for name in self.commands:
            path = self._real_path(name, real)
            shim = Path(self.bin_dir) / name
            shim.write_text(
                f"#!{sys.executable} -IS\n# paraschut fault-injecting shim of {path}\n{source}\n"
                f"if __name__ == '__main__':\n"
                f"    sys.exit(main({str(self.directory)!r}, {name!r}, {path!r}))\n",
                encoding="utf-8",
            )
            shim.chmod(0o755)

    def _real_path(self, name: str, real: str | os.PathLike[str] | Mapping[str, str] | None) -> str:
        if isinstance(real, Mapping):
            found: str | None = real.get(name)
        elif real is not None:
            found = os.path.join(os.fspath(real), name)
        else:
            path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                   if os.path.abspath(p) != os.path.abspath(self.bin_dir))
            found = shutil.which(name, path=path)
        if not found or not os.access(found, os.X_OK):
            raise FileNotFoundError(f"no real {name!r} to shim (looked in {real or 'PATH'})")
        return os.path.abspath(found)

    # -- rules ---------------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        with open(self._state, encoding="utf-8") as handle:
            return json.load(handle)  # type: ignore[no-any-return]

    def _save(self, state: dict[str, Any]) -> None:
        tmp = f"{self._state}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        os.replace(tmp, self._state)

    def _set(self, command: str, rule: dict[str, Any] | None) -> None:
        if command not in self.commands:
            raise KeyError(f"{command!r} is not shimmed here (shimmed: {', '.join(self.commands)})")
        with _fault_shim._Lock(str(self.directory / "lock")):
            state = self._load()
            if rule is None:
                state["rules"].pop(command, None)
            else:
                state["rules"][command] = {**rule, "start": state["counters"].get(command, 0)}
            self._save(state)

    def on(self, command: str, *actions: Action, then: Action | None = None) -> None:
        """The next calls of ``command`` do ``actions`` in order; later calls do ``then`` (default: real)."""
        self._set(command, {"kind": "sequence", "actions": [a.to_json() for a in actions],
                            "then": (then or real()).to_json()})

    def always(self, command: str, action: Action) -> None:
        """Every call of ``command`` from now on does ``action``."""
        self.on(command, then=action)

    def every(self, command: str, n: int, action: Action) -> None:
        """Every ``n``-th call of ``command`` from now on does ``action``; the others run the real command."""
        if n < 1:
            raise ValueError(f"n must be at least 1: {n}")
        self._set(command, {"kind": "every", "n": n, "action": action.to_json()})

    def randomly(self, command: str, probability: float, action: Action, seed: int = 0) -> None:
        """Each call of ``command`` does ``action`` with ``probability`` (drawn from ``seed`` and the call's
        number, so the same calls misbehave in every run and in any process); the others run the real command."""
        self._set(command, {"kind": "random", "probability": float(probability), "seed": seed,
                            "action": action.to_json()})

    def heal(self, command: str | None = None) -> None:
        """``command`` (every shimmed command when None) runs the real command again."""
        for name in [command] if command is not None else self.commands:
            self._set(name, None)

    # -- the call log --------------------------------------------------------------------------
    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with the shims first on PATH, for plugins
        that find some commands on PATH rather than in ``bin_dir``."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join([self.bin_dir, env.get("PATH", "")])
        return env

    def calls(self, command: str | None = None) -> list[Call]:
        """Every call so far (of ``command`` when given), oldest first."""
        started: dict[int, dict[str, Any]] = {}
        codes: dict[int, int] = {}
        with open(self.directory / "calls.jsonl", encoding="utf-8") as log:
            for line in log:
                record = json.loads(line)
                if "returncode" in record:
                    codes[record["id"]] = record["returncode"]
                else:
                    started[record["id"]] = record
        return [
            Call(i, r["command"], tuple(r["args"]), r["action"], codes.get(i), r["pid"])
            for i, r in sorted(started.items()) if command is None or r["command"] == command
        ]

    def count(self, command: str | None = None) -> int:
        """How many times ``command`` (any shimmed command when None) was called."""
        return len(self.calls(command))
