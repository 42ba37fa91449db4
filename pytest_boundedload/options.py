"""Command-line options and ini keys, and reading them into validated settings.

Every limit exists as ini ``boundedload_<name>`` and option ``--boundedload-<name>``
with one help text. Options default to ``None`` so that an ini value shows through;
the command line wins over the ini file.
"""

from __future__ import annotations

import dataclasses

import pytest

from .limits import LIMITS, PENDING_LIMITS, Limits
from .units import InvalidValue, parse_duration

__all__ = ["Settings", "add_options", "read_settings"]

DEFAULT_INTERVAL = 0.01
DEFAULT_SUMMARY = 10

_HELP_INTERVAL = "Sampling interval for threads, child processes and (without procfs) RSS. Default: 10ms."
_HELP_SUMMARY = "Rank the N measured tests with the highest peak RSS at the end (0: none). Default: 10."
_HELP_PENDING = "Not supported by this version; setting it is an error."


@dataclasses.dataclass(frozen=True)
class Settings:
    """Session-wide settings after validation."""

    limits: Limits
    interval: float
    summary: int


def add_options(parser: pytest.Parser) -> None:
    """Register the options and ini keys."""
    group = parser.getgroup("boundedload", "bounded concurrency and memory (pytest-boundedload)")
    for spec in LIMITS:
        option = "--boundedload-" + spec.name.replace("_", "-")
        group.addoption(option, dest=f"boundedload_{spec.name}", default=None, help=spec.help)
        parser.addini(f"boundedload_{spec.name}", spec.help, default=None)
    for name in PENDING_LIMITS:
        option = "--boundedload-" + name.replace("_", "-")
        group.addoption(option, dest=f"boundedload_{name}", default=None, help=_HELP_PENDING)
        parser.addini(f"boundedload_{name}", _HELP_PENDING, default=None)
    group.addoption(
        "--boundedload-interval", dest="boundedload_interval", default=None, help=_HELP_INTERVAL
    )
    parser.addini("boundedload_interval", _HELP_INTERVAL, default=None)
    group.addoption(
        "--boundedload-summary",
        dest="boundedload_summary",
        default=None,
        metavar="N",
        help=_HELP_SUMMARY,
    )
    parser.addini("boundedload_summary", _HELP_SUMMARY, default=None)


def _raw(config: pytest.Config, name: str) -> tuple[object, str] | None:
    """The value of a setting and where it came from, CLI first; None when unset."""
    cli = config.getoption(f"boundedload_{name}")
    if cli is not None:
        return cli, f"from option --boundedload-{name.replace('_', '-')}"
    ini = config.getini(f"boundedload_{name}")
    if ini is not None and ini != "":
        return ini, f"from ini boundedload_{name}"
    return None


def read_settings(config: pytest.Config) -> Settings:
    """Validate every option and ini key; raise ``pytest.UsageError`` on a bad one."""
    try:
        return _read(config)
    except InvalidValue as exc:
        raise pytest.UsageError(f"boundedload: {exc}") from None


def _read(config: pytest.Config) -> Settings:
    for name in PENDING_LIMITS:
        found = _raw(config, name)
        if found is not None:
            raise InvalidValue(
                f"invalid {name}={found[0]!r} {found[1]}: {name} is not supported by this"
                " version of pytest-boundedload"
            )
    parsed: dict[str, int] = {}
    for spec in LIMITS:
        found = _raw(config, spec.name)
        if found is not None:
            parsed[spec.name] = spec.parse(*found)
    interval = DEFAULT_INTERVAL
    found = _raw(config, "interval")
    if found is not None:
        interval = parse_duration(found[0], key="interval", source=found[1])
        if interval <= 0:
            raise InvalidValue(f"invalid interval={found[0]!r} {found[1]}: must be greater than zero")
    summary = DEFAULT_SUMMARY
    found = _raw(config, "summary")
    if found is not None:
        value, source = found
        text = str(value).strip()
        if not text.isdigit():
            raise InvalidValue(f"invalid summary={value!r} {source}: expected an integer >= 0")
        summary = int(text)
    return Settings(limits=Limits(**parsed), interval=interval, summary=summary)
