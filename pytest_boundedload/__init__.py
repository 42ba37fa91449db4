"""pytest-boundedload: flood code with synthetic tasks and fail tests whose load is unbounded.

The ``flood`` fixture and the ``boundedload`` marker come from the pytest plugin
(:mod:`pytest_boundedload.plugin`); the names here are the public API around them.
"""

from .flood import Flood
from .limits import Limits, Violation
from .measurement import Measurement
from .recorder import MeasureResult
from .scaling import ScalingError, ScalingReport
from .units import InvalidValue, format_size, parse_duration, parse_size
from .workload import SyntheticFailure, SyntheticTask, Workload

__all__ = [
    "Flood",
    "InvalidValue",
    "Limits",
    "MeasureResult",
    "Measurement",
    "ScalingError",
    "ScalingReport",
    "SyntheticFailure",
    "SyntheticTask",
    "Violation",
    "Workload",
    "format_size",
    "parse_duration",
    "parse_size",
]

__version__ = "0.1.0"
