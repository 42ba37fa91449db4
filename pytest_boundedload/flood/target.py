"""Finding what ``flood.patch`` and ``flood.count`` replace, and what kind of callable it is.

A target is ``"pkg.mod.func"`` / ``"pkg.mod.Class.method"`` or ``(obj, "name")``. Its kind
(coroutine function, async generator function or plain) is read from the function itself
and, for decorators that hide it (a plain ``def`` returning a coroutine, as SDKs' argument
checkers do), from the ``__wrapped__`` chain that ``functools.wraps`` leaves.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any, Literal

import pytest

__all__ = ["Kind", "Target", "cannot_replace", "deep_kind", "install_probe", "own_kind", "resolve_target"]

Kind = Literal["coroutine", "asyncgen", "plain"]


class Target:
    """One attribute to replace: ``owner.name``, whose value is ``original``.

    ``raw`` is what the owner's namespace (or its class's) holds: a ``classmethod`` or
    ``staticmethod`` object where ``original`` is what attribute access gives.
    """

    __slots__ = ("call", "name", "original", "owner", "raw")

    def __init__(self, call: str, owner: Any, name: str, original: Any, raw: Any) -> None:
        self.call = call
        self.owner = owner
        self.name = name
        self.original = original
        self.raw = raw


def _import_owner(call: str, dotted: str) -> tuple[Any, str]:
    """Split ``"pkg.mod.attr"`` into (imported owner, "attr"), importing as deep as possible."""
    parts = dotted.split(".")
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"{call}({dotted!r}): expected 'package.module.function'")
    owner: Any = None
    for i in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:i])
        try:
            owner = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # Only "this prefix is not a module" means: try a shorter one. A module that
            # exists but fails to import must say why.
            if exc.name is not None and module.startswith(exc.name):
                continue
            raise ValueError(f"{call}({dotted!r}): importing {module!r} failed: {exc}") from exc
        except Exception as exc:
            raise ValueError(f"{call}({dotted!r}): importing {module!r} failed: {exc!r}") from exc
        for attr in parts[i:-1]:
            try:
                owner = getattr(owner, attr)
            except AttributeError:
                raise ValueError(f"{call}({dotted!r}): {owner!r} has no attribute {attr!r}") from None
        break
    else:
        raise ValueError(f"{call}({dotted!r}): cannot import {parts[0]!r}")
    return owner, parts[-1]


def resolve_target(call: str, target: object) -> Target:
    """The attribute ``target`` names, for the public call ``call`` ("flood.count").

    Raises ValueError when it does not exist (or its module does not import), TypeError
    when ``target`` is neither form or the attribute is not callable.
    """
    if isinstance(target, str):
        owner, name = _import_owner(call, target)
    elif isinstance(target, tuple) and len(target) == 2 and isinstance(target[1], str):
        owner, name = target
    else:
        raise TypeError(f"{call}(): expected 'pkg.mod.func' or (obj, 'name'), got {target!r}")
    try:
        original = getattr(owner, name)
    except AttributeError:
        raise ValueError(f"{call}({target!r}): {owner!r} has no attribute {name!r}") from None
    if not callable(original):
        raise TypeError(
            f"{call}({target!r}): {name!r} is not callable, it is {type(original).__name__} {original!r}"
        )
    try:
        raw = inspect.getattr_static(owner, name)
    except AttributeError:  # made by __getattr__: what access gives is all there is
        raw = original
    return Target(f"{call}({target!r})", owner, name, original, raw)


def cannot_replace(found: Target, exc: BaseException) -> TypeError:
    """The error for an attribute that cannot be replaced (on a built-in type, or an
    object without a ``__dict__``), naming the call."""
    return TypeError(f"{found.call}: cannot replace {found.name!r} on {found.owner!r} ({exc})")


def _kind_of(func: Any) -> Kind | None:
    if isinstance(func, (classmethod, staticmethod)):
        func = func.__func__
    if inspect.iscoroutinefunction(func):  # also sees inspect.markcoroutinefunction (3.12+)
        return "coroutine"
    if inspect.isasyncgenfunction(func):
        return "asyncgen"
    return None


def deep_kind(func: Any) -> Kind:
    """What calling ``func`` gives, as far as can be told without calling it.

    Looks through bound methods, ``functools.partial`` and ``__wrapped__`` chains, so a
    decorator that hides a coroutine function is seen through when it used
    ``functools.wraps``. ``"plain"`` when nothing says otherwise.
    """
    seen: set[int] = set()
    while func is not None and id(func) not in seen:
        seen.add(id(func))
        kind = _kind_of(func)
        if kind is not None:
            return kind
        if isinstance(func, (classmethod, staticmethod)) or inspect.ismethod(func):
            func = func.__func__
        elif isinstance(func, functools.partial):
            func = func.func
        else:
            func = getattr(func, "__wrapped__", None)
    return "plain"


def own_kind(func: Any) -> Kind:
    """What ``func`` itself declares (no ``__wrapped__``): the kind a wrapper must show."""
    return _kind_of(func.__func__ if inspect.ismethod(func) else func) or "plain"


def install_probe(
    target: object, kind: str | None, *, aworker: Any, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """``flood.patch``: put the probe matching ``target``'s kind in its place until teardown.

    ``kind`` ``"async"`` or ``"sync"`` overrides what :func:`deep_kind` finds (a coroutine
    function anywhere along the ``__wrapped__`` chain means async). On a class the probe
    is stored as a ``staticmethod``, so it receives the call's own arguments, not ``self``.
    """
    if kind not in (None, "async", "sync"):
        raise ValueError(
            f"flood.patch({target!r}): kind must be 'async' or 'sync' (or None to detect), got {kind!r}"
        )
    found = resolve_target("flood.patch", target)
    if kind is None:
        kind = "async" if deep_kind(found.raw) == "coroutine" else "sync"
    probe = aworker if kind == "async" else worker
    try:
        monkeypatch.setattr(
            found.owner, found.name, staticmethod(probe) if inspect.isclass(found.owner) else probe
        )
    except (TypeError, AttributeError) as exc:
        raise cannot_replace(found, exc) from None
    return probe
