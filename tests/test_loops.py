"""max_tasks on every loop: uvloop's (however it is started) and trio's (itself or under
anyio), exact, with the user's factories and instruments kept and nothing of ours left."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest
import trio
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_boundedload.measure.inflight import InFlightCounter
from pytest_boundedload.measure.livetasks import LiveTaskCounter
from pytest_boundedload.measure.triotasks import TrioTaskCounter
from pytest_boundedload.measure.whenimported import ImportWatch
from pytest_boundedload.measure.window import Window

if TYPE_CHECKING:
    from conftest import Project

N = 20_000

# Checked by every sample test after its window closed (a fixture's teardown): no method
# of ours on a loop class, no hook on trio's run set-up, no finder in sys.meta_path.
NOTHING_LEFT = """
import asyncio.base_events
import sys
import threading

import pytest


def assert_nothing_of_ours_left():
    base = asyncio.base_events.BaseEventLoop
    for name in ("run_forever", "set_task_factory", "get_task_factory"):
        assert getattr(base, name).__module__ == "asyncio.base_events", name
        uvloop = sys.modules.get("uvloop")
        if uvloop is not None:
            assert name not in vars(uvloop.Loop), name
    run_module = sys.modules.get("trio._core._run")
    if run_module is not None:
        assert run_module.setup_runner.__module__ == "trio._core._run"
    assert not [f for f in sys.meta_path if type(f).__module__.startswith("pytest_boundedload")]


@pytest.fixture(autouse=True)
def nothing_of_ours_left():
    yield
    assert_nothing_of_ours_left()
"""

UVLOOP_TESTS = (
    NOTHING_LEFT
    + """
import asyncio

import uvloop

N = 20_000


async def gather_n(n=N):
    await asyncio.gather(*[asyncio.sleep(0) for _ in range(n)])


@pytest.fixture(scope="session")
def event_loop_policy():
    return uvloop.EventLoopPolicy()


def test_uvloop_run(flood):
    uvloop.run(gather_n())


def test_runner_loop_factory(flood):
    if sys.version_info < (3, 11):  # no asyncio.Runner: a loop made and run by hand
        loop = uvloop.new_event_loop()
        try:
            loop.run_until_complete(gather_n())
        finally:
            loop.close()
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(gather_n())


def test_asyncio_run_loop_factory_or_policy(flood):
    if sys.version_info >= (3, 12):
        asyncio.run(gather_n(), loop_factory=uvloop.new_event_loop)
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        asyncio.run(gather_n())
    finally:
        asyncio.set_event_loop_policy(None)


@pytest.mark.asyncio
async def test_pytest_asyncio_under_the_uvloop_policy(flood):
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    await gather_n()


@pytest.mark.asyncio
async def test_window_opened_while_uvloop_runs(flood):
    with flood.measure() as m:
        await gather_n(300)
    assert m.max_tasks == 301


def test_the_users_factories_are_chained_and_given_back(flood):
    made = []

    def theirs(loop, coro, **kwargs):
        made.append("theirs")
        return asyncio.Task(coro, loop=loop, **kwargs)

    def later(loop, coro, **kwargs):
        made.append("later")
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop = uvloop.new_event_loop()
    loop.set_task_factory(theirs)

    async def main():
        running = asyncio.get_running_loop()
        assert running.get_task_factory() is theirs
        await gather_n(100)
        running.set_task_factory(later)  # set while counted: goes under the count
        assert running.get_task_factory() is later
        await gather_n(50)

    try:
        with flood.measure() as m:
            loop.run_until_complete(main())
            assert loop.get_task_factory() is later
        assert m.max_tasks == 101
        assert made == ["theirs"] * 101 + ["later"] * 50
        assert loop.get_task_factory() is later
        assert_nothing_of_ours_left()
        loop.set_task_factory(theirs)
        loop.run_until_complete(main())  # after the window: the user's factories alone
        assert made[151:] == ["theirs"] * 101 + ["later"] * 50
    finally:
        loop.close()
