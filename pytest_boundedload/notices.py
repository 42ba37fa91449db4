"""Warnings the plugin gives once per process (a missing optional dependency, a feature
that cannot run here), however many tests would give them."""

from __future__ import annotations

import warnings

__all__ = ["warn_once"]

_GIVEN: set[str] = set()


def warn_once(message: str) -> None:
    """A ``RuntimeWarning`` with ``message``, the first time only."""
    if message not in _GIVEN:
        _GIVEN.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
