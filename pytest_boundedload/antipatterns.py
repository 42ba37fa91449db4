"""Deliberately unbounded concurrency, kept as reference points for tests and demos.

Each function here does what a lot of real code does: start one unit of work per
item, all at once.  Memory, tasks, threads or processes then grow with the input
instead of with a limit, which is exactly what pytest-boundedload exists to catch.
Do not use them for real work; :mod:`pytest_boundedload.fixes` has bounded versions.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TypeVar

__all__ = ["process_per_task", "thread_per_task", "unbounded_executor", "unbounded_gather"]

T = TypeVar("T")
R = TypeVar("R")


async def unbounded_gather(items: Iterable[T], worker: Callable[[T], Awaitable[R]]) -> list[R]:
    """``asyncio.gather(*[worker(i) for i in items])``: every call starts at once.

    Why it is bad: N items make N coroutines and N tasks before the first finishes,
    and all N calls hold their resources (sockets, buffers, server capacity) at the
    same time.  Memory and load grow linearly with the input, without a ceiling.
    On error, gather raises the first exception but leaves the other calls running.
    """
    return list(await asyncio.gather(*[worker(item) for item in items]))


def thread_per_task(items: Iterable[T], fn: Callable[[T], R]) -> list[R]:
    """Start one ``threading.Thread`` per item, all of them, then join them all.

    Why it is bad: each thread reserves its own stack (8 MiB of address space by
    default on Linux) and an OS thread; N items mean N threads, so a large input
    runs into memory or thread limits ("can't start new thread") and the GIL makes
    the extra threads useless for CPU work anyway.

    Results come back in input order; if any call raised, the first one (by input
    order) is re-raised after every thread has been joined.
    """
    items = list(items)
    results: dict[int, R] = {}
    errors: dict[int, BaseException] = {}

    def run(index: int, item: T) -> None:
        try:
            results[index] = fn(item)
        except BaseException as exc:  # carried back to the caller's thread
            errors[index] = exc

    threads = [
        threading.Thread(target=run, args=(index, item), daemon=True)
        for index, item in enumerate(items)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _collect(len(items), results, errors)


def process_per_task(items: Iterable[T], fn: Callable[[T], R]) -> list[R]:
    """Start one ``multiprocessing.Process`` per item, all of them, then collect.

    Why it is bad: every process is a whole interpreter (tens of MiB of RSS once
    it touches anything), plus two pipe file descriptors here; N items mean N
    processes at once, which exhausts memory, PIDs or file descriptors long before
    it saturates the CPUs.

    Uses the "fork" start method where the platform has it; elsewhere ``fn`` and the
    items must be picklable.  Results travel back through one pipe per item and
    come back in input order; the first error (by input order) is re-raised after
    every process has been joined.  A child that dies without answering (e.g. killed
    for memory) shows up as a RuntimeError.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    items = list(items)
    readers: list[Connection] = []
    processes: list[BaseProcess] = []
    try:
        for item in items:
            reader, writer = context.Pipe(duplex=False)
            readers.append(reader)
            process = context.Process(target=_child, args=(writer, fn, item), daemon=True)
            process.start()
            processes.append(process)
            # Only the child may hold the write end, or recv() would never see EOF.
            writer.close()
        results: dict[int, R] = {}
        errors: dict[int, BaseException] = {}
        for index, reader in enumerate(readers):
            try:
                ok, value = reader.recv()
            except EOFError:
                errors[index] = RuntimeError(
                    f"process for item {index} exited "
                    f"(code {processes[index].exitcode}) without a result"
                )
                continue
            if ok:
                results[index] = value
            else:
                errors[index] = value
    finally:
        for reader in readers:
            reader.close()
        for child in processes:
            child.join()
    return _collect(len(items), results, errors)


def _child(writer: Connection, fn: Callable[[T], R], item: T) -> None:
    try:
        try:
            writer.send((True, fn(item)))
        except BaseException as exc:
            try:
                writer.send((False, exc))
            except Exception:  # the exception itself does not pickle
                writer.send((False, RuntimeError(repr(exc))))
    finally:
        writer.close()


def unbounded_executor(items: Iterable[T], fn: Callable[[T], R]) -> list[R]:
    """``ThreadPoolExecutor(max_workers=len(items))`` with every item submitted at once.

    Why it is bad: sizing the pool by the input turns the pool into thread-per-task
    with extra steps: N threads, and N futures created before any result is read.
    It also has to materialise the whole input to know ``len(items)``, so an endless
    or huge generator is fully loaded into memory first.

    Results come back in input order; the first error (by input order) is raised.
    """
    items = list(items)
    if not items:
        return []  # ThreadPoolExecutor(max_workers=0) is a ValueError
    with ThreadPoolExecutor(max_workers=len(items)) as executor:
        futures = [executor.submit(fn, item) for item in items]
        return [future.result() for future in futures]


def _collect(count: int, results: dict[int, R], errors: dict[int, BaseException]) -> list[R]:
    if errors:
        raise errors[min(errors)]
    return [results[index] for index in range(count)]
