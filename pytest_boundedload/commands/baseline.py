"""``boundedload baseline``: read and compare baseline files, summarise JSON reports.

- ``show [FILE]``: the figures of a baseline, one table per platform.
- ``diff OLD NEW``: two baselines test by test with the gate's tolerances, for reviewing
  a baseline change in a pull request; exit 1 when a figure grew over its tolerance.
- ``summary REPORT``: a ``--boundedload-json`` report as a Markdown table, for a CI job
  summary (:mod:`.summary`).

Exit status: 0 fine; 1 the answer is no (``show``: no baseline at the path; ``diff``: a
regression); 2 the input cannot be used (a corrupt file, a bad tolerance, an unknown
platform). Errors are one ``boundedload: ...`` line on stderr, never a traceback.

Also runnable on its own, without the ``baseline`` word:
``python -m pytest_boundedload.cli_baseline summary boundedload-report.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..baseline.compare import DEFAULT_TOLERANCES, compare, parse_tolerance, range_text
from ..baseline.store import (
    COMPARED,
    DEFAULT_PATH,
    WORKLOAD,
    Baseline,
    BaselineError,
    figure_range,
    platform_key,
)
from ..measure.measurement import format_figure
from ..table import Column, render_table
from ..units import InvalidValue
from .common import CommandError, plural
from .summary import add_summary_parser, summarize

__all__ = ["add_parser", "main", "run"]

_EPILOG = (
    "Exit status: 0 fine; 1 no baseline at FILE (show) or a figure over its tolerance (diff);"
    " 2 a file or argument that cannot be used."
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``baseline`` command (``show``, ``diff``, ``summary``) to ``boundedload``."""
    parser = commands.add_parser(
        "baseline",
        help="show or compare baseline files, summarise a JSON report",
        description="Read baseline files (--boundedload-save) and JSON reports (--boundedload-json).",
        epilog=_EPILOG,
    )
    _add_commands(parser)


def _add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="baseline_command", required=True, metavar="COMMAND")
    show = commands.add_parser(
        "show",
        help="print the figures of a baseline file",
        description="Print the figures of a baseline file: one table per platform, sorted by test id.",
        epilog=_EPILOG,
    )
    show.add_argument(
        "file", nargs="?", default=DEFAULT_PATH, metavar="FILE", help="the baseline (default: %(default)s)"
    )
    show.add_argument("--platform", metavar="KEY", help="only this platform (default: every one in FILE)")
    diff = commands.add_parser(
        "diff",
        help="compare two baseline files; exit 1 when a figure grew over its tolerance",
        description=(
            "Compare the tests present in both OLD and NEW, figure by figure, with the tolerances of"
            " --boundedload-compare, and list the tests only in NEW (new) and only in OLD (gone)."
            f" Platform: --platform, else this one ({platform_key()}) when both files have it,"
            " else every platform both have, else every platform either has."
        ),
        epilog=_EPILOG,
    )
    diff.add_argument("old", metavar="OLD", help="the baseline before, e.g. the one on the main branch")
    diff.add_argument("new", metavar="NEW", help="the baseline after")
    diff.add_argument(
        "--tolerance",
        metavar="TEXT",
        help=(
            "how much a figure may grow: '10%%+1MiB' for sizes, or per metric,"
            " 'max_tasks:0,rss_growth:15%%+2MiB' (default: 10%% plus 1 MiB for sizes, exact for counts)"
        ),
    )
    diff.add_argument("--platform", metavar="KEY", help="compare this platform only")
    diff.add_argument("--all", action="store_true", help="also list the figures that did not change")
    add_summary_parser(commands)


def run(args: argparse.Namespace) -> int:
    """Run the ``baseline`` command that ``args`` names; returns the exit status."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "show": _show,
        "diff": _diff,
        "summary": summarize,
    }
    try:
        return handlers[args.baseline_command](args)
    except CommandError as failure:
        print(f"boundedload: {failure}", file=sys.stderr)
        return failure.code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pytest_boundedload.cli_baseline COMMAND ...``: the ``baseline`` command alone."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_boundedload.cli_baseline",
        description="The 'boundedload baseline' command: show, diff, summary.",
        epilog=_EPILOG,
    )
    _add_commands(parser)
    return run(parser.parse_args(argv))


# --- show and diff ---------------------------------------------------------------------


def _load(path: Path, *, missing: int) -> Baseline:
    try:
        baseline = Baseline.load(path)
    except BaselineError as exc:
        raise CommandError(2, str(exc)) from None
    # Baseline.load reads a missing file as an empty baseline (what the gate wants); here
    # a missing file is most likely a wrong path.
    if not baseline.platforms and not path.exists():
        raise CommandError(missing, f"no baseline at {path}")
    return baseline


def _figure(metric: str, value: int | None) -> str:
    return "-" if value is None else format_figure(metric, value)


def _recorded(metric: str, figures: dict[str, Any]) -> str:
    """A figure of an entry as recorded: ``-``, ``20`` or the range ``4932..4952``."""
    recorded = figure_range(figures, metric)
    return "-" if recorded is None else range_text(metric, *recorded)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned columns under a rule: the first ``left`` ones to the left, the others to
    the right."""
    columns = [Column(title, "<" if i < left else ">") for i, title in enumerate(header)]
    return render_table(columns, rows, rule=True)


