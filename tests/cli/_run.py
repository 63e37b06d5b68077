"""Running ``paraschut`` as a user does: a subprocess, piped or on a pseudo-terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from typing import Any

PARASCHUT = [sys.executable, "-m", "paraschut.cli"]
BATCH = 1001
OUTPUT_VARS = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")


def environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what changes how output looks (the caller's terminal
    must not change a test), plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if k not in OUTPUT_VARS}, **(extra or {})}


def run(*args: str, code: int = 0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``paraschut ARGS`` (stdin not a terminal) and check its exit status."""
    proc = subprocess.run(
        [*PARASCHUT, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
        env=environ(env),
    )
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def run_json(*args: str, code: int = 0) -> Any:
    """Run ``paraschut ARGS --json`` and parse what it printed."""
    return json.loads(run(*args, "--json", code=code).stdout)


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``paraschut ARGS`` in the background; killed after two minutes so a hang fails the test."""
    proc = subprocess.Popen(
        [*PARASCHUT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=environ(env),
    )
    guard = threading.Timer(120, proc.kill)
    guard.daemon = True
    guard.start()
    return proc


class Terminal:
    """``paraschut ARGS`` with stdin, stdout and stderr on a pseudo-terminal of a given size."""

    def __init__(self, *args: str, columns: int = 100, lines: int = 40, env: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.proc = subprocess.Popen(
            [*PARASCHUT, *args], stdin=slave, stdout=slave, stderr=slave,
            env=environ({"TERM": "xterm-256color", **(env or {})}),
        )
        os.close(slave)
        self.output = b""
        guard = threading.Timer(120, self.proc.kill)
        guard.daemon = True
        guard.start()

    def write(self, text: str) -> None:
        """Type ``text``."""
        os.write(self.master, text.encode())

    def read_until(self, marker: str, timeout: float = 60) -> str:
        """Read what the program shows until ``marker`` appears; returns everything read so far."""
        deadline = time.monotonic() + timeout
        while marker.encode() not in self.output:
            assert time.monotonic() < deadline, f"{marker!r} not shown: {self.text()!r}"
            if not self._read(0.5):
                assert marker.encode() in self.output, f"{marker!r} not shown before the end: {self.text()!r}"
        return self.text()

    def _read(self, wait: float) -> bool:
        """Read what is there within ``wait`` seconds; False once the program closed the terminal."""
        if not select.select([self.master], [], [], wait)[0]:
            return self.proc.poll() is None
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the program closed the terminal
            return False
        self.output += chunk
        return bool(chunk)

    def finish(self, sig: int | None = None) -> tuple[int, str]:
        """Send ``sig`` (if any), read to the end; returns (exit status, everything shown)."""
        if sig is not None:
            self.proc.send_signal(sig)
        while self._read(0.5):
            pass
        code = self.proc.wait(timeout=60)
        os.close(self.master)
        return code, self.text()

    def text(self) -> str:
        """Everything shown so far."""
        return self.output.decode(errors="replace")


def on_tty(*args: str, answer: str = "", **kwargs: Any) -> tuple[int, str]:
    """Run ``paraschut ARGS`` on a terminal to the end; returns (status, what it showed)."""
    term = Terminal(*args, **kwargs)
    if answer:
        term.write(answer)
    return term.finish()


__all__ = ["BATCH", "PARASCHUT", "Terminal", "on_tty", "run", "run_json", "start"]
