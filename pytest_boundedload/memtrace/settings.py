"""Which tests are traced with memray, and where their captures and pictures go.

Tracing is opt-in: ``--boundedload-memray`` or ini ``boundedload_memray = true`` for
every measured test, the marker keyword ``memray=True`` (or ``False``) for one. A
``max_heap`` limit turns it on for the tests it applies to, since it is checked against
the traced heap peak; a marker that sets ``max_heap`` and ``memray=False`` together is
an error.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..limits import marker_flag
from ..units import InvalidValue

__all__ = ["DEFAULT_TOP", "TraceSettings", "marker_trace", "traced"]

DEFAULT_TOP = 5


@dataclasses.dataclass(frozen=True)
class TraceSettings:
    """Session-wide tracing settings: on for every measured test or not, how many sites
    to show, and the report directory (None: captures go to a temporary directory and
    no pictures are made)."""

    enabled: bool = False
    top: int = DEFAULT_TOP
    report_dir: Path | None = None

    @property
    def capture_dir(self) -> Path:
        """Where capture files are written while a test runs."""
        if self.report_dir is not None:
            return self.report_dir
        return (
            Path(tempfile.gettempdir()) / f"boundedload-traces-{os.getuid() if hasattr(os, 'getuid') else 0}"
        )


def marker_trace(
    marks: Iterable[tuple[tuple[object, ...], Mapping[str, object]]], nodeid: str
) -> bool | None:
    """The ``memray=`` keyword of the closest ``boundedload`` marker that has one (None:
    not given). Only ``True`` and ``False`` are accepted."""
    return marker_flag(marks, nodeid, "memray")


def traced(
    settings: TraceSettings,
    marked: bool | None,
    max_heap: int | None,
    max_heap_source: str | None,
    nodeid: str,
) -> bool:
    """Whether the test ``nodeid`` is traced: its marker's choice, else the session's,
    and always when a ``max_heap`` limit applies to it (except that a marker's
    ``memray=False`` exempts it from a project-wide one)."""
    if marked is False:
        if max_heap is not None and max_heap_source == "marker":
            raise InvalidValue(
                f"invalid memray=False from marker on {nodeid}: its max_heap limit is checked"
                " against memray's heap peak (remove one of them)"
            )
        return False
    return bool(marked) or settings.enabled or max_heap is not None
