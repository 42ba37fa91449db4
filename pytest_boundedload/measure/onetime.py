"""Process-wide costs the standard library pays once, paid before the first window.

``platform.uname()`` learns the processor's name by running ``uname -p`` in a child
process, once per process, and keeps it. Code under test that asks for the platform
(an SDK building its User-Agent) would otherwise charge that child to whichever test
asked first, and not at all in an xdist worker, which asks at start-up. Paid here, before
any window and before an isolated test's child is forked, no test is charged for it.
"""

from __future__ import annotations

import contextlib
import functools
import platform

__all__ = ["pay_once"]


@functools.cache
def pay_once() -> None:
    """Fill the standard library's one-time caches that start a process (once a process;
    forked children inherit them)."""
    with contextlib.suppress(Exception):  # a platform without uname: nothing to pay
        platform.uname().processor  # noqa: B018 - computed on first access, then cached
