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
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from attrs import frozen

import paraschut as psu
from paraschut import dashboard, submission
from paraschut.api import QueueSnapshot, queue_snapshot, report_missing
from paraschut.config import load_settings
from paraschut.diagnostics import config_report, doctor_report, plugins_report
from paraschut.errors import (
    IndexBusyError,
    JobNotFoundError,
    ParaschutError,
    PluginLoadError,
    SchedulerCommandError,
    SchedulerNotFoundError,
    WaitTimeoutError,
)
from paraschut.filters import compile_filter
from paraschut.session import get_session
from paraschut.terminal import Live, ProgressBar, Style, output_width
from paraschut.terminal import table as text_table
from paraschut.waiting import wait_for

__all__ = [
    "EXIT_BUSY", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SCHEDULER", "EXIT_TIMEOUT", "EXIT_USAGE", "main",
]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_BUSY, EXIT_SCHEDULER, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130  # 143: SIGTERM
EXIT_TIMEOUT = 124  # wait --timeout, as timeout(1)
EPILOG = """\
exit status:
  0    success
  1    an error: a bad filter, an unknown job or executor, an invalid setting, a job the
       scheduler could not take...; doctor: a problem was found; wait: a job failed, or
       its executor lost it (missing) or its spawn failed
  2    usage: bad options, or rm without --yes when stdin is not a terminal
  3    the job index stayed locked by other processes for longer than busy_timeout: retry
  4    a scheduler command failed or is not installed, or an executor's plugin failed to load
  124  wait: --timeout passed while jobs were still queued or running (as timeout(1))
  130  interrupted by Ctrl-C (143: by SIGTERM) during a one-shot command; queue --watch,
       log --follow and submit --periodic end with 0 when interrupted, as that is how they stop

output: colour, box drawing and progress bars only on a terminal; NO_COLOR turns colour off,
FORCE_COLOR on, --color decides over both. Tables fit the terminal's width (or COLUMNS); piped
output is never truncated. Errors are one line on stderr; --debug adds the traceback.
"""
FOLLOW_INTERVAL = 0.5


class UsageError(Exception):
    """Options that parse but do not go together (exit status 2)."""


