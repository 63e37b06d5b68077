"""Settings: argument > environment > config file > default, executor options, and bad values named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.config import load_settings, resolve_executor


@pytest.fixture
def config(env, monkeypatch: pytest.MonkeyPatch):
    """Write the config file at $PARASCHUT_CONFIG."""
    path = env.home / "paraschut.toml"
    monkeypatch.setenv("PARASCHUT_CONFIG", str(path))

    def write(text: str) -> Path:
        path.write_text(text)
        return path

    return write


def test_defaults(env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in [v for v in os.environ if v.startswith("PARASCHUT_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.db == str(tmp_path / ".paraschut" / "jobs.sqlite")
    assert s.job_dir == str(tmp_path / ".paraschut" / "jobs")
    assert (s.executor, s.max_jobs, s.journal_mode, s.busy_timeout) == ("local", None, "auto", 30.0)
    assert s.status_interval > 0 and s.missing_grace > 0
    assert set(s.sources.values()) == {"default"}
    assert s.config_path is None


def test_precedence_argument_env_file_default(env, config, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config('executor = "from-file"\nmax_jobs = 3\nbusy_timeout = 7\njournal_mode = "delete"\n')
    monkeypatch.setenv("PARASCHUT_EXECUTOR", "from-env")
    monkeypatch.setenv("PARASCHUT_MAX_JOBS", "4")
    monkeypatch.delenv("PARASCHUT_STATUS_INTERVAL", raising=False)
    monkeypatch.delenv("PARASCHUT_MISSING_GRACE", raising=False)
    s = load_settings(max_jobs=5)
    assert s.max_jobs == 5 and s.sources["max_jobs"] == "argument"
    assert s.executor == "from-env" and s.sources["executor"] == "environment PARASCHUT_EXECUTOR"
    assert s.busy_timeout == 7.0 and s.sources["busy_timeout"] == f"config file {path}"
    assert s.journal_mode == "delete"
    assert s.sources["status_interval"] == "default"
    assert load_settings().max_jobs == 4
    monkeypatch.delenv("PARASCHUT_MAX_JOBS")
    assert load_settings().max_jobs == 3
    monkeypatch.setenv("PARASCHUT_MAX_JOBS", "")  # an empty variable counts as unset
    assert load_settings().max_jobs == 3
    assert load_settings(max_jobs=None).max_jobs == 3  # None arguments do not override


def test_paths_are_made_absolute(env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PARASCHUT_DB", "rel/jobs.sqlite")
    monkeypatch.setenv("HOME", str(tmp_path))
    s = load_settings(job_dir="~/jobs")
    assert s.db == str(tmp_path / "rel" / "jobs.sqlite")
    assert s.job_dir == str(tmp_path / "jobs")


def test_executor_options_from_the_file_reach_resolve_executor(env, config) -> None:
    config(
        'executor = "file"\n[executors.file]\npath = "/tmp/x.sh"\nqueue = "short"\n'
        '[executors.file.resources]\nmem = "2gb"\n[executors.other]\nqueue = "long"\n'
    )
    s = load_settings()
    ex = resolve_executor(None, s)
    assert ex.name == "file"
    assert ex.option("path") == "/tmp/x.sh" and ex.option("queue") == "short"
    assert ex.option("resources") == {"mem": "2gb"}
    assert ex.option("db") == s.db and ex.option("job_dir") == s.job_dir
    assert resolve_executor("other", s).option("queue") == "long"
    own = resolve_executor(psu.Executor("file", {"queue": "mine"}), s)
    assert own.option("queue") == "mine" and own.option("path") == "/tmp/x.sh"


def test_file_executor_options_are_used_by_submit_jobs(env, config, tmp_path: Path) -> None:
    script = tmp_path / "elsewhere.sh"
    config(f'[executors.file]\npath = "{script}"\nqueue = "short"\n[executors.file.resources]\nmem = "2gb"\n')
    psu.add_batch_to_queue(1, [{"script": "run.sh", "resources": {"cput": "1:00"}}])
    assert psu.submit_jobs() == 1
    assert "# psu1_0" in script.read_text()


def test_settings_reach_the_api(env, config, tmp_path: Path) -> None:
    config("max_jobs = 1\n")
    psu.add_batch_to_queue(1, [{"script": "a.sh"}, {"script": "b.sh"}])
    assert psu.submit_jobs() == 1
    assert psu.submit_jobs(MaxJobs=2) == 1


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ('max_jobs = "many"\n', "max_jobs"),
        ("max_jobs = 0\n", "max_jobs"),
        ("max_jobs = -3\n", "max_jobs"),
        ("busy_timeout = -1\n", "busy_timeout"),
        ('busy_timeout = "soon"\n', "busy_timeout"),
        ('status_interval = "x"\n', "status_interval"),
        ('journal_mode = "memory"\n', "journal_mode"),
        ('journal_mode = "off"\n', "journal_mode"),
        ('colour = "blue"\n', "colour"),
        ('executor = "Not A Name"\n', "Not A Name"),
        ("max_jobs = [1]\n", "max_jobs"),
        ("this is = not toml\n", "paraschut.toml"),
    ],
)
def test_bad_file_values_raise_config_error_naming_the_setting(
    env, config, monkeypatch: pytest.MonkeyPatch, text: str, setting: str
) -> None:
    config(text)
    monkeypatch.delenv("PARASCHUT_EXECUTOR")
    monkeypatch.delenv("PARASCHUT_STATUS_INTERVAL")
    with pytest.raises(psu.ConfigError, match=setting):
        resolve_executor(None, load_settings())
    with pytest.raises(psu.ConfigError, match=setting):
        psu.submit_jobs()


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ("max_jobs = 2.5\n", "max_jobs"),
        ("max_jobs = true\n", "max_jobs"),
        ("busy_timeout = true\n", "busy_timeout"),
    ],
)
def test_inexact_numbers_in_the_file_are_refused(env, config, text: str, setting: str) -> None:
    config(text)
    with pytest.raises(psu.ConfigError, match=setting):
        load_settings()


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ("executors = 5\n", "executors"),
        ('template = "x"\n', "template"),
        ("[executors]\nfile = 5\n", "file"),
    ],
)
def test_non_table_sections_raise_config_error(env, config, text: str, setting: str) -> None:
    config(text)
    with pytest.raises(psu.ConfigError, match=setting):
        resolve_executor("file", load_settings())


@pytest.mark.parametrize(
    ("var", "value", "setting"),
    [
        ("PARASCHUT_MAX_JOBS", "2.5", "max_jobs"),
        ("PARASCHUT_MAX_JOBS", "none", "max_jobs"),
        ("PARASCHUT_BUSY_TIMEOUT", "-0.5", "busy_timeout"),
        ("PARASCHUT_STATUS_INTERVAL", "later", "status_interval"),
        ("PARASCHUT_JOURNAL_MODE", "wall", "journal_mode"),
    ],
)
def test_bad_environment_values_raise_config_error_naming_the_setting(
    env, monkeypatch: pytest.MonkeyPatch, var: str, value: str, setting: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(psu.ConfigError, match=setting):
        load_settings()
    with pytest.raises(psu.ConfigError, match=setting):
        psu.submit_jobs()


def test_bad_executor_arguments(env) -> None:
    s = load_settings()
    with pytest.raises(psu.ConfigError):
        resolve_executor(42, s)  # type: ignore[arg-type]
    with pytest.raises(psu.ConfigError, match="Bad"):
        resolve_executor("Bad", s)


def test_config_file_discovery(env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from paraschut.config import config_file

    monkeypatch.delenv("PARASCHUT_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert config_file() is None
    user = tmp_path / "home" / ".config" / "paraschut" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("max_jobs = 8\n")
    assert config_file() == user
    (tmp_path / "paraschut.toml").write_text("max_jobs = 9\n")
    assert load_settings().max_jobs == 9
    # a $PARASCHUT_CONFIG that does not exist means "no file", not the others
    monkeypatch.setenv("PARASCHUT_CONFIG", str(tmp_path / "absent.toml"))
    assert load_settings().max_jobs is None
