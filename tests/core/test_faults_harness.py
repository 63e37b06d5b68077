"""paraschut.testing.faults on its own: shims over a tiny fake command, in this process and in many."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from paraschut.commands import run
from paraschut.errors import SchedulerCommandError
from paraschut.testing import FaultyCommands, faults


@pytest.fixture
def real_dir(tmp_path: Path) -> Path:
    """A fake 'scheduler': ``submit`` appends its arguments to a ledger and prints a job id."""
    bin_dir = tmp_path / "real"
    bin_dir.mkdir()
    ledger = tmp_path / "ledger"
    ledger.touch()
    (bin_dir / "submit").write_text(
        f"#!/bin/sh\necho \"$*\" >> {ledger}\nwc -l < {ledger} | tr -d ' '\n"
    )
    (bin_dir / "stat").write_text("#!/bin/sh\necho 'job 1 running'\necho 'job 2 queued'\n")
    for name in ("submit", "stat"):
        (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.fixture
def shims(tmp_path: Path, real_dir: Path) -> FaultyCommands:
    return FaultyCommands(tmp_path / "faults", ["submit", "stat"], real=real_dir)


def ledger(real_dir: Path) -> list[str]:
    return (real_dir.parent / "ledger").read_text().splitlines()


def call(shims: FaultyCommands, name: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([f"{shims.bin_dir}/{name}", *args], capture_output=True, timeout=timeout, check=False)


def test_without_a_rule_the_real_command_runs_and_every_call_is_logged(shims: FaultyCommands, real_dir: Path) -> None:
    first, second = call(shims, "submit", "a"), call(shims, "submit", "b c")
    assert (first.returncode, first.stdout, second.stdout) == (0, b"1\n", b"2\n")
    assert ledger(real_dir) == ["a", "b c"]
    assert [(c.command, c.args, c.action, c.returncode) for c in shims.calls()] == [
        ("submit", ("a",), "real", 0), ("submit", ("b c",), "real", 0)]
    assert shims.count("stat") == 0 and shims.count() == 2


def test_a_sequence_applies_to_the_next_calls_then_the_real_command(shims: FaultyCommands, real_dir: Path) -> None:
    call(shims, "submit", "before")
    shims.on("submit", faults.fail(3, "nope\n"), faults.output("42\n"))
    failed, printed, later = (call(shims, "submit", x) for x in "xyz")
    assert (failed.returncode, failed.stderr, failed.stdout) == (3, b"nope\n", b"")
    assert (printed.returncode, printed.stdout) == (0, b"42\n")
    assert (later.returncode, later.stdout) == (0, b"2\n")
    assert ledger(real_dir) == ["before", "z"]  # fail and output never ran the real command
    assert [c.action for c in shims.calls("submit")] == ["real", "fail", "output", "real"]


def test_real_then_fail_does_the_work_but_reports_a_failure(shims: FaultyCommands, real_dir: Path) -> None:
    shims.on("submit", faults.real_then_fail(1, "Socket timed out on send/recv operation\n"))
    proc = call(shims, "submit", "job")
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, b"", b"Socket timed out on send/recv operation\n")
    assert ledger(real_dir) == ["job"]


def test_hangs_are_cut_by_the_callers_timeout_and_logged_without_an_exit_code(
    shims: FaultyCommands, real_dir: Path
) -> None:
    shims.on("submit", faults.real_then_hang(60), faults.hang(60))
    for _ in range(2):
        with pytest.raises(SchedulerCommandError) as caught:
            run([f"{shims.bin_dir}/submit", "job"], timeout=1, retries=0)
        assert caught.value.timed_out
    assert ledger(real_dir) == ["job"]  # the first one submitted, the second never did
    assert [(c.action, c.returncode) for c in shims.calls()] == [("real_then_hang", None), ("hang", None)]


def test_garbage_empty_and_truncated_output(shims: FaultyCommands) -> None:
    shims.on("stat", faults.garbage(), faults.empty(), faults.truncated(0.5))
    junk, nothing, half = (call(shims, "stat") for _ in range(3))
    assert junk.returncode == 0 and b"\x00" in junk.stdout and b"\xff" in junk.stdout
    assert (nothing.returncode, nothing.stdout) == (0, b"")
    full = b"job 1 running\njob 2 queued\n"
    assert (half.returncode, half.stdout) == (0, full[: len(full) // 2])
    assert run([f"{shims.bin_dir}/stat"]).stdout == full.decode()


def test_every_nth_and_seeded_random_rules(shims: FaultyCommands, tmp_path: Path, real_dir: Path) -> None:
    shims.every("stat", 3, faults.fail())
    assert [call(shims, "stat").returncode for _ in range(6)] == [0, 0, 1, 0, 0, 1]
    shims.randomly("submit", 0.5, faults.fail(), seed=11)
    first = [call(shims, "submit").returncode for _ in range(12)]
    again = FaultyCommands(tmp_path / "again", ["submit"], real=real_dir)
    again.randomly("submit", 0.5, faults.fail(), seed=11)
    assert [call(again, "submit").returncode for _ in range(12)] == first  # reproducible
    assert 0 < first.count(1) < 12
    shims.heal()
    assert call(shims, "stat").returncode == 0 and call(shims, "submit").returncode == 0


def test_concurrent_processes_each_take_a_distinct_action(shims: FaultyCommands, real_dir: Path) -> None:
    shims.on("submit", *[faults.output(f"fake{i}\n") for i in range(10)])
    script = (f"import subprocess, sys\n"
              f"sys.stdout.write(subprocess.run([{shims.bin_dir + '/submit'!r}, 'x'], capture_output=True, "
              f"text=True).stdout)\n")
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda _: subprocess.run([sys.executable, "-c", script], capture_output=True,
                                                       text=True, timeout=60).stdout.strip(), range(16)))
    fakes = sorted(o for o in outs if o.startswith("fake"))
    assert fakes == sorted(f"fake{i}" for i in range(10))  # each planned action taken exactly once
    assert len(ledger(real_dir)) == 6 and shims.count("submit") == 16


def test_a_missing_real_command_or_unknown_name_is_refused(tmp_path: Path, real_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no real 'qsub'"):
        FaultyCommands(tmp_path / "f", ["qsub"], real=real_dir)
    shims = FaultyCommands(tmp_path / "g", ["stat"], real={"stat": str(real_dir / "stat")})
    with pytest.raises(KeyError, match="not shimmed"):
        shims.on("submit", faults.fail())
    with pytest.raises(ValueError):
        faults.truncated(1.5)
    assert shims.env({"PATH": "/bin"})["PATH"] == f"{shims.bin_dir}{':'}/bin"


def test_run_never_repeats_a_submission_whose_answer_was_lost(shims: FaultyCommands, real_dir: Path) -> None:
    lost = faults.real_then_fail(1, "sbatch: error: Socket timed out on send/recv operation\n")
    shims.on("submit", lost, lost)
    with pytest.raises(SchedulerCommandError) as caught:
        run([f"{shims.bin_dir}/submit", "once"], retries=3, backoff=0.01, retry_timeouts=False)
    assert caught.value.uncertain and not caught.value.timed_out
    assert ledger(real_dir) == ["once"] and shims.count("submit") == 1
    assert run([f"{shims.bin_dir}/submit", "x"], retries=3, backoff=0.01).returncode == 0  # safe commands retry
    assert shims.count("submit") == 3


def test_run_reads_output_that_is_not_utf8(shims: FaultyCommands) -> None:
    shims.on("stat", faults.garbage(), faults.fail(2, "no such queue\n"))
    assert "this is not what you asked for" in run([f"{shims.bin_dir}/stat"]).stdout
    with pytest.raises(SchedulerCommandError) as caught:
        run([f"{shims.bin_dir}/stat"])
    assert not caught.value.uncertain and caught.value.returncode == 2
