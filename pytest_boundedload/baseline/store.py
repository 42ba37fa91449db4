"""The baseline file: measured figures per test, committed and compared in CI.

Layout (JSON, schema version 2), one test per line so that a diff reviews well::

    {
    "platforms": {
    "Linux-CPython-3.11": {
     "tests/test_x.py::test_y": {"max_held": [4932, 4952], "max_tasks": 51, "n": 5000, "rss_growth": 1048576},
     ...
    }},
    "schema": 2,
    "tool": "pytest-boundedload"
    }

A figure is one value, or the ``[low, high]`` range it showed over the saves folded into
the entry (a save of unchanged code widens the range; a real change starts it again:
:func:`~.compare.merge_entry`); ``n`` is the test's workload (probe calls or items
taken, whichever is more), which tells a count that is a bound from one that grows with
N. Schema 1 files (one value per figure, no ``n``) are read as they are.

Figures are kept per platform key (``Linux-CPython-3.11``): memory figures differ
between interpreters and systems, and a baseline saved on one must not fail another.
Writes go to a temporary file in the same directory and are moved into place with
``os.replace``, so a reader (or a second session saving at the same time) never sees a
torn file: the file always holds one complete result. Saves merge under a ``flock`` on
``<baseline>.lock`` beside the file, which exists only while a save holds it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import platform
from collections.abc import Callable, Container, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..jsonfile import Unreadable, read_json
from ..measure.measurement import HIGH_WATERS, is_size
from .files import exclusive, lock_path, remove_legacy_locks, resolved, write_atomically

__all__ = [
    "COMPARED",
    "COUNTS",
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "SIZES",
    "WORKLOAD",
    "Baseline",
    "BaselineError",
    "SaveCounts",
    "entry_of",
    "exclusive",
    "figure_range",
    "lock_path",
    "platform_key",
    "remove_legacy_locks",
    "resolved",
    "save_merged",
    "workload_of",
    "write_atomically",
]

SCHEMA_VERSION = 2
_READABLE_SCHEMAS = (1, 2)
_MAX_FIGURE = 1 << 63
TOOL = "pytest-boundedload"
DEFAULT_PATH = ".boundedload/baseline.json"
# The figures a baseline holds and compares. Not peak_rss: it includes the interpreter
# and every plugin loaded, and moves with test order and xdist; the growth over the
# window is what the code under test is responsible for. heap_peak only where the test
# was traced with memray, and compared only when both sides have it.
COMPARED = ("rss_growth", "children_peak_rss", *HIGH_WATERS, "heap_peak")
SIZES = tuple(metric for metric in COMPARED if is_size(metric))
COUNTS = tuple(metric for metric in COMPARED if not is_size(metric))
# The entry key of the workload N.
WORKLOAD = "n"

Entry = dict[str, Any]
# How a save puts a new entry together with the recorded one: (entry, "kept" |
# "widened" | "changed").
Merge = Callable[[Mapping[str, Any], Entry], tuple[Entry, str]]


def figure_range(figures: Mapping[str, Any], metric: str) -> tuple[int, int] | None:
    """``(low, high)`` of ``metric`` in a baseline entry (a value or a ``[low, high]``
    range) or a measurement's figures (a value); None when it is not there."""
    value = figures.get(metric)
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def workload_of(figures: Mapping[str, Any]) -> int | None:
    """The workload N of a baseline entry (its ``n``) or of a measurement (probe calls
    started or items taken, whichever is more); None for an entry saved without one."""
    if WORKLOAD in figures:
        return int(figures[WORKLOAD])
    if "tasks_started" in figures:
        return max(int(figures["tasks_started"]), int(figures.get("items_taken") or 0))
    return None


def entry_of(figures: Mapping[str, Any]) -> Entry:
    """A baseline entry from a measurement's figures (or another entry's): the compared
    ones and ``n``."""
    entry: Entry = {}
    for metric in COMPARED:
        recorded = figure_range(figures, metric)
        if recorded is not None:
            entry[metric] = recorded[0] if recorded[0] == recorded[1] else list(recorded)
    workload = workload_of(figures)
    if workload is not None:
        entry[WORKLOAD] = workload
    return entry


