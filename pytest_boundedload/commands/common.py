"""What the ``boundedload`` commands share: how they fail, and plurals."""

from __future__ import annotations

__all__ = ["CommandError", "plural"]


class CommandError(Exception):
    """Ends the command with ``boundedload: MESSAGE`` on stderr and exit status ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def plural(n: int, word: str) -> str:
    """``1 test``, ``2 tests``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
