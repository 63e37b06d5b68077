"""Developer tasks: nox -s tests | lint | typecheck | wheels | bench."""

from __future__ import annotations

import pathlib

import nox

ROOT = pathlib.Path(__file__).parent
PACKAGES = ["paraschut-core", "paraschut-local", "paraschut-pbs", "paraschut-sge", "paraschut-slurm"]
PACKAGE_DIRS = [str(ROOT / "packages" / name) for name in PACKAGES]
# matplotlib: the PNG timeline tests; nbclient, nbformat, ipykernel: running examples/example.ipynb
TEST_DEPS = ["pytest>=7", "hypothesis>=6", "matplotlib>=3.6", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6"]

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole test suite against the distributions installed from packages/ (not editable)."""
    session.install(*PACKAGE_DIRS)
    session.install(*TEST_DEPS)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff over the packages, tests, benchmarks and examples."""
    session.install("ruff")
    session.run("ruff", "check", "packages", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy over every distribution's sources."""
    session.install("mypy", *PACKAGE_DIRS)
    session.run("mypy", *(f"{d}/src" for d in PACKAGE_DIRS))


@nox.session(python="3.11")
def wheels(session: nox.Session) -> None:
    """Build every wheel, install them into a clean venv, import them and list the executors."""
    out = ROOT / "dist"
    session.install("build")
    for directory in PACKAGE_DIRS:
        session.run("python", "-m", "build", "--wheel", "--outdir", str(out), directory)
    venv = ROOT / ".nox" / "wheel-check"
    pip, python = str(venv / "bin" / "pip"), str(venv / "bin" / "python")
    wheels_built = sorted(str(p) for p in out.glob("paraschut_*-*.whl"))
    core = [w for w in wheels_built if "paraschut_core-" in w]
    # the core alone: importable, its own file executor listed, the command runs
    session.run("python", "-m", "venv", str(venv), "--clear")
    session.run(pip, "install", "--no-cache-dir", *core, external=True)
    session.run(
        python, "-c",
        "from paraschut.manager import ExecutorManager; "
        "names = sorted(ExecutorManager().executors); assert names == ['file'], names",
        external=True,
    )
    session.run(str(venv / "bin" / "paraschut"), "plugins", external=True)
    # then every plugin beside it
    session.run(pip, "install", "--no-cache-dir", *wheels_built, external=True)
    session.run(
        python, "-c",
        "import paraschut, paraschut_local, paraschut_pbs, paraschut_sge, paraschut_slurm; "
        "from paraschut.manager import ExecutorManager; "
        "names = sorted(ExecutorManager().executors); print('executors:', names); "
        "assert names == ['file', 'local', 'pbs', 'sge', 'slurm'], names",
        external=True,
    )


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Run the benchmarks in benchmarks/ and print their figures."""
    session.install(*PACKAGE_DIRS)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
