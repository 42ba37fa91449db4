"""The ``boundedload`` command.

- :mod:`.main`: the parser and :func:`main`;
- :mod:`.demo`: every fix and anti-pattern flooded in a capped child, one table;
- :mod:`.calibrate`: what this machine lets a flood test measure;
- :mod:`.baseline`: ``baseline show`` and ``baseline diff``; :mod:`.summary`: ``baseline
  summary``, a JSON report as Markdown.
"""

from .main import main

__all__ = ["main"]
