"""Act on a module the moment it is first imported, without importing it ourselves.

The counts hook classes of libraries the code under test may use (``uvloop.Loop``,
trio's run set-up). The plugin must not import them itself (a test that never uses trio
must not pay for it, and they may not be installed), so a window hooks what is already
in ``sys.modules`` and watches for the rest: an :class:`ImportWatch` is a finder at the
head of ``sys.meta_path`` that answers only for its one module, with the spec the other
finders give, and runs ``then(module)`` right after the module's own code has run,
before the import statement returns. The spec's loader is the module's own again before
that code runs, so nothing of ours stays on the module; the finder itself leaves
``sys.meta_path`` when the watch stops.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from typing import Any

__all__ = ["ImportWatch"]


class _ThenLoader:
    """The module's own loader, then ``then(module)``; gone from the spec before the
    module's code runs."""

    def __init__(self, spec: ModuleSpec, loader: Any, then: Callable[[types.ModuleType], None]) -> None:
        self._spec = spec
        self._loader = loader
        self._then = then

    def __getattr__(self, name: str) -> Any:
        # The rest of the loader's interface (is_package, get_code, get_filename, ...) for
        # code that looks at a spec found while the watch is on, without importing it.
        if name in ("_spec", "_loader", "_then"):  # not set yet (a copy): no recursion
            raise AttributeError(name)
        return getattr(self._loader, name)

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: types.ModuleType) -> None:
        loader = self._loader
        self._spec.loader = loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = loader
        loader.exec_module(module)
        with contextlib.suppress(Exception):  # a measuring hook must never break an import
            self._then(module)


class ImportWatch:
    """Calls ``then(module)`` once ``name`` (a top-level module) is imported between
    :meth:`start` and :meth:`stop`; never if it was imported before (check
    ``sys.modules`` first)."""

    def __init__(self, name: str, then: Callable[[types.ModuleType], None]) -> None:
        self._name = name
        self._then = then
        self._active = False
        self._looking = threading.local()

    def start(self) -> None:
        """Put the finder first in ``sys.meta_path``."""
        self._active = True
        # A new list rather than an insertion: an import in another thread may be walking
        # the old one, and must neither skip a finder nor see one twice.
        sys.meta_path = [self, *sys.meta_path]

    def stop(self) -> None:
        """Take the finder out of ``sys.meta_path`` (it answers nothing from now on)."""
        self._active = False
        if any(finder is self for finder in sys.meta_path):
            sys.meta_path = [finder for finder in sys.meta_path if finder is not self]

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> ModuleSpec | None:
        """The spec the other finders give for the watched module, its loader wrapped;
        ``None`` (the other finders decide) for every other module."""
        if fullname != self._name or not self._active or getattr(self._looking, "active", False):
            return None
        self._looking.active = True
        try:
            spec = self._others_spec(fullname, path, target)
        except Exception:  # the import system reports the other finders' errors itself
            return None
        finally:
            self._looking.active = False
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not callable(getattr(loader, "exec_module", None)):
            return None
        # Each spec gets its own wrapper, and the watch goes on: a spec that is only looked
        # at (``importlib.util.find_spec``, to see whether the module is there) is never
        # executed; ``then`` runs once per import of the module and must allow for that.
        spec.loader = _ThenLoader(spec, loader, self._then)  # type: ignore[assignment]
        return spec

    def _others_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None
    ) -> ModuleSpec | None:
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec: ModuleSpec | None = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None
