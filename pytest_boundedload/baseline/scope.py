"""Which baseline entries a run could have run: the tests under the paths it was asked to
collect. ``--boundedload-prune`` removes only entries in that scope, so ``pytest
tests/test_api.py --boundedload-save --boundedload-prune`` prunes that file's gone tests
and keeps every other file's entries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["Scope"]


class Scope:
    """Test ids under the collection arguments ``args`` (paths, ``path::name`` ids),
    relative to ``base``, as test ids relative to ``root`` are written."""

    def __init__(self, args: Iterable[str], base: Path, root: Path) -> None:
        self.prefixes: list[str] | None = []  # None: every test id is in scope
        for arg in args:
            path, sep, rest = arg.partition("::")
            absolute = Path(os.path.normpath(base / path))
            try:
                relative = absolute.relative_to(root).as_posix()
            except ValueError:  # collected outside the rootdir: ids are not prefixes of it
                self.prefixes = None
                return
            if relative == "." and not sep:
                self.prefixes = None
                return
            self.prefixes.append(relative + sep + rest if sep else relative)

    def __contains__(self, nodeid: object) -> bool:
        if self.prefixes is None:
            return True
        if not isinstance(nodeid, str):
            return False
        return any(_under(nodeid, prefix) for prefix in self.prefixes)


def _under(nodeid: str, prefix: str) -> bool:
    if nodeid == prefix:
        return True
    if "::" in prefix:  # a test, class or parametrized test: its members and parameters
        return nodeid.startswith((prefix + "::", prefix + "["))
    return nodeid.startswith((prefix + "/", prefix + "::"))
