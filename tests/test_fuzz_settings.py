"""Generated bad values through every channel: marker, ini file, pyproject.toml, the
command line and the environment. Each must stop the run with a clean usage error that
names the key and the value: never a traceback, an INTERNALERROR, a hang, a warning
alone, or a silent pass.

The classes: values each parser refuses (counts of thousands of digits among them),
pyproject.toml values of the wrong TOML type, baseline paths that cannot be read,
BOUNDEDLOAD_CAP and PYTEST_XDIST_WORKER values, and an option given twice. Eight tests
of 130 examples each: 1,040 bad values per run of the suite.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import sys
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_boundedload.baseline.store import COUNTS
from pytest_boundedload.limits import LIMITS
from pytest_boundedload.units import safe_repr

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

if TYPE_CHECKING:
    from conftest import Project

EXAMPLES = 80
SIZE_KEYS = tuple(spec.name for spec in LIMITS if spec.is_size)
COUNT_KEYS = tuple(spec.name for spec in LIMITS if not spec.is_size)
COUNT_METRICS = COUNTS
POSITIVE_COUNT_KEYS = tuple(spec.name for spec in LIMITS if not spec.is_size and not spec.allow_zero)

# Text that no parser of ours reads as a valid value of any kind, stable under the
# stripping an ini file does: it starts and ends with a letter no unit or keyword has.
_junk = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S")), min_size=1, max_size=12).map(
    lambda text: f"q{text}q"
)
_negative = st.integers(max_value=-1).map(str)
# More digits than int() takes from a string (4,300): before the check, a ValueError of
# its own. As marker objects, ints whose repr() fails.
_digits = st.integers(min_value=4301, max_value=6000)
_thousands_of_digits = st.builds(lambda n, d: d * n, _digits, st.sampled_from("123456789"))
_huge = st.one_of(st.integers(min_value=2**61, max_value=10**30).map(str), _thousands_of_digits)
_bad_sizes = st.one_of(
    _junk,
    _negative,
    _huge,
    st.sampled_from(
        ["0", "-1 MiB", "12 parsecs", "nan", "inf", "1e400", "5 MiBs", "MiB", "1.5.2 GiB", "2000 EiB"]
    ),
    st.builds(
        lambda n, unit: f"{n} {unit}",
        st.integers(1, 10**6),
        st.sampled_from(["parsecs", "Mb/s", "xB", "gigs"]),
    ),
)
_bad_counts = st.one_of(
    _junk,
    _negative,
    _huge,
    # "0" only for the counts that refuse it (max_processes=0 and max_tasks=0 are limits)
    st.sampled_from(["2.5", "1e3", "ten", "nan", "inf", "5 MiB", "0x10", "1_000_000_000_000_000"]),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()).map(repr),
)
_bad_intervals = st.one_of(
    _junk,
    _negative,
    st.sampled_from(["0", "0ms", "0.5ms", "1e10", "5 M", "2 h", "nan", "inf", "-5ms", "10 parsecs", "3601s"]),
)
_bad_summaries = st.one_of(
    _junk, _negative, _thousands_of_digits, st.sampled_from(["1.5", "ten", "nan", "1e3", "-0.5"])
)
_bad_tolerances = st.one_of(
    _junk,
    st.builds(lambda metric, n: f"{metric}:{n}", st.sampled_from(COUNT_METRICS), _thousands_of_digits),
    st.builds(lambda n: f"{n}%+1MiB", _thousands_of_digits),
    st.builds(lambda n: f"rss_growth:10%+{n} KiB", _thousands_of_digits),
    st.sampled_from(
        [
            "9" * 400 + "%",
            "max_taks:0",
            "rss_growth:5%,rss_growth:5%",
            "10%+",
            "-5%",
            "rss:5%",
            "max_tasks:-1",
            "10%+1 parsec",
            "%",
            "nan%",
        ]
    ),
)
_bad_tops = st.one_of(_junk, _negative, _thousands_of_digits, st.sampled_from(["0", "2.5", "many"]))

# (key, strategy of bad text values) for the ini, pyproject and command-line channels.
_TEXT_CASES = st.one_of(
    st.tuples(st.sampled_from(SIZE_KEYS), _bad_sizes),
    st.tuples(st.sampled_from(COUNT_KEYS), _bad_counts),
    st.tuples(st.sampled_from(POSITIVE_COUNT_KEYS), st.just("0")),
    st.tuples(st.just("interval"), _bad_intervals),
    st.tuples(st.just("summary"), _bad_summaries),
    st.tuples(st.just("tolerance"), _bad_tolerances),
    st.tuples(st.just("memray_top"), _bad_tops),
)


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


_marker_objects = st.one_of(
    st.builds(list, st.lists(st.integers(), max_size=3)),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(True),
    st.just(None),
    st.just(_BadRepr()),
    st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda x: not (math.isfinite(x) and x.is_integer())
    ),
    st.integers(min_value=2**61),
    st.integers(max_value=-1),
    _digits.map(lambda n: 10**n),
    _digits.map(lambda n: -(10**n) + 1),
)
_MARKER_CASES = st.one_of(
    st.tuples(st.sampled_from(SIZE_KEYS), st.one_of(_bad_sizes, _marker_objects)),
    st.tuples(st.sampled_from(COUNT_KEYS), st.one_of(_bad_counts, _marker_objects)),
    st.tuples(st.just("memray"), st.one_of(_junk, st.integers(), st.just(None), st.just(1.0))),
    st.tuples(st.sampled_from(["max_taks", "maxrss", "limit", "memory"]), st.integers(1, 100)),
)

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _shown(key: str, value: object) -> list[str]:
    """How the error may show the value: whole, or (a tolerance) the part it rejects."""
    shown = [safe_repr(value)]
    if key == "tolerance" and isinstance(value, str):
        for part in value.split(","):
            shown += [repr(part), repr(part.split(":", 1)[-1])]
    return [text[:60] for text in shown]


def _is_clean_usage_error(project: Project, key: str, shown: list[str], *args: str) -> None:
    run = project.run_inprocess("--collect-only", *args)
    text = run.text
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("ERROR: boundedload: ")]
    assert len(errors) == 1, text
    # The key as the message names it: ``max_rss=...`` (not a longer key that starts with
    # it), or ``tolerance '...'`` / ``tolerance for <metric> '...'``.
    named = [f"invalid {key}=", f"unknown limit {key}="] + (
        ["invalid tolerance "] if key == "tolerance" else []
    )
    assert any(text in errors[0] for text in named), (key, errors[0])
    assert any(text in errors[0] for text in shown), (shown, errors[0])


@FUZZ
@given(case=_TEXT_CASES)
def test_bad_command_line_values(project: Project, case: tuple[str, str]) -> None:
    key, value = case
    option = "--boundedload-" + key.replace("_", "-")
    extra = ("--boundedload-compare", "--boundedload-allow-missing") if key == "tolerance" else ()
    _is_clean_usage_error(project, key, _shown(key, value), f"{option}={value}", *extra)


@FUZZ
@given(case=_TEXT_CASES)
def test_bad_ini_values(project: Project, case: tuple[str, str]) -> None:
    key, value = case
    project.pytester.makeini(f"[pytest]\nboundedload_{key} = {value}\n")
    extra = ("--boundedload-compare", "--boundedload-allow-missing") if key == "tolerance" else ()
    _is_clean_usage_error(project, key, _shown(key, value), *extra)
    (project.path / "tox.ini").unlink(missing_ok=True)


@FUZZ
@given(case=_TEXT_CASES)
def test_bad_pyproject_values(project: Project, case: tuple[str, str]) -> None:
    key, value = case
    (project.path / "pytest.ini").unlink(missing_ok=True)
    project.pytester.makepyprojecttoml(
        f"[tool.pytest.ini_options]\nboundedload_{key} = {json.dumps(value, ensure_ascii=False)}\n"
    )
    extra = ("--boundedload-compare", "--boundedload-allow-missing") if key == "tolerance" else ()
    _is_clean_usage_error(project, key, _shown(key, value), *extra)


@FUZZ
@given(case=_MARKER_CASES)
def test_bad_marker_values(project: Project, case: tuple[str, Any]) -> None:
    key, value = case
    # The value travels as a module-level object, so any Python value can be a keyword.
    project.pytester.makeconftest(
        (project.path / "conftest.py").read_text().split("\n# fuzz\n")[0]
        + "\n# fuzz\nimport pickle\n"
        + f"VALUE = pickle.loads({__import__('pickle').dumps(value)!r})\n"
    )
    source = f"import pytest\nfrom conftest import VALUE\n\n@pytest.mark.boundedload({key}=VALUE)\n"
    project.pytester.makepyfile(test_marked=source + "def test_x():\n    pass\n")
    _is_clean_usage_error(project, key, _shown(key, value))


# --- pyproject.toml values of the wrong TOML type -----------------------------------------

_KEYS_BY_KIND = {
    "path": ("baseline", "report_dir"),
    "size": SIZE_KEYS,
    "count": (*COUNT_KEYS, "summary", "memray_top"),
    "duration": ("interval",),
    "text": ("tolerance",),
    "flag": ("memray", "all"),
}
_toml_scalars = {
    "integer": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False),
    "boolean": st.booleans(),
    "date": st.dates(),
    "time": st.times(),
    "datetime": st.datetimes(),
    "string": st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=8),
}
_toml_values = st.recursive(
    st.one_of(*_toml_scalars.values()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), inner, max_size=2),
    ),
    max_leaves=4,
)
# The TOML types each kind refuses (a flag: all but a boolean or a string).
_WRONG = {
    "path": (int, float, bool, list, dict, dt.date, dt.time),
    "size": (float, bool, list, dict, dt.date, dt.time),
    "count": (float, bool, list, dict, dt.date, dt.time),
    "duration": (bool, list, dict, dt.date, dt.time),
    "text": (int, float, bool, list, dict, dt.date, dt.time),
    "flag": (int, float, list, dict, dt.date, dt.time),
}


def _toml(value: object) -> str:
    """``value`` as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "inf" if value == math.inf else "-inf" if value == -math.inf else repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + "}"


