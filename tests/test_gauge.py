"""Direct tests of the gauge, the probes, Measurement and Limits (no pytester)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rendezvous

from pytest_boundedload import SyntheticFailure, SyntheticTask, Workload
from pytest_boundedload.flood.probe import SyncProbe, make_async_probe
from pytest_boundedload.limits import Limits, Violation, parse_limits
from pytest_boundedload.measure.inflight import InFlightCounter, InFlightReading
from pytest_boundedload.measure.measurement import Measurement
from pytest_boundedload.units import InvalidValue

MiB = 1 << 20
GiB = 1 << 30
SOURCE = "from marker on tests/test_x.py::test_y"
KNOWN = (
    "max_rss, max_rss_growth, max_in_flight, max_tasks, max_threads, max_processes,"
    " max_held, max_requests, max_heap, max_bytes_per_task, hard_limit, memray, isolate"
)


@pytest.fixture
def gauge() -> Iterator[InFlightCounter]:
    g = InFlightCounter()
    yield g
    g.close()


def vmrss() -> int:
    """This process's resident set size in bytes, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


needs_procfs = pytest.mark.skipif(
    not os.path.exists("/proc/self/status"), reason="needs /proc/self/status"
)
needs_fork = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork"
)


# --- async probe ------------------------------------------------------------------------


def test_async_probe_gather_counts_every_task(gauge: InFlightCounter) -> None:
    probe = make_async_probe(gauge)

    async def main() -> list[Any]:
        return await asyncio.gather(*(probe(t) for t in Workload(100, latency=0.05)))

    assert asyncio.run(main()) == list(range(100))
    assert gauge.read() == InFlightReading(
        in_flight=0, max_in_flight=100, started=100, done=100, failed=0
    )


def test_async_probe_tasks_with_nothing_to_do_count_for_an_instant(gauge: InFlightCounter) -> None:
    probe = make_async_probe(gauge)
    zero_work = Workload(1000)

    async def alone() -> list[Any]:
        return [await probe(t) for t in zero_work]

    # One at a time: each is in flight alone, and every one is started and done.
    assert asyncio.run(alone()) == list(range(1000))
    assert gauge.read() == InFlightReading(in_flight=0, max_in_flight=1, started=1000, done=1000, failed=0)

    async def beside_a_slow_one() -> None:
        slow = asyncio.ensure_future(probe(Workload(1, latency=0.2)[0]))
        await asyncio.sleep(0)  # one loop iteration: the slow probe's first step runs
        assert gauge.read().in_flight == 1
        await asyncio.gather(*(probe(t) for t in Workload(10)))
        await slow

    gauge.reset()
    asyncio.run(beside_a_slow_one())
    # The instant ones overlap the slow one: two in flight at once, never more.
    assert gauge.read() == InFlightReading(in_flight=0, max_in_flight=2, started=11, done=11, failed=0)
    # Sharing keeps what the instant ones counted, and counts on from there.
    gauge.share()
    assert asyncio.run(alone())[-1] == 999
    assert gauge.read() == InFlightReading(in_flight=0, max_in_flight=2, started=1011, done=1011, failed=0)
    gauge.close()
    assert gauge.read() == InFlightReading(in_flight=0, max_in_flight=2, started=1011, done=1011, failed=0)


def test_async_probe_under_semaphore_is_bounded_exactly(gauge: InFlightCounter) -> None:
    probe = make_async_probe(gauge)

    async def main() -> None:
        sem = asyncio.Semaphore(7)

        async def bounded(task: SyntheticTask) -> Any:
            async with sem:
                return await probe(task)

        await asyncio.gather(*(bounded(t) for t in Workload(100, latency=0.01)))

    asyncio.run(main())
    reading = gauge.read()
    assert reading.max_in_flight == 7
    assert (reading.in_flight, reading.started, reading.done) == (0, 100, 100)


