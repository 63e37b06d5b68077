"""The program behind every fault-injecting shim of :mod:`paraschut.testing.faults`.

Standard library only: its source is copied into each shim executable, which runs it with ``python -IS``
(no site packages, no environment variables read by Python), so a shim starts in a few milliseconds and
works whatever environment the plugin gives the command.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

REAL: dict[str, Any] = {"kind": "real"}


def _write(stream: Any, text: str) -> None:
    if text:
        stream.buffer.write(text.encode("utf-8", "surrogateescape"))
        stream.flush()


def choose(rule: dict[str, Any] | None, n: int) -> dict[str, Any]:
    """The action of the ``n``-th call (0-based, counted from when the rule was set) under ``rule``."""
    if not rule:
        return REAL
    kind = rule["kind"]
    if kind == "sequence":
        actions = rule["actions"]
        return actions[n] if n < len(actions) else rule["then"]
    if kind == "every":
        return rule["action"] if (n + 1) % rule["n"] == 0 else REAL
    if kind == "random":  # seeded per call: the same calls fail in every run, in any process
        draw = random.Random(f"{rule['seed']}:{n}").random()
        return rule["action"] if draw < rule["probability"] else REAL
    return REAL


class _Lock:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self) -> _Lock:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _append(state_dir: str, record: dict[str, Any]) -> None:
    with open(os.path.join(state_dir, "calls.jsonl"), "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def take(state_dir: str, command: str, args: list[str]) -> tuple[int, dict[str, Any]]:
    """Atomically take this call's action (each concurrent call gets its own) and log the call."""
    path = os.path.join(state_dir, "state.json")
    with _Lock(os.path.join(state_dir, "lock")):
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        n = state["counters"].get(command, 0)
        state["counters"][command] = n + 1
        rule = state["rules"].get(command)
        action = choose(rule, n - rule["start"]) if rule else REAL
        call_id = state["next_call"]
        state["next_call"] = call_id + 1
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        os.replace(tmp, path)
        _append(state_dir, {"id": call_id, "command": command, "args": args, "action": action["kind"],
                            "pid": os.getpid(), "time": time.time()})
    return call_id, action


def finish(state_dir: str, call_id: int, returncode: int) -> None:
    """Log the exit code of a call (a call killed by its caller's timeout has none)."""
    with _Lock(os.path.join(state_dir, "lock")):
        _append(state_dir, {"id": call_id, "returncode": returncode})


def perform(action: dict[str, Any], real: str, args: list[str]) -> int:
    """Do what ``action`` says; returns the exit code."""
    kind = action["kind"]
    if kind == "real":
        return subprocess.call([real, *args])
    if kind in ("truncated", "real_then_fail", "real_then_hang"):
        proc = subprocess.run([real, *args], capture_output=True, check=False)
        if kind == "truncated":
            sys.stdout.buffer.write(proc.stdout[: int(len(proc.stdout) * action["keep"])])
            sys.stdout.flush()
            sys.stderr.buffer.write(proc.stderr)
            return proc.returncode
        if kind == "real_then_hang":
            time.sleep(action["seconds"])
        _write(sys.stderr, action.get("stderr", ""))
        return int(action.get("code", 1))
    if kind == "hang":
        time.sleep(action["seconds"])
    _write(sys.stdout, action.get("stdout", ""))
    _write(sys.stderr, action.get("stderr", ""))
    return int(action.get("code", 0))


def main(state_dir: str, command: str, real: str) -> int:
    """Run one call of a shim: take the next action, do it, record the exit code."""
    args = sys.argv[1:]
    call_id, action = take(state_dir, command, args)
    returncode = perform(action, real, args)
    finish(state_dir, call_id, returncode)
    return returncode
