"""flood.server(): a real local HTTP server in a process of its own, counted into the
test's requests in flight and never into its processes.

Sample projects run in child processes (``runpytest_subprocess``): they start server
processes. Their tests read the requests in flight at the server through one helper,
``max_requests(flood)`` in ``server_helpers.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Project, Run

from pytest_boundedload.server import MISSING_AIOHTTP, server_fixture, server_settings, start_server
from pytest_boundedload.server.fdlimit import descriptors_note, out_of_descriptors
from pytest_boundedload.units import InvalidValue

# The sample tests' one way to read the requests in flight at the server: the figure of
# the test's window so far (or of its latest closed window).
HELPERS = '''
def max_requests(flood):
    """The high-water of requests in flight at the test's servers."""
    return flood.last.max_requests
'''


def _project(project: Project, **files: str) -> Project:
    project.pytester.makepyfile(server_helpers=HELPERS, **files)
    return project


def _passed(run: Run, passed: int, **others: int) -> None:
    outcomes = run.result.parseoutcomes()
    expected = {"passed": passed, **others}
    seen = {key: outcomes.get(key, 0) for key in ("passed", "failed", "errors", "skipped")}
    seen = {key: value for key, value in seen.items() if value or key in expected}
    assert seen == expected, run.text


def _json_tests(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    return {entry["nodeid"].split("::", 1)[1]: entry for entry in data["tests"]}


CLIENTS = """
import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import httpx
import httpx2
import requests

from pytest_boundedload import server_fixture
from pytest_boundedload.fixes import semaphore_gather, streaming
from server_helpers import max_requests

api = server_fixture(scope="module", latency="20ms")

# httpx's (0.x) pool does work in the number of waiting requests times its connections
# each time a request is added or leaves: 5,000 waiting requests take minutes. httpx2's
# (the LLM SDKs' transport) does not.
N_HTTPX = 250
N = 5000


def test_httpx2_unbounded(flood, api):
    async def main():
        # No pool timeout: the last of 5,000 requests waits for 50 rounds of 100.
        async with httpx2.AsyncClient(base_url=api.url, timeout=None) as client:
            requests = [client.post("/v1/chat/completions", json={}) for _ in range(N)]
            return await asyncio.gather(*requests)

    with flood.measure() as m:
        responses = asyncio.run(main())
    assert {r.status_code for r in responses} == {200}
    assert max_requests(flood) == 100  # httpx2's default pool
    # The gather's tasks, the test's own, and one task of httpx2's per open connection.
    assert m.max_tasks == N + 1 + 100


def test_httpx_unbounded(flood, api):
    async def main():
        async with httpx.AsyncClient(base_url=api.url) as client:
            requests = [client.post("/v1/chat/completions", json={}) for _ in range(N_HTTPX)]
            return await asyncio.gather(*requests)

    with flood.measure() as m:
        responses = asyncio.run(main())
    assert {r.status_code for r in responses} == {200}
    assert max_requests(flood) == 100  # httpx's default pool
    # The gather's tasks, the test's own, and one task of httpx's per open connection.
    assert m.max_tasks == N_HTTPX + 1 + 100


def test_aiohttp_unbounded(flood, api):
    async def main():
        async with aiohttp.ClientSession(api.url) as session:
            async def one(i):
                async with session.post("/v1/chat/completions", json={}) as response:
                    await response.read()
                    return response.status

            return await asyncio.gather(*[one(i) for i in range(N)])

    with flood.measure() as m:
        statuses = asyncio.run(main())
    assert set(statuses) == {200}
    assert max_requests(flood) == 100  # aiohttp's TCPConnector limit
    # The gather's tasks, the test's own, and before 3.12 aiohttp's task writing each
    # request's body (from 3.12 it starts eagerly and finishes at creation: never live).
    assert m.max_tasks == N + 1 + (0 if sys.version_info >= (3, 12) else 100)


def test_httpx_semaphore_gather(flood, api):
    async def main():
        async with httpx.AsyncClient(base_url=api.url) as client:
            async def one(i):
                return (await client.get("/")).status_code

            return await semaphore_gather(range(200), one, limit=20)

    statuses = asyncio.run(main())
    assert set(statuses) == {200}
    assert max_requests(flood) == 20


def test_aiohttp_streaming(flood, api):
    async def main():
        async with aiohttp.ClientSession(api.url) as session:
            async def one(i):
                async with session.get("/") as response:
                    await response.read()
                    return response.status

            return [status async for status in streaming(range(200), one, limit=20)]

    with flood.measure() as m:
        statuses = asyncio.run(main())
    assert set(statuses) == {200}
    assert max_requests(flood) == 20
    assert m.max_tasks == 20 + 1  # streaming bounds tasks too (a GET writes no body)


def test_requests_in_threads(flood, api):
    def one(i):
        return requests.post(api.url + "/v1/chat/completions", json={}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(64)))
    assert set(statuses) == {200}
    assert max_requests(flood) == 8
    assert api.requests.in_flight == 0
"""


def test_clients_meet_the_server_at_their_real_concurrency(project: Project) -> None:
    """httpx's and aiohttp's default pools put 100 requests in flight at the server,
    whatever the gather; a fix with limit 20 puts 20; 8 threads of requests put 8."""
    _project(project, test_clients=CLIENTS)
    report = project.path / "report.json"
    run = project.run(f"--boundedload-json={report}")
    _passed(run, 6)
    for name, entry in _json_tests(report).items():
        # The module's server started before the windows: never one of their processes.
        assert entry["measurement"]["max_processes"] == 0, name
        assert entry["measurement"]["children_peak_rss"] == 0, name


BEHAVIOURS = """
import asyncio
import json

import aiohttp
import httpx
import openai
import pytest

from pytest_boundedload.server.app import draw
from pytest_boundedload.server.bodies import content_text
from server_helpers import max_requests


async def _statuses(url, n, path="/", concurrent=True):
    async with aiohttp.ClientSession(url) as session:
        async def one(i):
            async with session.post(path, json={}) as response:
                await response.read()
                return response.status, dict(response.headers)

        if concurrent:
            return await asyncio.gather(*[one(i) for i in range(n)])
        return [await one(i) for i in range(n)]


def test_429_beyond_concurrency(flood):
    server = flood.server(latency="300ms", concurrency=10)
    answers = asyncio.run(_statuses(server.url, 50))
    ok = [headers for status, headers in answers if status == 200]
    refused = [headers for status, headers in answers if status == 429]
    assert (len(ok), len(refused)) == (10, 40)
    assert {h["Retry-After"] for h in refused} == {"1"}
    assert {h["retry-after-ms"] for h in refused} == {"1000"}
    assert max_requests(flood) == 10
    seen = server.requests
    assert (seen.started, seen.done, seen.failed, seen.max_in_flight) == (50, 10, 40, 10)


def test_429_beyond_rate(flood):
    server = flood.server(rate=20, retry_after="2500ms")
    answers = asyncio.run(_statuses(server.url, 50))
    refused = [headers for status, headers in answers if status == 429]
    # A bucket of 20, refilled at 20 a second while the 50 arrive.
    assert 20 <= 50 - len(refused) <= 30
    assert {h["Retry-After"] for h in refused} == {"3"}
    assert {h["retry-after-ms"] for h in refused} == {"2500"}


def test_error_rate_is_deterministic(flood):
    server = flood.server(error_rate=0.5, error_status=503, seed=7)
    answers = asyncio.run(_statuses(server.url, 200))
    failed = sum(status == 503 for status, _ in answers)
    assert failed == sum(draw(7, i, 2) < 0.5 for i in range(200)) == FAILED_OF_200
    assert sum(status == 200 for status, _ in answers) == 200 - failed
    assert server.requests.failed == failed


def test_stream_gives_the_chunks(flood):
    server = flood.server(stream=True, chunks=5, size="1 KiB")
    with httpx.stream("POST", server.url + "/v1/chat/completions", json={}) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert len(events) == 6 and events[-1] == "data: [DONE]"
    chunks = [json.loads(event[len("data: "):]) for event in events[:-1]]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == content_text(1024)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 4 + ["stop"]


def test_request_asks_for_a_stream(flood):
    server = flood.server()
    with httpx.stream("POST", server.url + "/v1/chat/completions", json={"stream": True}) as response:
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert len(events) == 9  # the default 8 chunks and [DONE]


def test_custom_bodies(flood):
    as_json = flood.server(body={"ok": True, "items": [1, 2]})
    answer = httpx.get(as_json.url + "/anything")
    assert answer.json() == {"ok": True, "items": [1, 2]}
    assert answer.headers["content-type"] == "application/json"
    streamed = flood.server(body=b"x" * 1000, stream=True, chunks=4)
    assert httpx.get(streamed.url).content == b"x" * 1000
    padded = flood.server(size="2 KiB")
    assert abs(len(httpx.get(padded.url).content) - 2048) <= 8


def test_openai_sdk(flood):
    server = flood.server(latency="5ms")

    async def main():
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        messages = [{"role": "user", "content": "hi"}]
        whole = await client.chat.completions.create(model="gpt-test", messages=messages)
        stream = await client.chat.completions.create(model="gpt-test", messages=messages, stream=True)
        parts = [chunk.choices[0].delta.content or "" async for chunk in stream]
        await client.close()
        return whole, parts

    whole, parts = asyncio.run(main())
    assert whole.choices[0].message.content == "Hello from flood.server."
    assert whole.model == "gpt-test"
    assert whole.usage.total_tokens > 0
    assert "".join(parts) == "Hello from flood.server."
"""


def _failed_of_200() -> int:
    from pytest_boundedload.server.app import draw

    return sum(draw(7, i, 2) < 0.5 for i in range(200))


def test_refusals_failures_streams_and_sdks(project: Project) -> None:
    """429 beyond a concurrency (exactly the requests over it) or a rate, with
    Retry-After; a seeded share of failures; streams in the chosen number of chunks;
    the OpenAI SDK parses the default completion, whole and streamed. Function-scoped
    servers started inside the window are not its processes either."""
    failed = _failed_of_200()
    assert 80 <= failed <= 120
    _project(project, test_behaviours=BEHAVIOURS.replace("FAILED_OF_200", str(failed)))
    report = project.path / "report.json"
    run = project.run(f"--boundedload-json={report}")
    _passed(run, 7)
    for name, entry in _json_tests(report).items():
        assert entry["measurement"]["max_processes"] == 0, name
        assert entry["measurement"]["children_peak_rss"] == 0, name


LIFECYCLE = r"""
import glob
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from pytest_boundedload.measure.requests import shared_request_counters
from pytest_boundedload.server import ServerError, server_fixture, server_settings, start_server
from pytest_boundedload.server.settings import ServerSettings

unnamed = server_fixture(scope="function", body={"fixture": "unnamed"})
server_fixture_named = server_fixture(scope="function", name="named", body={"fixture": "named"})


def test_fixtures_by_name(unnamed, named):
    assert httpx.get(unnamed.url).json() == {"fixture": "unnamed"}
    assert httpx.get(named.url).json() == {"fixture": "named"}


def _fds():
    return sorted(os.listdir("/proc/self/fd"))


def test_no_descriptor_and_no_process_left():
    shared_request_counters()  # the session's counter: open from its first server on
    before = _fds()
    pids = []
    for _ in range(3):
        with start_server(server_settings()) as server:
            assert httpx.get(server.url).status_code == 200
            pids.append(server.pid)
    assert _fds() == before
    for pid in pids:
        with pytest.raises(ChildProcessError):  # reaped: no zombie
            os.waitpid(pid, os.WNOHANG)
        assert not os.path.exists(f"/proc/{pid}")


def test_a_client_holding_the_whole_response_never_finds_it_counted(flood):
    # A body larger than the transport's buffer: the server waits for the client to read
    # it, and has left the count before the end goes out.
    server = flood.server(size="1 MiB")
    with httpx.Client(base_url=server.url) as client:
        for _ in range(50):
            assert len(client.post("/", json={}).content) >= 1 << 20
            assert server.requests.in_flight == 0


def test_a_forked_child_holds_no_lifeline():
    # A process forked while the server runs (a fork pool's worker) and still running at
    # stop(): closing stdin ends the server all the same, no SIGTERM needed.
    server = start_server(server_settings())
    release, hold = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(hold)
        os.read(release, 1)
        os._exit(0)
    os.close(release)
    try:
        server.stop()
        assert server._process.returncode == 0
    finally:
        os.close(hold)
        os.waitpid(pid, 0)


def test_a_server_that_prints_before_its_port_says_what(monkeypatch, tmp_path):
    (tmp_path / "sitecustomize.py").write_text('print("hello from sitecustomize")\n')
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(ServerError, match=r"wrote b'hello from sitecustomize' where its port was expected"):
        start_server(server_settings())


def test_a_server_dropped_without_stop_leaves_no_file():
    from pytest_boundedload.measure.sharedfiles import PREFIX, SHM_DIR

    shared_request_counters()  # the session's counter: open from its first server on
    mine = os.path.join(SHM_DIR, f"{PREFIX}{os.getpid()}-*")
    before = set(glob.glob(mine))
    server = start_server(server_settings())
    process = server._process
    del server  # no stop(): its stdin closes as it goes
    assert set(glob.glob(mine)) == before
    assert process.wait(timeout=30) == 0


def test_a_process_that_dies_says_why(monkeypatch):
    monkeypatch.setattr(ServerSettings, "to_json", lambda self: "not json")
    with pytest.raises(ServerError, match=r"ended before it listened; its stderr:\n(.|\n)*JSONDecodeError"):
        start_server(server_settings())


def test_processes_the_test_starts_still_count(flood):
    with flood.measure() as m:
        server = flood.server()
        assert httpx.get(server.url).status_code == 200
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert m.max_processes == 1


def test_a_server_that_died_during_the_test(flood):
    server = flood.server()
    os.kill(server.pid, 9)
    os.waitid(os.P_PID, server.pid, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped
    why = r"its process was killed by SIGKILL during the test \(its stderr is empty\)"
    with pytest.raises(ServerError, match=why):
        server.stop()


def test_requests_a_killed_server_left_in_flight_leave_the_count(flood):
    server = flood.server(latency="60s")
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        for client in clients:
            client.sendall(b"GET / HTTP/1.1\r\nHost: local\r\n\r\n")
        deadline = time.monotonic() + 30
        while server.requests.in_flight < 3:  # all three admitted, answering in a minute
            assert time.monotonic() < deadline, server.requests
            time.sleep(0.001)
        os.kill(server.pid, 9)
        os.waitid(os.P_PID, server.pid, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped
        with pytest.raises(ServerError, match="killed by SIGKILL during the test"):
            server.stop()
    finally:
        for client in clients:
            client.close()
    with flood.measure() as m:
        pass
    assert m.max_requests == 0
"""


def test_lifecycle(project: Project) -> None:
    """A stopped server leaves no descriptor and no zombie; one that cannot start or
    dies says so with its stderr; a process the test starts beside a server it started
    in the window counts, the server does not."""
    _project(project, test_lifecycle=LIFECYCLE)
    _passed(project.run(), 10)


def test_bad_values_name_the_value() -> None:
    with pytest.raises(InvalidValue) as info:
        server_settings(latency="12 parsecs")
    assert str(info.value) == (
        "invalid latency='12 parsecs' in flood.server(): unknown unit 'parsecs' (use s, ms, us, ns or min)"
    )
    with pytest.raises(InvalidValue, match=r"^invalid size='2 KB-ish' in flood.server\(\)"):
        server_settings(size="2 KB-ish")
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"jitter": 2}, ValueError, "jitter must be in [0, 1], got 2"),
        ({"error_rate": "half"}, TypeError, "error_rate must be a number in [0, 1], got 'half'"),
        ({"concurrency": 0}, ValueError, "concurrency must be None or a positive integer, got 0"),
        ({"concurrency": 2.5}, TypeError, "concurrency must be None or a positive integer, got 2.5"),
        ({"rate": -1}, ValueError, "rate must be None or a positive number, got -1"),
        ({"chunks": 0}, ValueError, "chunks must be at least 1, got 0"),
        ({"error_status": 200}, ValueError, "error_status must be a 4xx or 5xx status, got 200"),
        ({"stream": "yes"}, TypeError, "stream must be True or False, got 'yes'"),
        ({"body": object()}, TypeError, "body must be None (a chat completion), a dict or list"),
        ({"body": {"a": 1}, "size": "1 KiB"}, ValueError, "size pads the default completion"),
    ]
    for settings, kind, message in cases:
        with pytest.raises(kind) as raised:
            server_settings(**settings)
        assert str(raised.value).startswith("flood.server(): " + message), settings


def test_server_fixture_checks_its_keywords_where_it_is_declared() -> None:
    with pytest.raises(TypeError, match=r"^server_fixture\(\) got an unexpected keyword argument 'latncy'$"):
        server_fixture(latncy="20ms")
    with pytest.raises(InvalidValue, match=r"^invalid latency='soon' in flood.server\(\)"):
        server_fixture(scope="session", latency="soon")
    with pytest.raises(ValueError) as info:
        server_fixture(scope="sesion")
    assert str(info.value) == (
        "server_fixture(): scope must be one of session, package, module, class, function, got 'sesion'"
    )
    with pytest.raises(TypeError, match=r"^server_fixture\(\): name must be None or a fixture name, got 3$"):
        server_fixture(name=3)  # type: ignore[arg-type]


def test_without_aiohttp_the_call_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    with pytest.raises(ModuleNotFoundError) as info:
        start_server(server_settings())
    assert str(info.value) == MISSING_AIOHTTP == (
        "flood.server() needs aiohttp: pip install 'pytest-boundedload[server]'"
    )


def test_out_of_descriptors_is_found_through_wrappers() -> None:
    def chained() -> BaseException:
        try:
            try:
                raise OSError(24, "Too many open files")
            except OSError as exc:
                raise OSError("All connection attempts failed") from exc
        except OSError as exc:
            try:
                raise ConnectionError("wrapped") from exc
            except ConnectionError as outer:
                return outer

    error = chained()
    found = out_of_descriptors(error)
    assert found is not None and found.errno == 24
    grouped = Exception("several")  # an exception group's shape, on every version
    grouped.exceptions = (ValueError("x"), chained())  # type: ignore[attr-defined]
    assert out_of_descriptors(grouped) is not None
    assert out_of_descriptors(ValueError("x")) is None
    note = descriptors_note(error)
    assert note is not None and "RLIMIT_NOFILE, is" in note


DESCRIPTORS = """
import asyncio
import resource

import aiohttp
import httpx
import httpx2
import pytest

from pytest_boundedload import server_fixture
from server_helpers import max_requests

api = server_fixture(scope="module", latency="50ms")


@pytest.fixture
def few_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_unbounded_client_meets_the_limit(flood, api, few_descriptors):
    async def main():
        limits = httpx2.Limits(max_connections=None)
        async with httpx2.AsyncClient(base_url=api.url, limits=limits) as client:
            await asyncio.gather(*[client.get("/") for _ in range(1000)])

    asyncio.run(main())


def test_the_server_still_serves(api):
    assert httpx.get(api.url).status_code == 200
    assert api.requests.in_flight == 0


def test_a_server_out_of_descriptors_keeps_serving(flood):
    server = flood.server(latency="50ms")
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (40, 40))

    async def main():
        # The client keeps its idle connections for two minutes: only the server's
        # closing them lets the requests waiting to connect in within the timeout.
        connector = aiohttp.TCPConnector(keepalive_timeout=120)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(server.url, connector=connector, timeout=timeout) as session:
            async def one(i):
                async with session.get("/") as response:
                    await response.read()
                    return response.status

            return await asyncio.gather(*[one(i) for i in range(100)])

    assert asyncio.run(main()) == [200] * 100
    # At most what 40 descriptors hold beside the server's own (about a dozen).
    assert 10 <= max_requests(flood) < 40
    assert server.requests.done == 100
"""


def test_running_out_of_descriptors_says_so(project: Project) -> None:
    """An unbounded client meets the process's limit of open files as in production; the
    failure names the limit and the server's requests; the server goes on serving, and
    a server out of descriptors itself serves every request, a few dozen at a time."""
    _project(project, test_descriptors=DESCRIPTORS)
    run = project.run()
    _passed(run, 2, failed=1)
    text = run.text
    assert "boundedload file descriptors" in text
    assert "the test's process ran out of file descriptors ([Errno 24] Too many open files)" in text
    assert "its limit of open files, RLIMIT_NOFILE, is 256 (soft; hard" in text
    assert "Requests at flood.server():" in text


XDIST = """
import asyncio
import os

import aiohttp
import pytest

from pytest_boundedload import server_fixture
from server_helpers import max_requests

api = server_fixture(scope="session", latency="50ms")


@pytest.mark.parametrize("i", range(6))
def test_each_worker_has_its_server(flood, api, i):
    async def main():
        async with aiohttp.ClientSession(api.url) as session:
            async def one(j):
                async with session.get("/") as response:
                    return response.status

            return await asyncio.gather(*[one(j) for j in range(10)])

    assert set(asyncio.run(main())) == {200}
    assert max_requests(flood) == 10
    with open(os.environ["SERVERS_SEEN"], "a") as f:
        f.write(f"{os.environ['PYTEST_XDIST_WORKER']} {api.pid}\\n")
"""


def test_a_server_per_xdist_worker(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = project.path / "servers.txt"
    monkeypatch.setenv("SERVERS_SEEN", str(seen))
    _project(project, test_xdist=XDIST)
    _passed(project.run("-n", "2"), 6)
    pairs = {tuple(line.split()) for line in seen.read_text().splitlines()}
    workers = {worker for worker, _ in pairs}
    servers = {server for _, server in pairs}
    assert workers == {"gw0", "gw1"}
    assert len(servers) == 2 and len(pairs) == 2


HARD_LIMIT = """
import asyncio
import os

import aiohttp
import pytest

from pytest_boundedload import server_fixture
from server_helpers import max_requests

api = server_fixture(scope="module", latency="50ms")


async def _gather(url, n):
    async with aiohttp.ClientSession(url) as session:
        async def one(j):
            async with session.get("/") as response:
                return response.status

        return await asyncio.gather(*[one(j) for j in range(n)])


def test_parent_starts_the_module_server(flood, api):
    assert set(asyncio.run(_gather(api.url, 5))) == {200}
    assert max_requests(flood) == 5


@pytest.mark.boundedload(hard_limit="1 GiB")
def test_capped_child_uses_the_parents_server(flood, api):
    assert set(asyncio.run(_gather(api.url, 12))) == {200}
    assert max_requests(flood) == 12


@pytest.mark.boundedload(hard_limit="1 GiB")
def test_capped_child_starts_its_own(flood):
    server = flood.server(latency="50ms")
    assert set(asyncio.run(_gather(server.url, 7))) == {200}
    assert max_requests(flood) == 7
"""


def test_under_hard_limit(project: Project) -> None:
    """A capped child uses a server its parent started, or starts its own; neither is
    one of its processes."""
    _project(project, test_capped=HARD_LIMIT)
    report = project.path / "report.json"
    run = project.run(f"--boundedload-json={report}")
    _passed(run, 3)
    for name, entry in _json_tests(report).items():
        assert entry["measurement"]["max_processes"] == 0, name
        assert entry["measurement"]["children_peak_rss"] == 0, name
