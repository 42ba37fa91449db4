"""flood.tasks(n, make=...): the user's own items, built on demand and still followed for
max_held: taken when iterated or indexed, out when freed, whatever their type."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from typing import TYPE_CHECKING, Any

import pydantic
import pytest

from pytest_boundedload.flood.items import Items, user_items
from pytest_boundedload.measure.held import HeldItems

if TYPE_CHECKING:
    from conftest import Project

N = 500
QUEUE = 10
WORKERS = 4
LIMIT = 20
CHUNK = 50

ITEMS = f"""
import asyncio
import concurrent.futures
import multiprocessing

import pydantic
import pytest

from pytest_boundedload import fixes

N = {N}
QUEUE = {QUEUE}
WORKERS = {WORKERS}
LIMIT = {LIMIT}
CHUNK = {CHUNK}


def prompt(i):
    return {{"prompt": f"p{{i}}"}}


async def handle(item):
    await asyncio.sleep(0)
    return len(item["prompt"])


def test_synthetic_unbounded_queue(flood):
    async def main():
        queue = asyncio.Queue()
        for task in flood.tasks(N):
            queue.put_nowait(task)
        while not queue.empty():
            await flood.aworker(queue.get_nowait())

    asyncio.run(main())


def test_unbounded_queue(flood):
    async def main():
        queue = asyncio.Queue()
        for item in flood.tasks(N, make=prompt):
            queue.put_nowait(item)
        while not queue.empty():
            await handle(queue.get_nowait())

    asyncio.run(main())


def test_bounded_queue(flood):
    async def main():
        queue = asyncio.Queue(maxsize=QUEUE)

        async def worker():
            while (item := await queue.get()) is not None:
                await handle(item)
                del item  # not held while waiting for the next

        workers = [asyncio.ensure_future(worker()) for _ in range(WORKERS)]
        for item in flood.tasks(N, make=prompt):
            await queue.put(item)
        del item
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)

    asyncio.run(main())


def test_worker_pool(flood):
    asyncio.run(fixes.worker_pool(flood.tasks(N, make=prompt), handle, workers=LIMIT))


def test_streaming(flood):
    async def main():
        async for _ in fixes.streaming(flood.tasks(N, make=prompt), handle, limit=LIMIT):
            pass

    asyncio.run(main())


class Prompt(pydantic.BaseModel):
    text: str
    max_tokens: int = 16


def test_models_all_at_once(flood):
    models = list(flood.tasks(N, make=lambda i: Prompt(text=f"p{{i}}")))
    assert all(type(model) is Prompt for model in models)


def test_models_one_at_a_time(flood):
    for model in flood.tasks(N, make=lambda i: Prompt(text=f"p{{i}}")):
        assert model.text.startswith("p")


def test_strings_all_at_once(flood):
    texts = list(flood.tasks(N, make=lambda i: f"p{{i}}"))
    assert texts[7] == "p7" and isinstance(texts[7], str)


def test_bytes_with_bodies(flood):
    # bytes take no weak references; the item is a bytes subclass that counts itself out.
    bodies = list(flood.tasks(N, make=lambda i: b"x" * 64, size="1 KiB"))
    assert bodies[0] == b"x" * 64 and isinstance(bodies[0], bytes)


def length(item):
    assert type(item) is dict  # a pool's worker gets the plain dict
    return len(item["prompt"])


def test_process_pool(flood):
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        lengths = pool.map(length, flood.tasks(N, make=prompt), chunksize=CHUNK)
        assert sum(lengths) == sum(len(f"p{{i}}") for i in range(N))


def test_refused(flood):
    with pytest.raises(ValueError) as raised:
        flood.tasks(3, make=prompt, latency="5ms")
    assert str(raised.value) == (
        "flood.tasks(make=...): latency is for synthetic tasks (the probe holds and waits what a task "
        "says); your own items go to your own worker, got latency='5ms'"
    )
    with pytest.raises(TypeError) as raised:
        flood.tasks(3, make={{"prompt": "p"}})
    assert str(raised.value) == (
        "flood.tasks(make=...): make must be a callable taking the item's index, got {{'prompt': 'p'}}"
    )


def test_unfollowable(flood):
    list(flood.tasks(3, make=lambda i: None))
