"""The baseline gate of a session: compare each test to the baseline, save, report.

Workers of pytest-xdist read the baseline to compare their tests but never write it:
the figures of every test travel to the controller with the reports, and the
controller (or a serial run) writes the baseline and the JSON report once, at the end,
so a crashed worker loses only the test it was running.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from .baseline import (
    SIZES,
    Baseline,
    BaselineError,
    Delta,
    Tolerance,
    compare,
    platform_key,
    regressions,
    save_merged,
    write_atomically,
)
from .properties import Decoded
from .units import format_size

__all__ = ["BaselineGate", "GateSettings"]

JSON_SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class GateSettings:
    """The baseline and report options after validation."""

    path: Path
    save: bool = False
    compare: bool = False
    prune: bool = False
    tolerances: dict[str, Tolerance] = dataclasses.field(default_factory=dict)
    json_path: Path | None = None


class BaselineGate:
    """Per-session baseline state. ``writer`` is False in xdist workers."""

    def __init__(self, settings: GateSettings, *, writer: bool) -> None:
        self.settings = settings
        self.writer = writer
        self.baseline: Baseline | None = None
        if settings.save or settings.compare:
            try:
                self.baseline = Baseline.load(settings.path)
            except BaselineError as exc:
                # Also stops --boundedload-save from overwriting a file that is not ours.
                raise pytest.UsageError(f"boundedload: {exc}") from None
        self._entries = self.baseline.entries() if self.baseline is not None else {}
        self.results: dict[str, tuple[str, Decoded]] = {}  # nodeid -> (outcome, figures)
        self._seen: set[str] = set()

    def check(self, nodeid: str, figures: dict[str, Any]) -> tuple[str | None, list[Delta]]:
        """("new" | "compared" | None, deltas) of one test against the baseline."""
        if not self.settings.compare:
            return None, []
        old = self._entries.get(nodeid)
        if old is None:
            return "new", []
        return "compared", compare(old, figures, self.settings.tolerances)

    def record(self, report: pytest.TestReport, decoded: Decoded) -> None:
        """Keep a call-phase report's figures for the baseline and the JSON report."""
        if self.writer and (decoded.measurement is not None or decoded.violations):
            self.results[report.nodeid] = (report.outcome, decoded)

    def seen(self, nodeid: str) -> None:
        """A report of ``nodeid`` arrived: the test ran, whether or not it has figures."""
        self._seen.add(nodeid)

    def finish(self) -> None:
        """Write the baseline (``--boundedload-save``) and the JSON report, once."""
        if not self.writer:
            return
        if self.settings.save and self.baseline is not None:
            measured = {
                nodeid: decoded.measurement.to_dict()
                for nodeid, (_, decoded) in self.results.items()
                if decoded.measurement is not None
            }
            # --boundedload-prune drops the tests that did not run at all; a test that ran
            # but left no figures (its worker crashed) keeps its entry.
            keep = self._seen if self.settings.prune else None
            try:
                save_merged(self.settings.path, measured, keep=keep)
            except BaselineError as exc:
                raise pytest.UsageError(f"boundedload: {exc}") from None
        if self.settings.json_path is not None:
            write_atomically(
                self.settings.json_path, json.dumps(self.report(), indent=2, sort_keys=True) + "\n"
            )

    def report(self) -> dict[str, Any]:
        """The JSON report: every measured test with figures, limits, violations, deltas."""
        tests = []
        for nodeid in sorted(self.results):
            outcome, decoded = self.results[nodeid]
            tests.append(
                {
                    "nodeid": nodeid,
                    "outcome": outcome,
                    "measurement": decoded.measurement.to_dict() if decoded.measurement else None,
                    "limits": decoded.limits,
                    "violations": decoded.violations,
                    "baseline": {"status": decoded.baseline, "deltas": decoded.deltas},
                }
            )
        return {"schema": JSON_SCHEMA_VERSION, "platform": platform_key(), "tests": tests}

    def summary_lines(self) -> list[str]:
        """Regressions and new tests, for the terminal summary."""
        if not self.settings.compare:
            return []
        lines = []
        regressed = [
            (nodeid, delta)
            for nodeid, (_, decoded) in sorted(self.results.items())
            for delta in decoded.deltas
            if delta.get("regressed")
        ]
        if regressed:
            lines.append(f"{'metric':<18} {'baseline':>12} {'now':>12} {'change':>8}  test")
            for nodeid, delta in regressed:
                show = format_size if delta["metric"] in SIZES else str
                change = "new" if delta["percent"] is None else f"{delta['percent']:+.1f}%"
                old, new = show(delta["old"]), show(delta["new"])
                lines.append(f"{delta['metric']:<18} {old:>12} {new:>12} {change:>8}  {nodeid}")
        fresh = [nodeid for nodeid, (_, decoded) in sorted(self.results.items()) if decoded.baseline == "new"]
        lines.extend(f"new (no baseline entry): {nodeid}" for nodeid in fresh)
        if not lines:
            lines.append(f"no regressions against {self.settings.path}")
        return lines


def failure_lines(deltas: list[Delta]) -> list[str]:
    """The failure message lines of the regressed deltas."""
    return [f"baseline regression: {delta}" for delta in regressions(deltas)]
