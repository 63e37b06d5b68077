"""The ``paraschut`` command line: a thin argparse layer over the documented function API."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import sqlite3
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import paraschut as psu
from paraschut.config import load_settings
from paraschut.db import NETWORK_FILESYSTEMS, filesystem_type
from paraschut.errors import JobNotFoundError, ParaschutError
from paraschut.filters import compile_filter
from paraschut.manager import ExecutorManager
from paraschut.plugins import failed_plugins, plugin_sources
from paraschut.session import Session, get_session

__all__ = ["main"]

FOLLOW_INTERVAL = 0.5
_PAINT = {"failed:": "31", "missing:": "33", "!": "31"}


class UsageError(Exception):
    """Options that parse but do not go together (exit status 2)."""


# -- output helpers ----------------------------------------------------------------------------
def _dump(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _paint(text: str) -> str:
    """Highlight failed and missing lines and executor errors of the queue report on a terminal."""
    if not sys.stdout.isatty() or "NO_COLOR" in os.environ:
        return text
    out = []
    for line in text.splitlines():
        code = next((c for word, c in _PAINT.items() if line.lstrip().startswith(word)), None)
        out.append(f"\033[{code}m{line}\033[0m" if code else line)
    return "\n".join(out)


def _capture(call: Callable[[], Any]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        call()
    return buffer.getvalue().rstrip("\n")


@contextlib.contextmanager
def _until_interrupted() -> Iterator[None]:
    """Run a loop until Ctrl-C or SIGTERM, which end it cleanly."""

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _and(*conditions: str | None) -> str | None:
    # each part is checked on its own first: "1) OR (1" is unbalanced alone, but wrapped and
    # joined it would balance and escape the AND (reset --batch 5 would reset every batch)
    parts = [c for c in conditions if c and compile_filter(c)]
    return " AND ".join(f"({c})" for c in parts) if parts else None


def _with_batch(text: str | None, batch: int | None) -> str | None:
    return _and(text, None if batch is None else f"BatchID = {int(batch)}")


# -- commands ----------------------------------------------------------------------------------
def cmd_queue(args: argparse.Namespace) -> int:
    flt = _with_batch(args.filter, args.batch)
    if args.json:
        if args.watch is not None or args.report_missing:
            raise UsageError("--json cannot be combined with --watch or --report-missing")
        grouped = psu.get_queue(
            Filter=flt, ResetMissing=args.reset_missing, Verbose=False, Refresh=args.refresh
        ) or {}
        wanted = set(args.state or ())
        batches = [
            {"BatchID": b, "jobs": [j for j in jobs if not wanted or j["state"] in wanted]}
            for b, jobs in grouped.items()
        ]
        _dump({"batches": [b for b in batches if b["jobs"]]})
        return 0

    def draw() -> None:
        text = _capture(lambda: psu.get_queue(
            Display=args.state, Filter=flt, ResetMissing=args.reset_missing, ReportMissing=args.report_missing,
            Refresh=args.refresh,
        ))
        if args.watch is not None:
            if sys.stdout.isatty():
                sys.stdout.write("\033[H\033[2J")
            text = f"every {args.watch:g}s: paraschut queue    {time.strftime('%Y-%m-%d %H:%M:%S')}\n\n{text}"
        print(_paint(text), flush=True)

    if args.watch is None:
        draw()
        return 0
    with _until_interrupted():
        while True:
            draw()
            time.sleep(args.watch)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    if args.job and args.batch is None:
        raise UsageError("--job needs --batch")
    if args.job and (args.filter or args.periodic is not None or args.max_jobs is not None):
        raise UsageError("--job cannot be combined with --filter, --max-jobs or --periodic")
    flt = _with_batch(args.filter, args.batch)
    if args.periodic is not None:
        with _until_interrupted():
            psu.periodic_submitter(Interval=args.periodic, Filter=flt, MaxJobs=args.max_jobs, Executor=args.executor)
        return 0
    if args.job:
        count = sum(psu.submit_one_job(args.batch, job, Executor=args.executor) for job in args.job)
    elif args.batch is not None and not args.filter:
        count = psu.submit_one_batch(args.batch, Executor=args.executor, MaxJobs=args.max_jobs)
    else:
        count = psu.submit_jobs(Filter=flt, MaxJobs=args.max_jobs, Executor=args.executor)
    print(f"submitted {count} job(s)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    _dump(psu.get_job_info(args.batch, args.job))
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    key = "stderr" if args.err else "stdout"
    if not args.follow:
        psu.print_log(args.batch, args.job, key, LogIdx=args.history, Lines=args.lines, RegEx=args.grep)
        return 0
    with _until_interrupted():
        _follow(args, key)
    return 0


def _follow(args: argparse.Namespace, key: str) -> None:
    """Print the log's last lines, then new lines as they come (a new run starts over)."""
    seen: int | None = None
    while True:
        try:
            text = psu.print_log(
                args.batch, args.job, key, LogIdx=args.history, Lines=None, RegEx=args.grep, Verbose=False
            )
        except JobNotFoundError:
            raise
        except ParaschutError:
            text = None  # no run or no log file yet: wait for it
        if text is not None:
            lines = text.splitlines()
            if seen is None:
                seen = max(0, len(lines) - args.lines) if args.lines else 0
            elif len(lines) < seen:
                seen = 0
            for line in lines[seen:]:
                print(line, flush=True)
            seen = len(lines)
        time.sleep(FOLLOW_INTERVAL)


