"""Command-line options and ini keys, and reading them into validated settings.

Every limit exists as ini ``boundedload_<name>`` and option ``--boundedload-<name>``
with one help text. Options default to ``None`` so that an ini value shows through;
the command line wins over the ini file.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from .baseline.compare import DEFAULT_TOLERANCES, Tolerance, parse_tolerance
from .baseline.gate import GateSettings
from .baseline.store import DEFAULT_PATH
from .isolate.method import CAP_METHOD_ENV, cap_method
from .limits import LIMITS, Limits
from .memtrace.capture import WORKER_ENV, is_worker_id
from .memtrace.settings import DEFAULT_TOP, TraceSettings
from .paths import input_file, output_directory, output_file
from .tomlini import check_type, toml_values
from .units import InvalidValue, parse_count, parse_duration, safe_repr

__all__ = ["Settings", "add_options", "read_settings"]

T = TypeVar("T")

DEFAULT_INTERVAL = 0.01
MIN_INTERVAL, MAX_INTERVAL = 0.001, 3600.0
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
_HELP_MEMRAY = (
    "Trace every measured test with memray: its exact heap peak (heap_peak) and the top allocation"
    " sites in your code, shown when it fails."
)
_HELP_ALL = (
    "Measure every test, not only those that use flood or carry the boundedload marker: the"
    " project-wide limits, the summary and the baseline gate then apply to the whole suite."
)
_HELP_ISOLATE = (
    "Run every measured test in a forked child of an unchanged session process, with pymalloc's"
    " inherited free space filled first (no memory cap): its memory figures and its one-time"
    " costs (imports, threads and processes started once) do not depend on which tests ran before."
)
_HELP_MEMRAY_TOP = f"With memray tracing: how many allocation sites to show. Default: {DEFAULT_TOP}."
_HELP_REPORT_DIR = "Write memray captures and flamegraphs of failing traced tests to DIR, with an index.html."

# Settings with a value: (name, metavar, help, also an ini key).
_VALUED: tuple[tuple[str, str | None, str, bool], ...] = (
    *((spec.name, None, spec.help, True) for spec in LIMITS),
    ("interval", None, _HELP_INTERVAL, True),
    ("summary", "N", _HELP_SUMMARY, True),
    ("baseline", "PATH", _HELP_BASELINE, True),
    ("tolerance", "SPEC", _HELP_TOLERANCE, True),
    ("json", "PATH", _HELP_JSON, False),
    ("memray_top", "N", _HELP_MEMRAY_TOP, True),
    ("report_dir", "DIR", _HELP_REPORT_DIR, True),
)
_HELP_ALLOW_MISSING = "With --boundedload-compare: a missing baseline file is not an error (a first run)."
_FLAGS = (
    ("save", _HELP_SAVE),
    ("compare", _HELP_COMPARE),
    ("prune", _HELP_PRUNE),
    ("allow_missing", _HELP_ALLOW_MISSING),
    ("memray", _HELP_MEMRAY),
    ("all", _HELP_ALL),
    ("isolate", _HELP_ISOLATE),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Session-wide settings after validation; ``limit_sources`` says where each limit
    that is set came from (``option`` or ``ini``)."""

    limits: Limits
    interval: float
    summary: int
    gate: GateSettings
    limit_sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cap_method: str = "auto"  # BOUNDEDLOAD_CAP: "auto", "cgroup" or "rlimit"
    trace: TraceSettings = dataclasses.field(default_factory=TraceSettings)
    measure_all: bool = False  # --boundedload-all: every test is measured
    isolate: bool = False  # --boundedload-isolate: every measured test in a forked child


def _option(name: str) -> str:
    return "--boundedload-" + name.replace("_", "-")


def add_options(parser: pytest.Parser) -> None:
    """Register the options and ini keys."""
    group = parser.getgroup("boundedload", "bounded concurrency and memory (pytest-boundedload)")
    for name, metavar, help_text, ini in _VALUED:
        # argparse %-formats option help ("%(default)s"); ini help is printed as it is.
        group.addoption(
            _option(name),
            dest=f"boundedload_{name}",
            default=None,
            metavar=metavar,
            help=help_text.replace("%", "%%"),
        )
        if ini:
            parser.addini(f"boundedload_{name}", help_text, default=None)
    for name, help_text in _FLAGS:
        group.addoption(
            _option(name), action="store_true", default=False, help=help_text.replace("%", "%%")
        )
    parser.addini("boundedload_memray", _HELP_MEMRAY, type="bool", default=False)
    parser.addini("boundedload_all", _HELP_ALL, type="bool", default=False)
    parser.addini("boundedload_isolate", _HELP_ISOLATE, type="bool", default=False)


