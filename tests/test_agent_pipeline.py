"""The README's agent pipeline (fixtures/agent_pipeline): an OpenAI SDK client calls a
local ``flood.server()`` once per document. The unbounded ``gather`` crosses the request,
task and memory limits; the same pipeline through ``fixes.streaming`` stays within them;
``flood.scaling`` fits the memory each call costs.

The README runs it at 10,000 documents; here it runs at 800 (the SDK spends 2-3 ms of
CPU on each request), which crosses the same limits.
"""

from __future__ import annotations

import re

import pytest
from conftest import Project, Run

from pytest_boundedload.units import format_size

N = 800


def test_agent_pipeline(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.copy_fixture("agent_pipeline")
    monkeypatch.setenv("PIPELINE_N", str(N))
    run = project.run("-s")
    run.result.assert_outcomes(passed=2, failed=2)

    # Unbounded: every document's task at once, and as many requests as the SDK's
    # connection pool (1,000) lets through while the answers take 100 ms.
    unbounded = run.figures("test_summarize_all")
    assert run.records["test_summarize_all"]["outcome"] == "failed"
    requests, tasks = unbounded["max_requests"], unbounded["max_tasks"]
    assert 20 < requests <= N
    # One task per document and the test's own, plus the connection attempts the
    # client's transport runs as tasks of their own (at most one per request).
    assert N + 1 < tasks <= 2 * N + 1
    assert unbounded["max_held"] == N
    assert run.violations("test_summarize_all") == [
        f"max_rss_growth {_size(run, 'test_summarize_all')} > limit 32.0 MiB (RSS growth over the window)",
        f"max_tasks {tasks} > limit 50 (live asyncio tasks high-water)",
        f"max_requests {requests} > limit 20 (requests in flight at local servers high-water)",
    ]

    # Through fixes.streaming: 20 requests and their tasks at a time, whatever N is.
    bounded = run.figures("test_summarize_all_bounded")
    assert run.records["test_summarize_all_bounded"]["outcome"] == "passed"
    assert 2 <= bounded["max_requests"] <= 20
    assert 21 <= bounded["max_tasks"] <= 50
    assert 20 <= bounded["max_held"] <= 21
    assert bounded["items_taken"] == N
    # Neither the module's server process nor its memory is the test's.
    for figures in (unbounded, bounded):
        assert figures["max_processes"] == 0
        assert figures["children_peak_rss"] == 0

    # flood.scaling: the unbounded pipeline's memory grows with every call in flight;
    # the bounded one's only by the results it keeps.
    violations = run.violations("test_memory_per_call")
    assert len(violations) == 1
    fitted = r"max_bytes_per_task \d+(\.\d)? KiB > limit 4\.0 KiB"
    assert re.fullmatch(fitted + r" \(RSS growth per task, fitted over flood\.scaling\(\)\)", violations[0])
    assert run.records["test_memory_per_call_bounded"]["outcome"] == "passed"
    # Each fit as the sample prints it, unbounded first: 40-50 KiB a call in flight (the
    # request, its connection, the task), against the bounded pipeline's result strings.
    fits = [
        int(value.replace(",", "")) for value in re.findall(r"^(-?[\d,]+) bytes per call \(", run.text, re.M)
    ]
    assert len(fits) == 2, fits
    unbounded_fit, bounded_fit = fits
    assert 16 * 1024 < unbounded_fit < 256 * 1024
    assert 0 <= bounded_fit < 4096


def _size(run: Run, test: str) -> str:
    return format_size(run.figures(test)["rss_growth"])
