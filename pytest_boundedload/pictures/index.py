"""``index.html`` in the report directory: every test with pictures or a flamegraph, its
figures, and links to its files. Written once, at the end of the session, by the process
that collects the reports (the xdist controller under xdist)."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pytest

from ..baseline.store import write_atomically
from ..measure.measurement import format_figure
from ..outcome import decode
from .files import stem

__all__ = ["FIGURES", "INDEX", "IndexWriter"]

INDEX = "index.html"
FIGURES = (
    "peak_rss",
    "rss_growth",
    "heap_peak",
    "max_in_flight",
    "max_tasks",
    "max_held",
    "max_requests",
    "max_threads",
)
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
.failed { color: #b00020; font-weight: bold; }
img { max-width: 48em; display: block; margin: 0.5em 0 1.5em; border: 1px solid #ddd; }
"""


class IndexWriter:
    """A plugin: keeps each measured test's figures from its call report, and writes the
    index at the end of the session."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tests: dict[str, tuple[str, dict[str, object], tuple[str, ...]]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.failed and report.nodeid not in self.tests):
            outcome = decode(report.user_properties)
            figures = outcome.measurement.to_dict() if outcome.measurement is not None else {}
            if figures or outcome.violations or report.failed:
                self.tests[report.nodeid] = (report.outcome, figures, outcome.violations)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        files = sorted(os.listdir(self.directory)) if self.directory.is_dir() else []
        rows, sections = [], []
        for nodeid in sorted(self.tests):
            result, figures, violations = self.tests[nodeid]
            prefix = stem(nodeid) + "."
            own = [name for name in files if name.startswith(prefix)]
            if not own:
                continue
            anchor = html.escape(stem(nodeid), quote=True)
            cells = "".join(f"<td>{_figure(name, figures)}</td>" for name in FIGURES)
            status = f'<span class="failed">{result}</span>' if result == "failed" else result
            rows.append(
                f'<tr><td><a href="#{anchor}">{html.escape(nodeid)}</a></td><td>{status}</td>{cells}</tr>'
            )
            sections.append(_section(nodeid, anchor, violations, own))
        header = "".join(f"<th>{name}</th>" for name in ("test", "outcome", *FIGURES))
        body = ["<h1>pytest-boundedload report</h1>"]
        if rows:
            body += [f"<table><tr>{header}</tr>", *rows, "</table>", *sections]
        else:
            body.append("<p>No test left a picture or a flamegraph.</p>")
        head = f'<meta charset="utf-8"><title>boundedload report</title><style>{_STYLE}</style>'
        write_atomically(
            self.directory / INDEX,
            f"<!doctype html><html><head>{head}</head><body>{''.join(body)}</body></html>\n",
        )


def _figure(name: str, figures: dict[str, object]) -> str:
    value = figures.get(name)
    return html.escape(format_figure(name, value)) if isinstance(value, int) else ""


def _section(nodeid: str, anchor: str, violations: tuple[str, ...], files: list[str]) -> str:
    parts = [f'<h2 id="{anchor}">{html.escape(nodeid)}</h2>']
    if violations:
        parts.append("<pre>" + html.escape("\n".join(violations)) + "</pre>")
    links = []
    for name in files:
        link = html.escape(name, quote=True)
        if name.endswith(".png"):
            parts.append(f'<img src="{link}" alt="{link}">')
        else:
            links.append(f'<li><a href="{link}">{html.escape(name)}</a></li>')
    if links:
        parts.append(f"<ul>{''.join(links)}</ul>")
    return "".join(parts)
