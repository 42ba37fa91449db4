"""heap.prepare: a forked child's inherited free space must not hide what new objects cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_boundedload.measure import heap

# A parent that freed a lot: half-used pools of one block size (7 of every 8 objects
# freed) and empty pools in arenas kept alive by a few objects. Then 20,000 objects of
# the half-used size and 20,000 of a size the parent never used; prints their RSS cost
# as a share of the blocks they take.
FRAGMENTED = """
import sys
from pytest_boundedload.measure import heap
from pytest_boundedload.measure.sampler import current_rss

half = [bytes(207) for _ in range(80_000)]  # 240-byte blocks, ~18 MiB
half = half[::8]
empty = [bytes(479) for _ in range(40_000)]  # 512-byte blocks, ~20 MiB
empty = empty[::1000]

free_before = heap.free_space().bytes
ballast = heap.prepare(**eval(sys.argv[1]))
print(sum((sys.getsizeof(obj) + 15) // 16 * 16 for chunk in ballast for obj in chunk))
print(free_before, heap.free_space().bytes)
before = current_rss()
new = [bytes(207) for _ in range(20_000)] + [bytes(100) for _ in range(20_000)]
print((current_rss() - before) / (20_000 * 240 + 20_000 * 144))
"""


def share(kwargs: str, *flags: str) -> tuple[int, tuple[int, int], float]:
    """Bytes of blocks the fill took, pymalloc's free bytes before and after it, and the
    new objects' RSS cost per block byte."""
    out = subprocess.run(
        [sys.executable, *flags, "-c", FRAGMENTED, kwargs], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[0]), (int(out[1]), int(out[2])), float(out[3])


def test_new_objects_cost_resident_memory_after_prepare() -> None:
    filled, (free_before, free_after), cost = share("{}")
    assert free_before > 30 << 20  # most of the ~38 MiB the parent freed
    assert filled >= free_before - (1 << 20)
    # What is left is about a pool per size and the untouched pools of the newest
    # arena, which cost fresh pages when used: nothing that hides growth.
    assert free_after < 2 << 20
    assert cost > 0.75


def test_the_fill_allows_for_the_allocators_debug_hooks() -> None:
    # -X dev adds 24 bytes to every request: the same objects land one size class up.
    _, (free_before, free_after), cost = share("{}", "-X", "dev")
    assert free_after < free_before / 10
    assert cost > 0.75


def test_without_descriptor_2_the_statistics_are_still_read() -> None:
    # They go to a memory stream, not to descriptor 2. The fallback that catches them
    # from descriptor 2 finds none there: with 0 closed too, its temporary file takes
    # descriptor 0 and 2 stays closed.
    script = (
        "import os; os.close(0); os.close(2)\n"
        "from pytest_boundedload.measure import heap, pyfree\n"
        "print(len(heap.prepare()) > 0, repr(pyfree._redirected()))"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "''"]


def test_without_the_fill_free_space_hides_the_cost() -> None:
    # limit=0: trim only. The free pymalloc space stays and absorbs the new objects,
    # which is what made small sizes look cheap in flood.scaling.
    filled, (_, free_after), cost = share("{'limit': 0}")
    assert filled == 0
    assert free_after > 30 << 20
    assert cost < 0.5


@pytest.mark.parametrize("limit", [1 << 20, 4 << 20])
def test_the_fill_stops_at_its_limit(limit: int) -> None:
    filled, _, _ = share(f"{{'limit': {limit}}}")
    # The parent freed more than the limit: the fill reaches it, short of it by less than
    # one of the largest blocks.
    assert limit - 512 < filled <= limit


STATS = """
Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------
    0     16           1              43           978
    1     32           2             766             0
    8    144         887           50150         50081
   31    512           2              31            31

# arenas allocated current         =                   17
17 arenas * 1048576 bytes/arena    =           17,825,792

# bytes in available blocks        =            7,509,216
36 unused pools * 16384 bytes      =              589,824
"""


def test_free_space_is_read_from_pymallocs_statistics() -> None:
    space = heap.free_space(STATS)
    assert space == heap.FreeSpace({16: 978, 144: 50081, 512: 31}, unused_pools=36, pool_size=16384)
    assert space.bytes == 16 * 978 + 144 * 50081 + 512 * 31 + 36 * 16384
    assert heap.free_space("no statistics here") is None
    # This interpreter's own: pymalloc is on in the builds the suite runs on.
    assert heap.free_space() is not None
