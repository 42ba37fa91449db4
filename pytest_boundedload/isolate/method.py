"""Which kind of memory cap to use, from the environment (``BOUNDEDLOAD_CAP``).

Read at every start-up, so kept apart from :mod:`.capped` and its imports.
"""

from __future__ import annotations

import os

__all__ = ["CAP_METHOD_ENV", "cap_method"]

# Forces the kind of cap: "cgroup", "rlimit" or "auto" (a cgroup where one can be made).
CAP_METHOD_ENV = "BOUNDEDLOAD_CAP"
_METHODS = ("auto", "cgroup", "rlimit")


def cap_method() -> str:
    """The kind of cap to use, from ``BOUNDEDLOAD_CAP`` (unset: ``auto``); ValueError
    naming the variable and the value when it is empty, blank, or none of ``auto``,
    ``cgroup``, ``rlimit``."""
    raw = os.environ.get(CAP_METHOD_ENV)
    if raw is None:
        return "auto"
    value = raw.strip()
    if not value:
        # Set but empty: most likely a variable meant to be filled and left blank.
        raise ValueError(
            f"invalid {CAP_METHOD_ENV}={raw!r} from the environment: empty (unset it, or set auto, cgroup"
            " or rlimit)"
        )
    if value not in _METHODS:
        raise ValueError(
            f"invalid {CAP_METHOD_ENV}={os.environ[CAP_METHOD_ENV]!r} from the environment:"
            " expected auto, cgroup or rlimit"
        )
    return value
