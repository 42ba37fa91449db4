"""The baseline file: measured figures per test, committed and compared in CI.

Layout (JSON, schema version 1), one test per line so that a diff reviews well::

    {
    "platforms": {
    "Linux-CPython-3.11": {
     "tests/test_x.py::test_y": {"max_in_flight": 50, "max_tasks": 51, "rss_growth": 1048576},
     ...
    }},
    "schema": 1,
    "tool": "pytest-boundedload"
    }

Figures are kept per platform key (``Linux-CPython-3.11``): memory figures differ
between interpreters and systems, and a baseline saved on one must not fail another.
Writes go to a temporary file in the same directory and are moved into place with
``os.replace``, so a reader (or a second session saving at the same time) never sees a
torn file: the file always holds one complete result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import platform
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .units import InvalidValue, format_size, parse_size

__all__ = [
    "COMPARED",
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "Baseline",
    "BaselineError",
    "Delta",
    "Tolerance",
    "compare",
    "parse_tolerance",
    "platform_key",
    "save_merged",
    "write_atomically",
]

SCHEMA_VERSION = 1
_MAX_FIGURE = 1 << 63
TOOL = "pytest-boundedload"
DEFAULT_PATH = ".boundedload/baseline.json"
# The figures a baseline holds and compares. Not peak_rss: it includes the interpreter
# and every plugin loaded, and moves with test order and xdist; the growth over the
# window is what the code under test is responsible for.
SIZES = ("rss_growth", "children_peak_rss")
COUNTS = ("max_in_flight", "max_tasks", "max_threads", "max_processes")
COMPARED = SIZES + COUNTS


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
    platforms: dict[str, dict[str, dict[str, int]]] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str) -> Baseline:
        """Read ``path``; a missing file is an empty baseline, anything else wrong is an error."""
        path = Path(path)
        if path.is_dir():
            raise BaselineError(f"baseline {path} is a directory, not a file")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise BaselineError(f"baseline {path} cannot be read: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BaselineError(f"baseline {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("tool") != TOOL:
            raise BaselineError(f'baseline {path} is not a pytest-boundedload baseline (no "tool": "{TOOL}")')
        if type(data.get("schema")) is not int or data.get("schema") != SCHEMA_VERSION:
            raise BaselineError(
                f"baseline {path} has schema version {data.get('schema')!r};"
                f" this version of pytest-boundedload reads version {SCHEMA_VERSION}"
            )
        return cls(path, _checked_platforms(path, data.get("platforms")))

    def entries(self, key: str | None = None) -> dict[str, dict[str, int]]:
        """The tests of one platform (this one by default)."""
        return self.platforms.get(key or platform_key(), {})

    def update(
        self,
        measured: Mapping[str, Mapping[str, Any]],
        *,
        prune: bool = False,
        keep: Iterable[str] | None = None,
        key: str | None = None,
    ) -> None:
        """Put the figures of ``measured`` (test id -> Measurement dict) in. With
        ``prune``, drop this platform's other tests; with ``keep``, drop those not in it."""
        tests = self.platforms.setdefault(key or platform_key(), {})
        if prune:
            keep = measured
        if keep is not None:
            for nodeid in set(tests) - set(keep) - set(measured):
                del tests[nodeid]
        for nodeid, figures in measured.items():
            tests[nodeid] = {metric: int(figures[metric]) for metric in COMPARED if metric in figures}

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


def save_merged(
    path: Path, measured: Mapping[str, Mapping[str, Any]], *, keep: Iterable[str] | None = None
) -> None:
    """Merge ``measured`` into the file at ``path`` under an exclusive lock: the file is
    read again inside the lock, so sessions saving at the same time (tox -p, several
    CI jobs on one checkout) add to each other's results instead of overwriting them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        baseline = Baseline.load(path)
        baseline.update(measured, keep=keep)
        baseline.save()


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``path``, then ``os.replace`` it in: a
    reader, or a second writer at the same moment, never sees a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _checked_platforms(path: Path, platforms: object) -> dict[str, dict[str, dict[str, int]]]:
    if not isinstance(platforms, dict):
        raise BaselineError(f'baseline {path}: "platforms" must be an object')
    checked: dict[str, dict[str, dict[str, int]]] = {}
    for key, tests in platforms.items():
        if not isinstance(tests, dict):
            raise BaselineError(f"baseline {path}: platform {key!r} must map test ids to figures")
        for nodeid, figures in tests.items():
            if not isinstance(figures, dict) or not all(
                type(v) is int and 0 <= v < _MAX_FIGURE for v in figures.values()
            ):
                raise BaselineError(
                    f"baseline {path}: the figures of {nodeid!r} must be integers from 0 to 2**63 - 1"
                )
        checked[key] = tests
    return checked


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How far a figure may grow over its baseline: ``new <= old * (1 + relative) + absolute``."""

    relative: float = 0.0
    absolute: int = 0

    def allows(self, old: int, new: int) -> bool:
        """Whether ``new`` is within the tolerance of ``old``."""
        return new <= old * (1.0 + self.relative) + self.absolute

    def __str__(self) -> str:
        return self.describe(size=True)

    def describe(self, *, size: bool) -> str:
        """``10%+1.0 MiB`` for a size, ``10%+2`` for a count."""
        parts = []
        if self.relative:
            parts.append(f"{self.relative * 100:g}%")
        if self.absolute or not parts:
            parts.append(format_size(self.absolute) if size and self.absolute else str(self.absolute))
        return "+".join(parts)


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    **{metric: Tolerance(0.10, 1 << 20) for metric in SIZES},
    **{metric: Tolerance() for metric in COUNTS},
}

