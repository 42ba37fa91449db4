"""``flood.count``: real callables of every kind counted in flight; ``flood.patch`` on any signature.

Concurrency is made exact with gates: K calls that all wait until the K-th arrives are K
in flight at once, and no more, since there are only K.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Project

FAST = ("-p", "no:hypothesispytest")

CODE = '''
import asyncio
import functools
import os
import threading


class Gate:
    """Opens when ``k`` calls have arrived: they are all in flight at that moment."""

    def __init__(self, k):
        self.k = k
        self.arrived = 0
        self.event = asyncio.Event()

    async def wait(self):
        self.arrived += 1
        if self.arrived == self.k:
            self.event.set()
        await self.event.wait()


CALLS = []
CONSTANT = 3


def work(i, *, scale=1):
    CALLS.append(i)
    return i * scale


def anything(*args, **kwargs):
    return args, kwargs


def blocking(i, barrier):
    barrier.wait(timeout=30)
    return i


async def fetch(i, gate):
    CALLS.append(i)
    await gate.wait()
    return i


STREAM_ENDS = []


async def stream(n, gate):
    try:
        for i in range(n):
            await gate.wait()
            yield i
    finally:
        STREAM_ENDS.append(n)


def required_args(func):
    """Checks arguments, then returns the coroutine: what SDK decorators do."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if "model" not in kwargs:
            raise TypeError("model is required")
        return func(*args, **kwargs)

    return wrapper


@required_args
async def create(*, model, gate):
    await gate.wait()
    return model


def opaque(func):
    def wrapper(*args, **kwargs):  # no functools.wraps: nothing tells it is async
        return func(*args, **kwargs)

    return wrapper


hidden = opaque(fetch)
hidden_stream = opaque(stream)


class Client:
    def __init__(self, name):
        self.name = name

    async def get(self, i, gate):
        await gate.wait()
        return self.name, i

    @classmethod
    async def make(cls, i, gate):
        await gate.wait()
        return cls.__name__, i

    @staticmethod
    async def ping(i, gate):
        await gate.wait()
        return i


BARRIER = None


def in_process(i):
    BARRIER.wait(timeout=30)
    return os.getpid()
'''

KINDS = '''
import asyncio
import inspect

import pytest

from pkg import code
from pkg.code import Client, Gate

ORIGINAL = {name: vars(code)[name] for name in ("work", "anything", "fetch", "stream", "create", "hidden")}
RAW = {name: vars(Client)[name] for name in ("get", "make", "ping")}
K = 5


async def together(make):
    """K calls made by ``make(i, gate)`` at once; their results."""
    gate = Gate(K)
    return await asyncio.gather(*(make(i, gate) for i in range(K)))


def test_sync_keyword_only(flood):
    counted = flood.count("pkg.code.work")
    assert code.work is counted and counted.__wrapped__ is ORIGINAL["work"]
    assert inspect.signature(counted) == inspect.signature(ORIGINAL["work"])
    assert not inspect.iscoroutinefunction(counted)
    assert [code.work(i, scale=2) for i in range(3)] == [0, 2, 4]


def test_any_signature(flood):
    flood.count((code, "anything"))
    assert code.anything(1, 2, x=3) == ((1, 2), {"x": 3})
    assert code.anything() == ((), {})


def test_async(flood):
    counted = flood.count("pkg.code.fetch")
    assert inspect.iscoroutinefunction(counted)
    assert asyncio.run(together(code.fetch)) == list(range(K))


def test_async_generator(flood):
    counted = flood.count("pkg.code.stream")
    assert inspect.isasyncgenfunction(counted)

    async def main():
        async def consume(i, gate):
            return [x async for x in code.stream(2, gate)]

        return await together(consume)

    assert asyncio.run(main()) == [[0, 1]] * K


