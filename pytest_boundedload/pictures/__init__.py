"""Pictures in ``--boundedload-report-dir``: scaling fits and failing tests' timelines
(PNG, with matplotlib), memray flamegraphs, and an ``index.html`` that links them."""

from .files import stem
from .index import IndexWriter
from .render import render_test

__all__ = ["IndexWriter", "render_test", "stem"]
