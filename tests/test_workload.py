"""Direct tests of the lazy synthetic Workload."""

from __future__ import annotations

import itertools
import pickle
import tracemalloc

import pytest

from pytest_boundedload import InvalidValue, SyntheticFailure, SyntheticTask, Workload


def failing(workload: Workload) -> set[int]:
    return {task.index for task in workload if task.fail}


def test_len() -> None:
    assert len(Workload(0)) == 0
    assert len(Workload(1)) == 1
    assert len(Workload(12_345)) == 12_345


def test_iteration_yields_tasks_in_index_order() -> None:
    tasks = list(Workload(5, payload=64, latency=0.25))
    assert tasks == [SyntheticTask(i, 64, 0.25, False) for i in range(5)]
    assert all(type(task) is SyntheticTask for task in tasks)
    assert list(Workload(0)) == []


def test_synthetic_task_fields_and_defaults() -> None:
    task = SyntheticTask(3)
    assert (task.index, task.payload, task.latency, task.fail) == (3, 0, 0.0, False)
    index, payload, latency, fail = SyntheticTask(1, 2, 0.5, True)
    assert (index, payload, latency, fail) == (1, 2, 0.5, True)


def test_indexing() -> None:
    workload = Workload(10, payload=8, latency=0.001)
    assert workload[0] == SyntheticTask(0, 8, 0.001, False)
    assert workload[9] == SyntheticTask(9, 8, 0.001, False)
    assert workload[-1] == SyntheticTask(9, 8, 0.001, False)
    assert workload[-10] == SyntheticTask(0, 8, 0.001, False)


@pytest.mark.parametrize("index", [10, 11, -11, 10**9])
def test_index_out_of_range(index: int) -> None:
    with pytest.raises(IndexError, match="out of range for 10 tasks"):
        Workload(10)[index]


def test_index_error_message() -> None:
    with pytest.raises(IndexError) as excinfo:
        Workload(10)[10]
    assert str(excinfo.value) == "task index 10 out of range for 10 tasks"
    with pytest.raises(IndexError):
        Workload(0)[0]


def test_slices() -> None:
    workload = Workload(10, fail_rate=0.5, jitter=0.5, latency=1, seed=3)
    every = list(workload)
    assert list(workload[2:5]) == every[2:5]
    assert [t.index for t in workload[2:5]] == [2, 3, 4]
    assert list(workload[-3:]) == every[-3:]
    assert list(workload[::3]) == every[::3]
    assert list(workload[::-1]) == every[::-1]
    assert list(workload[5:2]) == []
    assert list(workload[:100]) == every


def test_indexing_agrees_with_iteration() -> None:
    for workload in (
        Workload(50, payload="1 KiB", latency="1ms"),
        Workload(50, latency=1, jitter=0.3, fail_rate=0.3, seed=11),
    ):
        assert [workload[i] for i in range(len(workload))] == list(workload)


def test_sequence_protocol() -> None:
    workload = Workload(5)
    assert SyntheticTask(3) in workload
    assert SyntheticTask(7) not in workload
    assert workload.index(SyntheticTask(2)) == 2
    assert list(reversed(workload)) == [SyntheticTask(i) for i in range(4, -1, -1)]


def test_payload_and_latency_strings_are_parsed() -> None:
    task = Workload(1, payload="16 KiB", latency="5ms")[0]
    assert task.payload == 16384
    assert task.latency == pytest.approx(0.005)
    task = Workload(1, payload="1 MB", latency="2min")[0]
    assert (task.payload, task.latency) == (1_000_000, 120.0)
    task = Workload(1, payload=100, latency=0.5)[0]
    assert (task.payload, task.latency) == (100, 0.5)


def test_zero_payload_and_latency_are_allowed() -> None:
    assert Workload(1, payload=0, latency=0)[0] == SyntheticTask(0, 0, 0.0, False)
    assert Workload(1, payload="0 B", latency="0s")[0] == SyntheticTask(0, 0, 0.0, False)


