"""Fallback load generator (when wrk is not installed): N concurrent keep-alive clients for S seconds.

Usage: python benchmarks/load.py URL CLIENTS SECONDS  -> prints {"rps": ..., "errors": ...}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def main(url: str, clients: int, seconds: float) -> None:
    done = 0
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    await response.read()
                    done += 1
            except aiohttp.ClientError:
                errors += 1

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    print(json.dumps({"rps": done / (time.monotonic() - started), "requests": done, "errors": errors}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
