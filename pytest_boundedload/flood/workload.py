"""Lazy synthetic workloads: N task descriptions in O(1) memory until iterated."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, NamedTuple, overload

from ..measure.held import HeldItems
from ..units import parse_duration, parse_size

__all__ = ["SyntheticFailure", "SyntheticTask", "Workload"]

_MASK = (1 << 64) - 1


class SyntheticFailure(Exception):
    """Raised on purpose by a probe for the tasks that ``fail_rate`` selected."""

    def __init__(self, index: int) -> None:
        super().__init__(f"synthetic failure of task {index}")
        self.index = index

    def __reduce__(self) -> tuple[type[SyntheticFailure], tuple[int]]:
        # Failures come back from process pools pickled; rebuild from the index.
        return (type(self), (self.index,))


class SyntheticTask(NamedTuple):
    """One unit of synthetic work; probes read it to know what to hold and how long.

    A NamedTuple because a flood creates one per item and it must cost next to nothing.
    """

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: it is the task's number
    payload: int = 0
    latency: float = 0.0
    fail: bool = False


Maker = Callable[..., SyntheticTask]


class _HeldTask(SyntheticTask):
    """A held item: counts itself out of its class's ``held`` as it is freed."""

    __slots__ = ()
    held: ClassVar[HeldItems | None] = None

    def __del__(self) -> None:
        held = type(self).held
        if held is not None:
            held.release(id(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (SyntheticTask, tuple(self))

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> SyntheticTask:  # type: ignore[override]
        # What _replace and _make build was never taken: a plain task, counted nowhere.
        return SyntheticTask._make(iterable)


# The item classes, one per count that has items alive: a count takes a class whose
# count has none left. Classes are reference cycles: made once and kept, not per test
# (and a mapping from each item to its count would cost every item a table entry).
_HELD_CLASSES: list[type[_HeldTask]] = []


def _held_class(held: HeldItems) -> type[_HeldTask]:
    for cls in _HELD_CLASSES:
        if cls.held is held:
            return cls
    for cls in _HELD_CLASSES:
        if cls.held is None or cls.held.alive <= 0:
            cls.held = held
            return cls
    cls = type("SyntheticTask", (_HeldTask,), {"__slots__": (), "__qualname__": "SyntheticTask"})
    cls.held = held
    _HELD_CLASSES.append(cls)
    return cls


def _held_maker(held: HeldItems, size: int) -> Maker:
    """Makes items that count themselves into ``held`` while alive and carry ``size``
    bytes; still plain ``SyntheticTask`` tuples to every reader (and to pickle)."""
    take, bodies, item = held.take, held.bodies, _held_class(held)

    def make(index: int, payload: int = 0, latency: float = 0.0, fail: bool = False) -> SyntheticTask:
        task = item(index, payload, latency, fail)
        take()
        if size:
            bodies[id(task)] = bytearray(size)  # every byte written: resident
        return task

    return make


def _unit_interval(seed: int, index: int, stream: int) -> float:
    """A deterministic uniform draw in [0, 1) for (seed, index, stream): splitmix64."""
    x = (seed * 0x9E3779B97F4A7C15 + index * 0xD1B54A32D192ED03 + stream) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    return x / 2.0**64


class Workload(Sequence[SyntheticTask]):
    """``n`` synthetic tasks, made one at a time as they are asked for.

    Indexing and iteration build each :class:`SyntheticTask` on demand, so a workload of
    twenty million tasks costs a few hundred bytes until the code under test pulls items.
    Failures (``fail_rate``) and latency jitter are drawn from ``seed`` and the index, so
    the same workload always fails the same tasks.
    """

    __slots__ = ("_fail_rate", "_jitter", "_latency", "_n", "_new", "_payload", "_seed", "_size")

    def __init__(
        self,
        n: int,
        *,
        payload: int | str = 0,
        latency: float | str = 0,
        jitter: float = 0.0,
        fail_rate: float = 0.0,
        seed: int = 0,
        size: int | str = 0,
        held: HeldItems | None = None,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"flood.tasks(n): n must be an int >= 0, got {n!r}")
        for name, share in (("jitter", jitter), ("fail_rate", fail_rate)):
            if isinstance(share, bool) or not isinstance(share, (int, float)):
                raise ValueError(f"flood.tasks(): {name} must be a number in [0, 1], got {share!r}")
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"flood.tasks(): {name} must be in [0, 1], got {share!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"flood.tasks(): seed must be an int, got {seed!r}")
        self._n = n
        self._payload = parse_size(payload, key="payload", source="in flood.tasks()", allow_zero=True)
        self._latency = parse_duration(latency, key="latency", source="in flood.tasks()")
        self._jitter = float(jitter)
        self._fail_rate = float(fail_rate)
        self._seed = seed
        self._size = parse_size(size, key="size", source="in flood.tasks()", allow_zero=True)
        if held is None and self._size:
            held = HeldItems()  # the bodies need an owner even when nobody counts them
        self._new: Maker = SyntheticTask if held is None else _held_maker(held, self._size)

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return (
            f"Workload(n={self._n}, payload={self._payload}, latency={self._latency}, "
            f"jitter={self._jitter}, fail_rate={self._fail_rate}, seed={self._seed}, size={self._size})"
        )

    def _make(self, index: int) -> SyntheticTask:
        latency = self._latency
        if self._jitter:
            latency *= 1.0 + self._jitter * (2.0 * _unit_interval(self._seed, index, 1) - 1.0)
        fail = bool(self._fail_rate) and _unit_interval(self._seed, index, 2) < self._fail_rate
        return self._new(index, self._payload, latency, fail)

    @overload
    def __getitem__(self, index: int) -> SyntheticTask: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[SyntheticTask]: ...

    def __getitem__(self, index: int | slice) -> SyntheticTask | Sequence[SyntheticTask]:
        if isinstance(index, slice):
            return [self._make(i) for i in range(*index.indices(self._n))]
        position = operator.index(index)
        resolved = position + self._n if position < 0 else position
        if not 0 <= resolved < self._n:
            raise IndexError(f"task index {position} out of range for {self._n} tasks")
        return self._make(resolved)

    def __iter__(self) -> Iterator[SyntheticTask]:
        if self._jitter or self._fail_rate:
            return map(self._make, range(self._n))
        # The common case builds tasks without the per-item draws.
        payload, latency, new = self._payload, self._latency, self._new
        return (new(i, payload, latency) for i in range(self._n))
