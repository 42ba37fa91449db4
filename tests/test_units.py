"""Direct tests of the size, count and duration parsers and of format_size."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_boundedload import InvalidValue, format_size, parse_duration, parse_size
from pytest_boundedload.units import parse_count, safe_repr

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40

SIZE_HINT = "(use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)"
DURATION_HINT = "(use s, ms, us, ns or min)"
INI = "from ini boundedload_max_rss"


# --- parse_size -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (4096, 4096),
        ("100", 100),
        ("100 B", 100),
        ("100b", 100),
        ("512 MiB", 512 * MiB),
        ("1 KiB", 1024),
        ("1KiB", 1024),
        ("2 GiB", 2 * GiB),
        ("3 TiB", 3 * TiB),
        ("10kb", 10_000),
        ("1 kB", 1000),
        ("1.5GB", 1_500_000_000),
        ("2 MB", 2_000_000),
        ("1 TB", 10**12),
        ("  512 MiB  ", 512 * MiB),
        ("1e3", 1000),
        (".5 KiB", 512),
    ],
)
def test_parse_size_accepts(value: object, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize("text", ["512 mib", "512 MIB", "512 MiB", "512 mIb"])
def test_parse_size_units_are_case_insensitive(text: str) -> None:
    assert parse_size(text) == 512 * MiB


@pytest.mark.parametrize("text", ["10kb", "10KB", "10kB", "10Kb"])
def test_parse_size_decimal_units_are_case_insensitive(text: str) -> None:
    assert parse_size(text) == 10_000


@pytest.mark.parametrize(
    ("binary", "decimal", "base"),
    [("KiB", "kB", 1), ("MiB", "MB", 2), ("GiB", "GB", 3), ("TiB", "TB", 4)],
)
def test_parse_size_binary_vs_decimal(binary: str, decimal: str, base: int) -> None:
    assert parse_size(f"1 {binary}") == 1024**base
    assert parse_size(f"1 {decimal}") == 1000**base
    assert parse_size(f"1 {binary}") != parse_size(f"1 {decimal}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5 KiB", 1536),  # exact
        ("1.9 B", 1),  # fractions round down, never up
        ("1.0001 KiB", 1024),  # 1024.1024 bytes -> 1024
        ("0.999 KiB", 1022),  # 1022.976 bytes -> 1022
        ("2.5 B", 2),
    ],
)
def test_parse_size_fractions_round_down(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_fraction_below_one_byte_is_zero() -> None:
    assert parse_size("0.5 B", allow_zero=True) == 0
    with pytest.raises(InvalidValue) as excinfo:
        parse_size("0.5 B")
    assert str(excinfo.value) == "invalid size='0.5 B': must be greater than zero"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("12 parsecs", f"unknown unit 'parsecs' {SIZE_HINT}"),
        (-1, "must not be negative"),
        (0, "must be greater than zero"),
        ("0 MiB", "must be greater than zero"),
        (True, "expected an int of bytes or a string like '512 MiB'"),
        (False, "expected an int of bytes or a string like '512 MiB'"),
        (1.5, "expected an int of bytes or a string like '512 MiB'"),
        (None, "expected an int of bytes or a string like '512 MiB'"),
        ("", f"not a size {SIZE_HINT}"),
        ("MiB", f"not a size {SIZE_HINT}"),
        ("-5 MiB", f"not a size {SIZE_HINT}"),
        ("5 M i B", f"not a size {SIZE_HINT}"),
        ("5 mebibytes", f"unknown unit 'mebibytes' {SIZE_HINT}"),
    ],
)
def test_parse_size_errors_name_key_value_and_source(value: object, why: str) -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_size(value, key="max_rss", source=INI)
    assert str(excinfo.value) == f"invalid max_rss={value!r} {INI}: {why}"


def test_parse_size_error_exact_text_examples() -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_size("12 parsecs", key="max_rss", source=INI)
    assert str(excinfo.value) == (
        "invalid max_rss='12 parsecs' from ini boundedload_max_rss: unknown unit 'parsecs'"
        " (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)"
    )
    with pytest.raises(InvalidValue) as excinfo:
        parse_size(None, key="max_rss", source=INI)
    assert str(excinfo.value) == (
        "invalid max_rss=None from ini boundedload_max_rss:"
        " expected an int of bytes or a string like '512 MiB'"
    )


def test_parse_size_error_without_source_has_no_dangling_space() -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_size(-1)
    assert str(excinfo.value) == "invalid size=-1: must not be negative"


def test_invalid_value_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="must be greater than zero"):
        parse_size(0)


def test_parse_size_allow_zero() -> None:
    assert parse_size(0, allow_zero=True) == 0
    assert parse_size("0", allow_zero=True) == 0
    assert parse_size("0 KiB", allow_zero=True) == 0
    with pytest.raises(InvalidValue) as excinfo:
        parse_size(-1, key="payload", allow_zero=True)
    assert str(excinfo.value) == "invalid payload=-1: must not be negative"


@pytest.mark.parametrize(("text", "expected"), [("4.1 MB", 4_100_000), ("2.01 kB", 2010)])
def test_parse_size_exact_decimal_fractions(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_overflowing_number_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        parse_size("1e400 B")


# --- parse_count ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("50", 50), (50, 50), (" 7 ", 7), (1, 1)])
def test_parse_count_accepts(value: object, expected: int) -> None:
    assert parse_count(value) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (0, "must be greater than zero"),
        ("0", "must be greater than zero"),
        (-1, "must not be negative"),
        (1.5, "expected a positive integer"),
        (True, "expected a positive integer"),
        ("5.0", "expected a positive integer"),
        ("abc", "expected a positive integer"),
        ("-1", "expected a positive integer"),
        (None, "expected a positive integer"),
    ],
)
def test_parse_count_errors(value: object, why: str) -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_count(value, key="max_tasks", source="from marker on t.py::test_x")
    assert str(excinfo.value) == f"invalid max_tasks={value!r} from marker on t.py::test_x: {why}"


def test_parse_count_error_exact_text_examples() -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_count("abc")
    assert str(excinfo.value) == "invalid count='abc': expected a positive integer"
    with pytest.raises(InvalidValue) as excinfo:
        parse_count(-1)
    assert str(excinfo.value) == "invalid count=-1: must not be negative"


def test_parse_count_superscript_digit_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        parse_count("²")


NINES = "9" * 5000  # int() refuses more than 4,300 digits with a ValueError of its own
SHOWN_NINES = f"'{NINES[:99]}... (5,000 characters)"


@pytest.mark.parametrize("value", [NINES, f" {NINES} ", "0" * 4990 + "1" * 13])
def test_parse_count_of_thousands_of_digits_is_too_large(value: str) -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_count(value, key="summary", source="from option --boundedload-summary", allow_zero=True)
    shown = SHOWN_NINES if value == NINES else safe_repr(value)
    assert str(excinfo.value) == (
        f"invalid summary={shown} from option --boundedload-summary: too large (at most 1,099,511,627,776)"
    )


def test_parse_count_of_leading_zeros_is_the_number() -> None:
    assert parse_count("0" * 5000 + "42") == 42


def test_parse_count_of_an_int_of_thousands_of_digits_is_too_large() -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_count(10**5000, key="max_tasks", source="from marker on t.py::test_x")
    assert str(excinfo.value) == (
        "invalid max_tasks=<int of 5,001 digits> from marker on t.py::test_x:"
        " too large (at most 1,099,511,627,776)"
    )


def test_parse_size_of_thousands_of_digits_is_too_large() -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_size(NINES + " KiB", key="max_rss", source=INI)
    assert str(excinfo.value) == (
        f"invalid max_rss='{NINES[:99]}... (5,004 characters) {INI}: too large (at most 1 EiB)"
    )
    with pytest.raises(InvalidValue) as excinfo:
        parse_size(-(10**5000), key="max_rss", source=INI)
    assert str(excinfo.value) == f"invalid max_rss=<int of 5,001 digits> {INI}: must not be negative"


def test_parse_count_zero_refused_with_a_reason() -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_count(0, key="max_threads", why_not_zero="the test's own thread counts")
    assert str(excinfo.value) == (
        "invalid max_threads=0: must be greater than zero (the test's own thread counts)"
    )
    assert parse_count("0", key="max_processes", allow_zero=True) == 0


# --- safe_repr ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("x" * 118, repr("x" * 118)),  # 120 characters with its quotes: whole
        ("x" * 119, f"'{'x' * 99}... (119 characters)"),
        ([1] * 50, f"{repr([1] * 50)[:100]}... (150 characters long)"),
        (10**4299, str(10**4299)[:100] + "... (4,300 characters long)"),  # repr still works
        (10**4300, "<int of 4,301 digits>"),  # the first that repr() refuses
        (-(10**4301) + 1, "<int of 4,301 digits>"),  # 4,301 nines: just under a power of ten
        (10**4301, "<int of 4,302 digits>"),
    ],
    ids=["118", "119", "list", "4300-digits", "4301-digits", "4301-nines", "4302-digits"],
)
def test_safe_repr_shortens_long_values(value: object, shown: str) -> None:
    assert safe_repr(value) == shown


# --- parse_duration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5ms", 0.005),
        ("5 MS", 0.005),
        ("1.5 s", 1.5),
        ("1.5S", 1.5),
        ("3", 3.0),
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("100ns", 100e-9),
        ("2min", 120.0),
        ("2 MIN", 120.0),
        ("1m", 60.0),
        (0.005, 0.005),
        (2, 2.0),
        (0, 0.0),
        ("0", 0.0),
        ("0ms", 0.0),
    ],
)
def test_parse_duration_accepts(value: object, expected: float) -> None:
    seconds = parse_duration(value)
    assert isinstance(seconds, float)
    assert seconds == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (-1, "must not be negative"),
        (-0.5, "must not be negative"),
        ("fast", f"not a duration {DURATION_HINT}"),
        ("", f"not a duration {DURATION_HINT}"),
        ("5 parsecs", f"unknown unit 'parsecs' {DURATION_HINT}"),
        ("5 h", f"unknown unit 'h' {DURATION_HINT}"),
        (float("inf"), "must be a finite number of seconds"),
        (float("-inf"), "must be a finite number of seconds"),
        (float("nan"), "must be a finite number of seconds"),
        ("1e400 s", "must be a finite number of seconds"),
        (True, "expected seconds or a string like '5ms'"),
        (None, "expected seconds or a string like '5ms'"),
    ],
)
def test_parse_duration_errors(value: object, why: str) -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_duration(value, key="latency", source="in flood.tasks()")
    assert str(excinfo.value) == f"invalid latency={value!r} in flood.tasks(): {why}"


def test_parse_duration_error_exact_text_examples() -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_duration(float("nan"))
    assert str(excinfo.value) == "invalid duration=nan: must be a finite number of seconds"
    with pytest.raises(InvalidValue) as excinfo:
        parse_duration("5 parsecs")
    assert str(excinfo.value) == (
        "invalid duration='5 parsecs': unknown unit 'parsecs' (use s, ms, us, ns or min)"
    )
    with pytest.raises(InvalidValue) as excinfo:
        parse_duration("fast")
    assert str(excinfo.value) == "invalid duration='fast': not a duration (use s, ms, us, ns or min)"


# --- format_size ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (50 * MiB, "50.0 MiB"),
        (52_428_800, "50.0 MiB"),
        (3 * GiB, "3.0 GiB"),
        (GiB + GiB // 4, "1.2 GiB"),  # 1.25 rounds half to even
        (2 * TiB, "2.0 TiB"),
        (5 * 1024 * TiB, "5120.0 TiB"),  # TiB is the largest unit
        (-1536, "-1.5 KiB"),
        (-100, "-100 B"),
        (-50 * MiB, "-50.0 MiB"),
        (1536.0, "1.5 KiB"),
    ],
)
def test_format_size(n: int | float, expected: str) -> None:
    assert format_size(n) == expected


# --- properties -------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=2**50))
def test_format_then_parse_is_within_five_percent(n: int) -> None:
    back = parse_size(format_size(n))
    assert math.isclose(back, n, rel_tol=0.05), (n, format_size(n), back)


@given(st.integers(min_value=1, max_value=2**50))
def test_parse_of_plain_digits_is_exact(n: int) -> None:
    assert parse_size(str(n)) == n
    assert parse_size(n) == n
    assert parse_size(f"{n} B") == n


@given(st.integers(min_value=1, max_value=1023))
def test_format_then_parse_is_exact_below_one_kib(n: int) -> None:
    assert parse_size(format_size(n)) == n
