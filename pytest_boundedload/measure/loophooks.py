"""The loop methods the live-task count wraps while it counts, on asyncio's
``BaseEventLoop`` and on ``uvloop.Loop`` (a Python subclass of uvloop's Cython loop,
whose ``run_until_complete`` calls ``run_forever`` through the instance, so a wrapper on
the class sees every start):

- ``run_forever``: adopt each loop as it starts, and let go of what is done as it stops;
- ``set_task_factory``: a factory the code under test sets goes under ours;
- ``get_task_factory``: the code under test sees its own factory, never ours.

Each is made around whatever was there (another tool's wrapper included) and passes
straight through once its :class:`~.patching.Patch` is inactive. On ``uvloop.Loop`` the
methods are inherited: removing a patch deletes ours and the lookup finds uvloop's again.
"""

from __future__ import annotations

import asyncio.base_events
import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .patching import Patch

if TYPE_CHECKING:
    from .livetasks import LiveTaskCounter

__all__ = [
    *("ClassHooks", "Getter", "Setter"),
    *("get_task_factory", "run_forever", "set_task_factory", "uvloop_class"),
]

_BaseEventLoop = asyncio.base_events.BaseEventLoop

Wrapper = Callable[..., Any]
# A loop class's own set_task_factory and get_task_factory, called with the loop first.
Setter = Callable[[Any, Any], None]
Getter = Callable[[Any], Any]


def run_forever(counter: LiveTaskCounter, original: Wrapper, patch: Patch) -> Wrapper:
    """``run_forever`` that adopts the loop before it runs and tidies after it stops."""
    def wrapper(loop: _BaseEventLoop) -> None:
        if patch.active:
            counter.adopt(loop)
        try:
            original(loop)
        finally:
            counter.loop_stopped(loop)

    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    return wrapper


def set_task_factory(counter: LiveTaskCounter, original: Wrapper, patch: Patch) -> Wrapper:
    """``set_task_factory`` that puts the code's factory under ours on an adopted loop."""
    def wrapper(loop: _BaseEventLoop, factory: Any) -> None:
        # Code under test that sets its own factory mid-window would silently stop the
        # count: its factory goes under ours instead, and is left in place after.
        state = counter._loops.get(loop) if patch.active else None
        if state is None or not state.counting:
            original(loop, factory)
        elif factory is not state.ours:
            if factory is not None and not callable(factory):
                original(loop, factory)  # the loop's own error for a bad factory
            state.previous = factory

    return wrapper


def get_task_factory(counter: LiveTaskCounter, original: Wrapper, patch: Patch) -> Wrapper:
    """``get_task_factory`` that shows the code its own factory, not ours."""
    def wrapper(loop: _BaseEventLoop) -> Any:
        # The code under test sees its own factory, not ours: a factory that chains the
        # one it finds must not chain ours (each would call the other).
        factory = original(loop)
        state = counter._loops.get(loop) if patch.active else None
        if state is not None and factory is state.ours:
            return state.previous
        return factory

    return wrapper


def uvloop_class() -> type | None:
    """``uvloop.Loop`` if uvloop is imported (never imported here), else ``None``."""
    loop_class = getattr(sys.modules.get("uvloop"), "Loop", None)
    if isinstance(loop_class, type) and not issubclass(loop_class, _BaseEventLoop):
        return loop_class
    return None


class ClassHooks:
    """The three wrapped methods of one loop class, and the originals they wrap: the
    loop's own setter and getter past our wrappers (and past any installed since)."""

    def __init__(self, counter: LiveTaskCounter, loop_class: type) -> None:
        self.loop_class = loop_class
        self.patches = [
            Patch(loop_class, name, functools.partial(make, counter))
            for name, make in (
                ("run_forever", run_forever),
                ("set_task_factory", set_task_factory),
                ("get_task_factory", get_task_factory),
            )
        ]

    def install(self) -> bool:
        """Wrap the three methods (all or none)."""
        for patch in self.patches:
            if not patch.install():
                self.remove()
                return False
        return True

    def remove(self) -> None:
        """Unwrap them (where nothing wrapped ours since)."""
        for patch in reversed(self.patches):
            patch.remove()

    @property
    def set_factory(self) -> Setter:
        """The class's ``set_task_factory`` as it was before ours."""
        original: Setter = self.patches[1].original
        return original

    @property
    def get_factory(self) -> Getter:
        """The class's ``get_task_factory`` as it was before ours."""
        original: Getter = self.patches[2].original
        return original