# The kind of value of each ini key (tomlini.KINDS), for a TOML configuration file.
_KINDS: dict[str, str] = {
    **{spec.name: "size" if spec.is_size else "count" for spec in LIMITS},
    "interval": "duration",
    "summary": "count",
    "memray_top": "count",
    "tolerance": "text",
    "baseline": "path",
    "report_dir": "path",
    "memray": "bool",
    "all": "bool",
    "isolate": "bool",
}
_TOML_VALUES = pytest.StashKey[dict[str, object]]()


def _toml_value(config: pytest.Config, name: str) -> tuple[bool, object]:
    """(True, the value) when the TOML configuration file sets ``boundedload_<name>``,
    after checking its TOML type; (False, None) otherwise."""
    if _TOML_VALUES not in config.stash:
        config.stash[_TOML_VALUES] = toml_values(config.inipath)
    key = f"boundedload_{name}"
    values = config.stash[_TOML_VALUES]
    if key not in values:
        return False, None
    return True, check_type(values[key], _KINDS[name], name if _KINDS[name] != "bool" else key, key)


def _overridden(config: pytest.Config, key: str) -> bool:
    """Whether ``-o key=value`` replaces the configuration file's value."""
    overrides = config.getoption("override_ini", None) or []
    return any(str(entry).split("=", 1)[0].strip() == key for entry in overrides)


def _ini(config: pytest.Config, name: str) -> object:
    """The ini value of ``boundedload_<name>``: the TOML file's own value (its type
    checked), unless ``-o`` overrides it; else what pytest reads."""
    found, value = _toml_value(config, name)
    if found and not _overridden(config, f"boundedload_{name}"):
        return value
    return config.getini(f"boundedload_{name}")


def _given(config: pytest.Config, name: str) -> list[tuple[object, str, str]]:
    """Each value given for a setting, with where it came from: ini first, then CLI."""
    given: list[tuple[object, str, str]] = []
    ini = _ini(config, name)
    if ini is not None:
        if isinstance(ini, str) and not ini.strip():
            raise InvalidValue(
                f"invalid boundedload_{name}={ini!r} from ini: empty (remove the line to leave it unset)"
            )
        given.append((ini, "ini", f"from ini boundedload_{name}"))
    cli = config.getoption(f"boundedload_{name}")
    if cli is not None:
        given.append((cli, "option", f"from option {_option(name)}"))
    return given


def _setting(
    config: pytest.Config, name: str, parse: Callable[[object, str], T], default: T
) -> tuple[T, str | None]:
    """Validate every value given for ``name`` (an overridden ini value too); the CLI
    wins. Returns the value and its source (None for the default)."""
    value, source = default, None
    for raw, kind, phrase in _given(config, name):
        value, source = parse(raw, phrase), kind
    return value, source


def _parse_interval(raw: object, source: str) -> float:
    interval = parse_duration(raw, key="interval", source=source)
    if interval <= 0:
        raise InvalidValue(f"invalid interval={raw!r} {source}: must be greater than zero")
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise InvalidValue(f"invalid interval={raw!r} {source}: must be from 1 ms to 1 hour")
    return interval


def _parse_summary(raw: object, source: str) -> int:
    return parse_count(raw, key="summary", source=source, allow_zero=True)


def read_settings(config: pytest.Config) -> Settings:
    """Validate every option and ini key; raise ``pytest.UsageError`` on a bad one."""
    try:
        return _read(config)
    except InvalidValue as exc:
        raise pytest.UsageError(f"boundedload: {exc}") from None


def _repeated(args: Sequence[object], where: str) -> None:
    """Refuse a valued option given twice in ``args`` with different values: argparse
    would keep the last one without a word, and which one was meant is a guess."""
    options = {_option(name) for name, *_ in _VALUED}
    seen: dict[str, str] = {}
    rest = iter(args)
    for arg in rest:
        text = str(arg)
        if text == "--":  # the rest are test paths
            return
        option, equals, value = text.partition("=")
        if option not in options:
            continue
        if not equals:
            following = next(rest, None)
            if following is None:
                return  # argparse says the value is missing
            value = str(following)
        if option in seen and seen[option] != value:
            raise InvalidValue(
                f"invalid {option}: given twice {where}, {safe_repr(seen[option])} and {safe_repr(value)}"
                " (give it once)"
            )
        seen[option] = value


def _check_repeated(config: pytest.Config) -> None:
    """Each place options come from is checked alone: across them the later wins, as
    pytest means it (the command line over PYTEST_ADDOPTS over the ini file's addopts)."""
    _repeated(config.invocation_params.args, "on the command line")
    env = os.environ.get("PYTEST_ADDOPTS", "")
    if env.strip():
        try:
            _repeated(shlex.split(env), "in PYTEST_ADDOPTS")
        except ValueError as exc:
            if isinstance(exc, InvalidValue):
                raise
            # pytest has refused it already; nothing to add
    _repeated(config.getini("addopts"), "in the ini file's addopts")


