"""The ``boundedload`` command: its parser, and which command each word runs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..isolate.capped import cap_kind
from ..isolate.method import CAP_METHOD_ENV, cap_method
from ..paths import output_file
from ..units import InvalidValue, parse_count, parse_duration, parse_size
from . import baseline
from .calibrate import calibrate, format_calibration
from .demo import PATTERNS, PROCESS_SCALE, START_HEADROOM, THREAD_SCALE, DemoSettings, run_demo

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boundedload",
        description="Flood code with synthetic tasks and see what its concurrency bounds.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="flood every reference fix and anti-pattern in a capped child and compare them",
        description=(
            "Floods each fix and anti-pattern in its own child process under a hard memory cap"
            " and prints one table: max in flight, max tasks, max threads, max processes,"
            " max items held, RSS growth, children's peak RSS, time and verdict."
        ),
        epilog=(
            "Threads and processes cost far more to start than coroutines, so with a short"
            f" latency a thread per task never has many alive at once. Thread rows use n/{THREAD_SCALE[0]}"
            f" tasks and process rows n/{PROCESS_SCALE[0]}, each holding at least"
            f" {THREAD_SCALE[1] * 1000:g} ms and {PROCESS_SCALE[1] * 1000:g} ms; the rows that start one"
            " per task hold each long enough for all of them to be alive at once on an idle machine"
            f" ({START_HEADROOM:g} x their number x the start cost measured when the demo begins);"
            " on a busy one fewer overlap, still far more than a bounded row has, so the verdicts"
            " do not change. A pattern is"
            " 'unbounded' when a count (in flight, tasks, threads, processes, items held) exceeds"
            " 2 x limit + 2,"
            " or when the cap stopped it. The cap is a memory cgroup where this process may make one,"
            " else RLIMIT_DATA."
        ),
    )
    defaults = DemoSettings()
    demo.add_argument("--n", default=str(defaults.n), help="tasks per pattern (default: %(default)s)")
    demo.add_argument(
        "--payload", default="16 KiB", help="bytes each task holds in flight (default: %(default)s)"
    )
    demo.add_argument("--latency", default="1ms", help="how long each task waits (default: %(default)s)")
    demo.add_argument(
        "--limit", default=str(defaults.limit), help="concurrency limit of the fixes (default: %(default)s)"
    )
    demo.add_argument("--cap", default="2 GiB", help="hard memory cap per pattern (default: %(default)s)")
    demo.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated patterns to run (default: all of " + ", ".join(p.name for p in PATTERNS) + ")",
    )
    demo.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    calibrate = commands.add_parser(
        "calibrate",
        help="measure what this machine lets a flood test see (thread and process start costs)",
        description="Measures thread and process start costs, the per-task cost of measuring, and"
        " whether the exact kernel peak and memory cgroups are available; prints the latency a"
        " flood's tasks need for N of them to overlap.",
    )
    calibrate.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    baseline.add_parser(commands)
    return parser


def _cap_kind(parser: argparse.ArgumentParser) -> str:
    """The cap the demo's children get and the calibration reports, as BOUNDEDLOAD_CAP
    asks: checked before anything runs, like the plugin does at start-up."""
    try:
        return cap_kind(cap_method())
    except ValueError as exc:
        parser.error(str(exc))
    except RuntimeError as exc:
        parser.error(f"invalid {CAP_METHOD_ENV}='cgroup' from the environment: {exc}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``boundedload`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "json", None) is not None:
        # Checked before the demo or the calibration runs, not when they are done.
        try:
            args.json = output_file(args.json, "json", "from --json", Path.cwd())
        except InvalidValue as exc:
            parser.error(str(exc))
    if args.command == "baseline":
        return baseline.run(args)
    cap = _cap_kind(parser)
    if args.command == "calibrate":
        figures = calibrate(cap=cap)
        print(format_calibration(figures))
        if args.json is not None:
            args.json.write_text(json.dumps(figures.to_dict(), indent=2, sort_keys=True) + "\n")
        return 0
    if args.command == "demo":
        try:
            settings = DemoSettings(
                n=parse_count(args.n, key="n", source="from --n"),
                payload=parse_size(args.payload, key="payload", source="from --payload", allow_zero=True),
                latency=parse_duration(args.latency, key="latency", source="from --latency"),
                limit=parse_count(args.limit, key="limit", source="from --limit"),
                cap=parse_size(args.cap, key="cap", source="from --cap"),
            )
        except InvalidValue as exc:
            parser.error(str(exc))
        patterns = PATTERNS
        if args.only is not None:
            wanted = [name.strip() for name in args.only.split(",") if name.strip()]
            known = {p.name: p for p in PATTERNS}
            unknown = [name for name in wanted if name not in known]
            if unknown or not wanted:
                parser.error(
                    f"invalid --only={args.only!r}: unknown pattern {', '.join(unknown) or '(none given)'}"
                    f" (known: {', '.join(known)})"
                )
            patterns = tuple(known[name] for name in wanted)
        run_demo(settings, json_path=args.json, patterns=patterns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
