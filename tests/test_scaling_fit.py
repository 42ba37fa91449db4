"""flood.scaling's machinery: the fit on synthetic figures, and real runs in forked children."""

from __future__ import annotations

import asyncio
import asyncio.base_events
import functools
import json
import os
import pickle
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_boundedload.flood import scaling
from pytest_boundedload.flood.fit import CONSTANT_BELOW, ScalingReport, fit
from pytest_boundedload.flood.scaling import ScalingError, measure_scaling, run_point
from pytest_boundedload.isolate.capped import run_capped
from pytest_boundedload.measure.inflight import InFlightCounter
from pytest_boundedload.measure.measurement import Measurement

KiB = 1024
MiB = 1024 * 1024
INTERVAL = 0.01


def _points(
    ys: dict[int, float], *, tasks: Any = None, threads: int = 1, **counts: Any
) -> list[tuple[int, Measurement]]:
    """(n, Measurement) with rss_growth ys[n]; count fields given as functions of n."""
    out = []
    for n, y in ys.items():
        fields: dict[str, Any] = {name: int(value(n)) for name, value in counts.items()}
        out.append(
            (
                n,
                Measurement(
                    rss_growth=int(y),
                    max_tasks=int(tasks(n)) if tasks is not None else 1,
                    max_threads=threads,
                    **fields,
                ),
            )
        )
    return out


# --- fit() on synthetic figures ---------------------------------------------------------


def test_perfect_line_gives_exact_slope_intercept_and_r2() -> None:
    report = fit(_points({n: 1000 + 1536 * n for n in (1000, 2000, 4000, 8000)}))
    assert report.bytes_per_task == pytest.approx(1536)
    assert report.intercept == pytest.approx(1000, abs=1e-6)
    assert report.r2 == pytest.approx(1.0)
    assert report.growth == "linear"
    assert [n for n, _ in report.points] == [1000, 2000, 4000, 8000]


def test_points_are_sorted_and_repeated_sizes_count() -> None:
    points = _points({16000: 16000 * 2000, 1000: 1000 * 2000})
    points += _points({1000: 1000 * 2000 + 100, 4000: 4000 * 2000})
    report = fit(points)
    assert [n for n, _ in report.points] == [1000, 1000, 4000, 16000]
    assert report.bytes_per_task == pytest.approx(2000, rel=1e-3)
    assert report.growth == "linear"


def test_flat_data_is_constant_with_r2_one() -> None:
    report = fit(_points({n: 5 * MiB for n in (1000, 4000, 16000)}))
    assert report.bytes_per_task == 0
    assert report.r2 == 1.0
    assert report.growth == "constant"


def test_small_noise_is_constant() -> None:
    noise = {1000: 300 * KiB, 4000: -250 * KiB, 16000: 400 * KiB, 32000: -100 * KiB}
    report = fit(_points({n: 3 * MiB + e for n, e in noise.items()}))
    assert abs(report.bytes_per_task) < CONSTANT_BELOW
    assert report.growth == "constant"


def test_shrinking_memory_is_constant() -> None:
    report = fit(_points({n: 10 * MiB - 40 * n for n in (1000, 4000, 16000)}))
    assert report.bytes_per_task == pytest.approx(-40)
    assert report.growth == "constant"


def test_quadratic_growth_is_superlinear() -> None:
    report = fit(_points({n: n**2 / 10 for n in (1000, 4000, 16000)}))
    assert report.bytes_per_task > CONSTANT_BELOW
    assert report.r2 < 1.0
    assert report.growth == "superlinear"


def test_flat_then_rising_is_superlinear() -> None:
    report = fit(_points({1000: 5 * MiB, 4000: 5 * MiB - 10 * KiB, 16000: 40 * MiB}))
    assert report.growth == "superlinear"


def test_two_points_are_never_superlinear() -> None:
    assert fit(_points({n: n**2 / 10 for n in (1000, 16000)})).growth == "linear"