def _check_worker_env(config: pytest.Config) -> None:
    """PYTEST_XDIST_WORKER names files (memray captures); set by hand outside an xdist
    worker, a value that cannot be a file name is refused."""
    worker = os.environ.get(WORKER_ENV)
    if worker is None or hasattr(config, "workerinput") or is_worker_id(worker):
        return
    raise InvalidValue(
        f"invalid {WORKER_ENV}={safe_repr(worker)} from the environment: it becomes part of file names,"
        " so 1 to 64 letters, digits, '_' or '-' (pytest-xdist sets it to gw0, gw1, ...)"
    )


def _read(config: pytest.Config) -> Settings:
    _check_repeated(config)
    _check_worker_env(config)
    parsed: dict[str, int] = {}
    sources: dict[str, str] = {}
    for spec in LIMITS:
        value, source = _setting(config, spec.name, spec.parse, None)
        if value is not None and source is not None:
            parsed[spec.name], sources[spec.name] = value, source
    try:
        method = cap_method()
        if method == "cgroup":  # forced: it must be possible here (a cgroup is made and removed)
            from .isolate.capped import cap_kind

            cap_kind(method)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
    except RuntimeError as exc:
        raise InvalidValue(f"invalid {CAP_METHOD_ENV}='cgroup' from the environment: {exc}") from None
    return Settings(
        cap_method=method,
        limits=Limits(**parsed),
        interval=_setting(config, "interval", _parse_interval, DEFAULT_INTERVAL)[0],
        summary=_setting(config, "summary", _parse_summary, DEFAULT_SUMMARY)[0],
        gate=_read_gate(config),
        limit_sources=sources,
        trace=_read_trace(config),
        measure_all=_ini_bool(config, "boundedload_all") | bool(config.getoption("boundedload_all")),
        isolate=_ini_bool(config, "boundedload_isolate") | bool(config.getoption("boundedload_isolate")),
    )


def _parse_top(raw: object, source: str) -> int:
    return parse_count(raw, key="memray_top", source=source)


def _parse_report_dir(raw: object, source: str) -> Path:
    return output_directory(raw, "report_dir", source, Path.cwd())


def _ini_bool(config: pytest.Config, name: str) -> bool:
    """A boolean ini key; pytest reads "true"/"false"/"1"/"0" and refuses anything else
    without naming the key, so the error is worded again here."""
    found, value = _toml_value(config, name.removeprefix("boundedload_"))
    if found and isinstance(value, bool) and not _overridden(config, name):
        return value
    try:
        return bool(config.getini(name))
    except (ValueError, pytest.UsageError) as exc:
        raise InvalidValue(f"invalid {name} from ini: {exc} (use true or false)") from None


def _read_trace(config: pytest.Config) -> TraceSettings:
    enabled = _ini_bool(config, "boundedload_memray") | bool(config.getoption("boundedload_memray"))
    return TraceSettings(
        enabled=enabled,
        top=_setting(config, "memray_top", _parse_top, DEFAULT_TOP)[0],
        report_dir=_setting(config, "report_dir", _parse_report_dir, None)[0],
    )


def _parse_tolerances(raw: object, source: str) -> dict[str, Tolerance]:
    return parse_tolerance(str(raw), source)


def _read_gate(config: pytest.Config) -> GateSettings:
    save, compare = config.getoption("boundedload_save"), config.getoption("boundedload_compare")
    root = config.rootpath

    def baseline(raw: object, source: str) -> Path:
        # Writable only when the run writes it: a compare-only run reads it (a read-only
        # checkout is fine). The gate says what is wrong with the content of a file.
        if save:
            return output_file(raw, "baseline", source, root)
        return input_file(raw, "baseline", source, root)

    path = _setting(config, "baseline", baseline, None)[0]
    if path is None:
        # A value given is checked in every run; the default only when the gate uses it.
        path = baseline(DEFAULT_PATH, "(the default)") if save or compare else root / DEFAULT_PATH
    json_raw = config.getoption("boundedload_json")
    json_path = None
    if json_raw is not None:
        json_path = output_file(json_raw, "json", "from option --boundedload-json", Path.cwd())
    prune = config.getoption("boundedload_prune")
    allow_missing = config.getoption("boundedload_allow_missing")
    if prune and not save:
        raise InvalidValue("invalid --boundedload-prune: it only applies with --boundedload-save")
    if allow_missing and not compare:
        raise InvalidValue("invalid --boundedload-allow-missing: it only applies with --boundedload-compare")
    return GateSettings(
        path=path,
        save=save,
        compare=compare,
        prune=prune,
        allow_missing=allow_missing,
        tolerances=_setting(config, "tolerance", _parse_tolerances, dict(DEFAULT_TOLERANCES))[0],
        json_path=json_path,
    )
