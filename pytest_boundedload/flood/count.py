"""``flood.count``: the real code, counted in flight, after an optional latency or failure.

The wrapper shows the kind the original declares: an ``async def`` wrapper for a
coroutine function, an async generator function for one, a plain function otherwise. A
plain function whose ``__wrapped__`` chain ends in a coroutine function (a decorator that
checks arguments and returns the coroutine) gets the coroutine wrapper's coroutine; for
anything else the kind is decided by what the call returns: a coroutine stays in flight
until it completes, an async generator until it is exhausted or closed, any other result
leaves at once. The latency and failures come from the same deterministic draws as
``flood.tasks``' (call ``i`` is drawn like task ``i``).

The replacement is a :class:`Patch` that a forked child keeps: a pool worker forked while
it is in place runs the wrapper, and the in-flight counter, shared before every fork,
counts its calls with the parent's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import itertools
import sys
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any

import pytest

from ..measure.inflight import InFlightCounter
from ..measure.patching import Patch
from .target import Target, cannot_replace, deep_kind, own_kind, resolve_target
from .workload import SyntheticFailure, SyntheticTask, Workload

__all__ = ["install_count"]

_NOTHING = SyntheticTask(0)


class _Site:
    """One counted target: its counter and its latency and failure draws."""

    __slots__ = ("_calls", "_draws", "counter", "patch")

    def __init__(self, counter: InFlightCounter, draws: Workload | None) -> None:
        self.counter = counter
        self.patch: Patch | None = None
        self._draws = draws
        self._calls = itertools.count()  # next() is atomic: threads draw distinct indices

    def active(self) -> bool:
        return self.patch is not None and self.patch.active

    def draw(self) -> SyntheticTask:
        return _NOTHING if self._draws is None else self._draws[next(self._calls)]


async def _sleep(seconds: float) -> None:
    """Wait without blocking the event loop: asyncio's, else trio's."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        trio = sys.modules.get("trio")
        if trio is None:
            raise RuntimeError(
                "flood.count(latency=...): an awaited call needs a running asyncio or trio loop"
            ) from None
        await trio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


