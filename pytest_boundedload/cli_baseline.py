"""``boundedload baseline``: read and compare baseline files, summarise JSON reports.

- ``show [FILE]``: the figures of a baseline, one table per platform.
- ``diff OLD NEW``: two baselines test by test with the gate's tolerances, for reviewing
  a baseline change in a pull request; exit 1 when a figure grew over its tolerance.
- ``summary REPORT``: a ``--boundedload-json`` report as a Markdown table, for a CI job
  summary.

Exit status: 0 fine; 1 the answer is no (``show``: no baseline at the path; ``diff``: a
regression); 2 the input cannot be used (a corrupt file, a bad tolerance, an unknown
platform). Errors are one ``boundedload: ...`` line on stderr, never a traceback.

Also runnable on its own, without the ``baseline`` word:
``python -m pytest_boundedload.cli_baseline summary boundedload-report.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .baseline import (
    COMPARED,
    DEFAULT_PATH,
    DEFAULT_TOLERANCES,
    SIZES,
    Baseline,
    BaselineError,
    Delta,
    compare,
    parse_tolerance,
    platform_key,
)
from .units import InvalidValue, format_size

__all__ = ["add_parser", "main", "run"]

REPORT_SCHEMA_VERSION = 1

_EPILOG = (
    "Exit status: 0 fine; 1 no baseline at FILE (show) or a figure over its tolerance (diff);"
    " 2 a file or argument that cannot be used."
)


class _Failure(Exception):
    """Ends the command with ``boundedload: MESSAGE`` on stderr and exit status ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


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
    summary = commands.add_parser(
        "summary",
        help="print a JSON report as a Markdown table (e.g. for $GITHUB_STEP_SUMMARY)",
        description=(
            "Print the JSON report of 'pytest --boundedload-json=REPORT' as Markdown: one row per"
            " measured test (outcome, RSS growth, max tasks, max in flight, baseline regressions),"
            " then the limits crossed."
        ),
        epilog="Exit status: 0 printed; 2 REPORT cannot be read.",
    )
    summary.add_argument("report", metavar="REPORT", help="the JSON report")


