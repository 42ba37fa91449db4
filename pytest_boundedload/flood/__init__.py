"""What a test floods its code with, and the windows that measure it.

- :mod:`.fixture`: :class:`Flood`, the ``flood`` fixture's object;
- :mod:`.workload`: lazy synthetic workloads (:class:`Workload`, :class:`SyntheticTask`);
- :mod:`.items`: the user's own items (``make=``), followed for ``max_held`` all the same;
- :mod:`.probe`: the instrumented workers that count calls in flight;
- :mod:`.windows`: a test's measurement windows (implicit, ``flood.measure()``, scaling);
- :mod:`.scaling`: ``flood.scaling`` sizes run in capped children, and :mod:`.fit`, the
  fit of their figures against N.
"""

from .fixture import Flood

__all__ = ["Flood"]
