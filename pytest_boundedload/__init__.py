"""pytest-boundedload: flood code with synthetic tasks and fail tests whose load is unbounded.

The ``flood`` fixture and the ``boundedload`` marker come from the pytest plugin
(:mod:`pytest_boundedload.plugin`); the names here are the public API around them.
"""

from .flood import Flood
from .flood.fit import ScalingReport
from .flood.scaling import ScalingError
from .flood.windows import MeasureResult
from .flood.workload import SyntheticFailure, SyntheticTask, Workload
from .limits import Limits, Violation
from .measure.measurement import Measurement
from .units import InvalidValue, format_size, parse_duration, parse_size

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