def run(args: argparse.Namespace) -> int:
    """Run the ``baseline`` command that ``args`` names; returns the exit status."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "show": _show,
        "diff": _diff,
        "summary": _summary,
    }
    try:
        return handlers[args.baseline_command](args)
    except _Failure as failure:
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
        raise _Failure(2, str(exc)) from None
    # Baseline.load reads a missing file as an empty baseline (what the gate wants); here
    # a missing file is most likely a wrong path.
    if not baseline.platforms and not path.exists():
        raise _Failure(missing, f"no baseline at {path}")
    return baseline


def _figure(metric: str, value: int | None) -> str:
    if value is None:
        return "-"
    return format_size(value) if metric in SIZES else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned columns: the first ``left`` ones to the left, the others to the right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), "-" * len(line(header)), *(line(row) for row in rows)]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _show(args: argparse.Namespace) -> int:
    path = Path(args.file)
    platforms = _load(path, missing=1).platforms
    if args.platform is not None:
        if args.platform not in platforms:
            known = _keys(platforms)
            raise _Failure(2, f"baseline {path} has no platform {args.platform!r} (it has: {known})")
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
        lines.append(f"{key}: {_plural(len(tests), 'test')}")
        rows = [
            [nodeid, *(_figure(metric, figures.get(metric)) for metric in COMPARED)]
            for nodeid, figures in sorted(tests.items())
        ]
        lines.extend(_table(["test", *COMPARED], rows))
    print("\n".join(lines))
    return 0


def _keys(platforms: dict[str, Any]) -> str:
    return ", ".join(sorted(platforms)) or "none"


def _diff_platforms(old: Baseline, new: Baseline, wanted: str | None) -> list[str]:
    if wanted is not None:
        if wanted not in old.platforms and wanted not in new.platforms:
            raise _Failure(
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


def _change(delta: Delta) -> str:
    if delta.percent is not None:
        return f"{delta.percent:+.1f}%"
    return "+0.0%" if delta.new == 0 else "from 0"


def _tolerance(delta: Delta) -> str:
    # Tolerance.__str__ shows the absolute part as a size, which reads wrong for counts.
    tolerance = delta.tolerance
    if delta.metric in SIZES:
        return str(tolerance)
    parts = [f"{tolerance.relative * 100:g}%"] if tolerance.relative else []
    if tolerance.absolute or not parts:
        parts.append(str(tolerance.absolute))
    return "+".join(parts)


def _diff(args: argparse.Namespace) -> int:
    tolerances = dict(DEFAULT_TOLERANCES)
    if args.tolerance is not None:
        try:
            tolerances = parse_tolerance(args.tolerance, "from --tolerance")
        except InvalidValue as exc:
            raise _Failure(2, str(exc)) from None
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
                    _figure(d.metric, d.old),
                    _figure(d.metric, d.new),
                    _change(d),
                    _tolerance(d),
                    "regressed" if d.regressed else "ok",
                ]
                for d in deltas
                if args.all or d.new != d.old
            )
        compared += len(common)
        regressed_tests += platform_regressed
        if lines:
            lines.append("")
        where = "in both" if key in old.platforms and key in new.platforms else _only(key, old, new)
        lines.append(
            f"{key} ({where}): {_plural(len(common), 'test')} compared, {platform_regressed} regressed,"
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
            f"{_plural(regressed_tests, 'test')} regressed ({_plural(regressed_figures, 'figure')}"
            " over tolerance)"
        )
    else:
        lines.append(f"no regression ({_plural(compared, 'test')} compared)")
    print("\n".join(lines))
    return 1 if regressed_tests else 0


def _only(key: str, old: Baseline, new: Baseline) -> str:
    return f"only in {old.path}" if key in old.platforms else f"only in {new.path}"


# --- summary ---------------------------------------------------------------------------


def _read_report(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise _Failure(2, f"report {path} is a directory, not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Failure(2, f"no report at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _Failure(2, f"report {path} cannot be read: {why}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _Failure(2, f"report {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise _Failure(2, f'report {path} is not a pytest-boundedload JSON report (no "tests" list)')
    if data.get("schema") != REPORT_SCHEMA_VERSION:
        raise _Failure(
            2,
            f"report {path} has schema version {data.get('schema')!r};"
            f" this version of pytest-boundedload reads version {REPORT_SCHEMA_VERSION}",
        )
    for i, test in enumerate(data["tests"]):
        if not isinstance(test, dict) or not isinstance(test.get("nodeid"), str):
            raise _Failure(2, f'report {path}: test #{i + 1} is not an object with a "nodeid"')
    return data


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _measured(test: dict[str, Any], metric: str, limit: str) -> str:
    value = _dict(test.get("measurement")).get(metric)
    if not isinstance(value, int) or isinstance(value, bool):
        return "-"
    shown = _figure(metric, value)
    bound = _dict(test.get("limits")).get(limit)
    if isinstance(bound, int) and not isinstance(bound, bool):
        shown += f" (limit {_figure(metric, bound)})"
    return shown


def _regressed(test: dict[str, Any]) -> list[dict[str, Any]]:
    deltas = _dict(test.get("baseline")).get("deltas")
    if not isinstance(deltas, list):
        return []
    return [d for d in deltas if isinstance(d, dict) and d.get("regressed")]


def _regression_text(delta: dict[str, Any]) -> str:
    metric = str(delta.get("metric"))
    old, new, percent = delta.get("old"), delta.get("new"), delta.get("percent")

    def show(value: object) -> str:
        return _figure(metric, value) if isinstance(value, int) else str(value)

    change = f"{percent:+.1f}%" if isinstance(percent, (int, float)) else "from 0"
    return f"{metric} {show(old)} -> {show(new)} ({change}, over {delta.get('tolerance')})"


def _summary(args: argparse.Namespace) -> int:
    path = Path(args.report)
    data = _read_report(path)
    tests: list[dict[str, Any]] = data["tests"]
    failed = [t for t in tests if t.get("outcome") == "failed"]
    regressed = [t for t in tests if _regressed(t)]
    fresh = [t for t in tests if _dict(t.get("baseline")).get("status") == "new"]
    platform = data.get("platform")
    lines = ["### pytest-boundedload", ""]
    on = f" on {_code(str(platform))}" if platform else ""
    if not tests:
        lines.append(f"No measured tests{on}.")
        print("\n".join(lines))
        return 0
    lines.append(
        f"{_plural(len(tests), 'measured test')}{on}: {len(failed)} failed,"
        f" {len(regressed)} regressed against the baseline, {len(fresh)} new (no baseline entry)."
    )
    lines.extend(["", "| test | outcome | rss growth | max tasks | max in flight | regressions |"])
    lines.append("|---|---|---:|---:|---:|---|")
    # Problems first: in a long suite the rows that matter must not sit below the fold.
    ordered = sorted(tests, key=lambda t: not (t.get("outcome") == "failed" or _regressed(t)))
    for test in ordered:
        outcome = str(test.get("outcome", "-"))
        status = _dict(test.get("baseline")).get("status")
        if _regressed(test):
            regressions = "<br>".join(_regression_text(d) for d in _regressed(test))
        elif status == "new":
            regressions = "new (no baseline entry)"
        elif status == "compared":
            regressions = "none"
        else:
            regressions = "-"
        cells = [
            _code(test["nodeid"]),
            f"**{outcome}**" if outcome == "failed" else outcome,
            _measured(test, "rss_growth", "max_rss_growth"),
            _measured(test, "max_tasks", "max_tasks"),
            _measured(test, "max_in_flight", "max_in_flight"),
            regressions,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    crossed = [
        (test["nodeid"], str(line))
        for test in tests
        if isinstance(test.get("violations"), list)
        for line in test["violations"]
    ]
    if crossed:
        lines.extend(["", "**Limits crossed**", ""])
        lines.extend(f"- {_code(nodeid)}: {_code(line)}" for nodeid, line in crossed)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
