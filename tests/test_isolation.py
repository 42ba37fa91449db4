"""Capped children: whatever the child does, the parent gets an outcome and survives."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from pytest_boundedload.isolate.capped import run_capped
from pytest_boundedload.isolate.cgroup import Cgroup

MiB = 1024 * 1024


def _vm_hwm() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _returns(send: Any, a: int, b: int) -> int:
    send("started")
    send({"progress": 1})
    return a + b


def _grows_forever(send: Any) -> None:
    chunks = []
    while True:
        chunks.append(bytearray(MiB))
        if len(chunks) % 16 == 0:
            send(len(chunks))


def _raises(send: Any) -> None:
    raise ValueError("bad item 7")


def _kills_itself(send: Any, signo: int) -> None:
    faulthandler.disable()  # pytest's crash dump would only add noise here
    os.kill(os.getpid(), signo)


def _hangs(send: Any) -> None:
    time.sleep(60)


def test_value_and_messages_come_back() -> None:
    seen: list[Any] = []
    outcome = run_capped(_returns, 2, 3, cap=512 * MiB, on_message=seen.append)
    assert outcome.ok
    assert outcome.value == 5
    assert outcome.messages == ("started", {"progress": 1})
    assert seen == ["started", {"progress": 1}]
    assert outcome.describe() == "ok"


def test_rlimit_cap_turns_runaway_memory_into_memory_error() -> None:
    before = _vm_hwm()
    outcome = run_capped(_grows_forever, cap=256 * MiB, method="rlimit", timeout=60)
    assert not outcome.ok
    assert outcome.out_of_memory
    assert outcome.error == "MemoryError"
    assert outcome.cap_kind == "rlimit"
    assert outcome.describe() == "exceeded cap 256.0 MiB (rlimit): MemoryError"
    # The child got well into its allocations before the cap stopped it, and said so.
    assert isinstance(outcome.last_message, int) and outcome.last_message >= 64
    # The parent never held the child's memory.
    assert _vm_hwm() - before < 64 * MiB


def test_cgroup_cap_brings_the_oom_killer() -> None:
    probe = Cgroup.create(64 * MiB)
    if probe is None:
        pytest.skip("this machine gives no writable memory cgroup")
    probe.remove()
    outcome = run_capped(_grows_forever, cap=256 * MiB, method="cgroup", timeout=60)
    assert outcome.cap_kind == "cgroup"
    assert outcome.signal == "SIGKILL"
    assert outcome.oom_killed is True
    assert outcome.out_of_memory
    assert outcome.describe() == "exceeded cap 256.0 MiB (cgroup): killed by SIGKILL"
    assert not outcome.ok
    # The cgroup made for the child is gone.
    assert not probe.path.parent.joinpath(probe.path.name).exists()
    leftovers = [p.name for p in probe.path.parent.iterdir() if p.name.startswith("boundedload-")]
    assert leftovers == []


def test_a_sigkill_that_is_not_the_oom_killer_is_not_out_of_memory() -> None:
    probe = Cgroup.create(64 * MiB)
    if probe is None:
        pytest.skip("this machine gives no writable memory cgroup")
    probe.remove()
    outcome = run_capped(_kills_itself, int(signal.SIGKILL), cap=512 * MiB, method="cgroup")
    assert outcome.signal == "SIGKILL"
    assert outcome.oom_killed is False
    assert not outcome.out_of_memory
    assert outcome.describe() == "killed by SIGKILL (cap 512.0 MiB (cgroup))"


def test_exception_in_child_is_reported_with_its_traceback() -> None:
    outcome = run_capped(_raises, cap=512 * MiB)
    assert outcome.error == "ValueError: bad item 7"
    assert outcome.traceback is not None and "_raises" in outcome.traceback
    assert outcome.exit_code == 1
    assert not outcome.out_of_memory
    assert outcome.describe() == "raised ValueError: bad item 7"


@pytest.mark.parametrize("signo", [signal.SIGSEGV, signal.SIGKILL, signal.SIGTERM])
def test_signal_is_named(signo: signal.Signals) -> None:
    outcome = run_capped(_kills_itself, int(signo), cap=512 * MiB, method="rlimit")
    assert outcome.signal == signo.name
    assert not outcome.ok
    assert signo.name in outcome.describe()


def test_timeout_kills_the_child() -> None:
    # Without the timeout this would hang until the suite's own timeout fails it.
    outcome = run_capped(_hangs, cap=512 * MiB, timeout=0.5)
    assert outcome.timed_out
    assert outcome.signal == "SIGKILL"
    assert not outcome.out_of_memory
    assert outcome.describe().startswith("timed out")


def _holds_96_mib() -> bytearray:
    return bytearray(96 * MiB)


def _answers(send: Any) -> str:
    return "measured"


def _prepare_fails() -> None:
    raise OSError("cannot prepare")


def test_prepare_runs_before_the_cap_and_its_failure_is_the_childs() -> None:
    probe = Cgroup.create(64 * MiB)
    if probe is None:
        pytest.skip("this machine gives no writable memory cgroup")
    probe.remove()
    # 96 MiB made before joining a 64 MiB cgroup: charged to this process's group, not
    # the child's; the child lives on with it and answers.
    outcome = run_capped(_answers, cap=64 * MiB, method="cgroup", prepare=_holds_96_mib, timeout=60)
    assert outcome.ok, outcome.describe()
    assert outcome.value == "measured"
    # A prepare that raises ends the child with that error, like the function's own.
    outcome = run_capped(_answers, cap=64 * MiB, prepare=_prepare_fails, timeout=60)
    assert not outcome.ok
    assert outcome.describe() == "raised OSError: cannot prepare"


def test_the_empty_cgroups_of_a_dead_process_are_removed() -> None:
    probe = Cgroup.create(64 * MiB)
    if probe is None:
        pytest.skip("this machine gives no writable memory cgroup")
    probe.remove()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid is now free: the owner of a cgroup left behind
    stale = probe.path.parent / f"boundedload-{child.pid}-1"
    stale.mkdir()
    alive = probe.path.parent / f"boundedload-{os.getppid()}-1"  # a live process's: kept
    alive.mkdir()
    try:
        # A process that starts after them sweeps them, at its first cgroup.
        code = (
            "from pytest_boundedload.isolate.cgroup import Cgroup\n"
            "group = Cgroup.create(64 << 20); assert group is not None; group.remove()"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
        assert not stale.exists()
        assert alive.exists()
    finally:
        for path in (stale, alive):
            with contextlib.suppress(OSError):
                path.rmdir()