# -- output helpers ----------------------------------------------------------------------------
def _dump(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _style(args: argparse.Namespace, stream: Any = None) -> Style:
    return Style.for_stream(sys.stdout if stream is None else stream, getattr(args, "color", "auto"))


def _capture(call: Callable[[], Any]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        call()
    return buffer.getvalue().rstrip("\n")


class _Signals:
    """Which signal interrupted the command (SIGINT unless SIGTERM came)."""

    received = signal.SIGINT


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM, like Ctrl-C, unwinds the command: claimed jobs are released, the terminal restored."""
    _Signals.received = signal.Signals(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def _until_interrupted() -> Iterator[None]:
    """Run a loop until Ctrl-C or SIGTERM, which end it cleanly (exit status 0)."""
    with contextlib.suppress(KeyboardInterrupt):
        yield


def _and(*conditions: str | None) -> str | None:
    # each part is checked on its own first: "1) OR (1" is unbalanced alone, but wrapped and
    # joined it would balance and escape the AND (reset --batch 5 would reset every batch)
    parts = [c for c in conditions if c and compile_filter(c)]
    return " AND ".join(f"({c})" for c in parts) if parts else None


def _with_batch(text: str | None, batch: int | None) -> str | None:
    return _and(text, None if batch is None else f"BatchID = {int(batch)}")


# -- queue -------------------------------------------------------------------------------------
def _queue_json(args: argparse.Namespace, flt: str | None) -> dict[str, Any]:
    snap = queue_snapshot(Filter=flt, ResetMissing=args.reset_missing, Refresh=args.refresh)
    return dashboard.as_json(snap.jobs, snap.names, snap.status, set(args.state) if args.state else None)


def _queue_lines(args: argparse.Namespace, flt: str | None, style: Style, bars: bool) -> list[str]:
    """One drawing of the dashboard: get_queue's report with --text, else the table."""
    if args.text:
        return _capture(lambda: psu.get_queue(
            Display=args.state, Filter=flt, ResetMissing=args.reset_missing, Refresh=args.refresh
        )).splitlines()
    snap = queue_snapshot(Filter=flt, ResetMissing=args.reset_missing, Refresh=args.refresh)
    return _table_lines(snap, style, bars, set(args.state) if args.state else None)


def _table_lines(snap: QueueSnapshot, style: Style, bars: bool, states: set[str] | None = None) -> list[str]:
    rows = dashboard.batch_rows(snap.jobs, snap.names, snap.status, states)
    summary = dashboard.summary(snap.jobs, snap.status)
    if not rows:
        return summary.splitlines()
    return dashboard.table(rows, summary, style, output_width(), bars=bars)


def _fit_height(lines: list[str], height: int | None, top: int, bottom: int) -> list[str]:
    """Keep a frame within the screen: batch rows beyond it are counted, not drawn."""
    if height is None or len(lines) <= height - 1:
        return lines
    room = max(0, height - 2 - top - bottom)
    hidden = len(lines) - top - bottom - room
    return [*lines[: top + room], f"... {hidden} more batch(es): narrow with --batch, --state or --filter",
            *lines[len(lines) - bottom:]]


def cmd_queue(args: argparse.Namespace) -> int:
    """The dashboard: a table of batches (or get_queue's report with --text), once or redrawn."""
    if args.json and (args.watch is not None or args.report_missing or args.text):
        raise UsageError("--json cannot be combined with --watch, --report-missing or --text")
    flt = _with_batch(args.filter, args.batch)
    if args.json:
        _dump(_queue_json(args, flt))
        return EXIT_OK
    style = _style(args)
    if args.watch is None:
        print("\n".join(_queue_lines(args, flt, style, bars=style.glyphs)))
        if args.report_missing:
            report_missing(queue_snapshot(Filter=flt).status)
        return EXIT_OK
    live = Live()
    with _until_interrupted(), live.running():
        while True:
            title = style.paint(f"every {args.watch:g}s: paraschut queue    {time.strftime('%Y-%m-%d %H:%M:%S')}",
                                "bold")
            lines = [title, "", *_queue_lines(args, flt, style, bars=True)]
            top = 0 if args.text else 3 + style.glyphs
            live.draw(_fit_height(lines, live.height(), top, bottom=2))
            time.sleep(args.watch)
    return EXIT_OK


def _queue_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--state", action="append", metavar="S", help="show only jobs in state S (repeatable)")
    _add_selection(q)
    q.add_argument("--reset-missing", action="store_true", help="reset missing jobs to init")
    q.add_argument("--refresh", action="store_true", help="poll the schedulers now, not a recent snapshot")
    q.add_argument("--report-missing", action="store_true", help="print the stderr of missing jobs")
    q.add_argument("--text", action="store_true", help="get_queue()'s report instead of the table")
    q.add_argument("--watch", type=_seconds, metavar="SECONDS", help="redraw every SECONDS until interrupted")


# -- submit ------------------------------------------------------------------------------------
def cmd_submit(args: argparse.Namespace) -> int:
    """Submit what the priority rules allow (a progress bar on stderr when it is a terminal)."""
    if args.job and args.batch is None:
        raise UsageError("--job needs --batch")
    if args.job and (args.filter or args.periodic is not None or args.max_jobs is not None):
        raise UsageError("--job cannot be combined with --filter, --max-jobs or --periodic")
    flt = _with_batch(args.filter, args.batch)
    bar = ProgressBar("submitting", mode=getattr(args, "color", "auto"))
    with submission.reporting_progress(bar.update), contextlib.closing(bar):
        if args.periodic is not None:
            with _until_interrupted():
                psu.periodic_submitter(Interval=args.periodic, Filter=flt, MaxJobs=args.max_jobs,
                                       Executor=args.executor)
            return EXIT_OK
        if args.job:
            count = sum(psu.submit_one_job(args.batch, job, Executor=args.executor) for job in args.job)
        elif args.batch is not None and not args.filter:
            count = psu.submit_one_batch(args.batch, Executor=args.executor, MaxJobs=args.max_jobs)
        else:
            count = psu.submit_jobs(Filter=flt, MaxJobs=args.max_jobs, Executor=args.executor)
    print(f"submitted {count} job(s)")
    return EXIT_OK


def _submit_args(s: argparse.ArgumentParser) -> None:
    _add_selection(s)
    s.add_argument("--job", type=int, action="append", metavar="J", help="only job J of --batch (repeatable)")
    s.add_argument("--max-jobs", type=int, metavar="N", help="at most N jobs active at once")
    s.add_argument("--executor", metavar="NAME", help="executor to submit to (default: configured)")
    s.add_argument("--periodic", type=_seconds, metavar="SECONDS", help="submit every SECONDS until all done")


# -- wait --------------------------------------------------------------------------------------
def cmd_wait(args: argparse.Namespace) -> int:
    """Block until the selected jobs left their queues; show the table; fail when one failed."""
    flt = _with_batch(args.filter, args.batch)
    try:
        # wait_jobs' wait without its reading of every job: the snapshot below reads them once
        wait_for(get_session(), compile_filter(flt), args.timeout)
    except WaitTimeoutError as exc:
        print(f"paraschut wait: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    snap = queue_snapshot(Filter=flt)
    if args.json:
        _dump(dashboard.as_json(snap.jobs, snap.names, snap.status, None))
    else:
        style = _style(args)
        print("\n".join(_table_lines(snap, style, bars=style.glyphs)))
    # failed, or still submit/run/spawn: lost by its executor, or a spawn failed
    return EXIT_ERROR if any(job["state"] in ("failed", "submit", "run", "spawn") for job in snap.jobs) else EXIT_OK


def _wait_args(w: argparse.ArgumentParser) -> None:
    _add_selection(w)
    w.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="give up after SECONDS (exit status 124)")


# -- info, log ---------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    """A job's metadata: one field per line, or JSON."""
    job = psu.get_job_info(args.batch, args.job)
    if args.json:
        _dump(job)
        return EXIT_OK
    width = max(len(str(key)) for key in job)
    for key, value in job.items():
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        print(f"{key:<{width}}  {shown}")
    return EXIT_OK


def _job_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("batch", type=int, metavar="BATCH")
    parser.add_argument("job", type=int, metavar="JOB")


def cmd_log(args: argparse.Namespace) -> int:
    """A job's stdout or stderr: the last lines, or followed as it grows."""
    key = "stderr" if args.err else "stdout"
    if args.json and args.follow:
        raise UsageError("--json cannot be combined with --follow")
    if not args.follow:
        text = psu.print_log(args.batch, args.job, key, LogIdx=args.history, Lines=args.lines, RegEx=args.grep,
                             Verbose=not args.json)
        if args.json:
            _dump({"BatchID": args.batch, "JobIndex": args.job, "stream": key, "history": args.history,
                   "lines": text.splitlines()})
        return EXIT_OK
    with _until_interrupted():
        _follow(args, key)
    return EXIT_OK


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


def _log_args(lg: argparse.ArgumentParser) -> None:
    _job_args(lg)
    lg.add_argument("--err", action="store_true", help="stderr instead of stdout")
    lg.add_argument("--history", type=int, default=-1, metavar="N", help="run N (-1: the last, 0: the first)")
    lg.add_argument("--lines", type=int, default=30, metavar="N", help="last N lines (0: all; default 30)")
    lg.add_argument("--grep", type=_regex, metavar="REGEX", help="only lines matching REGEX")
    lg.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until interrupted")


# -- reset, qdel, rm ---------------------------------------------------------------------------
def cmd_reset(args: argparse.Namespace) -> int:
    """Jobs back to init; complete and collected ones only with --all (the README's Unless default)."""
    unless: dict[str, Any] = {"Unless": {}} if args.all else {}
    selecting = args.missing or args.failed or args.filter
    if args.jobs and selecting:
        raise UsageError("JOB indices cannot be combined with --missing, --failed or --filter")
    if args.batch is None and not selecting:
        raise UsageError("give a BATCH id, --missing, --failed or --filter")
    if args.missing:
        psu.get_queue(Filter=_with_batch(args.filter, args.batch), ResetMissing=True, Verbose=False)
        print("missing jobs were reset to init")
        return EXIT_OK
    if selecting:
        flt = _with_batch(_and(args.filter, "state = 'failed'" if args.failed else None), args.batch)
        count = psu.set_batch_field(psu.get_queue(Filter=flt, Verbose=False) or {}, **unless)
    elif args.jobs:
        count = psu.set_job_field(args.batch, args.jobs, **unless)
    else:
        count = psu.set_batch_field(args.batch, **unless)
    print(f"reset {count} job(s) to init")
    return EXIT_OK


def _reset_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("batch", type=int, nargs="?", metavar="BATCH")
    r.add_argument("jobs", type=int, nargs="*", metavar="JOB")
    r.add_argument("--all", action="store_true", help="also reset complete and collected jobs")
    r.add_argument("--missing", action="store_true", help="reset jobs that left their queue unfinished")
    r.add_argument("--failed", action="store_true", help="reset failed jobs")
    _add_selection(r, batch=False)


def cmd_qdel(args: argparse.Namespace) -> int:
    """Cancel queued and running jobs; they go back to init."""
    count = psu.qdel_job(args.batch, args.jobs) if args.jobs else psu.qdel_batch(args.batch)
    print(f"cancelled {count} job(s); they are back in init")
    return EXIT_OK


def _qdel_args(d: argparse.ArgumentParser) -> None:
    d.add_argument("batch", type=int, metavar="BATCH")
    d.add_argument("jobs", type=int, nargs="*", metavar="JOB")


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("refusing to remove without --yes: stdin is not a terminal to ask on")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise ParaschutError("aborted: nothing was removed")


def cmd_rm(args: argparse.Namespace) -> int:
    """Remove batches, or every job in some states, after asking (unless --yes)."""
    if bool(args.batches) == bool(args.state):
        raise UsageError("give either BATCH ids or --state")
    if args.batches:
        what = f"batch(es) {', '.join(map(str, args.batches))} with their jobs and batch folders"
    else:
        what = f"every job in state {', '.join(args.state)}"
    _confirm(f"remove {what} from the job index?", args.yes)
    count = psu.remove_batch(args.batches) if args.batches else psu.remove_batch_by_state(args.state)
    print(f"removed {count} job(s)")
    return EXIT_OK


def _rm_args(m: argparse.ArgumentParser) -> None:
    m.add_argument("batches", type=int, nargs="*", metavar="BATCH")
    m.add_argument("--state", action="append", metavar="S", help="remove every job in state S (repeatable)")
    m.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


# -- plugins, config, doctor -------------------------------------------------------------------
def cmd_plugins(args: argparse.Namespace) -> int:
    """Installed executors, the distribution and module providing each, and plugins that failed."""
    executors, failed = plugins_report()
    if args.json:
        _dump({"executors": executors, "failed": failed})
        return EXIT_OK
    style = _style(args)
    rows = [[r["executor"], r["distribution"] or "?", r["version"] or "?", r["module"] or "?", r["description"]]
            for r in executors]
    rows += [[name, [("FAILED", "red")], "", "", error] for name, error in failed.items()]
    headers = ["executor", "distribution", "version", "module", "description"]
    print("\n".join(text_table(headers, rows, style, output_width(), shrink=[(4, 12)])))
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    """The effective settings and where each came from."""
    data = config_report(load_settings())
    path, values = data["config_file"], data["settings"]
    if args.json:
        _dump(data)
        return EXIT_OK
    print(f"config file: {path or '(none)'}{'' if data['config_file_exists'] or not path else ' (not found)'}")
    width = max(len(key) for key in values)
    for key, item in values.items():
        print(f"{key:<{width}} = {item['value']!s:<40} ({item['source']})")
    for section in ("executors", "template"):
        if data[section]:
            print(f"{section}: {json.dumps(data[section], default=str)}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """The index's integrity and journal mode, and each executor's scheduler, reachable or not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # failed plugins are reported as problems
        report = doctor_report(get_session(), args.executor)
    status = EXIT_OK if report["ok"] else EXIT_ERROR
    if args.json:
        _dump(report)
        return status
    style, index = _style(args), report["index"]
    tables = ", ".join(f"{name} {count}" for name, count in index["tables"].items())
    print(f"index:     {index['path']}\nintegrity: {index['integrity']}\n"
          f"journal:   {index['journal_mode']} on {index['filesystem']}\ntables:    {tables}\n"
          f"executors (default {report['default_executor']}):")
    for name, check in report["executors"].items():
        mark = style.paint("ok", "green") if check["ok"] else style.paint("FAILED", "red")
        print(f"  {name:<10} {mark}: {check['detail']}")
    for problem in report["problems"]:
        print(style.paint(f"! {problem}", "red"))
    print("ok" if report["ok"] else f"{len(report['problems'])} problem(s)")
    return status


def _doctor_args(doctor: argparse.ArgumentParser) -> None:
    doctor.add_argument("--executor", action="append", metavar="NAME", help="check only NAME (repeatable)")


# -- the commands, registered in one place -----------------------------------------------------
@frozen
class Command:
    """A subcommand: its name and help, what adds its arguments, what runs it, and whether it
    lists something (and so takes --json)."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None] | None
    run: Callable[[argparse.Namespace], int]
    listing: bool = False


COMMANDS = [
    Command("queue", "show the dashboard of batches and job states", _queue_args, cmd_queue, listing=True),
    Command("submit", "submit the jobs the priority rules allow", _submit_args, cmd_submit),
    Command("wait", "wait until the jobs left their queues (exit 1 if one failed)", _wait_args, cmd_wait,
            listing=True),
    Command("info", "print a job's metadata", _job_args, cmd_info, listing=True),
    Command("log", "print a job's stdout (or stderr)", _log_args, cmd_log, listing=True),
    Command("reset", "set jobs back to init (not complete ones, unless --all)", _reset_args, cmd_reset),
    Command("qdel", "cancel queued and running jobs (back to init)", _qdel_args, cmd_qdel),
    Command("rm", "remove batches (or jobs in a state) from the index", _rm_args, cmd_rm),
    Command("plugins", "list executors and the plugins providing them", None, cmd_plugins, listing=True),
    Command("config", "show the effective settings and their sources", None, cmd_config, listing=True),
    Command("doctor", "check the job index and the executors", _doctor_args, cmd_doctor, listing=True),
]


def cmd_timeline(args: argparse.Namespace) -> int:
    from paraschut.timeline import get_timeline, plot_timeline

    if not args.output and not args.json:
        raise UsageError("give -o FILE (.png, .html or .svg) or --json")
    if args.output:
        path = plot_timeline(args.batch, args.output)
        if not args.json:
            print(f"wrote {path}")
    if args.json:
        _dump({"BatchID": args.batch, "spans": get_timeline(args.batch)})
    return 0


def _timeline_args(t: argparse.ArgumentParser) -> None:
    t.add_argument("batch", type=int, metavar="BATCH")
    t.add_argument("-o", "--output", metavar="FILE", help="write FILE: .html or .svg, or .png (paraschut-core[plot])")


COMMANDS.append(
    Command("timeline", "draw when each job of a batch waited and ran", _timeline_args, cmd_timeline, listing=True)
)


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


def _add_selection(parser: argparse.ArgumentParser, batch: bool = True) -> None:
    parser.add_argument("--filter", metavar="F", help="an SQLite condition over the job columns")
    if batch:
        parser.add_argument("--batch", type=int, metavar="B", help="only batch B")


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """--debug and --color, accepted before or after the command."""
    parser.add_argument("--debug", action="store_true", default=default or False, help="show tracebacks")
    parser.add_argument("--color", choices=("auto", "always", "never"), default=default or "auto",
                        help="colour output: auto (on a terminal, unless NO_COLOR), always, never")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paraschut", description="Submit and watch pipelines of batch jobs.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"paraschut {psu.__version__}")
    _global_options(parser, None)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, parents=[common], help=command.help, description=command.help,
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        if command.listing:
            p.add_argument("--json", action="store_true", help="print JSON for scripts")
        if command.arguments is not None:
            command.arguments(p)
        p.set_defaults(func=command.run)
    return parser


def _show_warning(message: Any, category: Any, *rest: Any, **kwargs: Any) -> None:
    print(f"paraschut: warning: {message}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    return " | ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


def exit_status(exc: BaseException) -> int:
    """The exit status an error ends the command line with (see EPILOG)."""
    if isinstance(exc, IndexBusyError) or (
        isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))
    ):
        return EXIT_BUSY
    if isinstance(exc, (SchedulerCommandError, SchedulerNotFoundError, PluginLoadError)):
        return EXIT_SCHEDULER
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    warnings.showwarning = _show_warning
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"paraschut {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"paraschut: interrupted ({_Signals.received.name})", file=sys.stderr)
        return 128 + int(_Signals.received)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except (ParaschutError, OSError, sqlite3.Error) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"paraschut: error: {_one_line(exc)}", file=sys.stderr)
        return exit_status(exc)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
