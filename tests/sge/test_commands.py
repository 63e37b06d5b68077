"""qsub command lines (names, resources, environment) and how failing or missing commands are reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraschut.errors import InvalidJobError, SchedulerCommandError, SchedulerNotFoundError
from paraschut.models import Executor, JobSpec
from paraschut.testing.contract import HOSTILE_VALUES
from paraschut_sge import commands
from paraschut_sge.commands import (
    hms,
    job_name,
    memory_mb,
    qsub_argv,
    resource_args,
    shell_args,
    slot_count,
    time_seconds,
)

SGE = Executor("sge")


def spec(name: str = "job", **kwargs: object) -> JobSpec:
    fields: dict[str, object] = {
        "batch_id": 3, "job_index": 4, "name": name, "script": "/w/run.sh", "workdir": "/w",
        "stdout": "/w/out.txt", "stderr": "/w/err.txt",
    }
    fields.update(kwargs)
    return JobSpec(**fields)  # type: ignore[arg-type]


# -- job names ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("align", "align"),
    ("env job", "env_job"),
    ("step 1/2: align@chr1", "step_1_2_align_chr1"),
    ("a\\b*c?d", "a_b_c_d"),
    ("2nd pass", "j2nd_pass"),
    ("-dash", "j-dash"),
    ("tab\there\nnewline", "tab_here_newline"),
    ("résumé", "r_sum"),
    ("", "psu3_4"),
    ("///", "psu3_4"),
])
def test_job_names_are_made_legal_and_stay_readable(name: str, expected: str) -> None:
    assert job_name(spec(name)) == expected


@given(st.text())
def test_any_name_gives_a_legal_sge_name(name: str) -> None:
    legal = job_name(spec(name))
    assert legal and not legal[0].isdigit() and legal.isascii() and legal.isprintable()
    assert not set(legal) & set("/:@\\*?$,'\"` \t\n")
    assert len(legal) <= 121


# -- resources ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "seconds"), [
    ("90", 90), ("1:30", 90), ("01:00:00", 3600), ("1:02:03:04", 93784), ("2-12", 216000),
    ("1-00:30", 88200), ("1-0:0:5", 86405), ("1h30m", 5400), ("2d", 172800), ("45s", 45), ("10.5", 11),
])
def test_durations(value: str, seconds: int) -> None:
    assert time_seconds(value) == seconds


@pytest.mark.parametrize("value", ["", "abc", "1:2:3:4:5", "-5", "1.5h", "1:-2", "h", "1-2:3:4:5"])
def test_bad_durations_name_the_field(value: str) -> None:
    with pytest.raises(InvalidJobError, match="resources"):
        time_seconds(value)


def test_hms() -> None:
    assert [hms(s) for s in (0, 59, 3600, 93784)] == ["0:00:00", "0:00:59", "1:00:00", "26:03:04"]


@pytest.mark.parametrize(("value", "mb"), [
    ("4gb", 4096), ("4G", 4096), ("512MiB", 512), ("1.5g", 1536), ("1048576", 1), ("100kb", 1),
    ("2tb", 2 * 1024 * 1024), ("10 MB", 10),
])
def test_memory(value: str, mb: int) -> None:
    assert memory_mb(value) == mb


@pytest.mark.parametrize("value", ["", "lots", "4 gigs", "-1g"])
def test_bad_memory(value: str) -> None:
    with pytest.raises(InvalidJobError, match="memory"):
        memory_mb(value)


@pytest.mark.parametrize(("resources", "slots"), [
    ({}, None), ({"ncpus": "4"}, 4), ({"ppn": "2"}, 2), ({"smp": "3"}, 3), ({"cpus": "8"}, 8),
    ({"slots": "1"}, 1), ({"nodes": "1:ppn=4"}, 4), ({"nodes": "1"}, None), ({"nodes": "1:ppn=2:gpus=1"}, 2),
])
def test_slot_counts(resources: dict[str, str], slots: int | None) -> None:
    assert slot_count(resources) == slots


@pytest.mark.parametrize(("resources", "match"), [
    ({"nodes": "2:ppn=4"}, "single-node"), ({"ncpus": "four"}, "integer"), ({"ncpus": "0"}, "at least 1"),
])
def test_bad_slot_counts(resources: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidJobError, match=match):
        slot_count(resources)


def test_resources_map_to_pe_h_rt_h_cpu_and_per_slot_memory() -> None:
    args = resource_args({"nodes": "1:ppn=4", "walltime": "2:00:00", "cput": "30:00", "mem": "8gb", "gpu": "1"})
    assert args == ["-pe", "smp", "4", "-l", "h_rt=2:00:00", "-l", "h_cpu=0:30:00",
                    "-l", "gpu=1", "-l", "h_vmem=2048M"]


def test_pbs_memory_requests_become_the_largest_per_slot_limit() -> None:
    # get_job_template()'s defaults: SGE knows none of pmem, pvmem, vmem
    template = {"cput": "04:59:00", "mem": "1gb", "pmem": "1gb", "pvmem": "3gb", "vmem": "3gb"}
    assert resource_args(template) == ["-l", "h_cpu=4:59:00", "-l", "h_vmem=3072M"]
    assert resource_args({"ncpus": "4", "vmem": "8gb", "pvmem": "1gb"}) == [
        "-pe", "smp", "4", "-l", "h_vmem=2048M"]


def test_one_cpu_needs_no_parallel_environment_and_memory_resource_is_configurable() -> None:
    assert resource_args({"ncpus": "1", "mem": "1gb"}, mem_resource="mem_free") == ["-l", "mem_free=1024M"]
    assert resource_args({"ncpus": "2"}, pe="threads") == ["-pe", "threads", "2"]


# -- the whole command line --------------------------------------------------------------------
def test_qsub_argv_for_a_plain_job() -> None:
    argv = qsub_argv("/sge/qsub", SGE, spec("my job"), "#!/bin/bash")
    assert argv == ["/sge/qsub", "-terse", "-N", "my_job", "-o", "/w/out.txt", "-e", "/w/err.txt",
                    "-wd", "/w", "-S", "/bin/bash", "/w/run.sh"]


def test_queue_resources_and_extra_args_from_executor_options_and_job() -> None:
    executor = Executor("sge", {"queue": "all.q", "resources": {"walltime": "1:00:00", "h": "vm"},
                                "extra_args": ["-P", "proj"], "pe": "threads"})
    argv = qsub_argv("qsub", executor, spec(resources={"walltime": "10", "ncpus": "2"}))
    assert argv[argv.index("-q") + 1] == "all.q"
    assert argv[argv.index("-pe"):argv.index("-pe") + 3] == ["-pe", "threads", "2"]
    assert "h_rt=0:00:10" in argv and "h_rt=1:00:00" not in argv and "h=vm" in argv
    assert argv[-3:] == ["-P", "proj", "/w/run.sh"]
    assert qsub_argv("qsub", executor, spec(queue="long.q"))[argv.index("-q") + 1] == "long.q"


def test_paths_with_colons_get_an_empty_host() -> None:
    argv = qsub_argv("qsub", SGE, spec(stdout="/w/a:b.out"))
    assert argv[argv.index("-o") + 1] == ":/w/a:b.out"


@pytest.mark.parametrize(("shebang", "args"), [
    (None, []), ("", []), ("echo hi", []), ("#!/bin/sh", ["-S", "/bin/sh"]),
    ("#!/usr/bin/env python3", ["-S", "/usr/bin/env"]), ("#!/bin/bash -e", ["-S", "/usr/bin/env"]), ("#!", []),
])
def test_shebang_sets_the_shell_for_posix_compliant_queues(shebang: str | None, args: list[str]) -> None:
    assert shell_args(shebang) == args


def test_environment_values_never_reach_the_command_line() -> None:
    env = {**HOSTILE_VALUES, "PSU_NEWLINE": "a\nb", "PARASCHUT_BATCH_ID": "3"}
    argv = qsub_argv("qsub", SGE, spec(env=env))
    assert argv[argv.index("-v") + 1] == ",".join(sorted(env))
    assert not any(value in " ".join(argv) for value in HOSTILE_VALUES.values())


@pytest.mark.parametrize("name", ["A,B", "1X", "A-B", "", "A B", "A=B"])
def test_bad_variable_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidJobError, match="vars"):
        qsub_argv("qsub", SGE, spec(env={name: "x"}))


# -- running: where the commands are, failures, hangs ---------------------------------------------
def fake(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def test_bin_dir_and_sge_root_choose_the_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(tmp_path / "bin", "qstat", "true")
    assert commands.binary(Executor("sge", {"bin_dir": str(tmp_path / "bin")}), "qstat") == str(tmp_path / "bin/qstat")
    arch = tmp_path / "root" / "bin" / "lx-amd64"
    arch.parent.mkdir(parents=True)
    fake(arch, "qstat", "true")
    monkeypatch.setenv("SGE_ARCH", "lx-amd64")
    assert commands.binary(Executor("sge", {"sge_root": str(tmp_path / "root")}), "qstat") == str(arch / "qstat")


def test_sge_root_and_cell_from_options_environment_or_debian_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = tmp_path / "gridengine"
    defaults.write_text('# written by debconf\nSGE_ROOT="/var/lib/gridengine"\nSGE_CELL=default\n')
    monkeypatch.setattr(commands, "DEBIAN_DEFAULTS", str(defaults))
    monkeypatch.delenv("SGE_ROOT", raising=False)
    monkeypatch.delenv("SGE_CELL", raising=False)
    assert commands.settings(SGE) == {"SGE_ROOT": "/var/lib/gridengine", "SGE_CELL": "default"}
    monkeypatch.setenv("SGE_ROOT", "/opt/sge")
    assert commands.settings(SGE)["SGE_ROOT"] == "/opt/sge"
    chosen = Executor("sge", {"sge_root": "/x", "sge_cell": "c"})
    assert commands.settings(chosen) == {"SGE_ROOT": "/x", "SGE_CELL": "c"}
    monkeypatch.setattr(commands, "DEBIAN_DEFAULTS", str(tmp_path / "none"))
    assert commands.settings(SGE) == {"SGE_ROOT": "/opt/sge"}


def test_a_missing_scheduler_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SGE_ROOT", raising=False)
    monkeypatch.setattr(commands, "DEBIAN_DEFAULTS", str(tmp_path / "none"))
    with pytest.raises(SchedulerNotFoundError, match="nowhere/qstat' not found for the 'sge' executor"):
        commands.queued_jobs(Executor("sge", {"bin_dir": str(tmp_path / "nowhere")}))


def test_a_failing_command_carries_argv_exit_code_and_stderr(tmp_path: Path) -> None:
    fake(tmp_path / "bin", "qsub", "echo 'Unable to run job: denied: no such queue' >&2; exit 1")
    executor = Executor("sge", {"bin_dir": str(tmp_path / "bin")})
    with pytest.raises(SchedulerCommandError, match="no such queue") as info:
        commands.submit(executor, spec(script=str(tmp_path / "none.sh")))
    assert info.value.returncode == 1 and info.value.argv[-1].endswith("none.sh")


def test_a_hanging_command_times_out_after_its_retries(tmp_path: Path) -> None:
    fake(tmp_path / "bin", "qstat", "exec sleep 5")
    executor = Executor("sge", {"bin_dir": str(tmp_path / "bin"), "timeout": 0.2, "retries": 1})
    with pytest.raises(SchedulerCommandError, match="timed out") as info:
        commands.queued_jobs(executor)
    assert info.value.timed_out


def test_a_transient_failure_is_retried(tmp_path: Path) -> None:
    count = tmp_path / "count"
    fake(tmp_path / "bin", "qstat", f"echo x >> {count}\n"
         f"[ $(wc -l < {count}) -ge 2 ] || {{ echo 'error: unable to contact qmaster using port 6444' >&2; exit 1; }}\n"
         "echo '<job_info><queue_info/><job_info/></job_info>'")
    executor = Executor("sge", {"bin_dir": str(tmp_path / "bin")})
    assert commands.queued_jobs(executor) == []
    assert count.read_text().count("x") == 2


def test_qdel_of_unknown_ids_is_no_error_but_other_failures_are(tmp_path: Path) -> None:
    fake(tmp_path / "bin", "qdel", "echo 'root has deleted job 10'; echo 'denied: job \"99\" does not exist'; exit 1")
    executor = Executor("sge", {"bin_dir": str(tmp_path / "bin"), "retries": 0})
    assert commands.delete(executor, ["10", "99"]) == ["10"]
    fake(tmp_path / "bin", "qdel", "echo 'error: permission denied' >&2; exit 1")
    with pytest.raises(SchedulerCommandError, match="permission denied"):
        commands.delete(executor, ["10"])


def test_qsub_is_retried_when_refused_but_not_after_a_timeout(tmp_path: Path) -> None:
    count = tmp_path / "count"
    fake(tmp_path / "bin", "qsub", f"echo x >> {count}\n"
         f"[ $(wc -l < {count}) -ge 2 ] || {{ echo 'error: commlib error: got select error' >&2; exit 1; }}\n"
         "echo 42")
    executor = Executor("sge", {"bin_dir": str(tmp_path / "bin")})
    assert commands.submit(executor, spec(script=str(tmp_path / "none.sh"))) == "42"
    count.unlink()
    fake(tmp_path / "bin", "qsub", f"echo x >> {count}; exec sleep 5")
    slow = Executor("sge", {"bin_dir": str(tmp_path / "bin"), "timeout": 0.2})
    with pytest.raises(SchedulerCommandError, match="timed out"):
        commands.submit(slow, spec(script=str(tmp_path / "none.sh")))
    assert count.read_text().count("x") == 1


def test_qdel_of_array_tasks(tmp_path: Path) -> None:
    fake(tmp_path / "bin", "qdel", "echo 'root has deleted job-array task 418.7'; "
         "echo 'job \"418\" task \"20\" does not exist'; exit 1")
    executor = Executor("sge", {"bin_dir": str(tmp_path / "bin"), "retries": 0})
    assert commands.delete(executor, ["418.7", "418.20"]) == ["418.7"]
    fake(tmp_path / "bin", "qdel", "echo 'root has deleted job 418'")
    assert commands.delete(executor, ["418", "418.2"]) == ["418", "418.2"]  # the whole job: its tasks too
