"""Patches of other code's attributes that chain, restore only what is still theirs, and
are undone in a forked child.

A :class:`Patch` replaces one attribute (``BaseEventLoop.run_forever``,
``_thread.start_new_thread``) with a wrapper made around whatever was there, another
tool's wrapper included. Removing it puts the original back only if the attribute still
holds our wrapper; if something wrapped ours in the meantime, ours stays in that chain
but inactive, passing every call straight through, so neither tool breaks the other. What
goes back is what the owner's namespace held (a class's ``classmethod`` object, not the
bound method). A forked child does not inherit a measuring window: every active patch is
removed there, unless it was made ``in_children`` (it counts into shared counters).
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["Patch", "after_fork_in_child"]

_ACTIVE: weakref.WeakSet[Patch] = weakref.WeakSet()
_CHILD_HANDLERS: list[Callable[[], None]] = []
_MISSING = object()


class Patch:
    """``owner.name`` replaced by ``make(original, patch)`` between :meth:`install` and
    :meth:`remove`. The wrapper must call ``original`` when ``patch.active`` is false.

    ``in_children``: a forked child keeps the patch (else it is removed there).
    """

    def __init__(
        self, owner: Any, name: str, make: Callable[[Any, Patch], Any], *, in_children: bool = False
    ) -> None:
        self.owner = owner
        self.name = name
        self._make = make
        self._in_children = in_children
        self.active = False
        self.original: Any = None
        self._wrapper: Any = _MISSING
        self._own = False  # the attribute was in the owner's own namespace
        self._raw: Any = None  # what the namespace held there

    def install(self) -> bool:
        """Put the wrapper in place; False when the attribute is missing (nothing done)."""
        original = getattr(self.owner, self.name, _MISSING)
        if original is _MISSING:
            return False
        namespace = vars(self.owner)
        self._own = self.name in namespace
        self._raw = namespace[self.name] if self._own else None
        self.original = original
        self._wrapper = self._make(original, self)
        try:
            setattr(self.owner, self.name, self._wrapper)
        except BaseException:  # an immutable owner (a built-in type): nothing is in place
            self._wrapper = _MISSING
            raise
        self.active = True
        if not self._in_children:
            _ACTIVE.add(self)
        return True

    def remove(self) -> None:
        """Stop wrapping; restore the original if the attribute is still ours."""
        if not self.active:
            return
        self.active = False
        _ACTIVE.discard(self)
        wrapper, self._wrapper = self._wrapper, _MISSING  # a wrapper refers to its patch: no cycle
        if vars(self.owner).get(self.name, _MISSING) is wrapper:
            if self._own:
                setattr(self.owner, self.name, self._raw)
            else:
                delattr(self.owner, self.name)  # it was inherited: let the lookup find it again


def after_fork_in_child(handler: Callable[[], None]) -> None:
    """Run ``handler`` in every forked child, after the inherited patches are removed."""
    _CHILD_HANDLERS.append(handler)


def _in_child() -> None:
    for patch in list(_ACTIVE):
        patch.remove()
    for handler in _CHILD_HANDLERS:
        with contextlib.suppress(Exception):  # a measuring hook must never break a child
            handler()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