def test_async_generator_in_flight_until_closed(flood):
    flood.count("pkg.code.stream")
    code.STREAM_ENDS.clear()

    async def main():
        first, second = code.stream(3, Gate(1)), code.stream(4, Gate(1))
        assert await first.__anext__() == 0  # first is suspended after a value: still in flight
        assert await second.__anext__() == 0
        await first.aclose()
        assert code.STREAM_ENDS == [3]  # closing the counted generator closed the real one
        assert [x async for x in second] == [1, 2, 3]
        assert code.STREAM_ENDS == [3, 4]

    asyncio.run(main())


def test_decorated_async(flood):
    counted = flood.count("pkg.code.create")
    assert inspect.iscoroutinefunction(counted) is inspect.iscoroutinefunction(ORIGINAL["create"]) is False

    async def main():
        gate = Gate(K)
        return await asyncio.gather(*(code.create(model=f"m{i}", gate=gate) for i in range(K)))

    assert asyncio.run(main()) == [f"m{i}" for i in range(K)]


def test_async_hidden_without_wraps(flood):
    flood.count("pkg.code.hidden")
    assert asyncio.run(together(code.hidden)) == list(range(K))


def test_async_hidden_awaited_in_tasks(flood):
    # Each call made inside its own task: in flight until its coroutine completes.
    flood.count("pkg.code.hidden")

    async def call(i, gate):
        return await code.hidden(i, gate)

    assert asyncio.run(together(call)) == list(range(K))


def test_async_generator_hidden_without_wraps(flood):
    flood.count("pkg.code.hidden_stream")

    async def consume(i, gate):
        return [x async for x in code.hidden_stream(1, gate)]

    assert asyncio.run(together(consume)) == [[0]] * K


@pytest.mark.filterwarnings("ignore:coroutine '_awaited' was never awaited:RuntimeWarning")
def test_calls_never_awaited_or_iterated_leave(flood):
    flood.count("pkg.code.hidden")
    flood.count("pkg.code.hidden_stream")
    code.hidden(0, None)  # dropped at once: never awaited
    code.hidden_stream(1, None)  # never iterated
    with flood.measure() as m:
        assert asyncio.run(together(code.hidden)) == list(range(K))
    assert m.max_in_flight == K


def test_instance_method(flood):
    flood.count("pkg.code.Client.get")
    client = Client("c")
    assert asyncio.run(together(client.get)) == [("c", i) for i in range(K)]


def test_class_method(flood):
    flood.count("pkg.code.Client.make")
    assert isinstance(vars(Client)["make"], classmethod)
    assert asyncio.run(together(Client("c").make)) == [("Client", i) for i in range(K)]


def test_static_method(flood):
    flood.count((Client, "ping"))
    assert isinstance(vars(Client)["ping"], staticmethod)
    assert asyncio.run(together(Client.ping)) == list(range(K))


def test_one_instance(flood):
    counted, other = Client("counted"), Client("other")
    flood.count((counted, "get"))
    assert "get" in vars(counted)

    async def main():
        gate = Gate(K)
        calls = [counted.get(i, gate) for i in range(K - 1)] + [other.get(K - 1, gate)]
        return await asyncio.gather(*calls)

    assert asyncio.run(main())[-1] == ("other", K - 1)


def test_threads(flood):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    flood.count("pkg.code.blocking")
    barrier = threading.Barrier(K)
    with ThreadPoolExecutor(K) as pool:
        assert list(pool.map(code.blocking, range(K), [barrier] * K)) == list(range(K))


def test_nested_monkeypatch(flood, monkeypatch):
    counted = flood.count("pkg.code.work")
    monkeypatch.setattr(code, "work", lambda i: ("spy", counted(i)))
    assert code.work(4) == ("spy", 4)


def test_restored():
    for name, original in ORIGINAL.items():
        assert vars(code)[name] is original, name
    for name, raw in RAW.items():
        assert vars(Client)[name] is raw, name
    assert "get" not in vars(Client("c"))
