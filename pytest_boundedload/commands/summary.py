"""``boundedload baseline summary REPORT``: a ``--boundedload-json`` report as Markdown.

One row per measured test (outcome, RSS growth, max tasks, max in flight, baseline
regressions), problems first, then the limits crossed; for a CI job summary such as
``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..baseline.compare import regression_text
from ..jsonfile import Unreadable, read_json
from ..measure.measurement import format_figure
from .common import CommandError, plural

__all__ = ["REPORT_SCHEMA_VERSION", "add_summary_parser", "summarize"]

REPORT_SCHEMA_VERSION = 1


def add_summary_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``summary REPORT`` to the ``baseline`` command."""
    parser = commands.add_parser(
        "summary",
        help="print a JSON report as a Markdown table (e.g. for $GITHUB_STEP_SUMMARY)",
        description=(
            "Print the JSON report of 'pytest --boundedload-json=REPORT' as Markdown: one row per"
            " measured test (outcome, RSS growth, max tasks, max in flight, baseline regressions),"
            " then the limits crossed."
        ),
        epilog="Exit status: 0 printed; 2 REPORT cannot be read.",
    )
    parser.add_argument("report", metavar="REPORT", help="the JSON report")


def _read_report(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path, "report")
    except Unreadable as exc:
        raise CommandError(2, str(exc)) from None
    if data is None:
        raise CommandError(2, f"no report at {path}")
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise CommandError(2, f'report {path} is not a pytest-boundedload JSON report (no "tests" list)')
    if data.get("schema") != REPORT_SCHEMA_VERSION:
        raise CommandError(
            2,
            f"report {path} has schema version {data.get('schema')!r};"
            f" this version of pytest-boundedload reads version {REPORT_SCHEMA_VERSION}",
        )
    for i, test in enumerate(data["tests"]):
        if not isinstance(test, dict) or not isinstance(test.get("nodeid"), str):
            raise CommandError(2, f'report {path}: test #{i + 1} is not an object with a "nodeid"')
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
    shown = format_figure(metric, value)
    bound = _dict(test.get("limits")).get(limit)
    if isinstance(bound, int) and not isinstance(bound, bool):
        shown += f" (limit {format_figure(metric, bound)})"
    return shown


def _regressed(test: dict[str, Any]) -> list[dict[str, Any]]:
    deltas = _dict(test.get("baseline")).get("deltas")
    if not isinstance(deltas, list):
        return []
    return [d for d in deltas if isinstance(d, dict) and d.get("regressed")]


def _regression_text(delta: dict[str, Any]) -> str:
    low = delta.get("low")
    return regression_text(
        str(delta.get("metric")),
        delta.get("old"),
        delta.get("new"),
        str(delta.get("tolerance")),
        brief=True,
        low=None if low == delta.get("old") else low,
        rule=str(delta.get("rule") or ""),
    )


def summarize(args: argparse.Namespace) -> int:
    """``boundedload baseline summary REPORT``: print the report as Markdown."""
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
        f"{plural(len(tests), 'measured test')}{on}: {len(failed)} failed,"
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