_PERCENT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%\s*$")


def _parse_one(text: str, metric: str | None, source: str) -> Tolerance:
    relative = 0.0
    absolute = 0
    where = f"tolerance for {metric}" if metric else "tolerance"
    source = f" {source}" if source else ""
    for part in text.split("+"):
        part = part.strip()
        match = _PERCENT.match(part)
        if match:
            relative += float(match.group(1)) / 100
            continue
        if metric in COUNTS:
            if not part.isascii() or not part.isdigit():
                raise InvalidValue(
                    f"invalid {where} {text!r}{source}: counts take a percentage or a whole number"
                )
            absolute += int(part)
            continue
        try:
            absolute += parse_size(part, allow_zero=True)
        except InvalidValue:
            raise InvalidValue(
                f"invalid {where} {text!r}{source}: expected e.g. '10%', '1 MiB' or '10%+1MiB'"
            ) from None
    return Tolerance(relative, absolute)


def parse_tolerance(text: str, source: str = "") -> dict[str, Tolerance]:
    """Tolerances per metric from ``"10%+1MiB"`` (for every size) or a per-metric list
    ``"max_tasks:0,rss_growth:15%+2MiB"``; metrics not named keep their defaults."""
    tolerances = dict(DEFAULT_TOLERANCES)
    where = f" {source}" if source else ""
    text = text.strip()
    if not text:
        raise InvalidValue(f"invalid tolerance ''{where}: expected e.g. '10%+1MiB'")
    if ":" not in text:
        size_tolerance = _parse_one(text, None, source)
        return {**tolerances, **dict.fromkeys(SIZES, size_tolerance)}
    for item in text.split(","):
        metric, sep, value = item.partition(":")
        metric = metric.strip()
        if not sep or metric not in COMPARED:
            raise InvalidValue(
                f"invalid tolerance {item.strip()!r}{where}: expected METRIC:TOLERANCE with METRIC"
                f" one of {', '.join(COMPARED)}"
            )
        tolerances[metric] = _parse_one(value, metric, source)
    return tolerances


@dataclasses.dataclass(frozen=True)
class Delta:
    """One figure of one test against its baseline."""

    metric: str
    old: int
    new: int
    tolerance: Tolerance
    regressed: bool

    @property
    def percent(self) -> float | None:
        """The change in percent of the baseline (None when the baseline is 0)."""
        return None if self.old == 0 else (self.new - self.old) * 100.0 / self.old

    def _show(self, value: int) -> str:
        return format_size(value) if self.metric in SIZES else str(value)

    def __str__(self) -> str:
        change = "new from 0" if self.percent is None else f"{self.percent:+.1f}%"
        tolerance = self.tolerance.describe(size=self.metric in SIZES)
        verdict = f"over tolerance {tolerance}" if self.regressed else f"within {tolerance}"
        return f"{self.metric} {self._show(self.old)} -> {self._show(self.new)} ({change}), {verdict}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "metric": self.metric,
            "old": self.old,
            "new": self.new,
            "percent": self.percent,
            "tolerance": self.tolerance.describe(size=self.metric in SIZES),
            "regressed": self.regressed,
        }


def compare(
    old: Mapping[str, int], new: Mapping[str, Any], tolerances: Mapping[str, Tolerance] = DEFAULT_TOLERANCES
) -> list[Delta]:
    """The compared figures of one test, old against new, in ``COMPARED`` order."""
    deltas = []
    for metric in COMPARED:
        if metric not in old or metric not in new:
            continue
        before, after = int(old[metric]), int(new[metric])
        tolerance = tolerances.get(metric, DEFAULT_TOLERANCES[metric])
        deltas.append(Delta(metric, before, after, tolerance, not tolerance.allows(before, after)))
    return deltas


def regressions(deltas: Iterable[Delta]) -> list[Delta]:
    """The deltas over their tolerance."""
    return [delta for delta in deltas if delta.regressed]