'''


def _code(project: Project) -> None:
    pkg = project.pytester.mkpydir("pkg")
    (pkg / "code.py").write_text(CODE)


def test_kinds(project: Project) -> None:
    _code(project)
    project.pytester.makepyfile(test_kinds=KINDS)
    run = project.run_inprocess(*FAST, "-p", "no:randomly")
    run.result.assert_outcomes(passed=17)
    k = 5
    expected = {
        # (max_in_flight, tasks_started, tasks_done)
        "test_sync_keyword_only": (1, 3, 3),
        "test_any_signature": (1, 2, 2),
        "test_async": (k, k, k),
        "test_async_generator": (k, k, k),
        "test_async_generator_in_flight_until_closed": (2, 2, 2),
        "test_decorated_async": (k, k, k),
        "test_async_hidden_without_wraps": (k, k, k),
        "test_async_hidden_awaited_in_tasks": (k, k, k),
        "test_async_generator_hidden_without_wraps": (k, k, k),
        "test_instance_method": (k, k, k),
        "test_class_method": (k, k, k),
        "test_static_method": (k, k, k),
        "test_one_instance": (k - 1, k - 1, k - 1),
        "test_threads": (k, k, k),
        "test_nested_monkeypatch": (1, 1, 1),
    }
    for test, figures in expected.items():
        m = run.figures(test)
        assert (m["max_in_flight"], m["tasks_started"], m["tasks_done"]) == figures, test
        assert m["tasks_failed"] == 0, test


DRAWS = """
import asyncio
import time

import pytest

from pytest_boundedload import SyntheticFailure
from pkg import code
from pkg.code import Gate


def test_sync_latency_and_failures(flood, monkeypatch):
    code.CALLS.clear()
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    flood.count("pkg.code.work", latency="10ms", jitter=0.5, fail_rate=0.5, seed=3)
    failed = []
    for i in range(8):
        try:
            assert code.work(i) == i
        except SyntheticFailure as failure:
            failed.append(failure.index)
    same = flood.tasks(8, latency="10ms", jitter=0.5, fail_rate=0.5, seed=3)
    assert failed == [task.index for task in same if task.fail]
    assert 0 < len(failed) < 8
    assert code.CALLS == [task.index for task in same if not task.fail]  # a failed call never ran
    assert slept == [task.latency for task in same if not task.fail]


def test_async_latency_and_failures(flood, monkeypatch):
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    flood.count("pkg.code.create", latency=0.25, fail_rate=1.0)

    async def main():
        calls = [code.create(model="m", gate=Gate(1)) for _ in range(3)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    assert [type(result) for result in results] == [SyntheticFailure] * 3
    assert slept == [0.25] * 3


def test_fail_rate_one_never_runs(flood):
    code.CALLS.clear()
    flood.count("pkg.code.fetch", fail_rate=1.0)
    with pytest.raises(SyntheticFailure, match="synthetic failure of task 0"):
        asyncio.run(code.fetch(0, Gate(1)))
    assert code.CALLS == []


def test_trio_latency(flood):
    import trio

    async def answer(i):
        await trio.sleep(0)
        return i

    code.trio_answer = answer
    flood.count("pkg.code.trio_answer", latency="1ms")
    assert trio.run(code.trio_answer, 7) == 7
"""

BAD = """
import pytest

from pkg import code

NOTHERE = f"{code!r} has no attribute 'nothere'"
WORK = "flood.count('pkg.code.work')"
CONSTANT = "flood.count('pkg.code.CONSTANT')"


@pytest.mark.parametrize(
    ("target", "keywords", "error", "message"),
    [
        ("pkg.code.nothere", {}, ValueError, f"flood.count('pkg.code.nothere'): {NOTHERE}"),
        ((code, "nothere"), {}, ValueError, f"flood.count({(code, 'nothere')!r}): {NOTHERE}"),
        ("nodots", {}, ValueError, "flood.count('nodots'): expected 'package.module.function'"),
        (42, {}, TypeError, "flood.count(): expected 'pkg.mod.func' or (obj, 'name'), got 42"),
        ("pkg.code.CONSTANT", {}, TypeError, f"{CONSTANT}: 'CONSTANT' is not callable, it is int 3"),
        ("pkg.code.work", {"jitter": 2}, ValueError, f"{WORK}: jitter must be in [0, 1], got 2"),
        (
            "pkg.code.work",
            {"fail_rate": "half"},
            ValueError,
            f"{WORK}: fail_rate must be a number in [0, 1], got 'half'",
        ),
        ("pkg.code.work", {"seed": 1.5}, ValueError, f"{WORK}: seed must be an int, got 1.5"),
        (
            "pkg.code.work",
            {"latency": -1},
            ValueError,
            f"invalid latency=-1 in {WORK}: must not be negative",
        ),
    ],
)
def test_bad_count(flood, target, keywords, error, message):
    with pytest.raises(error) as info:
        flood.count(target, **keywords)
    assert str(info.value) == message
    assert code.work.__module__ == "pkg.code" and not hasattr(code.work, "__wrapped__")


def test_counted_twice(flood):
    flood.count("pkg.code.work")
    with pytest.raises(ValueError) as info:
        flood.count("pkg.code.work")
    assert str(info.value) == f"{WORK}: already counted in this test"


def test_an_attribute_that_cannot_be_replaced(flood):
    with pytest.raises(TypeError) as info:
        flood.count((dict, "get"))
    assert str(info.value) == (
        f"flood.count({(dict, 'get')!r}): cannot replace 'get' on {dict!r} "
        "(cannot set 'get' attribute of immutable type 'dict')"
    )
    with pytest.raises(TypeError) as info:
        flood.patch((dict, "get"))
    assert str(info.value).startswith(f"flood.patch({(dict, 'get')!r}): cannot replace 'get' on {dict!r}")
    assert {}.get("a", 1) == 1


def test_bad_kind(flood):
    with pytest.raises(ValueError) as info:
        flood.patch("pkg.code.work", kind="coroutine")
    assert str(info.value) == (
        "flood.patch('pkg.code.work'): kind must be 'async' or 'sync' (or None to detect), got 'coroutine'"
    )
"""

PATCH = """
import asyncio

from pkg import code
from pkg.code import Client


def test_patch_keyword_only(flood):
    assert flood.patch("pkg.code.create") is flood.aworker

    async def main():
        return await asyncio.gather(*(code.create(model="m", gate=None) for _ in range(4)))

    assert asyncio.run(main()) == [None] * 4


def test_patch_method_gets_the_task(flood):
    assert flood.patch("pkg.code.Client.get") is flood.aworker

    async def main():
        return await asyncio.gather(*(Client("c").get(task) for task in flood.tasks(3)))

    assert asyncio.run(main()) == [0, 1, 2]


def test_patch_kind_forced(flood):
    assert flood.patch("pkg.code.hidden") is flood.worker  # nothing tells it is async
    assert flood.patch("pkg.code.hidden", kind="async") is flood.aworker
    assert asyncio.run(code.hidden(5)) == 5
"""


def test_draws_bad_input_and_patch(project: Project) -> None:
    _code(project)
    project.pytester.makepyfile(test_draws=DRAWS, test_bad=BAD, test_patch=PATCH)
    run = project.run_inprocess(*FAST, "-p", "no:randomly")
    run.result.assert_outcomes(passed=4 + 12 + 3)
    m = run.figures("test_sync_latency_and_failures")
    assert (m["tasks_started"], m["tasks_done"] + m["tasks_failed"]) == (8, 8)
    assert m["tasks_failed"] == 8 - m["tasks_done"] > 0
    m = run.figures("test_async_latency_and_failures")
    assert (m["max_in_flight"], m["tasks_started"], m["tasks_done"], m["tasks_failed"]) == (1, 3, 0, 3)
    m = run.figures("test_trio_latency")
    assert (m["max_in_flight"], m["tasks_started"], m["tasks_done"]) == (1, 1, 1)
    m = run.figures("test_patch_keyword_only")
    assert (m["tasks_started"], m["tasks_done"]) == (4, 4)
    m = run.figures("test_patch_method_gets_the_task")
    assert (m["tasks_started"], m["tasks_done"]) == (3, 3)


SDK = """
import asyncio
import json

import httpx2
import openai
import pytest
from openai.resources.chat.completions import AsyncCompletions

from pkg.code import Gate

CREATE = "openai.resources.chat.completions.AsyncCompletions.create"
ORIGINAL = vars(AsyncCompletions)["create"]
K = 5


def make_client(handler):
    http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return openai.AsyncOpenAI(
        api_key="sk-test", base_url="http://api.test/v1", http_client=http_client, max_retries=0
    )


def completion(content):
    message = {"role": "assistant", "content": content}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
    }


def test_sdk_counted(flood):
    flood.count(CREATE)

    async def main():
        gate = Gate(K)

        async def handler(request):
            await gate.wait()
            prompt = json.loads(request.content)["messages"][0]["content"]
            return httpx2.Response(200, json=completion(prompt))

        client = make_client(handler)

        async def ask(i):
            answer = await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": f"question {i}"}]
            )
            return answer.choices[0].message.content

        return await asyncio.gather(*(ask(i) for i in range(K)))

    assert asyncio.run(main()) == [f"question {i}" for i in range(K)]


def test_sdk_patched(flood):
    assert flood.patch(CREATE) is flood.aworker

    async def main():
        client = make_client(lambda request: pytest.fail("the probe answers, not the API"))
        calls = [client.chat.completions.create(model="m", messages=[]) for _ in range(K)]
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == [None] * K


def test_sdk_restored():
    assert vars(AsyncCompletions)["create"] is ORIGINAL
"""


def test_real_sdk_method(project: Project) -> None:
    _code(project)
    project.pytester.makepyfile(test_sdk=SDK)
    run = project.run_inprocess(*FAST, "-p", "no:randomly")
    run.result.assert_outcomes(passed=3)
    m = run.figures("test_sdk_counted")
    assert (m["max_in_flight"], m["tasks_started"], m["tasks_done"], m["tasks_failed"]) == (5, 5, 5, 0)
    m = run.figures("test_sdk_patched")
    assert (m["tasks_started"], m["tasks_done"]) == (5, 5)


POOL = """
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from pkg import code

FORK = multiprocessing.get_context("fork")
K = 2


def test_fork_pool(flood):
    code.BARRIER = FORK.Barrier(K)
    flood.count("pkg.code.in_process")
    with ProcessPoolExecutor(K, mp_context=FORK) as pool:
        pids = list(pool.map(code.in_process, range(K)))
    assert len(set(pids)) == K and os.getpid() not in pids


def test_scaling_children(flood):
    flood.count("pkg.code.work")
    report = flood.scaling(lambda n: [code.work(i) for i in range(n)], ns=(10, 20, 40))
    # Each size runs in a forked child, which keeps the count and counts on its own.
    figures = [(n, m.tasks_started, m.max_in_flight) for n, m in report.points]
    assert figures == [(10, 10, 1), (20, 20, 1), (40, 40, 1)]


def test_pool_forked_before_the_count(flood):
    code.BARRIER = FORK.Barrier(1)
    with ProcessPoolExecutor(1, mp_context=FORK) as pool:
        pool.submit(os.getpid).result()  # the worker is forked here, before the count
        flood.count("pkg.code.in_process")
        assert pool.submit(code.in_process, 0).result() != os.getpid()
"""


def test_process_pool(project: Project) -> None:
    _code(project)
    project.pytester.makepyfile(test_pool=POOL)
    run = project.run("-p", "no:randomly")
    run.result.assert_outcomes(passed=3)
    m = run.figures("test_fork_pool")
    assert (m["max_in_flight"], m["tasks_started"], m["tasks_done"]) == (2, 2, 2)
    # A worker forked before the count runs the original: its calls are not counted.
    m = run.figures("test_pool_forked_before_the_count")
    assert (m["max_in_flight"], m["tasks_started"]) == (0, 0)