def test_noisy_line_is_linear() -> None:
    noise = {1000: 40 * KiB, 2000: -60 * KiB, 4000: 50 * KiB, 8000: -30 * KiB, 16000: 20 * KiB}
    report = fit(_points({n: 1700 * n + e for n, e in noise.items()}))
    assert report.bytes_per_task == pytest.approx(1700, rel=0.02)
    assert 0.99 < report.r2 < 1.0
    assert report.growth == "linear"


def test_count_slopes_and_growing() -> None:
    report = fit(
        _points(
            {n: 2 * MiB for n in (1000, 4000, 16000)},
            tasks=lambda n: n + 1,
            threads=3,
            max_in_flight=lambda n: 50,
            max_processes=lambda n: n // 3,
        )
    )
    assert report.count_slopes["max_tasks"] == pytest.approx(1.0)
    assert report.count_slopes["max_threads"] == 0
    assert report.count_slopes["max_in_flight"] == 0
    assert report.count_slopes["max_processes"] == pytest.approx(1 / 3, rel=1e-3)
    counts = {"max_in_flight", "max_tasks", "max_threads", "max_processes", "max_held", "max_requests"}
    assert set(report.count_slopes) == counts
    assert report.growing == ("max_tasks",)


def test_table_text() -> None:
    report = fit(_points({n: 1536 * n for n in (1000, 4000, 16000)}, tasks=lambda n: n + 1, threads=2))
    assert report.table() == (
        "    n  rss growth  max tasks  max threads\n"
        " 1000     1.5 MiB       1001            2\n"
        " 4000     5.9 MiB       4001            2\n"
        "16000    23.4 MiB      16001            2\n"
        "fitted: 1.5 KiB per task (r2 1.000, linear)"
    )


def test_table_shows_negative_slope() -> None:
    report = fit(_points({n: 1_000_000 - 12 * n for n in (1000, 2000)}))
    assert report.table().splitlines()[-1] == "fitted: -12 B per task (r2 1.000, constant)"


def test_to_dict_is_json_ready() -> None:
    report = fit(_points({n: 1536 * n for n in (1000, 4000)}, tasks=lambda n: n + 1))
    data = report.to_dict()
    assert set(data) == {
        "points",
        "bytes_per_task",
        "intercept",
        "r2",
        "growth",
        "count_slopes",
        "growing",
        "fitted",
    }
    assert data["fitted"] == "rss_growth"  # no point was traced with memray
    assert data["points"][0] == {"n": 1000, **report.points[0][1].to_dict()}
    assert [p["n"] for p in data["points"]] == [1000, 4000]
    assert data["growing"] == ["max_tasks"]
    assert json.loads(json.dumps(data)) == data


def test_report_is_frozen() -> None:
    report = fit(_points({1000: 0, 2000: 0}))
    assert isinstance(report, ScalingReport)
    with pytest.raises(AttributeError):
        report.growth = "linear"  # type: ignore[misc]


@pytest.mark.parametrize("ns", [(), (1000,), (1000, 1000)])
def test_fit_needs_two_different_sizes(ns: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="at least two different sizes"):
        fit([(n, Measurement()) for n in ns])


@pytest.mark.parametrize(
    ("ns", "message"),
    [
        ((1000,), "flood.scaling(): ns needs at least two different sizes, got (1000,)"),
        ((1000, 1000), "flood.scaling(): ns needs at least two different sizes, got (1000, 1000)"),
        ((), "flood.scaling(): ns needs at least two different sizes, got ()"),
        ((1000, -5), "flood.scaling(): ns must be positive ints, got (1000, -5) (bad: -5)"),
        ((1000, 0), "flood.scaling(): ns must be positive ints, got (1000, 0) (bad: 0)"),
        ((1000, 2.5), "flood.scaling(): ns must be positive ints, got (1000, 2.5) (bad: 2.5)"),
        ((1000, True), "flood.scaling(): ns must be positive ints, got (1000, True) (bad: True)"),
        ("1000", "flood.scaling(): ns must be a sequence of task counts, got '1000'"),
        (1000, "flood.scaling(): ns must be a sequence of task counts, got 1000"),
    ],
)
def test_bad_ns_are_refused(ns: Any, message: str, gauge: InFlightCounter) -> None:
    with pytest.raises(ValueError) as info:
        measure_scaling(_bounded, ns, in_flight=gauge, interval=INTERVAL)
    assert str(info.value) == message