def test_repr() -> None:
    assert repr(Workload(3, payload="1 KiB", latency="5ms", jitter=0.1, seed=2)) == (
        "Workload(n=3, payload=1024, latency=0.005, jitter=0.1, fail_rate=0.0, seed=2, size=0)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "flood.tasks(n): n must be an int >= 0, got -1"),
        ({"n": 1.5}, "flood.tasks(n): n must be an int >= 0, got 1.5"),
        ({"n": True}, "flood.tasks(n): n must be an int >= 0, got True"),
        ({"n": "10"}, "flood.tasks(n): n must be an int >= 0, got '10'"),
        ({"n": 5, "fail_rate": 1.5}, "flood.tasks(): fail_rate must be in [0, 1], got 1.5"),
        ({"n": 5, "fail_rate": -0.5}, "flood.tasks(): fail_rate must be in [0, 1], got -0.5"),
        (
            {"n": 5, "fail_rate": float("nan")},
            "flood.tasks(): fail_rate must be in [0, 1], got nan",
        ),
        (
            {"n": 5, "fail_rate": "0.1"},
            "flood.tasks(): fail_rate must be a number in [0, 1], got '0.1'",
        ),
        ({"n": 5, "jitter": -0.1}, "flood.tasks(): jitter must be in [0, 1], got -0.1"),
        ({"n": 5, "jitter": 2}, "flood.tasks(): jitter must be in [0, 1], got 2"),
        ({"n": 5, "jitter": True}, "flood.tasks(): jitter must be a number in [0, 1], got True"),
        ({"n": 5, "seed": "x"}, "flood.tasks(): seed must be an int, got 'x'"),
        ({"n": 5, "seed": 1.0}, "flood.tasks(): seed must be an int, got 1.0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        Workload(**kwargs)  # type: ignore[arg-type]
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"payload": "12 parsecs"},
            "invalid payload='12 parsecs' in flood.tasks(): unknown unit 'parsecs'"
            " (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)",
        ),
        ({"payload": -1}, "invalid payload=-1 in flood.tasks(): must not be negative"),
        (
            {"latency": "fast"},
            "invalid latency='fast' in flood.tasks(): not a duration (use s, ms, us, ns or min)",
        ),
        ({"latency": -1}, "invalid latency=-1 in flood.tasks(): must not be negative"),
    ],
)
def test_bad_payload_or_latency(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidValue) as excinfo:
        Workload(5, **kwargs)  # type: ignore[arg-type]
    assert str(excinfo.value) == message


# --- deterministic failures -------------------------------------------------------------


def test_no_failures_without_fail_rate() -> None:
    assert failing(Workload(10_000, seed=5)) == set()


def test_every_task_fails_at_fail_rate_one() -> None:
    assert failing(Workload(1000, fail_rate=1.0)) == set(range(1000))


def test_same_seed_same_failures() -> None:
    first = failing(Workload(2000, fail_rate=0.2, seed=42))
    again = failing(Workload(2000, fail_rate=0.2, seed=42))
    assert first == again
    assert first  # not vacuous


def test_different_seed_different_failures() -> None:
    sets = [failing(Workload(2000, fail_rate=0.2, seed=seed)) for seed in range(4)]
    assert all(sets)
    assert len({frozenset(s) for s in sets}) == 4
    # Not merely shifted or nearly equal: two independent 20 % draws overlap by about 4 %.
    overlap = len(sets[0] & sets[1])
    assert overlap < 0.5 * min(len(sets[0]), len(sets[1]))


def test_failure_share_is_close_to_fail_rate() -> None:
    for rate in (0.1, 0.5):
        share = len(failing(Workload(100_000, fail_rate=rate, seed=7))) / 100_000
        assert abs(share - rate) <= 0.01, (rate, share)


def test_failures_do_not_depend_on_jitter_or_payload() -> None:
    plain = failing(Workload(2000, fail_rate=0.3, seed=9))
    other = failing(Workload(2000, fail_rate=0.3, seed=9, jitter=0.5, latency=1, payload=10))
    assert plain == other