def _wrong_type(kind: str) -> st.SearchStrategy[tuple[str, object]]:
    wrong = _WRONG[kind]
    values = _toml_values.filter(lambda v: isinstance(v, wrong))
    if kind in ("size", "count"):  # bool is an int, and refused as one
        values = values.filter(lambda v: isinstance(v, bool) or not isinstance(v, int))
    if kind == "flag":
        values = values.filter(lambda v: not isinstance(v, bool))
    return st.tuples(st.sampled_from(_KEYS_BY_KIND[kind]), values)


_TOML_CASES = st.one_of(*(_wrong_type(kind) for kind in _KEYS_BY_KIND))


@FUZZ
@given(case=_TOML_CASES, table=st.sampled_from(["tool.pytest.ini_options", "tool.pytest"]))
def test_bad_pyproject_types(project: Project, case: tuple[str, object], table: str) -> None:
    key, value = case
    text = _toml(value)
    project.pytester.makepyprojecttoml(f"[{table}]\nboundedload_{key} = {text}\n")
    read = tomllib.loads(f"x = {text}")["x"]  # the value as TOML gives it (floats rounded)
    named = f"boundedload_{key}" if key in _KEYS_BY_KIND["flag"] else key
    _is_clean_usage_error(project, named, [safe_repr(read)[:60]], "--boundedload-save")
    assert sorted(p.name for p in project.path.iterdir()) == [
        "conftest.py",
        "pyproject.toml",
    ]  # nothing written