def test_async_probe_sequential_awaits_never_overlap(gauge: InFlightCounter) -> None:
    probe = make_async_probe(gauge)

    async def main() -> None:
        for task in Workload(20, latency=0.001):
            await probe(task)

    asyncio.run(main())
    assert gauge.read() == InFlightReading(0, 1, 20, 20, 0)


def test_async_probe_failures_count_as_failed_not_done(gauge: InFlightCounter) -> None:
    probe = make_async_probe(gauge)
    tasks = [SyntheticTask(i, fail=i % 3 == 0) for i in range(30)]

    async def main() -> list[Any]:
        return await asyncio.gather(*(probe(t) for t in tasks), return_exceptions=True)

    results = asyncio.run(main())
    for task, result in zip(tasks, results, strict=True):
        if task.fail:
            assert isinstance(result, SyntheticFailure)
            assert result.index == task.index
        else:
            assert result == task.index
    reading = gauge.read()
    assert (reading.started, reading.done, reading.failed, reading.in_flight) == (30, 20, 10, 0)


def test_async_probe_cancellation_leaves_the_gauge(gauge: InFlightCounter) -> None:
    probe = make_async_probe(gauge)

    async def main() -> None:
        running = asyncio.create_task(probe(SyntheticTask(0, latency=30.0)))
        await asyncio.sleep(0)  # the probe runs up to its sleep
        assert gauge.read() == InFlightReading(1, 1, 1, 0, 0)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(main())
    assert gauge.read() == InFlightReading(in_flight=0, max_in_flight=1, started=1, done=0, failed=0)


def test_async_probe_returns_other_items_as_they_are(gauge: InFlightCounter) -> None:
    probe = make_async_probe(gauge)
    item = {"id": 1}
    lookalike = (0, 0, 0.0, True)  # a plain tuple, not a SyntheticTask: never fails

    async def main() -> tuple[Any, Any, Any]:
        return await probe(item), await probe(lookalike), await probe(None, 1, key=2)

    got = asyncio.run(main())
    assert got[0] is item
    assert got[1] is lookalike
    assert got[2] is None
    assert gauge.read() == InFlightReading(0, 1, 3, 3, 0)


@needs_procfs
def test_async_probe_holds_payload_while_in_flight(gauge: InFlightCounter) -> None:
    probe = make_async_probe(gauge)

    async def main() -> tuple[int, int]:
        before = vmrss()
        running = asyncio.create_task(probe(SyntheticTask(0, payload=64 * MiB, latency=30.0)))
        await asyncio.sleep(0)  # the probe allocates, then sleeps
        assert gauge.read().in_flight == 1
        during = vmrss()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return before, during

    before, during = asyncio.run(main())
    after = vmrss()
    assert 60 * MiB <= during - before < 80 * MiB, (before, during)  # the 64 MiB payload
    assert 60 * MiB <= during - after < 80 * MiB, (during, after)  # released once the probe leaves


# --- sync probe in threads --------------------------------------------------------------


def test_sync_probe_returns_index_or_item(gauge: InFlightCounter) -> None:
    probe = SyncProbe(gauge)
    assert probe(SyntheticTask(5)) == 5
    item = object()
    assert probe(item) is item
    assert probe("x", 1, 2, k=3) == "x"
    with pytest.raises(SyntheticFailure) as excinfo:
        probe(SyntheticTask(9, fail=True))
    assert excinfo.value.index == 9
    assert gauge.read() == InFlightReading(0, 1, 4, 3, 1)


class Held(float):
    """A zero latency whose truth test, which the blocking probe runs in flight with the
    payload allocated, says so and waits until it is let go."""

    holding: threading.Event
    release: threading.Event

    def __new__(cls) -> Held:
        held = super().__new__(cls, 0.0)
        held.holding, held.release = threading.Event(), threading.Event()
        return held

    def __bool__(self) -> bool:
        self.holding.set()
        self.release.wait(30)
        return False