"""
)


def test_uvloop_counts_exactly_however_it_is_started(project: Project) -> None:
    project.pytester.makepyfile(test_uv=UVLOOP_TESTS)
    run = project.run("--asyncio-mode=strict")
    expected = {
        "test_uvloop_run": N + 1,
        "test_runner_loop_factory": N + 1,
        "test_asyncio_run_loop_factory_or_policy": N + 1,
        "test_pytest_asyncio_under_the_uvloop_policy": N + 1,
        "test_the_users_factories_are_chained_and_given_back": 101,
    }
    assert {test: run.figures(test)["max_tasks"] for test in expected} == expected
    run.result.assert_outcomes(passed=6)


TRIO_TESTS = (
    NOTHING_LEFT
    + """
import anyio
import trio

N = 20_000


async def nursery_of_n(n=N):
    started = 0
    everyone = trio.Event()

    async def one():
        nonlocal started
        started += 1
        if started == n:
            everyone.set()
        await everyone.wait()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(one)


async def task_group_of_n(n=N):
    started = 0
    everyone = anyio.Event()

    async def one():
        nonlocal started
        started += 1
        if started == n:
            everyone.set()
        await everyone.wait()

    async with anyio.create_task_group() as group:
        for _ in range(n):
            group.start_soon(one)


class Counting(trio.abc.Instrument):
    def __init__(self):
        self.spawned = self.exited = 0

    def task_spawned(self, task):
        self.spawned += 1

    def task_exited(self, task):
        self.exited += 1


def ours_in_this_run():
    from trio._core._run import GLOBAL_RUN_CONTEXT

    instruments = GLOBAL_RUN_CONTEXT.runner.instruments["_all"]
    return [i for i in instruments if type(i).__module__.startswith("pytest_boundedload")]


@pytest.fixture
def anyio_backend():
    return "trio"


@pytest.fixture
async def runner_started_before_the_window():
    assert trio.lowlevel.in_trio_run()
    yield
    # The guest run outlives the window (it serves this teardown): ours left it.
    assert ours_in_this_run() == []


def test_trio_run(flood):
    trio.run(nursery_of_n)


def test_anyio_run_on_trio(flood):
    anyio.run(task_group_of_n, 2_000, backend="trio")


@pytest.mark.anyio
async def test_anyio_runner_started_in_the_window(flood):
    await task_group_of_n(2_000)


@pytest.mark.anyio
async def test_anyio_runner_started_before_the_window(runner_started_before_the_window, flood):
    await task_group_of_n()


@pytest.mark.anyio
async def test_window_opened_inside_a_trio_task(flood):
    with flood.measure() as m:
        await task_group_of_n(300)
    assert m.max_tasks == 301
    assert ours_in_this_run() == []


def test_the_users_instruments_keep_their_calls(flood):
    given, added = Counting(), Counting()

    async def main():
        trio.lowlevel.add_instrument(added)
        await nursery_of_n(100)

    with flood.measure() as m:
        trio.run(main, instruments=[given])
    assert m.max_tasks == 101
    # trio's root task, its run_sync_soon task, the main task and the hundred.
    assert (given.spawned, given.exited) == (103, 103)
    assert (added.spawned, added.exited) == (100, 103)


def test_a_run_in_a_thread(flood):
    import threading

    thread = threading.Thread(target=trio.run, args=(nursery_of_n, 2_000))
    thread.start()
    thread.join()
"""
)


def test_trio_counts_its_tasks_exactly(project: Project) -> None:
    project.pytester.makepyfile(test_tr=TRIO_TESTS)
    run = project.run("-p", "no:asyncio")
    # The main task and the n, as asyncio counts a gather: under anyio's test runner the
    # main task is the runner's, in which the test runs.
    expected = {
        "test_trio_run": N + 1,
        "test_anyio_run_on_trio": 2_001,
        "test_anyio_runner_started_in_the_window": 2_001,
        "test_anyio_runner_started_before_the_window": N + 1,
        "test_a_run_in_a_thread": 2_001,
    }
    assert {test: run.figures(test)["max_tasks"] for test in expected} == expected
    run.result.assert_outcomes(passed=7)


FIRST_IMPORTS = (
    NOTHING_LEFT
    + """
