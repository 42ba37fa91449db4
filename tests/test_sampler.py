"""The sampler, run directly: kernel peak, threads, child processes, and the psutil fallback.

These tests measure this process, so they allocate on a scale (tens of MiB) that the
pytest process around them cannot hide.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from pytest_boundedload.measure import procfs
from pytest_boundedload.measure.sampler import Sampler

MiB = 1024 * 1024


class Ticks:
    """Counts the sampler's periodic samples (its ``on_tick``), and waits for them."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def __call__(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for_a_sample_from_now(self) -> None:
        """Return once a sample has been taken entirely after this call began.

        The tick under way now may have read its figures before; the one after it
        started once this call had begun."""
        with self._changed:
            now = self.count
            ticked = self._changed.wait_for(lambda: self.count >= now + 2, timeout=60)
        assert ticked, "the sampler stopped ticking"


def _spike_and_release(size: int) -> None:
    """Raise this process's peak by ``size``: fresh pages, every one touched, then handed
    back to the kernel (the RSS falls back, the peak stays)."""
    block = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        block[offset] = 1
    block.close()


def test_kernel_peak_catches_a_spike_between_samples() -> None:
    sampler = Sampler(interval=10.0)  # no periodic sample can land during the spike
    sampler.start()
    block = bytearray(96 * MiB)
    del block
    result = sampler.stop()
    assert result.peak_source == "vmhwm"
    assert 95 * MiB <= result.peak_rss - result.start_rss < 112 * MiB


def test_kernel_peak_is_reset_when_the_window_opens() -> None:
    # A peak from before the window, far above anything the window does: the window's
    # peak must be its own, not this one (it would be with a reset that does nothing).
    _spike_and_release(256 * MiB)
    assert procfs.peak_rss_now() - procfs.current_rss() >= 200 * MiB
    sampler = Sampler(interval=10.0)
    sampler.start()
    small = bytearray(2 * MiB)
    result = sampler.stop()
    del small
    assert result.peak_source == "vmhwm"
    assert MiB <= result.peak_rss - result.start_rss < 16 * MiB


def _noop_reset() -> bool:
    return True  # claims success, writes nothing: a kernel or sandbox that drops the write


def test_a_reset_that_does_not_lower_the_peak_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procfs, "reset_vmhwm", _noop_reset)
    monkeypatch.setattr(procfs, "_verified", {})  # as in a process that has not checked yet
    _spike_and_release(64 * MiB)  # a stale peak the window would otherwise report
    assert procfs.vmhwm_available() is False
    sampler = Sampler(interval=10.0)
    sampler.start()
    result = sampler.stop()
    assert result.peak_source == "sampled"
    # Sampled RSS, not the stale kernel peak 64 MiB above it.
    assert 0 <= result.peak_rss - result.start_rss < 16 * MiB


def test_fallback_without_procfs_samples_rss(monkeypatch: pytest.MonkeyPatch) -> None:
    # A machine without procfs (macOS): the status file does not exist.
    monkeypatch.setattr(procfs, "PROC_STATUS", "/nonexistent/status")
    ticks = Ticks()
    sampler = Sampler(interval=0.005, on_tick=ticks)
    sampler.start()
    block = bytearray(64 * MiB)
    # Hold the block until the sampler has taken a sample with it resident.
    ticks.wait_for_a_sample_from_now()
    result = sampler.stop()
    del block
    assert result.peak_source == "sampled"
    assert 63 * MiB <= result.peak_rss - result.start_rss < 80 * MiB
    assert result.max_threads == 1


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
    assert result.max_threads == 31
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
    assert result.max_processes == 6


# A child that takes 80 MiB, says so, and keeps it until its stdin closes.
_HOLDER = "import sys; b = bytearray(80 * 1024 * 1024); print('ready', flush=True); sys.stdin.read()"