@needs_procfs
def test_sync_probe_holds_payload_while_in_flight(gauge: InFlightCounter) -> None:
    probe = SyncProbe(gauge)
    before = vmrss()
    latency = Held()
    thread = threading.Thread(target=probe, args=(SyntheticTask(0, 64 * MiB, latency),))
    thread.start()
    try:
        assert latency.holding.wait(30)
        seen = vmrss() - before
        reading = gauge.read()
    finally:
        latency.release.set()
        thread.join()
    assert 60 * MiB <= seen < 80 * MiB, seen
    assert (reading.in_flight, reading.done) == (1, 0)  # seen while the probe was in flight
    assert vmrss() - before < 30 * MiB  # and released when it left


@pytest.mark.parametrize("shared", [False, True], ids=["local", "shared"])
def test_thread_pool_is_bounded_by_its_workers(gauge: InFlightCounter, shared: bool) -> None:
    if shared:
        gauge.share()
    probe = SyncProbe(gauge)
    # Each call waits in flight until eight are (see rendezvous): the pool's eight
    # threads are all busy at once, and a ninth call never starts beside them.
    rendezvous.use(threading.Barrier(8))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(probe, rendezvous.meeting_tasks(200)))
    assert results == list(range(200))
    assert gauge.read() == InFlightReading(0, 8, 200, 200, 0)


