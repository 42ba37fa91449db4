"""The sampler, run directly: kernel peak, threads, child processes, and the psutil fallback.

These tests measure this process, so they allocate on a scale (tens of MiB) that the
pytest process around them cannot hide.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading

import pytest

from pytest_boundedload.measure import procfs
from pytest_boundedload.measure.sampler import Sampler

MiB = 1024 * 1024


def test_kernel_peak_catches_a_spike_between_samples() -> None:
    sampler = Sampler(interval=10.0)  # no periodic sample can land during the spike
    sampler.start()
    block = bytearray(96 * MiB)
    del block
    result = sampler.stop()
    assert result.peak_source == "vmhwm"
    assert result.peak_rss - result.start_rss >= 90 * MiB


def test_fallback_without_procfs_samples_rss(monkeypatch: pytest.MonkeyPatch) -> None:
    # A machine without procfs (macOS): the status file does not exist.
    monkeypatch.setattr(procfs, "PROC_STATUS", "/nonexistent/status")
    sampler = Sampler(interval=0.005)
    sampler.start()
    block = bytearray(64 * MiB)
    ready = threading.Event()
    # Hold the block until the sampler has certainly taken a sample with it resident.
    threading.Timer(0.2, ready.set).start()
    ready.wait()
    result = sampler.stop()
    del block
    assert result.peak_source == "sampled"
    assert result.peak_rss - result.start_rss >= 60 * MiB
    assert result.max_threads >= 1


def test_fallback_when_clear_refs_is_not_writable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procfs, "CLEAR_REFS", "/nonexistent/clear_refs")
    sampler = Sampler(interval=0.01)
    sampler.start()
    result = sampler.stop()
    assert result.peak_source == "sampled"


def test_threads_running_before_the_window_are_left_out() -> None:
    release = threading.Event()
    before = [threading.Thread(target=release.wait) for _ in range(3)]
    for thread in before:
        thread.start()
    try:
        sampler = Sampler(interval=0.01)
        sampler.start()
        inside = threading.Thread(target=release.wait)
        inside.start()
        result = sampler.stop()
    finally:
        release.set()
        for thread in [*before, inside]:
            thread.join()
    # The main thread plus the one started in the window; not the three from before.
    assert result.max_threads == 2


def test_short_lived_threads_are_counted_at_start() -> None:
    sampler = Sampler(interval=10.0)
    sampler.start()
    release = threading.Event()
    threads = [threading.Thread(target=release.wait) for _ in range(30)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    result = sampler.stop()
    # 30 workers plus the main thread; no periodic sample ran (interval 10 s).
    assert result.max_threads >= 31
    assert threading.active_count() < 31


def _child(event: multiprocessing.synchronize.Event) -> None:
    event.wait(30)


def test_children_counted_at_creation_and_their_peaks_summed() -> None:
    sampler = Sampler(interval=10.0)
    sampler.start()
    ctx = multiprocessing.get_context("fork")
    event = ctx.Event()
    children = [ctx.Process(target=_child, args=(event,)) for _ in range(6)]
    for child in children:
        child.start()
    event.set()
    for child in children:
        child.join()
    result = sampler.stop()
    assert result.max_processes >= 6


def test_children_peak_rss_from_their_status() -> None:
    sampler = Sampler(interval=0.01)
    sampler.start()
    code = "b = bytearray(80 * 1024 * 1024); import time; time.sleep(0.5)"
    subprocess.run([sys.executable, "-c", code], check=True)
    result = sampler.stop()
    assert result.max_processes >= 1
    assert result.children_peak_rss >= 80 * MiB


def test_children_present_at_the_start_are_not_the_windows() -> None:
    # A child that exists before the window (a fixture's server, say) is left out of the
    # counts; one started in the window is counted and its peak seen.
    ctx = multiprocessing.get_context("fork")
    event = ctx.Event()
    early = ctx.Process(target=_child, args=(event,))
    early.start()
    try:
        sampler = Sampler(interval=0.01)
        sampler.start()
        code = "b = bytearray(80 * 1024 * 1024); import time; time.sleep(0.5)"
        subprocess.run([sys.executable, "-c", code], check=True)
        result = sampler.stop()
    finally:
        event.set()
        early.join()
    assert result.max_processes == 1
    assert result.children_peak_rss >= 80 * MiB