# --- baseline paths that cannot be read, in compare mode ----------------------------------

_PSEUDO_ROOTS = st.sampled_from(["/proc", "/proc/self", "/sys", "/sys/kernel"])
_bad_read_paths = st.one_of(
    st.builds(lambda a, b: f"{a}\0{b}.json", st.from_regex(r"[a-z]{0,5}", fullmatch=True), st.just("x")),
    st.integers(256, 400).map(lambda n: "b" * n + ".json"),
    st.builds(
        lambda root, name: f"{root}/{name}", _PSEUDO_ROOTS, st.from_regex(r"[a-z]{1,8}", fullmatch=True)
    ),
    st.sampled_from(
        [
            "",
            " ",
            ".",
            "./",
            "sub",
            "sub/",
            "fifo",
            "/dev/zero",
            "/dev/urandom",
            "/dev/null",
            "loop/b.json",
            "loop",
        ]
    ),
)


@FUZZ
@given(
    value=_bad_read_paths,
    channel=st.sampled_from(["option", "ini", "pyproject"]),
    gate=st.sampled_from(
        [(), ("--boundedload-compare",), ("--boundedload-compare", "--boundedload-allow-missing")]
    ),
)
def test_bad_baseline_paths_to_read(
    project: Project, value: str, channel: str, gate: tuple[str, ...]
) -> None:
    _odd_files(project)
    for name in ("tox.ini", "pyproject.toml"):  # what earlier examples wrote
        (project.path / name).unlink(missing_ok=True)
    args = gate
    if channel == "option":
        args = (*gate, f"--boundedload-baseline={value}")
    elif channel == "ini":
        project.pytester.makeini(f"[pytest]\nboundedload_baseline = {value}\n")
    else:
        project.pytester.makepyprojecttoml(
            f"[tool.pytest.ini_options]\nboundedload_baseline = {json.dumps(value)}\n"
        )
    # An ini file strips the value; an empty one is refused as an empty ini line.
    shown = repr(value.strip() if channel == "ini" else value)
    if channel == "ini" and not value.strip():
        _is_clean_usage_error(project, "boundedload_baseline", [shown], *args)
    else:
        _is_clean_usage_error(project, "baseline", [shown[:60]], *args)


