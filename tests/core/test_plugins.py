"""The plugin manager factory: the built-in file executor, blocking plugins, unknown executors."""

from __future__ import annotations

import importlib.metadata
import types

import pytest

import paraschut as psu
from paraschut.manager import ExecutorManager
from paraschut.plugins import failed_plugins, get_plugin_manager, plugin_sources


def test_a_bare_manager_has_the_file_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARASCHUT_DISABLE_PLUGINS", raising=False)
    pm = get_plugin_manager(load_entrypoints=False)
    assert pm.get_plugin("file") is not None
    manager = ExecutorManager(pm)
    assert list(manager.executors) == ["file"]
    assert manager.check(psu.Executor("file")).name == "file"
    assert plugin_sources(pm)["file"]["module"] == "paraschut.file_executor"


def test_each_call_builds_a_new_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARASCHUT_DISABLE_PLUGINS", raising=False)
    assert get_plugin_manager(load_entrypoints=False) is not get_plugin_manager(load_entrypoints=False)


@pytest.mark.parametrize("value", ["file", " file ", "local,file", "file,,pbs"])
def test_disable_plugins_blocks_the_file_executor(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PARASCHUT_DISABLE_PLUGINS", value)
    pm = get_plugin_manager(load_entrypoints=False)
    assert pm.get_plugin("file") is None
    with pytest.raises(psu.UnknownExecutorError, match="PARASCHUT_DISABLE_PLUGINS"):
        ExecutorManager(pm).check(psu.Executor("file"))


def test_unknown_executor_error_lists_the_registered_ones(env) -> None:
    with pytest.raises(psu.UnknownExecutorError) as error:
        env.manager.check(psu.Executor("slurm"))
    assert error.value.name == "slurm"
    assert error.value.known == ["broken", "fake", "file"]
    assert "registered executors: broken, fake, file" in str(error.value)


def test_an_empty_registry_says_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_DISABLE_PLUGINS", "file")
    with pytest.raises(psu.UnknownExecutorError, match="registered executors: none"):
        ExecutorManager(get_plugin_manager(load_entrypoints=False)).check(psu.Executor("x"))


class _EntryPoint:
    def __init__(self, name: str, target: object) -> None:
        self.name, self.target, self.dist = name, target, None

    def load(self) -> object:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, eps: list) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: eps if group == "paraschut" else [])


def test_a_broken_plugin_is_reported_by_name_and_the_others_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARASCHUT_DISABLE_PLUGINS", raising=False)
    good = types.ModuleType("goodplugin")
    _fake_entry_points(
        monkeypatch, [_EntryPoint("bad", ImportError("no module named bad_dep")), _EntryPoint("good", good)]
    )
    with pytest.warns(RuntimeWarning, match="'bad'"):
        pm = get_plugin_manager()
    assert pm.get_plugin("good") is good
    assert "bad" in failed_plugins(pm)
    with pytest.raises(psu.PluginLoadError, match="bad_dep"):
        ExecutorManager(pm).check(psu.Executor("bad"))
    with pytest.raises(psu.PluginLoadError, match="'bad'"):
        get_plugin_manager(strict=True)


def test_a_plugin_with_a_misspelled_hook_is_dropped_and_the_others_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARASCHUT_DISABLE_PLUGINS", raising=False)

    class Typo:
        @psu.hookimpl
        def paraschut_registr_executors(self):  # no such hook
            return []

    good = types.ModuleType("goodplugin")
    _fake_entry_points(monkeypatch, [_EntryPoint("typo", Typo()), _EntryPoint("good", good)])
    with pytest.warns(RuntimeWarning, match="'typo'.*paraschut_registr_executors"):
        pm = get_plugin_manager()
    assert pm.get_plugin("good") is good and pm.get_plugin("typo") is None
    assert pm.get_plugin("file") is not None
    with pytest.raises(psu.PluginLoadError, match="paraschut_registr_executors"):
        ExecutorManager(pm).check(psu.Executor("typo"))
    with pytest.raises(Exception, match="paraschut_registr_executors"):
        get_plugin_manager(strict=True)


def test_disabled_entry_points_are_not_even_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_DISABLE_PLUGINS", "bad")
    _fake_entry_points(monkeypatch, [_EntryPoint("bad", ImportError("must not be loaded"))])
    pm = get_plugin_manager(strict=True)
    assert pm.get_plugin("bad") is None


def test_a_plugin_answering_none_for_its_own_executor_is_an_unknown_executor(env) -> None:
    class Lazy:
        @psu.hookimpl
        def paraschut_register_executors(self):
            return [psu.ExecutorInfo("lazy")]

    env.manager.pm.register(Lazy(), name="lazy")
    env.manager._infos = None
    with pytest.raises(psu.UnknownExecutorError):
        env.manager.status(psu.Executor("lazy"), ["1"])
