"""Six ways to bound code that spawns too many concurrent workers.

Each fix takes an iterable of items (consumed lazily), a worker, and returns the
results in input order, with ``on_error="raise"`` or ``on_error="return"``.  They
differ in what they bound; every docstring says what it bounds and what it does not.

- :func:`semaphore_gather`: the common fix; bounds work in flight, but not tasks.
- :func:`worker_pool`: fixed worker tasks on a bounded queue; O(workers) tasks.
- :func:`batched`: one batch at a time, optionally paced.
- :func:`thread_pool` / :func:`process_pool`: executors with a bounded window.
- :func:`memory_aware`: admission control on this process's RSS.
- :func:`streaming`: an async generator; O(limit) memory including results.
"""

from ._batched import batched
from ._memory_aware import memory_aware
from ._semaphore_gather import semaphore_gather
from ._streaming import streaming
from ._thread_pool import process_pool, thread_pool
from ._worker_pool import worker_pool

__all__ = [
    "batched",
    "memory_aware",
    "process_pool",
    "semaphore_gather",
    "streaming",
    "thread_pool",
    "worker_pool",
]
