"""Command-line options and ini keys, and reading them into validated settings.

Every limit exists as ini ``boundedload_<name>`` and option ``--boundedload-<name>``
with one help text. Options default to ``None`` so that an ini value shows through;
the command line wins over the ini file.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from .baseline import DEFAULT_PATH, DEFAULT_TOLERANCES, Tolerance, parse_tolerance
from .gate import GateSettings
from .limits import LIMITS, Limits
from .units import InvalidValue, parse_duration

__all__ = ["Settings", "add_options", "read_settings"]

T = TypeVar("T")

_DIGITS = re.compile(r"[0-9]+")
DEFAULT_INTERVAL = 0.01
DEFAULT_SUMMARY = 10

_HELP_INTERVAL = "Sampling interval for threads, child processes and (without procfs) RSS. Default: 10ms."
_HELP_SAVE = "Write the figures of every measured test to the baseline file (kept: tests not run)."
_HELP_COMPARE = "Fail measured tests whose figures grew over the baseline by more than the tolerance."
_HELP_PRUNE = "With --boundedload-save: drop the baseline entries of tests not run."
_HELP_BASELINE = f"The baseline file, relative to the rootdir. Default: {DEFAULT_PATH}."
_HELP_TOLERANCE = (
    "How much a figure may grow over its baseline: '10%+1MiB' for sizes, or per metric,"
    " 'max_tasks:0,rss_growth:15%+2MiB'. Default: 10% plus 1 MiB for sizes, exact for counts."
)
_HELP_JSON = "Write every measured test's figures, limits, violations and baseline deltas to PATH."
_HELP_SUMMARY = "Rank the N measured tests with the highest peak RSS at the end (0: none). Default: 10."


@dataclasses.dataclass(frozen=True)
class Settings:
    """Session-wide settings after validation."""

    limits: Limits
    interval: float
    summary: int
    gate: GateSettings


def add_options(parser: pytest.Parser) -> None:
    """Register the options and ini keys."""
    group = parser.getgroup("boundedload", "bounded concurrency and memory (pytest-boundedload)")
    for spec in LIMITS:
        option = "--boundedload-" + spec.name.replace("_", "-")
        group.addoption(option, dest=f"boundedload_{spec.name}", default=None, help=spec.help)
        parser.addini(f"boundedload_{spec.name}", spec.help, default=None)
    group.addoption("--boundedload-interval", dest="boundedload_interval", default=None, help=_HELP_INTERVAL)
    parser.addini("boundedload_interval", _HELP_INTERVAL, default=None)
    group.addoption(
        "--boundedload-summary",
        dest="boundedload_summary",
        default=None,
        metavar="N",
        help=_HELP_SUMMARY,
    )
    parser.addini("boundedload_summary", _HELP_SUMMARY, default=None)
    group.addoption("--boundedload-save", action="store_true", default=False, help=_HELP_SAVE)
    group.addoption("--boundedload-compare", action="store_true", default=False, help=_HELP_COMPARE)
    group.addoption("--boundedload-prune", action="store_true", default=False, help=_HELP_PRUNE)
    group.addoption(
        "--boundedload-baseline",
        dest="boundedload_baseline",
        default=None,
        metavar="PATH",
        help=_HELP_BASELINE,
    )
    parser.addini("boundedload_baseline", _HELP_BASELINE, default=None)
    group.addoption(
        "--boundedload-tolerance",
        dest="boundedload_tolerance",
        default=None,
        metavar="SPEC",
        help=_HELP_TOLERANCE,
    )
    parser.addini("boundedload_tolerance", _HELP_TOLERANCE, default=None)
    group.addoption(
        "--boundedload-json", dest="boundedload_json", default=None, metavar="PATH", help=_HELP_JSON
    )


def _given(config: pytest.Config, name: str) -> list[tuple[object, str]]:
    """Each value given for a setting with where it came from: ini first, then CLI."""
    given: list[tuple[object, str]] = []
    ini = config.getini(f"boundedload_{name}")
    if ini is not None and ini != "":
        given.append((ini, f"from ini boundedload_{name}"))
    cli = config.getoption(f"boundedload_{name}")
    if cli is not None:
        given.append((cli, f"from option --boundedload-{name.replace('_', '-')}"))
    return given


def _setting(config: pytest.Config, name: str, parse: Callable[[object, str], T], default: T) -> T:
    """Validate every value given for ``name`` (an overridden ini value too); the CLI wins."""
    value = default
    for raw, source in _given(config, name):
        value = parse(raw, source)
    return value


def _parse_interval(raw: object, source: str) -> float:
    interval = parse_duration(raw, key="interval", source=source)
    if interval <= 0:
        raise InvalidValue(f"invalid interval={raw!r} {source}: must be greater than zero")
    return interval


def _parse_summary(raw: object, source: str) -> int:
    text = str(raw).strip()
    if not _DIGITS.fullmatch(text):
        raise InvalidValue(f"invalid summary={raw!r} {source}: expected an integer >= 0")
    return int(text)


def read_settings(config: pytest.Config) -> Settings:
    """Validate every option and ini key; raise ``pytest.UsageError`` on a bad one."""
    try:
        return _read(config)
    except InvalidValue as exc:
        raise pytest.UsageError(f"boundedload: {exc}") from None


def _read(config: pytest.Config) -> Settings:
    parsed: dict[str, int] = {}
    for spec in LIMITS:
        value = _setting(config, spec.name, spec.parse, None)
        if value is not None:
            parsed[spec.name] = value
    return Settings(
        limits=Limits(**parsed),
        interval=_setting(config, "interval", _parse_interval, DEFAULT_INTERVAL),
        summary=_setting(config, "summary", _parse_summary, DEFAULT_SUMMARY),
        gate=_read_gate(config),
    )


def _parse_tolerances(raw: object, source: str) -> dict[str, Tolerance]:
    return parse_tolerance(str(raw), source)


def _read_gate(config: pytest.Config) -> GateSettings:
    path = Path(_setting(config, "baseline", lambda raw, source: str(raw), DEFAULT_PATH))
    json_path = config.getoption("boundedload_json")
    save, compare = config.getoption("boundedload_save"), config.getoption("boundedload_compare")
    prune = config.getoption("boundedload_prune")
    if prune and not save:
        raise InvalidValue("invalid --boundedload-prune: it only applies with --boundedload-save")
    return GateSettings(
        path=path if path.is_absolute() else config.rootpath / path,
        save=save,
        compare=compare,
        prune=prune,
        tolerances=_setting(config, "tolerance", _parse_tolerances, dict(DEFAULT_TOLERANCES)),
        json_path=Path(json_path).absolute() if json_path else None,
    )
