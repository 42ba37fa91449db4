"""``children_peak_rss`` counts what the children add, not the pages they share with a
~200 MiB parent: nothing for a child on its way to exec, the private pages of a forked
one, the peak of one that has exec'd. Sample projects run in a child pytest process."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Project

MiB = 1024 * 1024

CHILDREN = """
import ctypes
import json
import os
import signal
import subprocess

import pytest

MiB = 1024 * 1024
# The parent's ~200 MiB, each page written; the cap is far above parent and children.
capped = pytest.mark.boundedload(hard_limit="1 GiB")


def ballast():
    return bytearray(b"\\x01") * (200 * MiB)


def private_memory():
    with open("/proc/self/smaps_rollup") as f:
        return sum(
            int(line.split()[1]) * 1024 for line in f if line.startswith(("Private_Clean:", "Private_Dirty:"))
        )


def fork_and_hold(size):
    # A forked child that allocates ``size`` bytes (each page written), says how much
    # private memory it has then, by its own reading, and waits for the pipe to close.
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(hold_w)
        held = bytearray(b"\\x01") * size if size else b""
        os.write(ready_w, str(private_memory()).encode())
        os.read(hold_r, 1)
        os._exit(len(held) % 1)
    os.close(hold_r)
    reported = int(os.read(ready_r, 64))
    return pid, hold_w, reported


def let_go(pid, hold_w):
    os.close(hold_w)
    assert os.waitpid(pid, 0)[1] == 0


@capped
def test_uname(flood):
    # What platform.processor() does (an SDK client's first build): a child that
    # shares the parent's memory until it runs uname.
    held = ballast()
    for _ in range(20):
        subprocess.run(["uname", "-p"], stdout=subprocess.DEVNULL, check=True)
    del held


@pytest.mark.parametrize("size", [0, 64 * MiB])
@capped
def test_forked_child(flood, size):
    held = ballast()
    with flood.measure():
        pid, hold_w, reported = fork_and_hold(size)
    # The window closed while the child held its memory: its last reading saw it.
    let_go(pid, hold_w)
    with open(f"reported_{size}.json", "w") as f:
        json.dump(reported, f)
    del held


@capped
def test_child_sharing_the_parents_memory(flood):
    # A child held where a vfork child is on its way to exec: created with CLONE_VM, it
    # waits on a mutex the parent holds, never running a program of its own.
    held = ballast()
    libc = ctypes.CDLL(None, use_errno=True)
    mutex = ctypes.create_string_buffer(64)  # all zero: PTHREAD_MUTEX_INITIALIZER
    assert libc.pthread_mutex_lock(mutex) == 0
    stack = ctypes.create_string_buffer(1 << 20)
    top = (ctypes.addressof(stack) + len(stack)) & ~15
    libc.clone.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lock = ctypes.cast(libc.pthread_mutex_lock, ctypes.c_void_p)
    clone_vm = 0x100
    with flood.measure():
        subprocess.run(["true"], check=True)  # a spawn, as before a real vfork child
        pid = libc.clone(lock, top, clone_vm | signal.SIGCHLD, ctypes.addressof(mutex))
        assert pid > 0, os.strerror(ctypes.get_errno())
    os.kill(pid, signal.SIGKILL)
    assert os.waitpid(pid, 0)[1] == signal.SIGKILL
    del held


@capped
def test_without_kcmp_a_forked_child_counts_from_its_second_reading(monkeypatch):
    # Where the kernel cannot say whether a child shares this process's memory, a child
    # that has not exec'd counts nothing at its first reading (it may be on its way to
    # exec), its private pages from the second on.
    from pytest_boundedload.measure import descendants

    monkeypatch.setattr(descendants, "_kcmp", [lambda first, second: None])
    held = ballast()
    children = descendants.Descendants()
    pid, hold_w, reported = fork_and_hold(64 * MiB)
    try:
        assert children.refresh() == 1
        first, second = children.own_memory_sum(), children.own_memory_sum()
    finally:
        let_go(pid, hold_w)
    assert first == 0
    assert reported - 2 * MiB <= second <= reported + 2 * MiB, (second, reported)
    del held
"""


def test_children_count_what_they_add_not_what_they_share(project: Project) -> None:
    project.pytester.makepyfile(test_children=CHILDREN)
    run = project.run()
    run.result.assert_outcomes(passed=5)
    # uname -p: caught (its own ~1 MiB) or missed (0), never the parent's 200 MiB.
    uname = run.figures("test_uname")
    assert 0 <= uname["children_peak_rss"] < 8 * MiB, uname
    # A forked child that touches nothing: the few pages it writes (stack, refcounts).
    idle = run.figures("test_forked_child[0]")
    assert 0 < idle["children_peak_rss"] < 8 * MiB, idle
    # A forked child that allocates 64 MiB: that, and what it reports of itself.
    allocating = run.figures(f"test_forked_child[{64 * MiB}]")
    reported = json.loads((project.path / f"reported_{64 * MiB}.json").read_text())
    assert 64 * MiB <= reported < 68 * MiB
    assert 64 * MiB <= allocating["children_peak_rss"] < 68 * MiB, allocating
    assert reported - 2 * MiB <= allocating["children_peak_rss"] <= reported + 2 * MiB, (allocating, reported)
    assert idle["max_processes"] == allocating["max_processes"] == 1
    # A child that shares this process's memory adds none of it.
    sharing = run.figures("test_child_sharing_the_parents_memory")
    assert (sharing["children_peak_rss"], sharing["max_processes"]) == (0, 1), sharing
