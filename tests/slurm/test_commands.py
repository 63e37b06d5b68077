"""sbatch, squeue, scontrol, sacct and scancel command lines: names, resources, hostile environments (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraschut import Executor, JobSpec
from paraschut.errors import ConfigError, InvalidJobError
from paraschut.testing.contract import HOSTILE_VALUES
from paraschut_slurm.commands import (
    Options,
    legal_job_name,
    options,
    resource_args,
    sacct_argv,
    scancel_argv,
    scontrol_argv,
    slurm_memory,
    slurm_time,
    squeue_argv,
    submit_argv,
    submit_env,
)


def spec(name: str = "job", **kwargs: object) -> JobSpec:
    fields: dict[str, object] = {
        "batch_id": 3, "job_index": 4, "name": name, "script": "/w/run.sh", "workdir": "/w",
        "stdout": "/w/out.txt", "stderr": "/w/err.txt",
    }
    fields.update(kwargs)
    return JobSpec(**fields)  # type: ignore[arg-type]


# -- names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("align", "align"),
    ("9 lives, a name", "9_lives_a_name"),
    ("env job", "env_job"),
    ("a|b\nc", "a_b_c"),
    ("é😀", "psu3_4"),
    ("", "psu3_4"),
    ("x" * 100, "x" * 64),
])
def test_legal_job_name(name: str, expected: str) -> None:
    assert legal_job_name(name, "psu3_4") == expected


@given(st.text())
def test_any_name_is_legal(name: str) -> None:
    legal = legal_job_name(name, "psu3_4")
    assert legal and len(legal) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.-") for c in legal)


# -- resources -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("3600", "01:00:00"), ("90", "00:01:30"), ("90000", "1-01:00:00"), ("1h30m", "01:30:00"),
    ("2d", "2-00:00:00"), ("45s", "00:00:45"), ("01:00:00", "01:00:00"), ("10:00", "10:00"),
    ("1-12", "1-12"), ("1-12:30:00", "1-12:30:00"), ("unlimited", "UNLIMITED"),
])
def test_slurm_time(value: str, expected: str) -> None:
    assert slurm_time(value) == expected


@pytest.mark.parametrize("value", ["", "soon", "1:2:3:4", "-5", "h"])
def test_bad_time(value: str) -> None:
    with pytest.raises(InvalidJobError, match="time limit"):
        slurm_time(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("4gb", "4096M"), ("4G", "4096M"), ("512MiB", "512M"), ("100mb", "100M"), ("1.5g", "1536M"),
    ("1048576", "1M"), ("1", "1M"), ("2t", "2097152M"), ("64M", "64M"),
])
def test_slurm_memory(value: str, expected: str) -> None:
    assert slurm_memory(value) == expected


def test_bad_memory() -> None:
    with pytest.raises(InvalidJobError, match="memory size"):
        slurm_memory("lots")


def test_resource_args() -> None:
    got = resource_args({"walltime": "120", "mem": "4gb", "ncpus": "2", "gres": "gpu:1",
                         "account": "proj", "partition_hint": "x"})
    assert got == ["--time=00:02:00", "--mem=4096M", "--cpus-per-task=2", "--gres=gpu:1",
                   "--account=proj", "--partition-hint=x"]
    assert resource_args({"mem_per_cpu": "1g", "ncpus": "2"}) == ["--mem-per-cpu=1024M", "--cpus-per-task=2"]


def test_pbs_memory_requests_become_one_request_sbatch_accepts() -> None:
    # get_job_template()'s defaults: sbatch refuses --mem with --mem-per-cpu, and knows no vmem
    template = {"cput": "04:59:00", "mem": "1gb", "pmem": "1gb", "pvmem": "3gb", "vmem": "3gb"}
    assert resource_args(template) == ["--time=04:59:00", "--mem=1024M"]
    assert resource_args({"mem": "1gb", "pmem": "1gb", "ncpus": "4"}) == ["--mem=4096M", "--cpus-per-task=4"]
    assert resource_args({"mem": "8gb", "pmem": "1gb", "ncpus": "4"}) == ["--mem=8192M", "--cpus-per-task=4"]
    assert resource_args({"nodes": "2:ppn=4"}) == ["--nodes=2", "--cpus-per-task=4"]
    for key in ("ppn", "cpus", "smp", "slots"):
        assert resource_args({key: "3"}) == ["--cpus-per-task=3"]
    assert resource_args({"cput": "1h"}) == ["--time=01:00:00"]


@pytest.mark.parametrize("resources", [{"ncpus": "0"}, {"cpus": "two"}, {"nodes": "x"}, {"Bad Key": "1"},
                                       {"gres": "a\nb"}, {"--time": "1"}])
def test_bad_resources(resources: dict[str, str]) -> None:
    with pytest.raises(InvalidJobError):
        resource_args(resources)


# -- sbatch --------------------------------------------------------------------------------------
def test_submit_argv() -> None:
    opts = Options(queue="debug", resources={"mem": "1g", "walltime": "60"}, extra_args=("--hold",))
    argv = submit_argv("/usr/bin/sbatch", spec("my job", resources={"mem": "2g"}, env={"A": "1"}), opts)
    assert argv == [
        "/usr/bin/sbatch", "--parsable", "--job-name=my_job", "--output=/w/out.txt", "--error=/w/err.txt",
        "--export=ALL", "--partition=debug", "--chdir=/w", "--mem=2048M", "--time=00:01:00", "--hold",
        "/w/run.sh",
    ]
    assert "--partition=batch" in submit_argv("sbatch", spec(queue="batch"), opts)


def test_paths_are_patterns_and_stay_one_argument() -> None:
    argv = submit_argv("sbatch", spec(stdout="/w/a b/100%.out", stderr="/w/-e %j", workdir="/w/a b"), Options())
    assert "--output=/w/a b/100%%.out" in argv and "--error=/w/-e %%j" in argv and "--chdir=/w/a b" in argv


def test_hostile_environment_travels_outside_the_argv() -> None:
    env = {**HOSTILE_VALUES, "PSU_NEWLINE": "a\nb", "PSU_EQ": "--export=NONE"}
    job = spec(env=env)
    argv = submit_argv("sbatch", job, Options())
    assert "--export=ALL" in argv and not any(value in " ".join(argv) for value in env.values())
    sent = submit_env(job, {"PATH": "/bin", "PSU_SPACES": "old"})
    assert sent == {"PATH": "/bin", **env}


@pytest.mark.parametrize(("job", "field"), [
    (spec(queue="debug;rm"), "queue"), (spec(queue="a b"), "queue"), (spec(env={"BAD-NAME": "x"}), "vars"),
])
def test_submit_argv_refuses(job: JobSpec, field: str) -> None:
    with pytest.raises(InvalidJobError, match=field):
        submit_argv("sbatch", job, Options())


# -- queries -------------------------------------------------------------------------------------
def test_query_argvs() -> None:
    assert squeue_argv("squeue", ["1", "2_3"]) == [
        "squeue", "-h", "-r", "-t", "all", "-j", "1,2_3", "-o", "%i|%T|%r|%N|%P|%M|%l|%S|%e|%j"]
    assert scontrol_argv("scontrol", ["5"]) == ["scontrol", "-o", "show", "job", "5"]
    assert scontrol_argv("scontrol", ["5", "6"]) == ["scontrol", "-o", "show", "job"]
    assert sacct_argv("sacct", ["5", "6"]) == [
        "sacct", "-n", "-P", "-X", "-j", "5,6", "-o", "JobID,State,ExitCode,NodeList,Partition,Start,End,JobName"]
    assert scancel_argv("scancel", ["5", "6"]) == ["scancel", "-v", "5", "6"]


# -- options -------------------------------------------------------------------------------------
def test_options() -> None:
    opts = options(Executor("slurm", {"timeout": "5", "extra_args": "--qos 'a b'", "jobcomp": ""}))
    assert (opts.timeout, opts.extra_args, opts.jobcomp) == (5.0, ("--qos", "a b"), None)
    assert options(Executor("slurm")).jobcomp == "/var/log/slurm/jobcomp.log"
    with pytest.raises(ConfigError, match="slurm executor"):
        options(Executor("slurm", {"retries": "many"}))
