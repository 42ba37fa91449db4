"""Living with pytest-memray: memray allows one active Tracker per process.

When pytest-memray traces a test (``--memray``, its ini key, or one of its markers), it
starts its Tracker around the test function, inside the call window. A test traced by
both is then not traced twice: its window reads pytest-memray's capture of the test
once the function has returned, and both plugins report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["OWN_TRACKER_HINT", "borrowed_capture", "is_tracker_clash"]

_PLUGIN_NAME = "memray_manager"
_MARKERS = ("limit_memory", "limit_leaks", "limit_leaked_objects")

OWN_TRACKER_HINT = (
    "the test started its own memray Tracker while pytest-boundedload traced it (memray allows one"
    " at a time); mark it @pytest.mark.boundedload(memray=False) to leave the tracing to the test"
)


def _traces(config: pytest.Config, item: pytest.Item) -> bool:
    if any(item.get_closest_marker(name) is not None for name in _MARKERS):
        return True
    try:
        value: Any = config.getvalue("memray")
        if value is None:
            value = config.getini("memray")
    except (KeyError, ValueError, AttributeError):
        return False
    return bool(value)


def borrowed_capture(item: pytest.Item) -> Callable[[], Path | None] | None:
    """A function that returns pytest-memray's capture of ``item`` once the test
    function has returned (None before), when pytest-memray traces ``item``; else None."""
    config = item.config
    manager = config.pluginmanager.get_plugin(_PLUGIN_NAME)
    if manager is None or not _traces(config, item):
        return None
    nodeid = item.nodeid

    def capture() -> Path | None:
        result = getattr(manager, "results", {}).get(nodeid)
        path = getattr(result, "result_file", None)
        return Path(path) if path is not None else None

    return capture


def is_tracker_clash(error: BaseException | None) -> bool:
    """Whether ``error`` is memray refusing a second active Tracker."""
    return isinstance(error, RuntimeError) and "one Tracker instance can be active" in str(error)
