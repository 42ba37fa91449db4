"""Exact high-water of the threads started through ``threading`` or ``_thread`` in a window.

The start functions (``_thread.start_new_thread``, ``start_joinable_thread`` and
``threading``'s own references to them) are wrapped while a window is open: a start
counts one more thread alive before the thread runs, and the thread counts itself out as
its function returns. Both are plain integer updates on the thread that does them, with
no file read, no lock and nothing that can raise into the code under test: the sampler
thread reads ``/proc`` for everything else (threads that C extensions start).
"""

from __future__ import annotations

import _thread
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .livecount import LiveCount
from .patching import Patch

__all__ = ["ThreadStarts", "own_thread_start"]

_STARTERS = ("_start_joinable_thread", "_start_new_thread", "start_joinable_thread", "start_new_thread")


_OWN = threading.local()


@contextlib.contextmanager
def own_thread_start() -> Iterator[None]:
    """Threads started in this block on this thread are the plugin's own: not counted."""
    _OWN.active = True
    try:
        yield
    finally:
        _OWN.active = False


class ThreadStarts:
    """Threads started in a window and still running, and their high-water."""

    def __init__(self) -> None:
        self.count = LiveCount()
        self._patches: list[Patch] = []

    @property
    def high_water(self) -> int:
        """Most threads started in the window alive at once."""
        return self.count.high_water

    def start(self) -> None:
        """Wrap the start functions."""
        for module in (threading, _thread):
            for name in _STARTERS:
                if callable(getattr(module, name, None)):
                    patch = Patch(module, name, self._wrap)
                    if patch.install():
                        self._patches.append(patch)

    def stop(self) -> None:
        """Unwrap them (where nothing wrapped ours since)."""
        for patch in reversed(self._patches):
            patch.remove()
        self._patches = []

    def _wrap(self, start: Callable[..., Any], patch: Patch) -> Callable[..., Any]:
        count = self.count

        def start_thread(*args: Any, **kwargs: Any) -> Any:
            if not patch.active or not args or not callable(args[0]) or getattr(_OWN, "active", False):
                return start(*args, **kwargs)
            function = args[0]

            def run(*run_args: Any, **run_kwargs: Any) -> Any:
                try:
                    return function(*run_args, **run_kwargs)
                finally:
                    count.down()

            count.up()  # before the thread runs, so it cannot end uncounted
            try:
                return start(run, *args[1:], **kwargs)
            except BaseException:
                count.down()  # it never started
                raise

        start_thread.__wrapped__ = start  # type: ignore[attr-defined]
        return start_thread
