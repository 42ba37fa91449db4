"""pytest-boundedload: flood code with synthetic tasks and fail tests whose load is unbounded.

The ``flood`` fixture and the ``boundedload`` marker come from the pytest plugin
(:mod:`pytest_boundedload.plugin`); the names here are the public API around them.

They are imported on first use: pytest imports this package in every run where the
plugin is installed, and most runs never touch them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .flood import Flood
    from .flood.fit import ScalingReport
    from .flood.scaling import ScalingError
    from .flood.windows import MeasureResult
    from .flood.workload import SyntheticFailure, SyntheticTask, Workload
    from .limits import Limits, Violation
    from .measure.measurement import Measurement
    from .server import LocalServer, ServerError, server_fixture
    from .units import InvalidValue, format_size, parse_duration, parse_size

__all__ = [
    "Flood",
    "InvalidValue",
    "Limits",
    "LocalServer",
    "MeasureResult",
    "Measurement",
    "ScalingError",
    "ScalingReport",
    "ServerError",
    "SyntheticFailure",
    "SyntheticTask",
    "Violation",
    "Workload",
    "format_size",
    "parse_duration",
    "parse_size",
    "server_fixture",
]

__version__ = "0.1.0"

_WHERE = {
    "Flood": ".flood",
    "ScalingReport": ".flood.fit",
    "ScalingError": ".flood.scaling",
    "MeasureResult": ".flood.windows",
    "SyntheticFailure": ".flood.workload",
    "SyntheticTask": ".flood.workload",
    "Workload": ".flood.workload",
    "Limits": ".limits",
    "Violation": ".limits",
    "Measurement": ".measure.measurement",
    "LocalServer": ".server",
    "ServerError": ".server",
    "server_fixture": ".server",
    "InvalidValue": ".units",
    "format_size": ".units",
    "parse_duration": ".units",
    "parse_size": ".units",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
