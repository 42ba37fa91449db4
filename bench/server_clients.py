"""How long real clients take to put a ``gather`` of N requests through flood.server(),
and the requests in flight the server saw.

For each N, a ``gather`` of N requests through ``httpx.AsyncClient`` (its default pool of
100 connections; the pool timeout off, so it finishes) and through aiohttp's
``ClientSession`` (its ``TCPConnector`` limit of 100), against one server answering after
``--latency``. Prints the seconds each took, httpx's time as a multiple of aiohttp's, and
the server's high-water of requests in flight. httpcore's pool does work in the number of
waiting requests times its connections each time a request joins or leaves it, so its
time grows faster than N.

    python bench/server_clients.py [--ns 150,300,600] [--latency 20ms]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import httpx

from pytest_boundedload.server import LocalServer, server_settings, start_server


async def _httpx(url: str, n: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(60.0, pool=None)) as client:
        await asyncio.gather(*[client.get("/") for _ in range(n)])


async def _aiohttp(url: str, n: int) -> None:
    async with aiohttp.ClientSession(url) as session:

        async def one() -> None:
            async with session.get("/") as response:
                await response.read()

        await asyncio.gather(*[one() for _ in range(n)])


def _timed(server: LocalServer, client: str, n: int) -> tuple[float, int]:
    before = server.requests.max_in_flight
    started = time.perf_counter()
    asyncio.run(_httpx(server.url, n) if client == "httpx" else _aiohttp(server.url, n))
    took = time.perf_counter() - started
    return took, max(before, server.requests.max_in_flight)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ns", default="150,300,600", help="comma-separated numbers of requests")
    parser.add_argument("--latency", default="20ms")
    args = parser.parse_args()
    with start_server(server_settings(latency=args.latency)) as server:
        print(f"{'N':>6} {'httpx s':>9} {'aiohttp s':>10} {'ratio':>7} {'in flight':>10}")
        for n in (int(part) for part in args.ns.split(",")):
            slow, high = _timed(server, "httpx", n)
            fast, _ = _timed(server, "aiohttp", n)
            print(f"{n:>6} {slow:>9.2f} {fast:>10.2f} {slow / fast:>6.1f}x {high:>10}")


if __name__ == "__main__":
    main()
