"""The user's own items in a flood: ``flood.tasks(n, make=...)``, followed for ``max_held``.

``make(i)`` builds item ``i`` when the code under test takes it (iterating or indexing),
and the item counts in ``max_held`` from then until it is freed, as a synthetic task does.
How an item is followed depends on its type:

- the built-in types that take no weak references (``dict``, ``list``, ``str``,
  ``bytes``, ``bytearray``, ``tuple``, ``int``, ``float``, exactly these types) are copied
  into a subclass that counts itself out as it is freed (``__del__``, as synthetic tasks
  do): still an instance of the type, equal to what ``make`` built, and pickled, copied
  or serialised as the plain type. A shallow copy: one item costs one more container,
  not a copy of what it holds. A constant returned for every index gives a new copy each
  time, each counted on its own.
- anything else that takes weak references (most classes, pydantic models, dataclasses,
  sets, subclasses of the built-ins) is the very object ``make`` returned, followed by a
  weak reference whose callback counts it out. The same object returned again while an
  earlier item still is it cannot be counted twice: an error.
- the rest (``None``, ``bool``, classes with ``__slots__`` and no ``__weakref__``, a
  ``NamedTuple`` of the user's) raises a ``TypeError`` at the first such item that says
  what to return instead.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar, overload

from ..measure.held import HeldItems
from ..units import parse_size

__all__ = ["Items", "user_items"]

T = TypeVar("T")

_CALL = "flood.tasks(make=...)"

# The built-in types copied into a subclass that counts itself out. bytes, int and tuple
# subclasses can never take weak references in CPython, but they can have a __del__.
_COPIED: tuple[type, ...] = (dict, list, str, bytes, bytearray, tuple, int, float)


class _CountsOut:
    """What a copied item's class adds to its built-in type (``held``: the count it is
    in, shared by the class as synthetic tasks share theirs)."""

    __slots__ = ()
    held: ClassVar[HeldItems | None] = None
    _base: ClassVar[type]

    def __del__(self) -> None:
        held = type(self).held
        if held is not None:
            held.release(id(self))

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # Pickled, copied or deep-copied, an item is its plain type: a copy was never taken.
        base = type(self)._base
        return (base, (base(self),))


# Per built-in type, the classes whose count may have items alive: a count takes a class
# whose count has none left. Made once and kept, like the synthetic tasks' classes.
_COPY_CLASSES: dict[type, list[type[_CountsOut]]] = {}


def _copy_class(base: type, held: HeldItems) -> type[_CountsOut]:
    classes = _COPY_CLASSES.setdefault(base, [])
    for cls in classes:
        if cls.held is held:
            return cls
    for cls in classes:
        if cls.held is None or cls.held.alive <= 0:
            cls.held = held
            return cls
    namespace = {"__slots__": (), "__qualname__": base.__name__, "_base": base, "held": held}
    cls = type(base.__name__, (_CountsOut, base), namespace)
    classes.append(cls)
    return cls


class _Followed(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a user's item that knows which count to leave."""

    __slots__ = ("held", "key")
    held: HeldItems
    key: int


# id(item) -> its weak reference, for every followed item alive (in any test): keeps
# the references alive until their callbacks run, and tells when an item comes again.
_FOLLOWED: dict[int, _Followed] = {}


def _gone(ref: _Followed) -> None:
    if _FOLLOWED.get(ref.key) is ref:
        del _FOLLOWED[ref.key]
    ref.held.release(ref.key)


def _cannot_follow(index: int, item: object) -> TypeError:
    kind = type(item).__name__
    if item is None:
        return TypeError(f"{_CALL}: make({index}) returned None; it must return the item for index {index}")
    if isinstance(item, bool):
        why = "True and False are shared constants"
        fix = "return an int, or an object that holds the flag"
    else:
        why = "it takes no weak references and is not one of the built-in types copied"
        fix = (
            'add "__weakref__" to its __slots__ (a dataclass: slots=True, weakref_slot=True), '
            "or return an object that holds it"
        )
    return TypeError(f"{_CALL}: items of type {kind} cannot be followed for max_held ({why}); {fix}")


