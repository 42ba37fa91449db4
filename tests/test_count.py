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


async def stream(n, gate):
    for i in range(n):
        await gate.wait()
        yield i


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

    async def main():
        first, second = code.stream(3, Gate(1)), code.stream(3, Gate(1))
        assert await first.__anext__() == 0  # first is suspended after a value: still in flight
        assert await second.__anext__() == 0
        await first.aclose()
        assert [x async for x in second] == [1, 2]

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


def test_async_generator_hidden_without_wraps(flood):
    flood.count("pkg.code.hidden_stream")

    async def consume(i, gate):
        return [x async for x in code.hidden_stream(1, gate)]

    assert asyncio.run(together(consume)) == [[0]] * K


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
    run.result.assert_outcomes(passed=15)
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