@contextlib.contextmanager
def _child_holding_80_mib() -> Iterator[None]:
    """A child process that holds its 80 MiB for the duration of the block."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        try:
            yield
        finally:
            child.stdin.close()
            assert child.wait(timeout=60) == 0


def test_children_peak_rss_from_their_status() -> None:
    sampler = Sampler(interval=0.01)
    sampler.start()
    with _child_holding_80_mib():
        result = sampler.stop()  # while the child runs: the last reading sees it
    assert result.max_processes == 1
    # The 80 MiB and an interpreter.
    assert 80 * MiB <= result.children_peak_rss < 128 * MiB


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
        with _child_holding_80_mib():
            result = sampler.stop()
    finally:
        event.set()
        early.join()
    assert result.max_processes == 1
    # The new child's 80 MiB and interpreter, not the early child's (a fork of pytest).
    assert 80 * MiB <= result.children_peak_rss < 128 * MiB


def _sampler_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "boundedload-sampler"]


def test_no_thread_until_a_sample_could_add_something() -> None:
    if not procfs.vmhwm_available():
        pytest.skip("without the kernel peak, RSS is sampled from the start")
    sampler = Sampler(0.01)
    sampler.start()
    try:
        # The kernel's peak, no children, no ticks asked for: nothing to sample yet.
        assert _sampler_threads() == []
        # A child appears: from then on its count and memory are sampled.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
        assert len(_sampler_threads()) == 1
        child.wait()
    finally:
        result = sampler.stop()
    assert result.max_processes == 1
    assert _sampler_threads() == []


def test_asked_for_ticks_start_the_thread_at_once() -> None:
    ticks = Ticks()
    sampler = Sampler(0.01, ticks)
    sampler.start()
    try:
        assert len(_sampler_threads()) == 1
        ticks.wait_for_a_sample_from_now()
    finally:
        sampler.stop()
    assert _sampler_threads() == []


def test_status_fields_are_the_kernels() -> None:
    with open("/proc/self/status") as f:
        lines = dict(line.split(":", 1) for line in f if ":" in line)
    fields = procfs.status_fields()
    assert set(fields) == {"VmHWM", "VmRSS", "Threads"}
    # threading does not know threads started with _thread (execnet's, under xdist).
    assert fields["Threads"] == int(lines["Threads"]) >= threading.active_count()
    assert fields["VmHWM"] >= fields["VmRSS"] > 0
    assert fields["VmRSS"] % 1024 == 0  # kB in the file, bytes here


def test_rss_and_threads_agree_with_the_status_file() -> None:
    quick, full = procfs.rss_and_threads(), procfs.status_fields()
    assert quick["Threads"] == full["Threads"]
    # Two readings a moment apart: the same pages, give or take what the read allocated.
    assert full["VmRSS"] - 2 * MiB <= quick["VmRSS"] <= full["VmRSS"] + 2 * MiB


def test_a_spawn_on_an_event_loop_lists_no_processes_there(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_boundedload.measure.descendants import Descendants

    listed_on: list[int] = []
    refresh = Descendants.refresh

    def recording(self: Descendants) -> int:
        listed_on.append(threading.get_ident())
        return refresh(self)

    monkeypatch.setattr(Descendants, "refresh", recording)

    async def spawn_twice() -> None:
        for _ in range(2):  # the first spawn starts the sampler thread, the second finds it
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import time; time.sleep(0.1)"
            )
            await process.wait()

    sampler = Sampler(interval=0.01)  # no thread until the first spawn
    sampler.start()
    try:
        loop_thread = threading.get_ident()
        del listed_on[:]  # the start's own listing, before the loop runs
        asyncio.run(spawn_twice())
        during = list(listed_on)  # (stopping lists them once more, on this thread)
    finally:
        result = sampler.stop()
    assert loop_thread not in during  # blocking I/O stays off the loop's thread
    assert during  # the sampler thread counted the children instead
    assert result.max_processes == 1  # one child at a time


async def spawn_short_children() -> None:
    """Five short children one after another, each started on the event loop's thread."""
    for _ in range(5):
        process = await asyncio.create_subprocess_exec("true")
        assert await process.wait() == 0


def test_a_short_child_started_on_an_event_loop_is_counted() -> None:
    # The spawn on the loop's thread lists no processes, yet the child about to start
    # counts there: one that exits before the sampler thread lists /proc is not missed.
    seen = []
    for _ in range(5):
        sampler = Sampler(interval=10.0)
        sampler.start()
        try:
            asyncio.run(spawn_short_children())
        finally:
            result = sampler.stop()
        seen.append(result.max_processes)
    assert seen == [1] * 5  # one child at a time, every time


def test_a_short_child_on_an_event_loop_counts_with_those_listed_before() -> None:
    # A child listed before the loop runs is still there at each short child's start,
    # asked of the kernel without a file read: two at a time, every time.
    seen = []
    for _ in range(5):
        sampler = Sampler(interval=10.0)
        sampler.start()
        try:
            with subprocess.Popen(["cat"], stdin=subprocess.PIPE) as listed:
                sampler._children.refresh()  # it exists now: the next listing sees it
                asyncio.run(spawn_short_children())
                assert listed.stdin is not None
                listed.stdin.close()
        finally:
            result = sampler.stop()
        seen.append(result.max_processes)
    assert seen == [2] * 5


def test_threads_that_ended_just_before_the_window_are_not_counted() -> None:
    # Joined threads can still be in /proc/self/task for a moment, and leave it while the
    # window opens or closes: neither they, nor a sampler thread of the window before,
    # are this window's threads.
    seen = []
    for _ in range(100):
        barrier = threading.Barrier(20)
        threads = [threading.Thread(target=barrier.wait) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ticking = Sampler(0.001, lambda: None)  # starts its own thread at once
        ticking.start()
        ticking.stop()
        sampler = Sampler(interval=10.0)
        sampler.start()
        seen.append(sampler.stop().max_threads)
    assert seen == [1] * 100
