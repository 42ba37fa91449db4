"""Pure parsers and formatters for sizes, durations and counts.

Every parser takes the raw value and a ``source`` phrase ("from marker on
tests/test_x.py::test_y", "from ini boundedload_max_rss") and raises
:class:`InvalidValue` whose message names the key, the value and the source, so the
plugin can turn it into a ``pytest.UsageError`` without adding context of its own.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import TypeVar

__all__ = [
    "MAX_BYTES",
    "MAX_COUNT",
    "InvalidValue",
    "format_size",
    "parse_count",
    "parse_duration",
    "parse_size",
    "safe_repr",
]

_Unit = TypeVar("_Unit", int, float)

_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}
_SIZE_HINT = "use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB"

_DURATION_UNITS: dict[str, float] = {
    "": 1.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
    "m": 60.0,
    "min": 60.0,
}
_DURATION_HINT = "use s, ms, us, ns or min"

_DIGITS = re.compile(r"[0-9]+")
# Larger sizes are no real limit and overflow the kernel's 64-bit fields (a hard_limit of
# 2**64 bytes would wrap around to 0); larger counts are no real limit either.
MAX_BYTES = 1 << 60
MAX_COUNT = 1 << 40
_NUMBER_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([^\s0-9.]*)\s*$")


class InvalidValue(ValueError):
    """A setting's value cannot be used; the message is complete and user-facing."""


# A value whose repr is longer than this is shown by its first 100 characters and its
# length: an error message that repeats 5,000 digits hides what it says.
_SHOWN, _START = 120, 100


def safe_repr(value: object) -> str:
    """``repr(value)``, cut to its start and its length when over 120 characters, or a
    stand-in naming its type when that repr raises (an int of more than 4,300 digits is
    shown by its number of digits)."""
    try:
        text = repr(value)
    except Exception:
        if isinstance(value, int):
            return f"<int of {_digit_count(value):,} digits>"
        return f"<{type(value).__name__} object whose repr() fails>"
    if len(text) <= _SHOWN:
        return text
    length = f"{len(value):,} characters" if isinstance(value, str) else f"{len(text):,} characters long"
    return f"{text[:_START]}... ({length})"


def _digit_count(value: int) -> int:
    """How many decimal digits ``value`` has, however many (``str`` refuses more than 4,300)."""
    value = abs(value)
    if value < 10:
        return 1
    digits = int(math.log10(value))  # a float: off by one near a power of ten, mended below
    if 10**digits > value:
        digits -= 1
    elif 10 ** (digits + 1) <= value:
        digits += 1
    return digits + 1


def _fail(key: str, value: object, source: str, why: str) -> InvalidValue:
    where = f" {source}" if source else ""
    return InvalidValue(f"invalid {key}={safe_repr(value)}{where}: {why}")


def _number_and_unit(
    value: str,
    units: dict[str, _Unit],
    hint: str,
    what: str,
    key: str,
    source: str,
    *,
    refused: frozenset[str] = frozenset(),
) -> tuple[str, _Unit]:
    """Split ``"1.5 GiB"`` into the number's text and the unit's multiplier. Units match
    whatever their case, except the spellings in ``refused``."""
    match = _NUMBER_UNIT.match(value)
    if match is None:
        raise _fail(key, value, source, f"not a {what} ({hint})")
    number, unit = match.groups()
    multiplier = None if unit in refused else units.get(unit.lower())
    if multiplier is None:
        raise _fail(key, value, source, f"unknown unit {unit!r} ({hint})")
    return number, multiplier


def parse_size(value: object, *, key: str = "size", source: str = "", allow_zero: bool = False) -> int:
    """Return ``value`` as a number of bytes.

    Accepts an int of bytes or a string such as ``"512 MiB"``, ``"1.5GB"`` or ``"100"``.
    Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (kB, MB, GB, TB)
    powers of 1000; units are case-insensitive. Fractions round down to whole bytes.
    Zero is refused unless ``allow_zero``; negative values, bools and floats are refused.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _fail(key, value, source, "expected an int of bytes or a string like '512 MiB'")
    if isinstance(value, int):
        amount = value
    else:
        number, multiplier = _number_and_unit(value, _SIZE_UNITS, _SIZE_HINT, "size", key, source)
        # Decimal keeps "4.1 MB" at 4,100,000 bytes, where float arithmetic loses one.
        exact = Decimal(number) * multiplier
        if exact > MAX_BYTES:
            raise _fail(key, value, source, "too large (at most 1 EiB)")
        amount = int(exact)
    if amount > MAX_BYTES:
        raise _fail(key, value, source, "too large (at most 1 EiB)")
    return _check_amount(amount, key, value, source, allow_zero)


def _check_amount(
    amount: int, key: str, value: object, source: str, allow_zero: bool, why_not_zero: str = ""
) -> int:
    if amount < 0:
        raise _fail(key, value, source, "must not be negative")
    if amount == 0 and not allow_zero:
        why = f" ({why_not_zero})" if why_not_zero else ""
        raise _fail(key, value, source, f"must be greater than zero{why}")
    return amount


def parse_count(
    value: object, *, key: str = "count", source: str = "", allow_zero: bool = False, why_not_zero: str = ""
) -> int:
    """Return ``value`` as a positive int (``allow_zero``: an int >= 0); digit strings
    ("50") are accepted. ``why_not_zero`` ends the message that refuses a 0."""
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        digits = value.strip().lstrip("0") or "0"
        # int() refuses more than 4,300 digits with a ValueError of its own; such a count
        # is too large anyway.
        if len(digits) > len(str(MAX_COUNT)):
            raise _fail(key, value, source, f"too large (at most {MAX_COUNT:,})")
        amount = int(digits)
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = value
    else:
        raise _fail(
            key, value, source, "expected an integer >= 0" if allow_zero else "expected a positive integer"
        )
    if amount > MAX_COUNT:
        raise _fail(key, value, source, f"too large (at most {MAX_COUNT:,})")
    return _check_amount(amount, key, value, source, allow_zero, why_not_zero)


def parse_duration(value: object, *, key: str = "duration", source: str = "") -> float:
    """Return ``value`` in seconds.

    Accepts an int or float of seconds or a string such as ``"5ms"``, ``"1.5 s"``,
    ``"250us"``. Zero is allowed; negative, infinite and NaN values are refused.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _fail(key, value, source, "expected seconds or a string like '5ms'")
    if isinstance(value, str):
        # "5 M" is more likely megabytes than minutes: a bare capital M is refused.
        number, multiplier = _number_and_unit(
            value, _DURATION_UNITS, _DURATION_HINT, "duration", key, source, refused=frozenset({"M"})
        )
        seconds = float(number) * multiplier
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise _fail(key, value, source, "must be a finite number of seconds")
    if seconds < 0:
        raise _fail(key, value, source, "must not be negative")
    return seconds


def format_size(n: int | float) -> str:
    """Format a byte count for people: ``1536 -> "1.5 KiB"``, ``52428800 -> "50.0 MiB"``."""
    amount = abs(int(n))
    sign = "-" if n < 0 and amount else ""
    if amount < 1024:
        return f"{sign}{amount} B"
    scaled = float(amount)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        # Compare what will be printed, so 1048575 bytes reads "1.0 MiB", not "1024.0 KiB".
        if round(scaled, 1) < 1024:
            return f"{sign}{scaled:.1f} {unit}"
    return f"{sign}{scaled / 1024:.1f} TiB"