"""


def test_user_items_held(project: Project) -> None:
    project.pytester.makepyfile(test_items=ITEMS)
    run = project.run("-p", "no:randomly")
    run.result.assert_outcomes(passed=11, failed=1)
    held = {name: run.figures(name)["max_held"] for name in run.records}
    taken = {name: run.figures(name)["items_taken"] for name in run.records}
    # The user's dicts are followed exactly like synthetic tasks.
    assert held["test_unbounded_queue"] == held["test_synthetic_unbounded_queue"] == N
    assert taken["test_unbounded_queue"] == taken["test_synthetic_unbounded_queue"] == N
    # Full queue (10) + the one the producer waits to put (1) + one in each worker (4).
    assert held["test_bounded_queue"] == QUEUE + 1 + WORKERS
    # The fixes hold about their limit (worker_pool: its queue, its workers, its producer).
    assert LIMIT <= held["test_streaming"] <= LIMIT + 4
    assert LIMIT <= held["test_worker_pool"] <= 2 * LIMIT + 1
    assert held["test_models_all_at_once"] == N
    # The loop variable's item, and the next one: taken before the variable lets go of it.
    assert held["test_models_one_at_a_time"] == 2
    assert held["test_strings_all_at_once"] == N
    assert held["test_bytes_with_bodies"] == N
    # ProcessPoolExecutor.map submits every chunk before it returns; a chunk that came
    # back before the last was submitted may be freed already.
    assert CHUNK <= held["test_process_pool"] <= N
    for name in held:
        if name not in ("test_unfollowable", "test_refused"):
            assert taken[name] == N, (name, taken[name])
    expected = "flood.tasks(make=...): make(0) returned None; it must return the item for index 0"
    assert f"TypeError: {expected}" in run.text


# Direct tests of Items, against a count of their own.


def test_make_is_lazy_once_per_item_taken() -> None:
    calls: list[int] = []

    def make(i: int) -> dict[str, int]:
        calls.append(i)
        return {"i": i}

    held = HeldItems()
    items = Items(1000, make, held=held)
    assert len(items) == 1000 and calls == []
    assert items[-1] == {"i": 999} and calls == [999]
    assert items[2:5] == [{"i": 2}, {"i": 3}, {"i": 4}] and calls == [999, 2, 3, 4]
    assert [item["i"] for item in items][:3] == [0, 1, 2]
    assert len(calls) == 1004 and held.total == 1004
    with pytest.raises(IndexError) as excinfo:
        items[1000]
    assert str(excinfo.value) == "item index 1000 out of range for 1000 items"


def test_taken_and_freed() -> None:
    held = HeldItems()
    items = Items(10, lambda i: {"prompt": f"p{i}"}, held=held)
    kept = list(items)
    assert (held.alive, held.high_water, held.total) == (10, 10, 10)
    del kept[3:]
    assert held.alive == 3
    kept.clear()
    assert (held.alive, held.high_water) == (0, 10)


class Model(pydantic.BaseModel):
    text: str


class Plain:
    pass


@pytest.mark.parametrize(
    "make",
    [
        lambda i: {"a": i},
        lambda i: [i],
        lambda i: f"s{i}",
        lambda i: b"b" * i,
        lambda i: bytearray(i),
        lambda i: (i, i),
        lambda i: i * 1000,
        lambda i: i / 3,
        lambda i: Model(text=str(i)),
        lambda i: Plain(),
        lambda i: {i},
        lambda i: lambda: i,
    ],
    ids=[
        *("dict", "list", "str", "bytes", "bytearray", "tuple", "int", "float"),
        *("pydantic", "class", "set", "function"),
    ],
)
def test_every_followed_type_counts_out(make: Any) -> None:
    held = HeldItems()
    made = make(3)
    items = list(Items(5, make, held=held, size=16))
    assert held.alive == 5 and len(held.bodies) == 5
    if not isinstance(made, (pydantic.BaseModel, Plain)) and not callable(made):
        assert items[3] == made and isinstance(items[3], type(made))
    del items
    assert held.alive == 0 and held.bodies == {}


def test_a_dict_item_is_still_the_dict_made() -> None:
    made = {"prompt": "p1", "max_tokens": 16}
    item = Items(1, lambda i: made, held=HeldItems())[0]
    assert item == made and isinstance(item, dict)
    assert json.dumps(item) == '{"prompt": "p1", "max_tokens": 16}'
    assert dict(**item) == made

    class Request(pydantic.BaseModel):
        prompt: str
        max_tokens: int

    assert Request(**item) == Request.model_validate(item) == Request(prompt="p1", max_tokens=16)
    # Pickled (to a process pool) or copied, an item is a plain dict.
    for again in (pickle.loads(pickle.dumps(item)), copy.copy(item), copy.deepcopy(item)):
        assert type(again) is dict and again == made


def test_a_str_item_is_still_a_str() -> None:
    item = Items(1, lambda i: "hello", held=HeldItems())[0]
    assert item == "hello" and isinstance(item, str) and item.upper() == "HELLO"
    assert json.dumps({"text": item}) == '{"text": "hello"}'
    assert type(pickle.loads(pickle.dumps(item))) is str


def test_a_constant_of_a_copied_type_counts_each_copy() -> None:
    held = HeldItems()
    shared = {"prompt": "same"}
    first, second = Items(2, lambda i: shared, held=held)
    assert first == second == shared and first is not second
    assert held.alive == 2


def test_two_counts_with_items_alive_each_keep_their_own() -> None:
    # Items a test keeps past its end (a module's cache) count out of that test's count,
    # not out of the count of the test running when they are freed.
    earlier, later = HeldItems(), HeldItems()
    kept = list(Items(3, lambda i: {"i": i}, held=earlier))
    taken = list(Items(5, lambda i: {"i": i}, held=later))
    kept.clear()
    assert (earlier.alive, later.alive) == (0, 5)
    taken += Items(2, lambda i: {"i": i}, held=later)
    assert (later.alive, later.high_water) == (7, 7)
    taken.clear()
    assert later.alive == 0


def test_the_same_object_twice_while_alive_is_an_error() -> None:
    shared = [Model(text="same")]
    held = HeldItems()
    items = Items(2, lambda i: shared[0], held=held)
    first = items[0]
    assert first is shared[0]
    with pytest.raises(ValueError) as excinfo:
        items[1]
    assert str(excinfo.value) == (
        "flood.tasks(make=...): make(1) returned the same Model object as an earlier item that is "
        "still alive; an item counts in max_held from when it is taken until it is freed, so make "
        "must build a new object for each index"
    )
    assert held.alive == 1
    del first, excinfo  # the error's traceback holds the object too
    shared.clear()
    assert held.alive == 0


@dataclasses.dataclass(slots=True)
class Slotted:
    value: int


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda i: Slotted(i),
            "flood.tasks(make=...): items of type Slotted cannot be followed for max_held (it takes no "
            'weak references and is not one of the built-in types copied); add "__weakref__" to its '
            "__slots__ (a dataclass: slots=True, weakref_slot=True), or return an object that holds it",
        ),
        (
            lambda i: i % 2 == 0,
            "flood.tasks(make=...): items of type bool cannot be followed for max_held (True and False "
            "are shared constants); return an int, or an object that holds the flag",
        ),
        (lambda i: None, "flood.tasks(make=...): make(0) returned None; it must return the item for index 0"),
    ],
    ids=["slots", "bool", "None"],
)
def test_what_cannot_be_followed(make: Any, message: str) -> None:
    held = HeldItems()
    with pytest.raises(TypeError) as excinfo:
        list(Items(3, make, held=held))
    assert str(excinfo.value) == message
    assert (held.alive, held.total) == (0, 0)


def test_make_raising_reaches_the_caller_unchanged() -> None:
    error = KeyError("no prompt 2")

    def make(i: int) -> dict[str, int]:
        if i == 2:
            raise error
        return {"i": i}

    held = HeldItems()
    taken = []
    with pytest.raises(KeyError) as excinfo:
        for item in Items(5, make, held=held):
            taken.append(item)
    assert excinfo.value is error
    assert (held.alive, held.total) == (2, 2)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError) as excinfo:
        Items(3, "not callable", held=HeldItems())  # type: ignore[arg-type]
    assert str(excinfo.value) == (
        "flood.tasks(make=...): make must be a callable taking the item's index, got 'not callable'"
    )
    with pytest.raises(ValueError) as excinfo2:
        user_items(3, str, size=0, held=None, payload=0, latency="5ms", jitter=0.0, fail_rate=0.0, seed=0)
    assert str(excinfo2.value) == (
        "flood.tasks(make=...): latency is for synthetic tasks (the probe holds and waits what a task "
        "says); your own items go to your own worker, got latency='5ms'"
    )
    with pytest.raises(ValueError, match=r"^flood.tasks\(n\): n must be an int >= 0, got -1$"):
        Items(-1, str)


def test_without_a_count_items_are_what_make_returns() -> None:
    made = {"a": 1}
    assert type(Items(1, lambda i: made)[0]) is dict
    assert Items(1, lambda i: made)[0] is made
