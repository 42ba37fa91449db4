"""memray tracing of measurement windows: the heap's exact high-water and where it was
allocated."""

from .capture import HeapCapture, HeapFigures, TrackerBusy, read_capture, unavailable
from .sites import HeapSite, is_user_file, top_sites

__all__ = [
    "HeapCapture",
    "HeapFigures",
    "HeapSite",
    "TrackerBusy",
    "is_user_file",
    "read_capture",
    "top_sites",
    "unavailable",
]
