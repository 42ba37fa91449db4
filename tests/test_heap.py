"""heap.prepare: a forked child's inherited free space must not hide what new objects cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A parent that freed a lot: half-used pools of one block size (7 of every 8 objects
# freed) and empty pools in arenas kept alive by a few objects. Then 20,000 objects of
# the half-used size and 20,000 of a size the parent never used; prints their RSS cost
# as a share of the blocks they take.
FRAGMENTED = """
import sys
from pytest_boundedload import heap

half = [bytes(207) for _ in range(80_000)]  # 240-byte blocks, ~18 MiB
half = half[::8]
empty = [bytes(479) for _ in range(40_000)]  # 512-byte blocks, ~20 MiB
empty = empty[::1000]

ballast = heap.prepare(**eval(sys.argv[1]))
print(sum((sys.getsizeof(obj) + 15) // 16 * 16 for chunk in ballast for obj in chunk))
before = heap.resident_bytes()
new = [bytes(207) for _ in range(20_000)] + [bytes(100) for _ in range(20_000)]
print((heap.resident_bytes() - before) / (20_000 * 240 + 20_000 * 144))
"""


def share(kwargs: str) -> tuple[int, float]:
    """Bytes of blocks the fill took, and the new objects' RSS cost per block byte."""
    out = subprocess.run(
        [sys.executable, "-c", FRAGMENTED, kwargs], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[0]), float(out[1])


def test_new_objects_cost_resident_memory_after_prepare() -> None:
    filled, cost = share("{}")
    assert filled > 8 << 20  # most of the ~38 MiB the parent freed
    assert cost > 0.75


def test_without_the_fill_free_space_hides_the_cost() -> None:
    # limit=0: trim only. The free pymalloc space stays and absorbs the new objects,
    # which is what made small sizes look cheap in flood.scaling.
    filled, cost = share("{'limit': 0}")
    assert filled == 0
    assert cost < 0.5


@pytest.mark.parametrize("limit", [1 << 20, 4 << 20])
def test_the_fill_stops_at_its_limit(limit: int) -> None:
    filled, _ = share(f"{{'limit': {limit}}}")
    # The parent freed more than the limit: the fill reaches it, and passes it by at most
    # one step (32 KiB of blocks).
    assert limit <= filled <= limit + 32 * 1024