def test_failures_are_spread_over_the_indices() -> None:
    indices = failing(Workload(10_000, fail_rate=0.1, seed=1))
    for start in range(0, 10_000, 2500):
        in_quarter = sum(start <= i < start + 2500 for i in indices)
        assert 150 <= in_quarter <= 350, (start, in_quarter)


def test_synthetic_failure_names_the_index() -> None:
    failure = SyntheticFailure(17)
    assert failure.index == 17
    assert str(failure) == "synthetic failure of task 17"
    assert isinstance(failure, Exception)


# --- jitter -----------------------------------------------------------------------------


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_jitter_bounds_and_spread(jitter: float) -> None:
    latencies = [task.latency for task in Workload(2000, latency="100ms", jitter=jitter, seed=3)]
    low, high = 0.1 * (1 - jitter), 0.1 * (1 + jitter)
    assert all(low <= latency <= high for latency in latencies)
    assert len(set(latencies)) > 1900  # differs between tasks
    # Spread over the whole band, on both sides of the nominal latency.
    assert min(latencies) < low + 0.05 * (high - low)
    assert max(latencies) > high - 0.05 * (high - low)
    assert 0.09 < sum(latencies) / len(latencies) < 0.11


def test_jitter_is_deterministic() -> None:
    first = [t.latency for t in Workload(100, latency=1, jitter=0.2, seed=8)]
    again = [t.latency for t in Workload(100, latency=1, jitter=0.2, seed=8)]
    other = [t.latency for t in Workload(100, latency=1, jitter=0.2, seed=9)]
    assert first == again
    assert first != other


def test_no_jitter_keeps_latency_exact() -> None:
    assert {t.latency for t in Workload(100, latency="5ms", seed=8)} == {0.005}


def test_jitter_with_zero_latency_stays_zero() -> None:
    assert {t.latency for t in Workload(100, jitter=0.5)} == {0.0}


# --- laziness ---------------------------------------------------------------------------


def test_huge_workload_is_lazy() -> None:
    workload = Workload(20_000_000)
    assert len(workload) == 20_000_000
    assert workload[19_999_999] == SyntheticTask(19_999_999)
    assert workload[-20_000_000] == SyntheticTask(0)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"payload": "64 MiB", "latency": "5ms"}, {"jitter": 0.2, "fail_rate": 0.1}],
)
def test_huge_workload_allocates_little(kwargs: dict[str, object]) -> None:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        workload = Workload(20_000_000, **kwargs)  # type: ignore[arg-type]
        first = list(itertools.islice(workload, 1000))
        last = workload[19_999_999]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [t.index for t in first] == list(range(1000))
    assert last.index == 19_999_999
    assert peak < 1 << 20, peak


def test_synthetic_failure_pickles_for_process_pools() -> None:
    again = pickle.loads(pickle.dumps(SyntheticFailure(3)))
    assert type(again) is SyntheticFailure
    assert again.index == 3


def test_synthetic_failure_message_survives_pickling() -> None:
    again = pickle.loads(pickle.dumps(SyntheticFailure(3)))
    assert str(again) == "synthetic failure of task 3"


def test_held_items_cost_what_plain_items_cost_and_leave_nothing() -> None:
    from pytest_boundedload.measure.held import HeldItems

    held = HeldItems()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        items = list(Workload(50_000, held=held))
        per_item = (tracemalloc.get_traced_memory()[0] - before) / len(items)
        plain = list(Workload(50_000))
        plain_per_item = (tracemalloc.get_traced_memory()[0] - before) / len(items) - per_item
        assert held.alive == held.high_water == 50_000
        del items, plain
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held.alive == 0
    assert per_item <= plain_per_item + 8  # no table entry per item, only the tuple
    assert left < 16 * 1024  # no table grown for them stays behind


def test_a_replaced_held_item_is_a_plain_task_counted_nowhere() -> None:
    from pytest_boundedload.measure.held import HeldItems

    held = HeldItems()
    item = next(iter(Workload(1, held=held)))
    copy = item._replace(payload=7)
    assert type(copy) is SyntheticTask and copy.payload == 7
    del copy
    assert held.alive == 1
    del item
    assert held.alive == 0
