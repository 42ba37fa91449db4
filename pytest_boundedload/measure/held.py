"""Exact high-water of the synthetic items taken from a test's workloads and still alive.

An item is *taken* when the code under test pulls it from a ``flood.tasks()`` workload
(iterating or indexing it), and *released* when the last reference to it goes: the item
counts itself out as it is freed. An unbounded queue, ``ThreadPoolExecutor.map`` or
``Pool.map`` (they take every item up front) hold N; a bounded pipeline holds about its
limit. Nothing here is sampled or depends on the allocator: the count is the same in any
test order. Items in a reference cycle are released when the cycle is collected.

``size`` bytes per item stand for a request body: allocated when the item is taken, freed
with it, so items waiting in a queue cost memory as they do in production.
"""

from __future__ import annotations

import sys
import threading

__all__ = ["HeldItems"]

_GIL = bool(getattr(sys, "_is_gil_enabled", lambda: True)())


class HeldItems:
    """Items taken and not yet released: ``alive`` now, ``high_water`` since :meth:`reset`."""

    def __init__(self) -> None:
        self.alive = 0
        self.high_water = 0
        self.taken = 0
        self.bodies: dict[int, bytearray] = {}  # id(item) -> the bytes it carries
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Start a window: the high-water is what is held now."""
        self.high_water = self.alive
        self.taken = 0

    def take(self) -> None:
        """One more item taken."""
        if _GIL:
            self.alive += 1
            self.taken += 1
            if self.alive > self.high_water:
                self.high_water = self.alive
            return
        with self._lock:
            self.alive += 1
            self.taken += 1
            self.high_water = max(self.high_water, self.alive)

    def release(self, key: int) -> None:
        """The item ``key`` (its id) was freed."""
        if self.bodies:
            self.bodies.pop(key, None)
        if _GIL:
            self.alive -= 1
            return
        with self._lock:
            self.alive -= 1