def test_bad_run_and_cap_are_refused(gauge: InFlightCounter) -> None:
    with pytest.raises(ValueError, match=r"run must be callable, got 5"):
        measure_scaling(5, (1, 2), in_flight=gauge, interval=INTERVAL)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"cap must be a positive number of bytes, got 0"):
        measure_scaling(_bounded, (1, 2), in_flight=gauge, interval=INTERVAL, cap=0)


# --- real runs ----------------------------------------------------------------------------


@pytest.fixture
def gauge() -> Iterator[InFlightCounter]:
    g = InFlightCounter()
    yield g
    g.close()


def _unbounded(n: int) -> int:
    keep = [bytearray(4096) for _ in range(n)]
    return len(keep)


def _bounded(n: int) -> int:
    total = 0
    for _ in range(n):
        buf = bytearray(4096)
        buf[-1] = 1
        total += buf[-1]
    return total


async def _gather_sleeps(n: int) -> None:
    await asyncio.gather(*(asyncio.sleep(0) for _ in range(n)))


def test_unbounded_run_grows_linearly(gauge: InFlightCounter) -> None:
    report = measure_scaling(_unbounded, (32000, 2000, 8000), in_flight=gauge, interval=INTERVAL)
    assert [n for n, _ in report.points] == [2000, 8000, 32000]
    # 4 KiB of bytes per item, and the bytearray and list slot that hold them.
    assert 4096 <= report.bytes_per_task < 4096 + 1024, report.table()
    assert report.growth == "linear", report.table()
    assert 0.99 < report.r2 <= 1.0, report.table()


def test_bounded_run_is_constant(gauge: InFlightCounter) -> None:
    report = measure_scaling(_bounded, (2000, 8000, 32000), in_flight=gauge, interval=INTERVAL)
    assert report.growth == "constant", report.table()
    assert report.growing == (), report.table()


def test_async_run_counts_live_tasks(gauge: InFlightCounter) -> None:
    report = measure_scaling(_gather_sleeps, (1000, 4000, 16000), in_flight=gauge, interval=INTERVAL)
    assert report.count_slopes["max_tasks"] == pytest.approx(1.0), report.table()
    assert "max_tasks" in report.growing
    # One task per sleep, all alive at once, and the one the run's coroutine runs in.
    assert [(n, m.max_tasks) for n, m in report.points] == [(n, n + 1) for n in (1000, 4000, 16000)]


class _Awaitable:
    def __init__(self, n: int) -> None:
        self.n = n

    def __await__(self) -> Generator[Any, None, None]:
        return _gather_sleeps(self.n).__await__()


def test_awaitable_result_is_awaited_in_the_window(gauge: InFlightCounter) -> None:
    m = run_point(_Awaitable, 500, in_flight=gauge, interval=INTERVAL, isolate=False, cap=MiB)
    assert m.max_tasks == 500 + 1


def test_isolated_runs_each_in_a_fresh_child(gauge: InFlightCounter, tmp_path: Path) -> None:
    def run(n: int) -> None:
        (tmp_path / f"{n}.pid").write_text(str(os.getpid()))

    measure_scaling(run, (10, 20, 30), in_flight=gauge, interval=INTERVAL)
    pids = {int((tmp_path / f"{n}.pid").read_text()) for n in (10, 20, 30)}
    assert len(pids) == 3
    assert os.getpid() not in pids


def test_not_isolated_runs_here_and_raises_as_is(gauge: InFlightCounter, tmp_path: Path) -> None:
    original = asyncio.base_events.BaseEventLoop.run_forever

    def run(n: int) -> None:
        (tmp_path / "pid").write_text(str(os.getpid()))
        if n == 20:
            raise KeyError("as is")

    m = run_point(run, 10, in_flight=gauge, interval=INTERVAL, isolate=False, cap=MiB)
    assert isinstance(m, Measurement)
    assert int((tmp_path / "pid").read_text()) == os.getpid()
    with pytest.raises(KeyError, match="as is"):
        measure_scaling(run, (10, 20), in_flight=gauge, interval=INTERVAL, isolate=False)
    # The window closed despite the exception: the loop hook is gone.
    assert asyncio.base_events.BaseEventLoop.run_forever is original


