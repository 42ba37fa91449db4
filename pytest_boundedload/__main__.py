"""``python -m pytest_boundedload``: the ``boundedload`` command."""

import sys

from .commands import main

sys.exit(main())
