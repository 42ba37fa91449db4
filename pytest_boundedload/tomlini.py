"""The plugin's ini keys as a TOML configuration file holds them, with their TOML types.

pytest turns every value of ``[tool.pytest.ini_options]`` into a string (a list stays a
list) before the plugin sees it, so ``baseline = true`` would arrive as ``"True"`` and
``max_rss = 2.5`` as ``"2.5"``, and a path or a size of the wrong type would be used as
if it had been written as text. This module reads the file's own values, so a value of
the wrong TOML type is refused naming the key and the value, and one of a right type
(``max_tasks = 50``) is used as it is, in ``[tool.pytest.ini_options]`` and in pytest 9's
``[tool.pytest]`` (where pytest itself refuses a number for a string key).
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from .units import InvalidValue, safe_repr

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (a dependency there)
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["KINDS", "check_type", "toml_values"]

# What each kind of setting accepts from TOML, and its words in an error.
KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "size": ((int, str), "a size must be a TOML integer (bytes) or string ('512 MiB')"),
    "count": ((int, str), "a count must be a TOML integer or string"),
    "duration": ((int, float, str), "a duration must be a TOML number (seconds) or string ('5ms')"),
    "path": ((str,), "a path must be a TOML string"),
    "text": ((str,), "it must be a TOML string"),
    "bool": ((bool, str), "it must be a TOML boolean"),
}

_TOML_NAMES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "float"),
    (str, "string"),
    (list, "array"),
    (dict, "table"),
    (datetime.datetime, "date-time"),
    (datetime.date, "date"),
    (datetime.time, "time"),
)


def _toml_type(value: object) -> str:
    for kind, name in _TOML_NAMES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def toml_values(inipath: Path | None) -> dict[str, object]:
    """The keys and native values of the pytest table of the TOML file ``inipath``
    (``[tool.pytest.ini_options]``, ``[tool.pytest]`` or ``[pytest]``); empty for
    another kind of file. pytest has read the file already, so it parses."""
    if inipath is None or inipath.suffix != ".toml":
        return {}
    try:
        with open(inipath, "rb") as f:
            document = tomllib.load(f)
    except (OSError, ValueError):
        return {}  # pytest read it a moment ago; if it cannot now, pytest's values stand
    tool = document.get("tool")
    pytest_table = tool.get("pytest") if isinstance(tool, dict) else None
    for table in (
        pytest_table.get("ini_options") if isinstance(pytest_table, dict) else None,
        pytest_table,
        document.get("pytest"),
    ):
        if isinstance(table, dict):
            return dict(table)
    return {}


def check_type(value: object, kind: str, key: str, ini: str) -> object:
    """``value`` when its TOML type fits ``kind`` (a key of :data:`KINDS`); else an
    :class:`InvalidValue` naming ``key`` (``max_rss``), the value and the ini key."""
    accepted, words = KINDS[kind]
    # bool is an int in Python, but `max_rss = true` is no size.
    if isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted):
        return value
    why = f"{words}, not a TOML {_toml_type(value)}"
    raise InvalidValue(f"invalid {key}={safe_repr(value)} from ini {ini}: {why}")