def _show(args: argparse.Namespace) -> int:
    path = Path(args.file)
    platforms = _load(path, missing=1).platforms
    if args.platform is not None:
        if args.platform not in platforms:
            known = _keys(platforms)
            raise CommandError(2, f"baseline {path} has no platform {args.platform!r} (it has: {known})")
        platforms = {args.platform: platforms[args.platform]}
    if not any(platforms.values()):
        which = f" for {args.platform}" if args.platform is not None else ""
        print(f"baseline {path} holds no tests{which}")
        return 0
    lines: list[str] = []
    for key in sorted(platforms):
        tests = platforms[key]
        if lines:
            lines.append("")
        lines.append(f"{key}: {plural(len(tests), 'test')}")
        rows = [
            [nodeid, str(figures.get(WORKLOAD, "-")), *(_recorded(metric, figures) for metric in COMPARED)]
            for nodeid, figures in sorted(tests.items())
        ]
        lines.extend(_table(["test", "N", *COMPARED], rows))
    print("\n".join(lines))
    return 0


def _keys(platforms: dict[str, Any]) -> str:
    return ", ".join(sorted(platforms)) or "none"


def _diff_platforms(old: Baseline, new: Baseline, wanted: str | None) -> list[str]:
    if wanted is not None:
        if wanted not in old.platforms and wanted not in new.platforms:
            raise CommandError(
                2,
                f"neither baseline has platform {wanted!r} ({old.path} has: {_keys(old.platforms)};"
                f" {new.path} has: {_keys(new.platforms)})",
            )
        return [wanted]
    here = platform_key()
    if here in old.platforms and here in new.platforms:
        return [here]
    both = set(old.platforms) & set(new.platforms)
    return sorted(both or set(old.platforms) | set(new.platforms))


def _diff(args: argparse.Namespace) -> int:
    tolerances = dict(DEFAULT_TOLERANCES)
    if args.tolerance is not None:
        try:
            tolerances = parse_tolerance(args.tolerance, "from --tolerance")
        except InvalidValue as exc:
            raise CommandError(2, str(exc)) from None
    old = _load(Path(args.old), missing=2)
    new = _load(Path(args.new), missing=2)
    lines: list[str] = []
    compared = regressed_tests = regressed_figures = 0
    for key in _diff_platforms(old, new, args.platform):
        before, after = old.platforms.get(key, {}), new.platforms.get(key, {})
        common = sorted(set(before) & set(after))
        added = sorted(set(after) - set(before))
        gone = sorted(set(before) - set(after))
        rows: list[list[str]] = []
        platform_regressed = 0
        for nodeid in common:
            deltas = compare(before[nodeid], after[nodeid], tolerances)
            platform_regressed += any(d.regressed for d in deltas)
            regressed_figures += sum(d.regressed for d in deltas)
            rows.extend(
                [
                    nodeid,
                    d.metric,
                    d.recorded,
                    _recorded(d.metric, after[nodeid]),
                    d.change,
                    d.rule or d.tolerance,
                    "regressed" if d.regressed else "ok",
                ]
                for d in deltas
                if args.all or figure_range(after[nodeid], d.metric) != figure_range(before[nodeid], d.metric)
            )
        compared += len(common)
        regressed_tests += platform_regressed
        if lines:
            lines.append("")
        where = "in both" if key in old.platforms and key in new.platforms else _only(key, old, new)
        lines.append(
            f"{key} ({where}): {plural(len(common), 'test')} compared, {platform_regressed} regressed,"
            f" {len(added)} new, {len(gone)} gone"
        )
        if rows:
            header = ["test", "metric", "old", "new", "change", "tolerance", "verdict"]
            lines.extend(_table(header, rows, left=2))
        elif common:
            lines.append("no figure changed")
        lines.extend(f"new   {nodeid}" for nodeid in added)
        lines.extend(f"gone  {nodeid}" for nodeid in gone)
    if lines:
        lines.append("")
    if regressed_tests:
        lines.append(
            f"{plural(regressed_tests, 'test')} regressed ({plural(regressed_figures, 'figure')}"
            " over tolerance)"
        )
    else:
        lines.append(f"no regression ({plural(compared, 'test')} compared)")
    print("\n".join(lines))
    return 1 if regressed_tests else 0


def _only(key: str, old: Baseline, new: Baseline) -> str:
    return f"only in {old.path}" if key in old.platforms else f"only in {new.path}"


if __name__ == "__main__":
    sys.exit(main())
