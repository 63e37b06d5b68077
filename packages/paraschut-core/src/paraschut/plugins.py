"""Building the plugin manager: hookspecs, the built-in file executor, entry-point plugins."""

from __future__ import annotations

import importlib.metadata
import os
import sys
import warnings
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginLoadError

__all__ = ["ENTRY_POINT_GROUP", "disabled_plugins", "failed_plugins", "get_plugin_manager", "plugin_sources"]

ENTRY_POINT_GROUP = "paraschut"
DEFAULT_PLUGINS = ("paraschut.file_executor",)


def disabled_plugins() -> set[str]:
    """Names listed in ``PARASCHUT_DISABLE_PLUGINS`` (comma separated)."""
    raw = os.environ.get("PARASCHUT_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _load_entrypoints(pm: pluggy.PluginManager, blocked: set[str], strict: bool) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in blocked or pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - report any import failure with the plugin's name
            error = PluginLoadError(ep.name, exc)
            if strict:
                raise error from exc
            warnings.warn(str(error), RuntimeWarning, stacklevel=3)
            pm._paraschut_failed[ep.name] = error  # type: ignore[attr-defined]
            continue
        dist = getattr(ep, "dist", None)
        if dist is not None:
            pm._paraschut_dists[ep.name] = (dist.name, dist.version)  # type: ignore[attr-defined]


def get_plugin_manager(load_entrypoints: bool = True, strict: bool = False) -> pluggy.PluginManager:
    """Build a new plugin manager (a factory, not a global: tests make their own).

    :param load_entrypoints: also load the installed plugins of the ``paraschut`` entry-point
        group; names in ``PARASCHUT_DISABLE_PLUGINS`` are skipped.
    :param strict: raise when a plugin fails to import; otherwise warn, and the error is raised
        when its executor is asked for (one broken plugin does not stop the others).
    :raises PluginLoadError: (strict) an installed plugin failed to import, named in the message.
    """
    pm = pluggy.PluginManager("paraschut")
    pm.add_hookspecs(hookspecs)
    pm._paraschut_dists = {}  # type: ignore[attr-defined]
    pm._paraschut_failed = {}  # type: ignore[attr-defined]
    blocked = disabled_plugins()
    builtin: set[str] = set()
    for module_name in DEFAULT_PLUGINS:
        name = module_name.rsplit(".", 1)[-1].replace("_executor", "")
        builtin.add(name)
        if name in blocked:
            continue
        __import__(module_name)
        pm.register(sys.modules[module_name], name=name)
        pm._paraschut_dists[name] = ("paraschut-core", _core_version())  # type: ignore[attr-defined]
    if load_entrypoints:
        _load_entrypoints(pm, blocked, strict)
    _drop_unknown_hooks(pm, builtin, strict)
    return pm


def _drop_unknown_hooks(pm: pluggy.PluginManager, builtin: set[str], strict: bool) -> None:
    """Unregister each installed plugin that implements a hook no spec declares (a misspelled
    name), so one broken plugin does not stop the others; its executor names the error when used.

    :raises pluggy.PluginValidationError: a built-in plugin is at fault (a bug in paraschut), or
        ``strict`` and an installed plugin is.
    """
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin)
            if strict or name is None or name in builtin:
                raise
            error = PluginLoadError(name, exc)
            warnings.warn(str(error), RuntimeWarning, stacklevel=3)
            pm.unregister(name=name)
            pm._paraschut_dists.pop(name, None)  # type: ignore[attr-defined]
            pm._paraschut_failed[name] = error  # type: ignore[attr-defined]


def _core_version() -> str:
    try:
        return importlib.metadata.version("paraschut-core")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def plugin_sources(pm: pluggy.PluginManager) -> dict[str, dict[str, Any]]:
    """For each registered plugin: its distribution, version and module file."""
    dists: dict[str, tuple[str, str]] = getattr(pm, "_paraschut_dists", {})
    out: dict[str, dict[str, Any]] = {}
    for name, plugin in pm.list_name_plugin():
        dist, version = dists.get(name, ("", ""))
        out[name] = {
            "distribution": dist or None,
            "version": version or None,
            "module": getattr(plugin, "__name__", repr(plugin)),
            "file": getattr(plugin, "__file__", None),
        }
    return out


def failed_plugins(pm: pluggy.PluginManager) -> dict[str, PluginLoadError]:
    """Plugins that failed to load, by entry-point name."""
    return dict(getattr(pm, "_paraschut_failed", {}))
