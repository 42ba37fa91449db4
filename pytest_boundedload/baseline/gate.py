"""The baseline gate of a session: compare each test to the baseline, save, report.

Workers of pytest-xdist read the baseline to compare their tests but never write it:
the figures of every test travel to the controller with the reports, and the
controller (or a serial run) writes the baseline and the JSON report once, at the end,
so a crashed worker loses only the test it was running (the JSON report lists it with
its last known figures).

``--boundedload-prune`` removes entries only after a run in which every collected test
ran to the end: a run stopped by ``-x``, ``--maxfail``, Ctrl-C, a crashed worker, a
collection error or a deselection says so and keeps them; and it removes only entries
under the paths the run was asked to collect (``scope``). A baseline or report that cannot be written (a
full disk) is an error line in the summary and a non-zero exit status, not a traceback.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Container, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..measure.measurement import Measurement, format_figure
from .compare import DEFAULT_TOLERANCES, Delta, Tolerance, compare, merge_entry, range_text
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
        self.crashed: dict[str, Measurement | None] = {}  # nodeid -> its last known figures
        self.saved: SaveCounts | None = None
        self.prune_skipped: str | None = None  # why --boundedload-prune removed nothing
        self.errors: list[str] = []  # files that could not be written, and why
        # What decides whether pruning is safe; kept only when pruning is asked for.
        self._collected: set[str] | None = None
        self._finished: set[str] = set()
        self._collection_failed = False
        self._deselected = 0
        self.scope: Container[str] | None = None  # the entries prune may remove (None: all)

    @property
    def _prunes(self) -> bool:
        return self.writer and self.settings.save and self.settings.prune

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
        if self.writer and self._wanted and (outcome.measurement is not None or outcome.violations):
            self.results[nodeid] = (result, outcome)

    @property
    def _wanted(self) -> bool:
        return self.settings.save or self.settings.compare or self.settings.json_path is not None

    def collected(self, nodeids: Iterable[str]) -> None:
        """The tests the session is to run (an xdist worker's collection, or all of a
        serial run's after deselection)."""
        if self._prunes:
            self._collected = (self._collected or set()) | set(nodeids)

    def deselected(self, count: int) -> None:
        """One process deselected ``count`` collected tests (``-k``, ``-m``,
        ``--deselect``, ``--lf``); xdist's workers each deselect the same ones."""
        self._deselected = max(self._deselected, count)

    def collection_failed(self) -> None:
        """A file or class could not be collected: its tests are not among the collected."""
        self._collection_failed = True

    def seen(self, nodeid: str, when: str) -> None:
        """A report of ``nodeid``'s phase ``when`` arrived; the teardown's means the test
        ran to the end, whether or not it has figures."""
        if self._prunes and when == "teardown":
            self._finished.add(nodeid)

    def crash(self, nodeid: str, last_known: Measurement | None) -> None:
        """``nodeid``'s xdist worker died while running it; ``last_known`` are the figures
        its crash note held (None when it was not measured)."""
        if self.writer and self._wanted:  # (pruning implies saving)
            self.crashed[nodeid] = last_known

    def finish(self, stopped: str | None = None) -> None:
        """Write the baseline (``--boundedload-save``) and the JSON report, once.
        ``stopped`` says why the session stopped early, if it did (``-x``, Ctrl-C)."""
        if not self.writer:
            return
        if self.settings.save and self.baseline is not None:
            measured = {
                nodeid: outcome.measurement.to_dict()
                for nodeid, (_, outcome) in self.results.items()
                # The last figures of a stopped capped child are not a measurement.
                if outcome.measurement is not None and not outcome.stopped
            }
            keep: set[str] | None = None
            if self.settings.prune:
                self.prune_skipped = self._incomplete(stopped)
                if self.prune_skipped is None:
                    keep = self._finished
            try:
                self.saved = save_merged(
                    self.settings.path, measured, keep=keep, scope=self.scope, merge=self._merge
                )
            except BaselineError as exc:  # the file was changed into something else meanwhile
                self.errors.append(f"boundedload: {exc}; not saved")
            except OSError as exc:
                where = self.settings.path
                self.errors.append(f"boundedload: could not write the baseline {where}: {_why(exc)}")
        if self.settings.json_path is not None:
            try:
                write_atomically(
                    self.settings.json_path, json.dumps(self.report(), indent=2, sort_keys=True) + "\n"
                )
            except OSError as exc:
                self.errors.append(
                    f"boundedload: could not write the JSON report {self.settings.json_path}: {_why(exc)}"
                )

    def _merge(self, old: Any, new: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """A saved test's entry: the recorded ranges widened by unchanged code, or the new
        figures after a real change (by the session's tolerances)."""
        return merge_entry(old, new, self.settings.tolerances or DEFAULT_TOLERANCES)

    def _incomplete(self, stopped: str | None) -> str | None:
        """Why pruning would remove entries of tests that simply did not run, or None
        when every collected test ran to the end."""
        if not self._collected:  # (a -k that matched nothing must not empty the baseline)
            return "no test was collected" + (f" ({stopped})" if stopped else "")
        missing = len(self._collected - self._finished)
        if not missing and not self._collection_failed and not self._deselected:
            return None
        causes = [f"a worker crashed while running {nodeid}" for nodeid in sorted(self.crashed)]
        causes += [stopped] if stopped else []
        parts = []
        if missing:
            parts.append(f"{missing} of {len(self._collected)} collected tests did not run to the end")
        if self._deselected:
            # Their entries cannot be told from those of tests that are gone.
            were = "test was" if self._deselected == 1 else "tests were"
            parts.append(f"{self._deselected} collected {were} deselected (-k, -m, --deselect, --lf)")
        if self._collection_failed:
            parts.append("errors during collection")
        return ", ".join(parts) + (f" ({'; '.join(causes)})" if causes else "")

    def report(self) -> dict[str, Any]:
        """The JSON report: every measured test with figures, limits, violations, deltas."""
        tests = []
        # A crashed test without a note was not measured; one with a note gets its last
        # known figures (a test can also crash after its call phase reported).
        crashed = {nodeid: figures for nodeid, figures in self.crashed.items() if figures is not None}
        for nodeid in sorted(set(self.results) | set(crashed)):
            if nodeid in self.results:
                result, outcome = self.results[nodeid]
                measurement = outcome.measurement
            else:
                result, outcome, measurement = "failed", None, crashed[nodeid]
            tests.append(
                {
                    "nodeid": nodeid,
                    "outcome": "failed" if nodeid in crashed else result,
                    "measurement": measurement.to_dict() if measurement else None,
                    "limits": dict(outcome.limits) if outcome else {},
                    "violations": list(outcome.violations) if outcome else [],
                    "heap_sites": [site.to_dict() for site in outcome.heap_sites] if outcome else [],
                    "stopped": outcome.stopped if outcome else False,
                    "crashed": nodeid in crashed,
                    "baseline": {
                        "status": outcome.baseline if outcome else None,
                        "deltas": [delta.to_dict() for delta in outcome.deltas] if outcome else [],
                    },
                }
            )
        return {"schema": JSON_SCHEMA_VERSION, "platform": platform_key(), "tests": tests}

    def write_summary(self, terminal: Any) -> None:
        """What a save wrote, then regressions and new tests under a title, in the
        terminal summary."""
        if self.saved is not None:
            terminal.write_line(f"boundedload: saved {self.settings.path}: {self.saved}")
        if self.saved is not None and self.prune_skipped is not None:
            terminal.write_line(
                f"boundedload: prune skipped: {self.prune_skipped}; entries of tests not run are kept"
            )
        for line in self.saved_lines():
            terminal.write_line(line)
        for error in self.errors:
            terminal.write_line(error, red=True, bold=True)
        lines = self.summary_lines()
        if lines:
            terminal.write_sep("-", f"boundedload: compared with {self.settings.path}")
            for line in lines:
                terminal.write_line(line)

    def saved_lines(self, most: int = 20) -> list[str]:
        """The entries a save widened or changed, with each moved figure's recorded range
        now: ``  widened test_x.py::test_y: max_held 4932..4952``; the first ``most``."""
        if self.saved is None:
            return []
        lines = []
        for how, nodeid, moved in self.saved.moved[:most]:
            figures = ", ".join(f"{metric} {range_text(metric, *moved[metric])}" for metric in moved)
            lines.append(f"  {how} {nodeid}: {figures or 'workload N recorded'}")
        more = len(self.saved.moved) - most
        if more > 0:
            lines.append(f"  and {more} more (boundedload baseline show {self.settings.path})")
        return lines

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
                    delta.recorded,
                    format_figure(delta.metric, delta.new),
                    delta.rule or f"{delta.change}, over {delta.tolerance}",
                    nodeid,
                )
                for nodeid, delta in regressed
            ]
            from ..table import Column, render_table  # only a run that compares draws it

            columns = (
                Column("metric", "<", width=18),
                Column("baseline", width=12, gap=1),
                Column("now", width=12, gap=1),
                Column("why", "<", gap=2),
                Column("test", "<"),
            )
            lines.extend(render_table(columns, rows))
        fresh = [nodeid for nodeid, (_, outcome) in sorted(self.results.items()) if outcome.baseline == "new"]
        lines.extend(f"new (no baseline entry): {nodeid}" for nodeid in fresh)
        if not lines:
            lines.append(f"no regressions against {self.settings.path}")
        return lines


def _why(exc: OSError) -> str:
    """``[Errno 28] No space left on device``: the errno and its meaning, without the
    temporary file's name that ``str(exc)`` would add."""
    if exc.errno is None:
        return str(exc)
    return f"[Errno {exc.errno}] {exc.strerror}"
