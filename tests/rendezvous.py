"""Synthetic tasks whose blocking probe calls are all in flight at once, by a barrier.

The blocking probe (``flood.worker``, :class:`~pytest_boundedload.flood.probe.SyncProbe`)
enters the in-flight counter, then tests the task's latency (``if latency:``) and sleeps
if it is not zero, then leaves. A :class:`Meeting` latency is zero, and its truth test
waits at the barrier: every call waits there, counted in flight, until the barrier's
parties have all arrived. So a pool of W workers reaches exactly W calls in flight however
slowly its threads or processes start, with no sleep standing in for the overlap. (Not for
the async probe: it tests the latency before it counts the call.)

Process pools get the barrier in each worker through ``initializer=use, initargs=(barrier,)``
(a multiprocessing barrier travels only that way), forked children inherit it, and a
pool whose workers cannot be given one gets tasks that carry a manager's barrier proxy
(``meeting_tasks(n, manager.Barrier(parties))``), which travels with each task.
"""

from __future__ import annotations

from typing import Any

from pytest_boundedload import SyntheticTask

_barrier: Any = None  # a threading.Barrier or a multiprocessing one


def use(barrier: Any) -> None:
    """Meetings in this process wait at ``barrier``."""
    global _barrier
    _barrier = barrier


class Meeting(float):
    """A latency of zero whose truth test waits at its barrier (or the process's)."""

    barrier: Any

    def __new__(cls, barrier: Any = None) -> Meeting:
        meeting = super().__new__(cls, 0.0)
        meeting.barrier = barrier
        return meeting

    def __reduce__(self) -> tuple[type[Meeting], tuple[Any]]:
        return (Meeting, (self.barrier,))

    def __bool__(self) -> bool:
        (self.barrier if self.barrier is not None else _barrier).wait(60)
        return False


def meeting_tasks(n: int, barrier: Any = None) -> list[SyntheticTask]:
    """``n`` tasks (indices 0..n-1) whose probe calls meet at ``barrier`` (by default the
    one :func:`use` gave this process); ``n`` must be a multiple of its parties."""
    meeting = Meeting(barrier)
    return [SyntheticTask(i, 0, meeting, False) for i in range(n)]
