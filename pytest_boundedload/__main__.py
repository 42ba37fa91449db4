"""``python -m pytest_boundedload``: the ``boundedload`` command."""

import sys

from .cli import main

sys.exit(main())