def test_threads_behind_a_barrier_all_count(gauge: InFlightCounter) -> None:
    probe = SyncProbe(gauge)
    rendezvous.use(threading.Barrier(16))  # met inside each call: all 16 in flight at once
    threads = [threading.Thread(target=probe, args=(t,)) for t in rendezvous.meeting_tasks(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gauge.read() == InFlightReading(0, 16, 16, 16, 0)


def test_thread_failures_count_as_failed(gauge: InFlightCounter) -> None:
    probe = SyncProbe(gauge)
    workload = Workload(500, fail_rate=0.2, seed=4)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(probe, t) for t in workload]
    errors = [f.exception() for f in futures]
    expected = sum(t.fail for t in workload)
    assert sum(isinstance(e, SyntheticFailure) for e in errors) == expected
    reading = gauge.read()
    assert (reading.started, reading.done, reading.failed) == (500, 500 - expected, expected)


# --- processes --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_process_pool_is_counted_across_processes(gauge: InFlightCounter, method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method")
    gc.collect()  # dead gauges of earlier tests must not be shared by the fork hook
    ctx = multiprocessing.get_context(method)
    # Each call waits in flight until the four workers' calls all are.
    probe = SyncProbe(gauge)
    with concurrent.futures.ProcessPoolExecutor(
        4, mp_context=ctx, initializer=rendezvous.use, initargs=(ctx.Barrier(4),)
    ) as pool:
        results = list(pool.map(probe, rendezvous.meeting_tasks(40)))
    assert results == list(range(40))
    assert gauge.shared is not None
    assert gauge.read() == InFlightReading(0, 4, 40, 40, 0)


@needs_fork
def test_process_pool_failures_are_counted(gauge: InFlightCounter) -> None:
    probe = SyncProbe(gauge)
    workload = Workload(40, fail_rate=0.25, seed=2)
    expected = sum(t.fail for t in workload)
    assert 0 < expected < 40
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        futures = [pool.submit(probe, t) for t in workload]
    errors = [e for f in futures if (e := f.exception()) is not None]
    failures = [e for e in errors if isinstance(e, SyntheticFailure)]
    assert len(failures) == len(errors) == expected
    assert sorted(e.index for e in failures) == [t.index for t in workload if t.fail]
    reading = gauge.read()
    assert (reading.started, reading.done, reading.failed) == (40, 40 - expected, expected)


@needs_fork
def test_forked_processes_share_the_gauge_without_pickling(gauge: InFlightCounter) -> None:
    gc.collect()
    probe = SyncProbe(gauge)
    assert gauge.shared is None
    ctx = multiprocessing.get_context("fork")
    rendezvous.use(ctx.Barrier(5))  # inherited: the five calls are in flight at once
    procs = [ctx.Process(target=probe, args=(t,)) for t in rendezvous.meeting_tasks(5)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=30)
    assert [proc.exitcode for proc in procs] == [0] * 5
    assert gauge.shared is not None  # shared by the at-fork hook
    assert gauge.read() == InFlightReading(0, 5, 5, 5, 0)
    # The parent keeps counting into the same shared figures.
    probe(SyntheticTask(99))
    assert gauge.read() == InFlightReading(0, 5, 6, 6, 0)


@needs_fork
def test_process_pool_worker_does_not_leak_descriptors(gauge: InFlightCounter) -> None:
    probe = SyncProbe(gauge)
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        list(pool.map(probe, Workload(10)))
        before = len(pool.submit(os.listdir, "/proc/self/fd").result())
        list(pool.map(probe, Workload(300)))
        after = len(pool.submit(os.listdir, "/proc/self/fd").result())
    assert after - before < 10, (before, after)


# --- reset and close --------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["local", "shared"])
def test_reset_keeps_in_flight_and_zeroes_counts(gauge: InFlightCounter, shared: bool) -> None:
    if shared:
        gauge.share()
    for _ in range(3):
        gauge.enter()
    gauge.leave(done=True, failed=False)
    gauge.enter()
    gauge.leave(done=False, failed=True)
    assert gauge.read() == InFlightReading(2, 3, 4, 1, 1)
    gauge.reset()
    assert gauge.read() == InFlightReading(2, 2, 0, 0, 0)
    gauge.enter()
    assert gauge.read() == InFlightReading(3, 3, 1, 0, 0)
    gauge.leave(done=True, failed=False)
    gauge.leave(done=True, failed=False)
    gauge.leave(done=True, failed=False)
    assert gauge.read() == InFlightReading(0, 3, 1, 3, 0)


def test_share_is_idempotent_and_keeps_counts(gauge: InFlightCounter) -> None:
    SyncProbe(gauge)(SyntheticTask(0))
    gauge.enter()
    first = gauge.share()
    assert gauge.share() is first
    assert gauge.shared is first
    assert os.path.exists(first.path)
    assert gauge.read() == InFlightReading(1, 1, 2, 1, 0)


def test_close_removes_the_shared_file_and_keeps_counts(gauge: InFlightCounter) -> None:
    probe = SyncProbe(gauge)
    shared = gauge.share()
    path = shared.path
    probe(SyntheticTask(0))
    with pytest.raises(SyntheticFailure):
        probe(SyntheticTask(1, fail=True))
    gauge.enter()
    assert gauge.read() == InFlightReading(1, 1, 3, 1, 1)
    gauge.close()
    assert not os.path.exists(path)
    assert gauge.shared is None
    assert gauge.read() == InFlightReading(1, 1, 3, 1, 1)
    # It keeps counting in-process.
    gauge.leave(done=True, failed=False)
    probe(SyntheticTask(2))
    assert gauge.read() == InFlightReading(0, 1, 4, 3, 1)
    gauge.close()  # a second close is harmless


def test_close_of_an_unshared_gauge_keeps_counts(gauge: InFlightCounter) -> None:
    SyncProbe(gauge)(SyntheticTask(0))
    gauge.close()
    assert gauge.shared is None
    assert gauge.read() == InFlightReading(0, 1, 1, 1, 0)


# --- Measurement ------------------------------------------------------------------------


def test_measurement_round_trip() -> None:
    m = Measurement(
        peak_rss=100 * MiB,
        rss_growth=5 * MiB,
        children_peak_rss=7,
        max_in_flight=8,
        max_tasks=9,
        max_threads=3,
        max_processes=2,
        tasks_started=20,
        tasks_done=18,
        tasks_failed=2,
        duration=1.25,
        peak_source="sampled",
    )
    data = m.to_dict()
    assert data["peak_rss"] == 100 * MiB
    assert data["peak_source"] == "sampled"
    assert Measurement.from_dict(data) == m
    assert Measurement.from_dict({**data, "future_field": 1}) == m
    assert Measurement.from_dict({}) == Measurement()


def test_combine_takes_max_peaks_and_sums_counts() -> None:
    a = Measurement(
        peak_rss=100,
        rss_growth=50,
        children_peak_rss=0,
        max_in_flight=3,
        max_tasks=10,
        max_threads=4,
        max_processes=0,
        tasks_started=5,
        tasks_done=4,
        tasks_failed=1,
        duration=0.5,
    )
    b = Measurement(
        peak_rss=80,
        rss_growth=70,
        children_peak_rss=9,
        max_in_flight=2,
        max_tasks=20,
        max_threads=1,
        max_processes=3,
        tasks_started=7,
        tasks_done=7,
        tasks_failed=0,
        duration=0.25,
    )
    assert Measurement.combine([a, b]) == Measurement(
        peak_rss=100,
        rss_growth=70,
        children_peak_rss=9,
        max_in_flight=3,
        max_tasks=20,
        max_threads=4,
        max_processes=3,
        tasks_started=12,
        tasks_done=11,
        tasks_failed=1,
        duration=0.75,
        peak_source="vmhwm",
    )
    assert Measurement.combine(iter([a])) == a


def test_combine_peak_source() -> None:
    vm, sampled = Measurement(peak_source="vmhwm"), Measurement(peak_source="sampled")
    assert Measurement.combine([vm, vm]).peak_source == "vmhwm"
    assert Measurement.combine([vm, sampled, vm]).peak_source == "sampled"
    assert Measurement.combine([sampled, sampled]).peak_source == "sampled"


def test_combine_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^combine\(\) needs at least one Measurement$"):
        Measurement.combine([])


# --- Limits -----------------------------------------------------------------------------


def test_violation_text_for_counts() -> None:
    violations = Limits(max_tasks=120).check(Measurement(max_tasks=20000))
    assert violations == [Violation("max_tasks", 20000, 120, "live asyncio tasks high-water")]
    assert str(violations[0]) == "max_tasks 20000 > limit 120 (live asyncio tasks high-water)"


def test_violation_text_for_sizes() -> None:
    violations = Limits(max_rss_growth=64 * MiB).check(Measurement(rss_growth=80 * MiB))
    assert [str(v) for v in violations] == [
        "max_rss_growth 80.0 MiB > limit 64.0 MiB (RSS growth over the window)"
    ]
    assert violations[0].to_dict() == {
        "limit": "max_rss_growth",
        "measured": 80 * MiB,
        "allowed": 64 * MiB,
        "description": "RSS growth over the window",
        "detail": "",
    }


def test_every_limit_checks_its_field() -> None:
    over = Measurement(
        peak_rss=2 * MiB,
        rss_growth=2 * MiB,
        max_in_flight=6,
        max_tasks=6,
        max_threads=6,
        max_processes=6,
    )
    limits = Limits(
        max_rss=MiB,
        max_rss_growth=MiB,
        max_in_flight=5,
        max_tasks=5,
        max_threads=5,
        max_processes=5,
    )
    assert [str(v) for v in limits.check(over)] == [
        "max_rss 2.0 MiB > limit 1.0 MiB (peak RSS of the test process)",
        "max_rss_growth 2.0 MiB > limit 1.0 MiB (RSS growth over the window)",
        "max_in_flight 6 > limit 5 (probe tasks in flight high-water)",
        "max_tasks 6 > limit 5 (live asyncio tasks high-water)",
        "max_threads 6 > limit 5 (OS threads high-water)",
        "max_processes 6 > limit 5 (child processes high-water)",
    ]


def test_limit_equal_to_the_measurement_holds() -> None:
    limits = Limits(max_rss=MiB, max_tasks=120, max_in_flight=8)
    assert limits.check(Measurement(peak_rss=MiB, max_tasks=120, max_in_flight=8)) == []
    assert len(limits.check(Measurement(peak_rss=MiB + 1, max_tasks=120, max_in_flight=8))) == 1
    assert len(limits.check(Measurement(peak_rss=MiB, max_tasks=121, max_in_flight=8))) == 1


def test_unset_limits_never_fail() -> None:
    huge = Measurement(peak_rss=1 << 50, max_tasks=10**9, max_threads=10**6)
    assert Limits().check(huge) == []
    assert Limits(max_in_flight=1).check(huge) == []


def test_limits_over_precedence() -> None:
    marker = Limits(max_tasks=5, max_rss=MiB)
    ini = Limits(max_tasks=100, max_threads=8, max_rss=GiB)
    assert marker.over(ini) == Limits(max_tasks=5, max_rss=MiB, max_threads=8)
    assert ini.over(marker) == Limits(max_tasks=100, max_threads=8, max_rss=GiB)
    assert Limits().over(ini) == ini
    assert marker.over(Limits()) == marker


def test_limits_set_and_describe() -> None:
    limits = Limits(max_tasks=100, max_rss=GiB)
    assert limits.set() == {"max_rss": GiB, "max_tasks": 100}
    assert limits.describe() == "max_rss=1.0 GiB, max_tasks=100"
    assert Limits().set() == {}
    assert Limits().describe() == "none"


def test_parse_limits_accepts_raw_values() -> None:
    parsed = parse_limits(
        {"max_rss": "1 GiB", "max_rss_growth": 64 * MiB, "max_tasks": "50", "max_threads": 4},
        SOURCE,
    )
    assert parsed == Limits(max_rss=GiB, max_rss_growth=64 * MiB, max_tasks=50, max_threads=4)
    assert parse_limits({}, SOURCE) == Limits()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"max_memory": "1 GiB"},
            f"unknown limit max_memory='1 GiB' {SOURCE} (known: {KNOWN})",
        ),
        (
            {"hard_limit": True},
            f"invalid hard_limit=True {SOURCE}: expected an int of bytes or a string like '512 MiB'",
        ),
        (
            {"max_bytes_per_task": 0},
            f"invalid max_bytes_per_task=0 {SOURCE}: must be greater than zero",
        ),
        (
            {"max_threads": 0},
            f"invalid max_threads=0 {SOURCE}: must be greater than zero"
            " (the test's own thread counts: 1 means it starts no thread)",
        ),
        ({"max_tasks": "5.0"}, f"invalid max_tasks='5.0' {SOURCE}: expected an integer >= 0"),
        (
            {"max_rss": "12 parsecs"},
            f"invalid max_rss='12 parsecs' {SOURCE}: unknown unit 'parsecs'"
            " (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)",
        ),
        ({"max_rss_growth": -1}, f"invalid max_rss_growth=-1 {SOURCE}: must not be negative"),
    ],
)
def test_parse_limits_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_limits(values, SOURCE)
    assert str(excinfo.value) == message


def test_files_of_dead_owners_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_boundedload.measure import inflight as gauge_module
    from pytest_boundedload.measure import sharedfiles

    # A directory of its own: the shared one may hold other sessions' stale files.
    monkeypatch.setattr(sharedfiles, "SHM_DIR", str(tmp_path))
    # A process that has exited: its pid is free now.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = tmp_path / f"boundedload-gauge-{child.pid}-test"
    alive = tmp_path / f"boundedload-gauge-{os.getpid()}-test"
    other = tmp_path / "unrelated-file"
    for path in (dead, alive, other):
        path.write_bytes(bytes(40))
    assert gauge_module.remove_stale() == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([alive.name, other.name])


def test_a_shared_gauge_names_its_owner() -> None:
    gauge = InFlightCounter()
    try:
        shared = gauge.share()
        assert os.path.basename(shared.path).startswith(f"boundedload-gauge-{os.getpid()}-")
    finally:
        gauge.close()