def _follower(held: HeldItems, size: int) -> Callable[[int, Any], Any]:
    """What turns ``make(index)``'s result into an item counted into ``held`` until it is
    freed, carrying ``size`` bytes until then."""
    take, bodies = held.take, held.bodies
    classes: dict[type, type[_CountsOut]] = {}

    def follow(index: int, made: Any) -> Any:
        kind = type(made)
        cls = classes.get(kind)
        if cls is not None:
            item = cls(made)  # type: ignore[call-arg]
        elif kind in _COPIED:
            cls = classes[kind] = _copy_class(kind, held)
            item = cls(made)  # type: ignore[call-arg]
        else:
            item = made
            key = id(item)
            earlier = _FOLLOWED.get(key)
            if earlier is not None and earlier() is item:
                raise ValueError(
                    f"{_CALL}: make({index}) returned the same {kind.__name__} object as an earlier "
                    "item that is still alive; an item counts in max_held from when it is taken "
                    "until it is freed, so make must build a new object for each index"
                )
            try:
                ref = _Followed(item, _gone)
            except TypeError:
                raise _cannot_follow(index, item) from None
            ref.held, ref.key = held, key
            _FOLLOWED[key] = ref
        take()
        if size:
            bodies[id(item)] = bytearray(size)  # every byte written: resident
        return item

    return follow


class Items(Sequence[T]):
    """``n`` items of the user's own, ``make(i)`` called for item ``i`` each time it is
    taken (iterated or indexed); O(1) memory until then.

    Items taken and still alive count in ``max_held`` as synthetic tasks do (see the
    module's docstring for how each type is followed). An exception ``make`` raises
    reaches the code that took the item unchanged, and nothing is counted for it.
    """

    __slots__ = ("_follow", "_make", "_n", "_size")

    def __init__(
        self, n: int, make: Callable[[int], T], *, size: int | str = 0, held: HeldItems | None = None
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"flood.tasks(n): n must be an int >= 0, got {n!r}")
        if not callable(make):
            raise TypeError(f"{_CALL}: make must be a callable taking the item's index, got {make!r}")
        self._n = n
        self._make = make
        self._size = parse_size(size, key="size", source="in flood.tasks()", allow_zero=True)
        if held is None and self._size:
            held = HeldItems()  # the bodies need an owner even when nobody counts them
        self._follow = None if held is None else _follower(held, self._size)

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"Items(n={self._n}, make={self._make!r}, size={self._size})"

    def _take(self, index: int) -> T:
        made = self._make(index)
        follow = self._follow
        return made if follow is None else follow(index, made)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return [self._take(i) for i in range(*index.indices(self._n))]
        position = operator.index(index)
        resolved = position + self._n if position < 0 else position
        if not 0 <= resolved < self._n:
            raise IndexError(f"item index {position} out of range for {self._n} items")
        return self._take(resolved)

    def __iter__(self) -> Iterator[T]:
        return map(self._take, range(self._n))


# What flood.tasks() takes that only synthetic tasks use, with its default.
_SYNTHETIC_ONLY: dict[str, object] = {"payload": 0, "latency": 0, "jitter": 0.0, "fail_rate": 0.0, "seed": 0}


def user_items(
    n: int, make: Callable[[int], T], *, size: int | str, held: HeldItems | None, **synthetic: object
) -> Items[T]:
    """``flood.tasks(n, make=...)``: refuses the arguments that describe synthetic tasks
    (they would do nothing to the user's items), then builds the :class:`Items`."""
    for name, value in synthetic.items():
        default = _SYNTHETIC_ONLY[name]
        if value != default:
            raise ValueError(
                f"{_CALL}: {name} is for synthetic tasks (the probe holds and waits what a task "
                f"says); your own items go to your own worker, got {name}={value!r}"
            )
    return Items(n, make, size=size, held=held)
