"""dynajit's command line: ``python -m dynajit COMMAND ...``. Each command is one function that
adds its sub-parser and sets ``run`` (args -> exit status); add a command by adding one."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence


def _run_report(args: argparse.Namespace) -> int:
    from dynajit.trace.report import ReportError, write_report

    try:
        report = write_report(args.trace_dir, args.out)
    except ReportError as e:
        print(f"dynajit report: error: {e}", file=sys.stderr)
        return 1
    trace = report.trace
    skipped = ""
    if trace.malformed_count:
        skipped = f", {trace.malformed_count} unreadable line(s) skipped"
    print(f"wrote {report.index} ({len(trace.frames)} frame(s), {len(trace.compiles)} compile(s), "
          f"{len(trace.logs)} log file(s){skipped})")
    return 0


def _add_report(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="write a static HTML report of a structured trace",
        description="Write a self-contained static HTML report (index of compiles by frame, one "
                    "page per compile, user source pages) from every *.log in TRACE_DIR, the "
                    "directory DYNAJIT_TRACE pointed at.")
    p.add_argument("trace_dir", metavar="TRACE_DIR", help="trace directory (or one log file)")
    p.add_argument("-o", "--out", metavar="OUT", default="dynajit_report",
                   help="output directory (default: ./dynajit_report); an earlier report "
                        "there is replaced")
    p.set_defaults(run=_run_report)


def _run_explain(args: argparse.Namespace) -> int:
    from dynajit.trace.explain import run_script, summarize

    if not os.path.isfile(args.script):
        print(f"dynajit explain: error: cannot open file {args.script!r}", file=sys.stderr)
        return 2
    status, collector = run_script(args.script, args.args)
    summary = summarize(collector.compiles(), collector.errors, args.top)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(summary + "\n")
    else:
        sys.stdout.flush()
        print(summary, file=sys.stderr)
    return status


def _add_explain(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explain", help="run a script and summarize its graph breaks",
        description="Run SCRIPT (as `python SCRIPT ARGS...` would, every @dynajit.compile "
                    "function active) and then print, on stderr, a graph-break summary: each "
                    "site (file:line) ranked by how many breaks it had, with the reason and "
                    "what to change. The exit status is the script's.")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the summary to FILE instead of stderr")
    p.add_argument("--top", type=int, metavar="N", help="show only the N most frequent sites")
    p.add_argument("script", metavar="SCRIPT", help="the Python script to run")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="the script's arguments")
    p.set_defaults(run=_run_explain)


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_add_report,
                                                                       _add_explain)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command: ``main(["report", "/tmp/trace", "-o", "out"])``."""
    parser = argparse.ArgumentParser(prog="python -m dynajit",
                                     description="dynajit command-line tools")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(subparsers)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