def _replace(old: Mapping[str, Any], new: Entry) -> tuple[Entry, str]:
    return new, "kept" if dict(old) == new else "changed"


class BaselineError(Exception):
    """A baseline file that cannot be used; the message names the file."""


def platform_key() -> str:
    """``Linux-CPython-3.11``: figures are only compared on the platform they came from."""
    major, minor = platform.python_version_tuple()[:2]
    return f"{platform.system()}-{platform.python_implementation()}-{major}.{minor}"


@dataclasses.dataclass
class Baseline:
    """The figures of a baseline file, by platform key and test id."""

    path: Path
    platforms: dict[str, dict[str, Entry]] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str) -> Baseline:
        """Read ``path``; a missing file is an empty baseline, anything else wrong (not a
        regular file, over :data:`~pytest_boundedload.jsonfile.MAX_BYTES`, not UTF-8 JSON,
        not ours) is a :class:`BaselineError` naming the file."""
        path = Path(path)
        try:
            # A regular file of at most 64 MiB only: a FIFO, a device or a huge file is
            # refused before it can hang the run or fill its memory.
            data = read_json(path, "baseline")
        except Unreadable as exc:
            raise BaselineError(str(exc)) from None
        if data is None:
            return cls(path)
        if not isinstance(data, dict) or data.get("tool") != TOOL:
            raise BaselineError(f'baseline {path} is not a pytest-boundedload baseline (no "tool": "{TOOL}")')
        if type(data.get("schema")) is not int or data.get("schema") not in _READABLE_SCHEMAS:
            raise BaselineError(
                f"baseline {path} has schema version {data.get('schema')!r};"
                f" this version of pytest-boundedload reads versions 1 and {SCHEMA_VERSION}"
            )
        return cls(path, _checked_platforms(path, data.get("platforms")))

    def entries(self, key: str | None = None) -> dict[str, Entry]:
        """The tests of one platform (this one by default)."""
        return self.platforms.get(key or platform_key(), {})

    def update(
        self,
        measured: Mapping[str, Mapping[str, Any]],
        *,
        prune: bool = False,
        keep: Iterable[str] | None = None,
        key: str | None = None,
        scope: Container[str] | None = None,
        merge: Merge = _replace,
    ) -> dict[str, str]:
        """Put the figures of ``measured`` (test id -> Measurement dict) in, each merged
        with its recorded entry by ``merge`` (by default replacing it). With ``prune``,
        drop this platform's other tests; with ``keep``, drop those not in it, of those
        in ``scope`` (every test when None). Returns how each measured test's entry
        changed: ``"added"``, ``"kept"``, ``"widened"`` or ``"changed"``."""
        tests = self.platforms.setdefault(key or platform_key(), {})
        if prune:
            keep = measured
        if keep is not None:
            for nodeid in set(tests) - set(keep) - set(measured):
                if scope is None or nodeid in scope:
                    del tests[nodeid]
        how: dict[str, str] = {}
        for nodeid, figures in measured.items():
            entry = entry_of(figures)
            if nodeid in tests:
                tests[nodeid], how[nodeid] = merge(tests[nodeid], entry)
            else:
                tests[nodeid], how[nodeid] = entry, "added"
        return how

    def dumps(self) -> str:
        """The file's text: sorted keys, one test per line."""
        lines = ["{", '"platforms": {']
        keys = sorted(self.platforms)
        for i, key in enumerate(keys):
            tests = self.platforms[key]
            lines.append(f"{json.dumps(key)}: {{")
            names = sorted(tests)
            for j, nodeid in enumerate(names):
                comma = "," if j < len(names) - 1 else ""
                lines.append(f" {json.dumps(nodeid)}: {json.dumps(tests[nodeid], sort_keys=True)}{comma}")
            lines.append("}" + ("," if i < len(keys) - 1 else ""))
        lines.append("},")
        lines.append(f'"schema": {SCHEMA_VERSION},')
        lines.append(f'"tool": "{TOOL}"')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def save(self) -> None:
        """Write the file atomically."""
        write_atomically(self.path, self.dumps())


