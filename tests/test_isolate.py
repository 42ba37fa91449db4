"""``isolate``: each measured test in a forked child of an unchanged session process, so
its figures do not depend on which tests ran before, on real library code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Project

MiB = 1024 * 1024
# Plugins these runs do not need (hypothesis's costs seconds a session).
QUICK = ("-p", "no:randomly", "-p", "no:hypothesispytest", "-p", "no:memray")

# A streaming test over an LLM SDK client (openai over its HTTP library's MockTransport),
# bounded with fixes.streaming: run first, after a test that frees ~60 MiB of Python
# objects, and alone. The session process runs under a 1 GiB RLIMIT_DATA, which its
# forked children inherit.
SDK_TESTS = """
import asyncio
import json
import os

import pytest
from openai import AsyncOpenAI, _base_client

from pytest_boundedload.fixes import streaming

http = getattr(_base_client, "httpx2", None) or _base_client.httpx  # what openai builds on
SESSION = int(os.environ["SAMPLE_SESSION_PID"])
KEPT = []
BODY = json.dumps({
    "id": "c", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "x" * 200}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}).encode()


def answer(request):
    return http.Response(200, content=BODY, headers={"content-type": "application/json"})


def stream(flood):
    assert os.getpid() != SESSION  # measured in a child of the session process

    async def main():
        client = AsyncOpenAI(
            api_key="k", base_url="http://test/v1",
            http_client=http.AsyncClient(transport=http.MockTransport(answer)),
        )

        async def one(task):
            await flood.aworker(task)
            messages = [{"role": "user", "content": "hi"}]
            reply = await client.chat.completions.create(model="m", messages=messages)
            return len(reply.choices[0].message.content)

        async for _ in streaming(flood.tasks(100), one, limit=10):
            pass
        await client.close()

    asyncio.run(main())


def test_a_stream(flood):
    stream(flood)


def test_frees():
    objects = [(i, str(i)) for i in range(300_000)]
    KEPT.extend(objects[::8])
    large = [bytes(400) for _ in range(60_000)]
    KEPT.extend(large[::1000])
    del large, objects


def test_b_stream(flood):
    stream(flood)
"""

CAPPED_CONFTEST = """
import os
import resource

os.environ.setdefault("SAMPLE_SESSION_PID", str(os.getpid()))  # (an xdist worker's own)
resource.setrlimit(resource.RLIMIT_DATA, (1 << 30, resource.getrlimit(resource.RLIMIT_DATA)[1]))
"""


def _figures(project: Project, *args: str) -> dict[str, dict[str, Any]]:
    run = project.run("--boundedload-isolate", *QUICK, *args)
    tests = [name for name in ("test_a_stream", "test_b_stream") if name in run.records]
    run.result.assert_outcomes(passed=len(tests) + ("test_sdk.py" in args))
    return {name: run.figures(name) for name in tests}


def test_a_real_sdk_test_measures_the_same_alone_first_after_others_and_under_xdist(project: Project) -> None:
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + CAPPED_CONFTEST)
    project.pytester.makepyfile(test_sdk=SDK_TESTS)
    alone = _figures(project, "test_sdk.py::test_a_stream")["test_a_stream"]
    serial = _figures(project, "test_sdk.py")
    parallel = _figures(project, "-n", "2", "test_sdk.py")
    reference = alone["rss_growth"]
    assert 1 * MiB <= reference <= 32 * MiB  # the SDK's first-use imports, about 5 MiB
    allowed = max(reference // 10, 1 * MiB)
    runs = {"alone": alone, **{f"serial {k}": v for k, v in serial.items()}}
    runs.update({f"-n 2 {k}": v for k, v in parallel.items()})
    assert len(runs) == 5
    for label, figures in runs.items():
        growth = figures["rss_growth"]
        assert reference - allowed <= growth <= reference + allowed, (label, growth, reference)
        # platform's `uname -p` child, which the SDK's first request would start once a
        # process (and an xdist worker started at start-up), is charged to no test.
        assert figures["max_processes"] == 0, (label, figures)
        assert figures["children_peak_rss"] == 0, (label, figures)
        # The SDK's first request asks the platform in asyncio's default executor, from
        # each of the 10 streams at once: its threads start as the pool sees fit.
        assert 2 <= figures["max_threads"] <= 1 + 32, (label, figures)


PIDS = """
import os

import pytest

SESSION = os.getpid()  # imported at collection, in the session process


def _where():
    return "session" if os.getpid() == SESSION else "child"


@pytest.mark.boundedload
def test_from_ini():
    assert _where() == "child"


@pytest.mark.boundedload(isolate=False)
def test_kept_in_process():
    assert _where() == "session"


def test_unmeasured():
    assert _where() == "session"
"""


def test_the_ini_key_isolates_measured_tests_and_the_marker_keeps_one_in_process(project: Project) -> None:
    project.pytester.makeini("[pytest]\nboundedload_isolate = true\n")
    project.pytester.makepyfile(test_pids=PIDS)
    run = project.run(*QUICK)
    run.result.assert_outcomes(passed=3)
    assert sorted(run.records) == ["test_from_ini", "test_kept_in_process"]  # both measured