def _coroutine_wrapper(original: Callable[..., Any], site: _Site) -> Callable[..., Coroutine[Any, Any, Any]]:
    counter = site.counter

    async def counted(*args: Any, **kwargs: Any) -> Any:
        if not site.active():
            result = original(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        index, _, latency, fail = site.draw()
        counter.enter()
        done = failed = False
        try:
            if latency:
                await _sleep(latency)
            if fail:
                raise SyntheticFailure(index)
            result = original(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            done = True
            return result
        except Exception:
            failed = True
            raise
        finally:
            counter.leave(done, failed)

    return counted


def _asyncgen_wrapper(
    original: Callable[..., Any], site: _Site, entered: float | None = None, left: list[bool] | None = None
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """An async generator function relaying ``original``'s generator, counted in flight.

    ``entered``: the call was already counted (its latency, still to wait, is given):
    ``original`` only hands over the generator it made. ``left``: set once the call left
    the count, shared with :func:`_left_unused`.
    """
    counter = site.counter

    async def counted(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        counting = entered is not None or site.active()
        latency, index, fail = (entered, 0, False) if entered is not None else (0.0, 0, False)
        if entered is None and counting:
            index, _, latency, fail = site.draw()
            counter.enter()
        done = failed = exhausted = False
        agen: Any = None
        try:
            if latency:
                await _sleep(latency)
            if fail:
                raise SyntheticFailure(index)
            agen = original(*args, **kwargs)
            # What `yield from` does for generators, by hand: values sent and exceptions
            # thrown in reach the real generator.
            try:
                value = await agen.__anext__()
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        raise
                    except BaseException as exc:
                        value = await agen.athrow(exc)
                    else:
                        value = await agen.asend(sent)
            except StopAsyncIteration:
                done = exhausted = True
            except GeneratorExit:
                done = True  # the consumer closed it: a normal end for the call
                raise
        except Exception:
            failed = True
            raise
        finally:
            if agen is not None and not exhausted:
                await agen.aclose()  # closed, thrown out of or cancelled: the real one too
            if counting and (left is None or not left[0]):
                if left is not None:
                    left[0] = True
                counter.leave(done, failed)

    return counted


async def _awaited(
    coro: Coroutine[Any, Any, Any], counter: InFlightCounter, latency: float, left: list[bool]
) -> Any:
    """A coroutine a plain wrapper's call returned: in flight until it completes."""
    done = failed = started = False
    try:
        if latency:
            await _sleep(latency)
        started = True
        result = await coro
        done = True
        return result
    except Exception:
        failed = True
        raise
    finally:
        if not started:
            coro.close()  # cancelled while waiting the latency: the real one never runs
        if not left[0]:
            left[0] = True
            counter.leave(done, failed)


def _left_unused(made: Any, counter: InFlightCounter, left: list[bool]) -> None:
    """What a plain wrapper's call returned (a coroutine, an async generator) was freed
    without ever running: no code of it can leave the count, so this does."""
    if not left[0]:
        left[0] = True
        if inspect.iscoroutine(made):
            with contextlib.suppress(Exception):
                made.close()  # no "never awaited" warning for the real one
        counter.leave(False, False)


def _plain_wrapper(original: Callable[..., Any], site: _Site) -> Callable[..., Any]:
    counter = site.counter

    def counted(*args: Any, **kwargs: Any) -> Any:
        if not site.active():
            return original(*args, **kwargs)
        index, _, latency, fail = site.draw()
        counter.enter()
        try:
            if fail:
                raise SyntheticFailure(index)
            result = original(*args, **kwargs)
        except BaseException as exc:
            counter.leave(False, isinstance(exc, Exception))
            raise
        # Counted from the call: if what it returned is dropped without running (never
        # awaited or iterated), it leaves when it is freed.
        left = [False]
        if inspect.iscoroutine(result):
            returned: Any = _awaited(result, counter, latency, left)
        elif inspect.isasyncgen(result):
            returned = _asyncgen_wrapper(lambda: result, site, entered=latency, left=left)()
        else:
            returned = None
        if returned is not None:
            weakref.finalize(returned, _left_unused, result, counter, left)
            return returned
        # A plain result: the latency follows the call (only its result tells the kind).
        try:
            if latency:
                time.sleep(latency)
        finally:
            counter.leave(True, False)
        return result

    return counted


def _hidden_coroutine_wrapper(original: Callable[..., Any], site: _Site) -> Callable[..., Any]:
    """A plain function whose decorators hide a coroutine function: its call returns the
    counted coroutine, where the latency, the failure and the real call all happen."""
    counted_coroutine = _coroutine_wrapper(original, site)

    def counted(*args: Any, **kwargs: Any) -> Any:
        if not site.active():
            return original(*args, **kwargs)
        return counted_coroutine(*args, **kwargs)

    return counted


def _wrap(original: Callable[..., Any], site: _Site) -> Callable[..., Any]:
    kind = own_kind(original)
    wrapper: Callable[..., Any]
    if kind == "coroutine":
        wrapper = _coroutine_wrapper(original, site)
    elif kind == "asyncgen":
        wrapper = _asyncgen_wrapper(original, site)
    elif deep_kind(original) == "coroutine":
        wrapper = _hidden_coroutine_wrapper(original, site)
    else:
        wrapper = _plain_wrapper(original, site)
    wrapper = functools.wraps(original)(wrapper)
    wrapper._boundedload_site = site  # type: ignore[attr-defined]  # see install_count
    return wrapper


def _maker(target: Target, site: _Site) -> Callable[[Any, Patch], Any]:
    """What :class:`Patch` puts in place: the wrapper, in the descriptor kind of the raw
    attribute so that it binds as the original did."""
    raw = target.raw

    def make(original: Any, patch: Patch) -> Any:
        site.patch = patch
        if not inspect.isclass(target.owner):
            return _wrap(original, site)  # a module's or an instance's own attribute: no binding
        if isinstance(raw, classmethod):
            return classmethod(_wrap(raw.__func__, site))
        if isinstance(raw, staticmethod):
            return staticmethod(_wrap(raw.__func__, site))
        if not hasattr(type(raw), "__get__"):
            return staticmethod(_wrap(raw, site))  # a callable object: it never bound
        return _wrap(raw, site)  # a function (or a C method): the wrapper binds like it

    return make


class _UndoAtTeardown:
    """Removes a patch when monkeypatch undoes its changes, in its last-in-first-out
    order: a ``monkeypatch.setattr`` of the same attribute made later in the test is
    undone first, so the original is back, not our wrapper."""

    __slots__ = ("_patch",)

    def __init__(self, patch: Patch) -> None:
        object.__setattr__(self, "_patch", patch)

    def __setattr__(self, name: str, value: object) -> None:
        pass

    def __delattr__(self, name: str) -> None:
        patch: Patch = object.__getattribute__(self, "_patch")
        patch.remove()


def _draws(call: str, latency: float | str, jitter: float, fail_rate: float, seed: int) -> Workload | None:
    """The per-call latency and failure draws, checked as ``flood.tasks`` checks them."""
    try:
        draws = Workload(sys.maxsize, latency=latency, jitter=jitter, fail_rate=fail_rate, seed=seed)
    except ValueError as exc:
        # The checks and their wording are flood.tasks'; the call to name is this one.
        raise ValueError(str(exc).replace("flood.tasks()", call)) from None
    return draws if (latency or fail_rate) else None


def install_count(
    target: object,
    *,
    counter: InFlightCounter,
    monkeypatch: pytest.MonkeyPatch,
    latency: float | str = 0,
    jitter: float = 0.0,
    fail_rate: float = 0.0,
    seed: int = 0,
) -> Any:
    """Wrap ``target`` so that its calls count in ``counter``; undone with ``monkeypatch``.

    Returns what the code under test now finds at the target.
    """
    found = resolve_target("flood.count", target)
    raw = found.raw.__func__ if isinstance(found.raw, (classmethod, staticmethod)) else found.raw
    counting = getattr(raw, "_boundedload_site", None)
    if isinstance(counting, _Site) and counting.active():
        # Each call would count twice in flight.
        raise ValueError(f"{found.call}: already counted in this test")
    site = _Site(counter, _draws(found.call, latency, jitter, fail_rate, seed))
    patch = Patch(found.owner, found.name, _maker(found, site), in_children=True)
    try:
        patch.install()
    except (TypeError, AttributeError) as exc:
        raise cannot_replace(found, exc) from None
    monkeypatch.setattr(_UndoAtTeardown(patch), "installed", True, raising=False)
    return getattr(found.owner, found.name)