@dataclasses.dataclass(frozen=True)
class SaveCounts:
    """What a save did to this platform's entries: ``widened`` entries took a value of
    unchanged code into their recorded ranges, ``changed`` ones started again from a
    real change. ``moved`` are the (how, test id, {figure: (low, high)}) of the entries
    widened or changed, with the figures whose recorded range moved."""

    added: int
    changed: int
    kept: int
    pruned: int
    widened: int = 0
    moved: tuple[tuple[str, str, dict[str, tuple[int, int]]], ...] = ()

    def __str__(self) -> str:
        return (
            f"{self.added} added, {self.changed} changed, {self.widened} widened, {self.kept} kept,"
            f" {self.pruned} pruned"
        )


def save_merged(
    path: Path,
    measured: Mapping[str, Mapping[str, Any]],
    *,
    keep: Iterable[str] | None = None,
    scope: Container[str] | None = None,
    merge: Merge = _replace,
) -> SaveCounts:
    """Merge ``measured`` into the file at ``path`` under an exclusive lock: the file is
    read again inside the lock, so sessions saving at the same time (tox -p, several
    CI jobs on one checkout) add to each other's results instead of overwriting them.
    Each measured test's entry is merged with the recorded one by ``merge``; entries
    re-measured with the same figures count as kept. A baseline that is a
    symbolic link (one baseline shared by several checkouts) is written through the
    link: the lock and the write are at its target. An ``OSError`` (a full disk) leaves
    the file as it was and is raised to the caller."""
    target = resolved(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(lock_path(path)):
        # Inside the lock no other save is writing: a temporary file next to the baseline
        # is what a killed save left.
        for stale in target.parent.glob(f".{target.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        baseline = Baseline.load(path)
        before = dict(baseline.entries())
        how = baseline.update(measured, keep=keep, scope=scope, merge=merge)
        baseline.save()
    remove_legacy_locks()
    after = baseline.entries()
    added = sum(1 for nodeid in after if nodeid not in before)
    changed = sum(1 for nodeid in after if nodeid in before and after[nodeid] != before[nodeid])
    widened = sum(1 for nodeid in after if nodeid in before and how.get(nodeid) == "widened")
    moved = tuple(
        (how.get(nodeid, "changed"), nodeid, _moved(before[nodeid], after[nodeid]))
        for nodeid in sorted(after)
        if nodeid in before and after[nodeid] != before[nodeid]
    )
    return SaveCounts(
        added, changed - widened, len(after) - added - changed, len(set(before) - set(after)), widened, moved
    )


def _moved(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """The figures of ``after`` whose recorded range differs from ``before``'s."""
    moved = {}
    for metric in COMPARED:
        now = figure_range(after, metric)
        if now is not None and now != figure_range(before, metric):
            moved[metric] = now
    return moved


def _is_figure(value: object) -> bool:
    return type(value) is int and 0 <= value < _MAX_FIGURE


def _is_figure_or_range(value: object) -> bool:
    """An integer from 0 to 2**63 - 1, or a ``[low, high]`` range of two, low <= high."""
    if type(value) is list:
        return len(value) == 2 and all(_is_figure(v) for v in value) and value[0] <= value[1]
    return _is_figure(value)


def _checked_platforms(path: Path, platforms: object) -> dict[str, dict[str, Entry]]:
    if not isinstance(platforms, dict):
        raise BaselineError(f'baseline {path}: "platforms" must be an object')
    checked: dict[str, dict[str, Entry]] = {}
    for key, tests in platforms.items():
        if not isinstance(tests, dict):
            raise BaselineError(f"baseline {path}: platform {key!r} must map test ids to figures")
        for nodeid, figures in tests.items():
            if not isinstance(figures, dict) or not all(
                _is_figure(v) if k == WORKLOAD else _is_figure_or_range(v) for k, v in figures.items()
            ):
                raise BaselineError(
                    f"baseline {path}: the figures of {nodeid!r} must be integers from 0 to 2**63 - 1"
                    " or [low, high] ranges of two"
                )
        checked[key] = tests
    return checked
