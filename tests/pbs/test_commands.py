"""The qsub/qstat/qdel argv builders and option handling (pure: nothing is run)."""

from __future__ import annotations

import re
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraschut.errors import ConfigError, InvalidJobError
from paraschut.models import Executor, JobSpec
from paraschut.testing.contract import HOSTILE_VALUES
from paraschut_pbs.commands import (
    Options,
    cancel_argv,
    legal_job_name,
    options,
    resource_list,
    status_argv,
    submit_argv,
    submit_env,
)


def spec(**changes: object) -> JobSpec:
    fields: dict[str, object] = dict(
        batch_id=12, job_index=3, name="align reads", script="/data/my run/job.sh", workdir="/data/my run",
        stdout="/data/my run/job.out", stderr="/data/my run/job.err", env=HOSTILE_VALUES,
    )
    fields.update(changes)
    return JobSpec(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("align", "align"),
        ("align reads", "align_reads"),
        ("a very long job name indeed", "a_very_long_job"),
        ("9 lives", "lives"),
        ("2024-run", "run"),
        ("  ", "psu12_3"),
        ("éé", "psu12_3"),
        ("___", "psu12_3"),
        ("x$(rm -rf ~);y", "x_rm_-rf_y"),
    ],
)
def test_legal_job_name(name: str, expected: str) -> None:
    assert legal_job_name(name, "psu12_3") == expected


@given(st.text(), st.text())
def test_job_names_are_always_legal(name: str, key: str) -> None:
    legal = legal_job_name(name, key)
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_.\-]{0,14}", legal), legal


def test_resource_list_mapping() -> None:
    resources = {"walltime": "3600", "cput": "01:00:00", "mem": "4G", "pmem": "512MB", "vmem": "8gb",
                 "pvmem": "100", "cpus": "4"}
    assert resource_list(resources, "torque") == (
        "walltime=01:00:00,cput=01:00:00,mem=4gb,pmem=512mb,vmem=8gb,pvmem=100,nodes=1:ppn=4"
    )
    assert resource_list({"cpus": "4", "mem": "1g"}, "pro") == "mem=1gb,ncpus=4"
    assert resource_list({"nodes": "2", "ppn": "8"}, "slurm") == "nodes=2:ppn=8"
    assert resource_list({"select": "2:ncpus=4:mem=2gb", "place": "scatter"}, "pro") == (
        "select=2:ncpus=4:mem=2gb,place=scatter"
    )
    assert resource_list({}, "torque") == ""


@pytest.mark.parametrize("bad", [{"mem": "1gb,walltime=99:00:00"}, {"mem": "1 gb"}, {"a b": "1"}, {"mem": ""}])
def test_resources_that_pbs_would_split_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(InvalidJobError):
        resource_list(bad, "torque")


def test_submit_argv_torque_passes_names_only() -> None:
    argv = submit_argv("qsub", spec(queue="batch", resources={"walltime": "60"}), Options(), "torque")
    assert argv == [
        "qsub", "-N", "align_reads", "-o", "/data/my run/job.out", "-e", "/data/my run/job.err",
        "-q", "batch", "-l", "walltime=00:01:00", "-v", ",".join(sorted(HOSTILE_VALUES)),
        "-d", "/data/my run", "/data/my run/job.sh",
    ]
    assert not any(value in " ".join(argv) for value in HOSTILE_VALUES.values())
    assert submit_env(spec(), {"PATH": "/bin"}) == {"PATH": "/bin", **HOSTILE_VALUES}


def test_submit_argv_pro_has_no_workdir_option_and_takes_defaults() -> None:
    opts = options(Executor("pbs", {"queue": "workq", "resources": {"mem": "1gb"}, "extra_args": "-A proj -m n",
                                    "env_mode": "all"}))
    argv = submit_argv("qsub", spec(resources={"walltime": "10:00"}), opts, "pro")
    assert argv == [
        "qsub", "-N", "align_reads", "-o", "/data/my run/job.out", "-e", "/data/my run/job.err",
        "-q", "workq", "-l", "mem=1gb,walltime=10:00", "-V", "-A", "proj", "-m", "n", "/data/my run/job.sh",
    ]


def test_submit_argv_slurm_wrapper_quotes_for_its_shell_and_never_gets_values() -> None:
    argv = submit_argv("qsub", spec(), Options(env_mode="names"), "slurm")
    # Slurm's qsub pastes arguments into a sh command line: each path must come back as one word.
    line = " ".join(argv[1:])
    assert shlex.split(line) == [
        "-N", "align_reads", "-o", "/data/my run/job.out", "-e", "/data/my run/job.err", "-V",
        "-wd", "/data/my run", "/data/my run/job.sh",
    ]
    assert "-v" not in argv


def test_submit_argv_refuses_what_pbs_cannot_carry() -> None:
    with pytest.raises(InvalidJobError, match="queue"):
        submit_argv("qsub", spec(queue="a,b"), Options(), "torque")
    with pytest.raises(InvalidJobError, match="vars"):
        submit_argv("qsub", spec(env={"BAD-NAME": "1"}), Options(), "torque")


def test_workdir_flag_option() -> None:
    argv = submit_argv("qsub", spec(env={}), Options(workdir_flag="-w"), "pro")
    assert argv[-3:] == ["-w", "/data/my run", "/data/my run/job.sh"]
    assert "-d" not in submit_argv("qsub", spec(env={}), Options(workdir_flag=""), "torque")


def test_status_and_cancel_argv() -> None:
    assert status_argv("qstat", "torque", False, ["1.s", "2.s"]) == ["qstat", "-f", "1.s", "2.s"]
    assert status_argv("qstat", "pro", True, ["1.s"]) == ["qstat", "-f", "-x", "-F", "json", "1.s"]
    assert status_argv("qstat", "slurm", False, ["7"]) == ["qstat", "-f", "7"]
    assert cancel_argv("qdel", ["1", "2"]) == ["qdel", "1", "2"]


def test_options() -> None:
    opts = options(Executor("pbs", {"bin_dir": "/opt/x", "timeout": "5", "extra_args": ["-A", "p"]}))
    assert (opts.bin_dir, opts.timeout, opts.extra_args, opts.flavour) == ("/opt/x", 5.0, ("-A", "p"), "auto")
    with pytest.raises(ConfigError):
        options(Executor("pbs", {"flavour": "lsf"}))
    with pytest.raises(ConfigError):
        options(Executor("pbs", {"env_mode": "some"}))
