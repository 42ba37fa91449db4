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

from .livecount import LiveCount

__all__ = ["HeldItems"]


class HeldItems(LiveCount):
    """Items taken and not yet released: ``alive`` now, ``high_water`` since :meth:`reset`;
    ``bodies`` the bytes each carries (``size=``)."""

    take = LiveCount.up  # an item was taken

    def __init__(self) -> None:
        super().__init__()
        self.bodies: dict[int, bytearray] = {}  # id(item) -> the bytes it carries

    def release(self, key: int) -> None:
        """The item ``key`` (its id) was freed."""
        if self.bodies:
            self.bodies.pop(key, None)
        self.down()
