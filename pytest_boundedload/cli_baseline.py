"""``python -m pytest_boundedload.cli_baseline COMMAND``: the ``baseline`` command on its
own (``show``, ``diff``, ``summary``), as the CI templates run it; it lives in
:mod:`pytest_boundedload.commands.baseline`."""

import sys

from .commands.baseline import main

if __name__ == "__main__":
    sys.exit(main())