def _odd_files(project: Project) -> None:
    """A directory, a FIFO and a symbolic link loop in the project (once)."""
    if (project.path / "sub").exists():
        return
    (project.path / "sub").mkdir()
    os.mkfifo(project.path / "fifo")
    (project.path / "loop").symlink_to("loop2")
    (project.path / "loop2").symlink_to("loop")


# --- the environment ----------------------------------------------------------------------

_env_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\0", exclude_categories=("Cs",)), max_size=20
)
_ENV_CASES = st.one_of(
    st.tuples(st.just("BOUNDEDLOAD_CAP"), st.text(st.sampled_from(" \t\n"), max_size=4)),
    st.tuples(
        st.just("BOUNDEDLOAD_CAP"), _env_text.filter(lambda v: v.strip() not in ("auto", "cgroup", "rlimit"))
    ),
    st.tuples(
        st.just("PYTEST_XDIST_WORKER"),
        st.one_of(
            st.builds(lambda a, b: f"{a}/{b}", _env_text, _env_text),
            st.builds(lambda a: f"..{a}", _env_text),
            st.integers(65, 300).map(lambda n: "w" * n),
            st.just(""),
            _env_text.filter(lambda v: re.fullmatch(r"[A-Za-z0-9_-]{1,64}", v) is None),
        ),
    ),
)


@FUZZ
@given(case=_ENV_CASES)
def test_bad_environment_values(project: Project, case: tuple[str, str]) -> None:
    name, value = case
    with pytest.MonkeyPatch.context() as env:
        env.setenv(name, value)
        _is_clean_usage_error(project, name, [safe_repr(value)[:60]])


# --- an option given twice with different values -------------------------------------------

_VALUED = (
    *SIZE_KEYS,
    *COUNT_KEYS,
    "interval",
    "summary",
    "baseline",
    "tolerance",
    "json",
    "memray_top",
    "report_dir",
)


@FUZZ
@given(
    key=st.sampled_from(_VALUED),
    values=st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=10), min_size=2,
                    max_size=2, unique=True),
    spaced=st.booleans(),
)  # fmt: skip
def test_options_given_twice(project: Project, key: str, values: list[str], spaced: bool) -> None:
    option = "--boundedload-" + key.replace("_", "-")
    first, second = values
    # "--opt value" reads a value that starts with "-" as an option: only "--opt=value" then.
    args = [option, first] if spaced and not first.startswith("-") else [f"{option}={first}"]
    run = project.run_inprocess("--collect-only", *args, f"{option}={second}")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.text
    assert "Traceback" not in run.text and "INTERNALERROR" not in run.text, run.text
    errors = [line for line in run.text.splitlines() if line.startswith("ERROR: boundedload: ")]
    assert errors == [
        f"ERROR: boundedload: invalid {option}: given twice on the command line,"
        f" {safe_repr(first)} and {safe_repr(second)} (give it once)"
    ], run.text
