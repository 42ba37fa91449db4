"""A count of things alive and its high-water, updated from any thread without I/O."""

from __future__ import annotations

import sys
import threading

__all__ = ["LiveCount"]

# With the GIL these short read-modify-write updates are safe enough (CPython switches
# threads only at calls and backward jumps); a free-threaded build takes a lock.
_GIL = bool(getattr(sys, "_is_gil_enabled", lambda: True)())


class LiveCount:
    """``alive`` now, ``high_water`` since :meth:`reset`, ``total`` counted in since then."""

    def __init__(self) -> None:
        self.alive = 0
        self.high_water = 0
        self.total = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Start a window: the high-water is what is alive now."""
        self.high_water = self.alive
        self.total = 0

    def up(self) -> None:
        """One more alive."""
        if _GIL:
            self.alive += 1
            self.total += 1
            if self.alive > self.high_water:
                self.high_water = self.alive
            return
        with self._lock:
            self.alive += 1
            self.total += 1
            self.high_water = max(self.high_water, self.alive)

    def down(self) -> None:
        """One fewer alive."""
        if _GIL:
            self.alive -= 1
            return
        with self._lock:
            self.alive -= 1