def cmd_reset(args: argparse.Namespace) -> int:
    unless: dict[str, Any] = {"Unless": {}} if args.all else {}
    selecting = args.missing or args.failed or args.filter
    if args.jobs and selecting:
        raise UsageError("JOB indices cannot be combined with --missing, --failed or --filter")
    if args.batch is None and not selecting:
        raise UsageError("give a BATCH id, --missing, --failed or --filter")
    if args.missing:
        psu.get_queue(Filter=_with_batch(args.filter, args.batch), ResetMissing=True, Verbose=False)
        print("missing jobs were reset to init")
        return 0
    if selecting:
        flt = _with_batch(_and(args.filter, "state = 'failed'" if args.failed else None), args.batch)
        count = psu.set_batch_field(psu.get_queue(Filter=flt, Verbose=False) or {}, **unless)
    elif args.jobs:
        count = psu.set_job_field(args.batch, args.jobs, **unless)
    else:
        count = psu.set_batch_field(args.batch, **unless)
    print(f"reset {count} job(s) to init")
    return 0


def cmd_qdel(args: argparse.Namespace) -> int:
    count = psu.qdel_job(args.batch, args.jobs) if args.jobs else psu.qdel_batch(args.batch)
    print(f"cancelled {count} job(s); they are back in init")
    return 0


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ParaschutError("refusing to remove without --yes (stdin is not a terminal)")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise ParaschutError("aborted: nothing was removed")


