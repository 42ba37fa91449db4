"""What reading the children's memory costs, in a process of ``--parent-mib`` MiB (each
page written) with ``--children`` forked children that have not exec'd.

First the readings one child takes, each timed over ``--repeat`` calls: its stat and
status files (which say whether it has exec'd, and its ``VmHWM``), ``kcmp`` (whether it
shares this process's memory) and ``smaps_rollup`` (its private pages, counted by a walk
of its page tables). Then the sampler thread's CPU time over ``--seconds`` of sampling
every 10 ms, as a share of that time, with children that sit still (their private pages
read once) and children that keep faulting pages in (read again within a twentieth of
the time).

    python bench/children_memory.py [--parent-mib 200] [--children 10] [--seconds 2]
"""

from __future__ import annotations

import argparse
import mmap
import os
import threading
import time
from collections.abc import Callable

from pytest_boundedload.measure import descendants
from pytest_boundedload.measure.sampler import Sampler

MiB = 1024 * 1024


def _per_call(fn: Callable[[], object], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def _fork_children(count: int, busy: bool) -> tuple[list[int], int]:
    hold_r, hold_w = os.pipe()
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            os.close(hold_w)
            if busy:  # fresh pages faulted in and handed back, until told to stop
                os.set_blocking(hold_r, False)
                while True:
                    try:
                        os.read(hold_r, 1)
                        break
                    except BlockingIOError:
                        page = mmap.mmap(-1, MiB)
                        for offset in range(0, MiB, mmap.PAGESIZE):
                            page[offset] = 1
                        page.close()
            else:
                os.read(hold_r, 1)
            os._exit(0)
        pids.append(pid)
    os.close(hold_r)
    return pids, hold_w


def _let_go(pids: list[int], hold_w: int) -> None:
    os.write(hold_w, b"x" * len(pids))
    os.close(hold_w)
    for pid in pids:
        os.waitpid(pid, 0)


def _sampler_share(children: int, busy: bool, seconds: float) -> tuple[float, int]:
    sampler = Sampler(interval=0.01)
    sampler.start()
    pids, hold_w = _fork_children(children, busy)  # the spawns start the sampler thread
    try:
        wake = threading.Event()
        cpu = time.process_time()
        wake.wait(seconds)  # only the sampler thread runs meanwhile
        cpu = time.process_time() - cpu
    finally:
        result = sampler.stop()
        _let_go(pids, hold_w)
    return cpu / seconds, result.children_peak_rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent-mib", type=int, default=200)
    parser.add_argument("--children", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    ballast = bytearray(b"\x01") * (args.parent_mib * MiB)
    me = os.getpid()
    pids, hold_w = _fork_children(1, busy=False)
    child = pids[0]
    try:
        costs = {
            "stat": _per_call(lambda: descendants._stat(child), args.repeat),
            "status (VmHWM)": _per_call(lambda: descendants._vmhwm(child), args.repeat),
            "kcmp": _per_call(lambda: descendants.shares_memory_with(child, me), args.repeat),
            "smaps_rollup": _per_call(lambda: descendants._private_memory(child), args.repeat),
        }
    finally:
        _let_go(pids, hold_w)
    print(f"one forked child of a {args.parent_mib} MiB process, per reading:")
    for name, cost in costs.items():
        print(f"  {name:<16} {cost * 1e6:8.0f} us  ({cost / costs['status (VmHWM)']:.1f} x status)")
    for busy in (False, True):
        share, peak = _sampler_share(args.children, busy, args.seconds)
        kind = "faulting pages in" if busy else "sitting still"
        print(
            f"sampler thread, {args.children} children {kind}: {share:.1%} of a core"
            f" (children_peak_rss {peak / MiB:.1f} MiB)"
        )
    del ballast


if __name__ == "__main__":
    main()
