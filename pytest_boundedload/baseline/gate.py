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
from typing import TYPE_CHECKING, Any

import pytest

from ..measure.measurement import format_figure
from .compare import Delta, Tolerance, compare
from .store import Baseline, BaselineError, SaveCounts, platform_key, save_merged, write_atomically

if TYPE_CHECKING:
    from ..outcome import Outcome

__all__ = ["BaselineGate", "GateSettings"]

JSON_SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class GateSettings:
    """The baseline and report options after validation."""

    path: Path
    save: bool = False
    compare: bool = False
    prune: bool = False
    allow_missing: bool = False
    tolerances: dict[str, Tolerance] = dataclasses.field(default_factory=dict)
    json_path: Path | None = None


class BaselineGate:
    """Per-session baseline state. ``writer`` is False in xdist workers."""

    def __init__(self, settings: GateSettings, *, writer: bool) -> None:
        self.settings = settings
        self.writer = writer
        self.baseline: Baseline | None = None
        if settings.compare and not (settings.save or settings.allow_missing) and not settings.path.exists():
            raise pytest.UsageError(
                f"boundedload: --boundedload-compare: no baseline at {settings.path}; save one first"
                " (--boundedload-save), or pass --boundedload-allow-missing for a first run"
            )
        if settings.save or settings.compare:
            try:
                self.baseline = Baseline.load(settings.path)
            except BaselineError as exc:
                # Also stops --boundedload-save from overwriting a file that is not ours.
                raise pytest.UsageError(f"boundedload: {exc}") from None
        self._entries = self.baseline.entries() if self.baseline is not None else {}
        self.results: dict[str, tuple[str, Outcome]] = {}  # nodeid -> (pytest outcome, verdict)
        self.saved: SaveCounts | None = None
        self._seen: set[str] = set()

    def check(self, nodeid: str, figures: dict[str, Any]) -> tuple[str | None, list[Delta]]:
        """("new" | "compared" | None, deltas) of one test against the baseline."""
        if not self.settings.compare:
            return None, []
        old = self._entries.get(nodeid)
        if old is None:
            return "new", []
        return "compared", compare(old, figures, self.settings.tolerances)

    def record(self, nodeid: str, result: str, outcome: Outcome) -> None:
        """Keep a call-phase report's verdict for the baseline and the JSON report (only
        when one of them is written or compared: a long session keeps nothing per test)."""
        wanted = self.settings.save or self.settings.compare or self.settings.json_path is not None
        if self.writer and wanted and (outcome.measurement is not None or outcome.violations):
            self.results[nodeid] = (result, outcome)

    def seen(self, nodeid: str) -> None:
        """A report of ``nodeid`` arrived: the test ran, whether or not it has figures."""
        self._seen.add(nodeid)

    def finish(self) -> None:
        """Write the baseline (``--boundedload-save``) and the JSON report, once."""
        if not self.writer:
            return
        if self.settings.save and self.baseline is not None:
            measured = {
                nodeid: outcome.measurement.to_dict()
                for nodeid, (_, outcome) in self.results.items()
                # The last figures of a stopped capped child are not a measurement.
                if outcome.measurement is not None and not outcome.stopped
            }
            # --boundedload-prune drops the tests that did not run at all; a test that ran
            # but left no figures (its worker crashed) keeps its entry.
            keep = self._seen if self.settings.prune else None
            try:
                self.saved = save_merged(self.settings.path, measured, keep=keep)
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
            result, outcome = self.results[nodeid]
            tests.append(
                {
                    "nodeid": nodeid,
                    "outcome": result,
                    "measurement": outcome.measurement.to_dict() if outcome.measurement else None,
                    "limits": dict(outcome.limits),
                    "violations": list(outcome.violations),
                    "heap_sites": [site.to_dict() for site in outcome.heap_sites],
                    "stopped": outcome.stopped,
                    "baseline": {
                        "status": outcome.baseline,
                        "deltas": [delta.to_dict() for delta in outcome.deltas],
                    },
                }
            )
        return {"schema": JSON_SCHEMA_VERSION, "platform": platform_key(), "tests": tests}

    def write_summary(self, terminal: Any) -> None:
        """What a save wrote, then regressions and new tests under a title, in the
        terminal summary."""
        if self.saved is not None:
            terminal.write_line(f"boundedload: saved {self.settings.path}: {self.saved}")
        lines = self.summary_lines()
        if lines:
            terminal.write_sep("-", f"boundedload: compared with {self.settings.path}")
            for line in lines:
                terminal.write_line(line)

    def summary_lines(self) -> list[str]:
        """Regressions and new tests, for the terminal summary."""
        if not self.settings.compare:
            return []
        lines = []
        regressed = [
            (nodeid, delta)
            for nodeid, (_, outcome) in sorted(self.results.items())
            for delta in outcome.deltas
            if delta.regressed
        ]
        if regressed:
            rows = [
                (
                    delta.metric,
                    format_figure(delta.metric, delta.old),
                    format_figure(delta.metric, delta.new),
                    delta.change,
                    nodeid,
                )
                for nodeid, delta in regressed
            ]
            from ..table import Column, render_table  # only a run that compares draws it

            columns = (
                Column("metric", "<", width=18),
                Column("baseline", width=12, gap=1),
                Column("now", width=12, gap=1),
                Column("change", width=8, gap=1),
                Column("test", "<"),
            )
            lines.extend(render_table(columns, rows))
        fresh = [nodeid for nodeid, (_, outcome) in sorted(self.results.items()) if outcome.baseline == "new"]
        lines.extend(f"new (no baseline entry): {nodeid}" for nodeid in fresh)
        if not lines:
            lines.append(f"no regressions against {self.settings.path}")
        return lines