import asyncio

N = 2_000


def test_the_plugin_imports_neither(flood):
    assert "uvloop" not in sys.modules
    assert "trio" not in sys.modules


def test_uvloop_first_imported_in_the_window(flood):
    import importlib.util

    assert importlib.util.find_spec("uvloop") is not None  # looked for first, not imported
    assert "uvloop" not in sys.modules
    import uvloop

    async def main():
        await asyncio.gather(*[asyncio.sleep(0) for _ in range(N)])

    uvloop.run(main())


def test_trio_first_imported_in_the_window(flood):
    import trio

    async def main():
        async with trio.open_nursery() as nursery:
            for _ in range(N):
                nursery.start_soon(trio.sleep, 0)

    trio.run(main)
"""
)


def test_loops_first_imported_inside_the_window_are_counted(project: Project) -> None:
    project.pytester.makepyfile(test_first=FIRST_IMPORTS)
    # anyio's plugin imports trio at start-up: off here, so trio is imported by the test.
    run = project.run("-p", "no:anyio", "-p", "no:asyncio")
    assert run.figures("test_uvloop_first_imported_in_the_window")["max_tasks"] == 2_001
    assert run.figures("test_trio_first_imported_in_the_window")["max_tasks"] == 2_001
    run.result.assert_outcomes(passed=3)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_in_a_window_inherits_no_hook() -> None:
    counter = InFlightCounter()
    window = Window(counter, interval=0.01)

    async def fork_inside_a_task() -> int:
        pid = os.fork()
        if pid == 0:  # the child: nothing of the window on uvloop's class, trio or the run
            from trio._core._run import GLOBAL_RUN_CONTEXT

            left = [name for name in ("run_forever", "get_task_factory") if name in vars(uvloop.Loop)]
            left += ["setup_runner"] if hasattr(trio._core._run.setup_runner, "__wrapped__") else []
            left += [type(i).__name__ for i in GLOBAL_RUN_CONTEXT.runner.instruments["_all"]]
            os._exit(len(left))
        return os.waitpid(pid, 0)[1]

    window.start()
    try:
        status = trio.run(fork_inside_a_task)
    finally:
        window.stop()
        counter.close()
    assert os.waitstatus_to_exitcode(status) == 0
    assert not hasattr(trio._core._run.setup_runner, "__wrapped__")
    assert "run_forever" not in vars(uvloop.Loop)
    assert sys.modules["uvloop"] is uvloop


# A random program of task creations and loop iterations, run on uvloop and on trio; a
# reference count goes up at each creation and down as each task's coroutine ends, so
# its high-water is the exact one the counters must report (plus the main task).
_OPS = st.lists(
    st.one_of(
        # spawn k tasks one by one, each living `life` iterations, awaited at the end
        st.tuples(st.just("spawn"), st.integers(1, 150), st.integers(0, 4)),
        # k tasks at once, awaited
        st.tuples(st.just("gather"), st.integers(1, 150), st.integers(0, 4)),
        # let the loop run `k` iterations
        st.tuples(st.just("yield"), st.integers(1, 5), st.just(0)),
    ),
    max_size=25,
)


class _Reference:
    def __init__(self) -> None:
        self.alive = self.high = 0

    def created(self) -> None:
        self.alive += 1
        self.high = max(self.high, self.alive)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS)
def test_uvloop_high_water_is_exact_for_random_programs(ops: list[tuple[str, int, int]]) -> None:
    reference = _Reference()

    async def child(life: int) -> None:
        try:
            for _ in range(life):
                await asyncio.sleep(0)
        finally:
            reference.alive -= 1

    async def main() -> None:
        background: list[asyncio.Task[None]] = []
        for op, k, life in ops:
            if op == "yield":
                for _ in range(k):
                    await asyncio.sleep(0)
                continue
            children = []
            for _ in range(k):
                reference.created()
                children.append(asyncio.ensure_future(child(life)))
            if op == "gather":
                await asyncio.gather(*children)
            else:
                background.extend(children)
        await asyncio.gather(*background)

    counter = LiveTaskCounter()
    counter.start()
    try:
        uvloop.run(main())
    finally:
        high = counter.stop()
    assert high == reference.high + 1


@settings(max_examples=40, deadline=None)
@given(ops=_OPS)
def test_trio_high_water_is_exact_for_random_programs(ops: list[tuple[str, int, int]]) -> None:
    reference = _Reference()

    async def child(life: int) -> None:
        try:
            for _ in range(life):
                await trio.lowlevel.checkpoint()
        finally:
            reference.alive -= 1

    async def main() -> None:
        async with trio.open_nursery() as background:
            for op, k, life in ops:
                if op == "yield":
                    for _ in range(k):
                        await trio.lowlevel.checkpoint()
                    continue
                async with trio.open_nursery() as gathered:
                    nursery: Any = gathered if op == "gather" else background
                    for _ in range(k):
                        reference.created()
                        nursery.start_soon(child, life)

    counter = TrioTaskCounter()
    counter.start()
    try:
        trio.run(main)
    finally:
        high = counter.stop()
    assert high == reference.high + 1


def test_a_trio_run_active_in_another_thread_is_adopted_and_left() -> None:
    started, flooded = threading.Event(), threading.Event()
    token: list[trio.lowlevel.TrioToken] = []
    go: list[trio.Event] = []
    done: list[trio.Event] = []

    async def hundred() -> None:
        everyone = trio.Event()
        count = 0

        async def one() -> None:
            nonlocal count
            count += 1
            if count == 100:
                everyone.set()
            await everyone.wait()

        async with trio.open_nursery() as nursery:
            for _ in range(100):
                nursery.start_soon(one)

    async def main() -> None:
        token.append(trio.lowlevel.current_trio_token())
        go.append(trio.Event())
        done.append(trio.Event())
        started.set()
        await go[0].wait()
        await hundred()
        flooded.set()
        await done[0].wait()  # the run outlives the window

    def ours_in_the_run() -> list[str]:
        from trio._core._run import GLOBAL_RUN_CONTEXT

        return [type(i).__name__ for i in GLOBAL_RUN_CONTEXT.runner.instruments["_all"]]

    thread = threading.Thread(target=trio.run, args=(main,))
    thread.start()
    try:
        started.wait()
        counter = TrioTaskCounter()
        counter.start()
        try:
            # Queued after the window's adoption: the run counts its main task first.
            trio.from_thread.run_sync(go[0].set, trio_token=token[0])
            flooded.wait()
            during = trio.from_thread.run_sync(ours_in_the_run, trio_token=token[0])
        finally:
            high = counter.stop()
        after = trio.from_thread.run_sync(ours_in_the_run, trio_token=token[0])
    finally:
        trio.from_thread.run_sync(done[0].set, trio_token=token[0])
        thread.join()
    assert high == 101
    assert (during, after) == (["_Instrument"], [])


def test_a_spec_found_while_watched_still_answers_as_its_loader(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "watched_module.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[Any] = []
    watch = ImportWatch("watched_module", seen.append)
    watch.start()
    try:
        spec = importlib.util.find_spec("watched_module")
        assert spec is not None and spec.loader is not None
        assert spec.loader.is_package("watched_module") is False  # type: ignore[attr-defined]
        assert spec.loader.get_filename("watched_module") == str(tmp_path / "watched_module.py")  # type: ignore[attr-defined]
        module = importlib.import_module("watched_module")
    finally:
        watch.stop()
        sys.modules.pop("watched_module", None)
    assert seen == [module] and module.X == 1
    assert not any(finder is watch for finder in sys.meta_path)