def test_child_that_raises_gives_scaling_error(gauge: InFlightCounter) -> None:
    def run(n: int) -> None:
        if n == 4000:
            raise ValueError("boom")

    with pytest.raises(ScalingError) as info:
        measure_scaling(run, (1000, 4000), in_flight=gauge, interval=INTERVAL)
    error = info.value
    assert str(error) == "flood.scaling: run(4000) failed in its child: raised ValueError: boom"
    assert error.n == 4000
    assert error.reason == "raised ValueError: boom"
    assert error.traceback is not None
    assert "Traceback" in error.traceback and 'raise ValueError("boom")' in error.traceback
    assert "Traceback" not in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.n, copy.traceback) == (str(error), 4000, error.traceback)


def test_child_that_exits_without_result_gives_scaling_error(gauge: InFlightCounter) -> None:
    def run(n: int) -> None:
        os._exit(0)

    with pytest.raises(ScalingError, match=r"run\(7\) failed in its child: exited without a result"):
        run_point(run, 7, in_flight=gauge, interval=INTERVAL, isolate=True, cap=512 * MiB)


def _grows_forever(n: int) -> None:
    chunks = []
    while True:
        chunks.append(bytearray(MiB))


@pytest.mark.parametrize("method", ["auto", "rlimit"])
def test_child_over_the_cap_gives_scaling_error(
    gauge: InFlightCounter, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    monkeypatch.setattr(scaling, "run_capped", functools.partial(run_capped, method=method))
    with pytest.raises(ScalingError) as info:
        run_point(
            _grows_forever, 16000, in_flight=gauge, interval=INTERVAL, isolate=True, cap=128 * MiB, timeout=60
        )
    message = str(info.value)
    assert message.startswith("flood.scaling: run(16000) failed in its child: exceeded cap 128.0 MiB")
    assert "timed out" not in message


def test_children_count_on_their_own_gauge(gauge: InFlightCounter) -> None:
    def run(n: int) -> None:
        for _ in range(n):
            gauge.enter()
        for _ in range(n):
            gauge.leave(done=True, failed=False)

    gauge.enter()  # the parent's own window is counting one probe call
    report = measure_scaling(run, (10, 40), in_flight=gauge, interval=INTERVAL)
    assert [m.max_in_flight for _, m in report.points] == [10, 40]
    assert [m.tasks_done for _, m in report.points] == [10, 40]
    assert "max_in_flight" in report.growing
    # Neither the children's resets nor their counts reached the parent's figures.
    reading = gauge.read()
    assert (reading.in_flight, reading.max_in_flight, reading.started, reading.done) == (1, 1, 1, 0)


def test_a_count_that_grows_is_never_constant() -> None:
    # Items held in a queue that cost next to nothing each still grow with N.
    flat = {n: 1 << 20 for n in (1000, 4000, 16000)}
    held = fit(_points(flat, max_held=lambda n: n))
    assert held.bytes_per_task == 0
    assert held.growing == ("max_held",)
    assert held.growth == "linear"
    assert fit(_points(flat, max_held=lambda n: 50)).growth == "constant"


def test_a_line_with_a_mebibyte_of_noise_per_point_is_linear() -> None:
    # 300 B per task, each point off by up to 1 MiB: the segments' slopes differ by more
    # than three times, but no more than the noise explains.
    noise = {1000: MiB, 4000: -MiB, 16000: MiB}
    report = fit(_points({n: 300 * n + e for n, e in noise.items()}))
    assert report.growth == "linear", report.table()
    flat_first = {1000: 0.6 * MiB, 4000: 0, 16000: 0}
    assert fit(_points({n: 300 * n + e for n, e in flat_first.items()})).growth == "linear"
