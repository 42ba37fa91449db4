"""The prefix of the properties the plugin attaches to a report (``boundedload.*``): what
:mod:`.outcome` encodes, and what says a report carries an outcome at all."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PREFIX", "carries_outcome"]

PREFIX = "boundedload."


def carries_outcome(properties: Iterable[tuple[str, object]]) -> bool:
    """Whether these report properties hold a measured test's outcome."""
    return any(str(name).startswith(PREFIX) for name, _ in properties)
