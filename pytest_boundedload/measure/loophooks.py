"""The ``BaseEventLoop`` methods the live-task count wraps while it counts.

- ``run_forever``: adopt each loop as it starts, and let go of what is done as it stops;
- ``set_task_factory``: a factory the code under test sets goes under ours;
- ``get_task_factory``: the code under test sees its own factory, never ours.

Each is made around whatever was there (another tool's wrapper included) and passes
straight through once its :class:`~.patching.Patch` is inactive.
"""

from __future__ import annotations

import asyncio.base_events
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .livetasks import LiveTaskCounter
    from .patching import Patch

__all__ = ["get_task_factory", "run_forever", "set_task_factory"]

_BaseEventLoop = asyncio.base_events.BaseEventLoop

Wrapper = Callable[..., Any]


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