def cmd_rm(args: argparse.Namespace) -> int:
    if bool(args.batches) == bool(args.state):
        raise UsageError("give either BATCH ids or --state")
    if args.batches:
        what = f"batch(es) {', '.join(map(str, args.batches))} with their jobs and batch folders"
    else:
        what = f"every job in state {', '.join(args.state)}"
    _confirm(f"remove {what} from the job index?", args.yes)
    count = psu.remove_batch(args.batches) if args.batches else psu.remove_batch_by_state(args.state)
    print(f"removed {count} job(s)")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # failed plugins are listed below instead
        manager = ExecutorManager()
    sources = plugin_sources(manager.pm)
    executors = [
        {"executor": name, "description": info.description, "supports_arrays": info.supports_arrays,
         **sources.get(name, {"distribution": None, "version": None, "module": None, "file": None})}
        for name, info in sorted(manager.executors.items())
    ]
    failed = {name: str(error) for name, error in sorted(failed_plugins(manager.pm).items())}
    if args.json:
        _dump({"executors": executors, "failed": failed})
        return 0
    for row in executors:
        dist = f"{row['distribution'] or '?'} {row['version'] or ''}".strip()
        print(f"{row['executor']:<10} {dist:<24} {row['module'] or '?':<28} {row['description']}")
    for name, error in failed.items():
        print(f"{name:<10} FAILED: {error}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings()
    values = {key: {"value": getattr(settings, key), "source": source} for key, source in settings.sources.items()}
    path = settings.config_path
    data = {
        "config_file": path, "config_file_exists": bool(path and os.path.isfile(path)), "settings": values,
        "executors": dict(settings.executors), "template": dict(settings.template),
    }
    if args.json:
        _dump(data)
        return 0
    print(f"config file: {path or '(none)'}{'' if data['config_file_exists'] or not path else ' (not found)'}")
    width = max(len(key) for key in values)
    for key, item in values.items():
        print(f"{key:<{width}} = {item['value']!s:<40} ({item['source']})")
    for section in ("executors", "template"):
        if data[section]:
            print(f"{section}: {json.dumps(data[section], default=str)}")
    return 0


def _executor_checks(session: Session, names: list[str] | None) -> dict[str, dict[str, Any]]:
    """For each executor: ok, and what answered or the error (the plugin's own cheap check)."""
    out: dict[str, dict[str, Any]] = {}
    for name in names or sorted(session.manager.executors):
        try:
            out[name] = {"ok": True, "detail": session.manager.check_scheduler(session.executor(name))}
        except ParaschutError as exc:
            out[name] = {"ok": False, "detail": str(exc)}
    return out


def _doctor_report(session: Session, names: list[str] | None) -> dict[str, Any]:
    settings, index = session.settings, session.index
    fs = filesystem_type(settings.db)
    report: dict[str, Any] = {
        "index": {"path": settings.db, "integrity": index.integrity_check(), "journal_mode": index.journal_mode,
                  "filesystem": fs, "network_filesystem": fs in NETWORK_FILESYSTEMS, "tables": index.table_counts()},
        "default_executor": settings.executor,
        "executors": _executor_checks(session, names),
        "failed_plugins": {n: str(e) for n, e in failed_plugins(session.manager.pm).items()},
    }
    problems = [f"integrity check: {report['index']['integrity']}"] if report["index"]["integrity"] != "ok" else []
    if fs in NETWORK_FILESYSTEMS and index.journal_mode == "wal":
        problems.append(f"journal mode wal on a network file system ({fs}): set journal_mode = delete")
    if settings.executor not in session.manager.executors:
        problems.append(f"the default executor {settings.executor!r} is not registered")
    problems += [f"executor {n!r}: {c['detail']}" for n, c in report["executors"].items() if not c["ok"]]
    problems += [f"plugin {n!r}: {msg}" for n, msg in report["failed_plugins"].items()]
    report.update(ok=not problems, problems=problems)
    return report


def cmd_doctor(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # failed plugins are reported as problems
        report = _doctor_report(get_session(), args.executor)
    if args.json:
        _dump(report)
        return 0 if report["ok"] else 1
    index = report["index"]
    tables = ", ".join(f"{name} {count}" for name, count in index["tables"].items())
    print(f"index:     {index['path']}\nintegrity: {index['integrity']}\n"
          f"journal:   {index['journal_mode']} on {index['filesystem']}\ntables:    {tables}\n"
          f"executors (default {report['default_executor']}):")
    for name, check in report["executors"].items():
        print(f"  {name:<10} {'ok' if check['ok'] else 'FAILED'}: {check['detail']}")
    for problem in report["problems"]:
        print(_paint(f"! {problem}"))
    print("ok" if report["ok"] else f"{len(report['problems'])} problem(s)")
    return 0 if report["ok"] else 1


# -- parser ------------------------------------------------------------------------------------
def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {exc}") from None
    return text


def _add_listing(sub: Any, name: str, common: argparse.ArgumentParser, func: Callable[..., int], help: str) -> Any:
    parser = sub.add_parser(name, parents=[common], help=help, description=help)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(func=func)
    return parser


def _add_selection(parser: argparse.ArgumentParser, batch: bool = True) -> None:
    parser.add_argument("--filter", metavar="F", help="an SQLite condition over the job columns")
    if batch:
        parser.add_argument("--batch", type=int, metavar="B", help="only batch B")


def _add_queue_submit(sub: Any, common: argparse.ArgumentParser) -> None:
    q = _add_listing(sub, "queue", common, cmd_queue, "show the dashboard of batches and job states")
    q.add_argument("--state", action="append", metavar="S", help="show only jobs in state S (repeatable)")
    _add_selection(q)
    q.add_argument("--reset-missing", action="store_true", help="reset missing jobs to init")
    q.add_argument("--refresh", action="store_true", help="poll the schedulers now, not a recent snapshot")
    q.add_argument("--report-missing", action="store_true", help="print the stderr of missing jobs")
    q.add_argument("--watch", type=_seconds, metavar="SECONDS", help="redraw every SECONDS until interrupted")
    s = sub.add_parser("submit", parents=[common], help="submit the jobs the priority rules allow")
    _add_selection(s)
    s.add_argument("--job", type=int, action="append", metavar="J", help="only job J of --batch (repeatable)")
    s.add_argument("--max-jobs", type=int, metavar="N", help="at most N jobs active at once")
    s.add_argument("--executor", metavar="NAME", help="executor to submit to (default: configured)")
    s.add_argument("--periodic", type=_seconds, metavar="SECONDS", help="submit every SECONDS until all done")
    s.set_defaults(func=cmd_submit)


def _add_job_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    i = _add_listing(sub, "info", common, cmd_info, "print a job's metadata as JSON")
    lg = sub.add_parser("log", parents=[common], help="print a job's stdout (or stderr)")
    for parser in (i, lg):
        parser.add_argument("batch", type=int, metavar="BATCH")
        parser.add_argument("job", type=int, metavar="JOB")
    lg.add_argument("--err", action="store_true", help="stderr instead of stdout")
    lg.add_argument("--history", type=int, default=-1, metavar="N", help="run N (-1: the last, 0: the first)")
    lg.add_argument("--lines", type=int, default=30, metavar="N", help="last N lines (0: all; default 30)")
    lg.add_argument("--grep", type=_regex, metavar="REGEX", help="only lines matching REGEX")
    lg.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until interrupted")
    lg.set_defaults(func=cmd_log)
    r = sub.add_parser("reset", parents=[common], help="set jobs back to init (not complete ones, unless --all)")
    r.add_argument("batch", type=int, nargs="?", metavar="BATCH")
    r.add_argument("jobs", type=int, nargs="*", metavar="JOB")
    r.add_argument("--all", action="store_true", help="also reset complete and collected jobs")
    r.add_argument("--missing", action="store_true", help="reset jobs that left their queue unfinished")
    r.add_argument("--failed", action="store_true", help="reset failed jobs")
    _add_selection(r, batch=False)
    r.set_defaults(func=cmd_reset)
    d = sub.add_parser("qdel", parents=[common], help="cancel queued and running jobs (back to init)")
    d.add_argument("batch", type=int, metavar="BATCH")
    d.add_argument("jobs", type=int, nargs="*", metavar="JOB")
    d.set_defaults(func=cmd_qdel)
    m = sub.add_parser("rm", parents=[common], help="remove batches (or jobs in a state) from the index")
    m.add_argument("batches", type=int, nargs="*", metavar="BATCH")
    m.add_argument("--state", action="append", metavar="S", help="remove every job in state S (repeatable)")
    m.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    m.set_defaults(func=cmd_rm)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paraschut", description="Submit and watch pipelines of batch jobs.")
    parser.add_argument("--version", action="version", version=f"paraschut {psu.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_queue_submit(sub, common)
    _add_job_commands(sub, common)
    _add_listing(sub, "plugins", common, cmd_plugins, "list executors and the plugins providing them")
    _add_listing(sub, "config", common, cmd_config, "show the effective settings and their sources")
    doctor = _add_listing(sub, "doctor", common, cmd_doctor, "check the job index and the executors")
    doctor.add_argument("--executor", action="append", metavar="NAME", help="check only NAME (repeatable)")
    return parser


def _show_warning(message: Any, category: Any, *rest: Any, **kwargs: Any) -> None:
    print(f"paraschut: warning: {message}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    return " | ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return exc.code if isinstance(exc.code, int) else 0
    warnings.showwarning = _show_warning
    try:
        return int(args.func(args))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"paraschut {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ParaschutError, OSError, sqlite3.Error) as exc:
        if args.debug:
            raise
        print(f"paraschut: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
