"""Render docs/hooks.md from the hookspec docstrings: python docs/gen_hooks.py > docs/hooks.md."""

from __future__ import annotations

import inspect

from paraschut import hookspecs

HEADER = """# Hook reference

Generated from `paraschut/hookspecs.py` by `python docs/gen_hooks.py > docs/hooks.md`
(a test fails when this file is out of date). Implement hooks with `@paraschut.hookimpl` in a
module registered under the `paraschut` entry-point group. Operation hooks are dispatched by
executor name: return `None` for an executor that is not yours, never for your own.
"""


def render() -> str:
    parts = [HEADER]
    specs = [(n, f) for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("paraschut_")]
    for name, func in sorted(specs, key=lambda item: item[1].__code__.co_firstlineno):
        opts = getattr(func, "paraschut_spec", {}) or {}
        kind = "firstresult" if opts.get("firstresult") else "every plugin answers"
        sig = inspect.signature(func)
        parts.append(f"## `{name}{sig}`\n\n*{kind}*\n\n{inspect.cleandoc(func.__doc__ or '')}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
