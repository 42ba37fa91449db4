"""Generated bad values through every channel: marker, ini file, pyproject.toml and the
command line. Each must stop the run with a clean usage error that names the key and the
value: never a traceback, an INTERNALERROR, a warning alone, or a silent pass.

Four tests of 130 examples each: 520 bad values per run of the suite.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_boundedload.limits import LIMITS
from pytest_boundedload.units import safe_repr

if TYPE_CHECKING:
    from conftest import Project

EXAMPLES = 130
SIZE_KEYS = tuple(spec.name for spec in LIMITS if spec.is_size)
COUNT_KEYS = tuple(spec.name for spec in LIMITS if not spec.is_size)

# Text that no parser of ours reads as a valid value of any kind, stable under the
# stripping an ini file does: it starts and ends with a letter no unit or keyword has.
_junk = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S")), min_size=1, max_size=12).map(
    lambda text: f"q{text}q"
)
_negative = st.integers(max_value=-1).map(str)
_huge = st.integers(min_value=2**61, max_value=10**30).map(str)
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
    st.sampled_from(["0", "2.5", "1e3", "ten", "nan", "inf", "5 MiB", "0x10", "1_000_000_000_000_000"]),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()).map(repr),
)
_bad_intervals = st.one_of(
    _junk,
    _negative,
    st.sampled_from(["0", "0ms", "0.5ms", "1e10", "5 M", "2 h", "nan", "inf", "-5ms", "10 parsecs", "3601s"]),
)
_bad_summaries = st.one_of(_junk, _negative, st.sampled_from(["1.5", "ten", "nan", "1e3", "-0.5"]))
_bad_tolerances = st.one_of(
    _junk,
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
_bad_tops = st.one_of(_junk, _negative, st.sampled_from(["0", "2.5", "many"]))

# (key, strategy of bad text values) for the ini, pyproject and command-line channels.
_TEXT_CASES = st.one_of(
    st.tuples(st.sampled_from(SIZE_KEYS), _bad_sizes),
    st.tuples(st.sampled_from(COUNT_KEYS), _bad_counts),
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
    named = f"invalid {key}=" if key != "tolerance" else "invalid tolerance "
    assert named in errors[0] or f"unknown limit {key}=" in errors[0], (key, errors[0])
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
