"""N WebSocket clients on /ws/logs, counting the benchmark's log entries and checking their order.

Usage: python benchmarks/ws_clients.py URL TOKEN CLIENTS EXPECTED TIMEOUT
Prints "ready" once every client is connected, then one JSON line with the results.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

MARKER = "bench entry "


async def client(
    session: aiohttp.ClientSession,
    url: str,
    expected: int,
    ready: asyncio.Event,
    connected: list[int],
    deadline: float,
) -> dict[str, int | float]:
    received = 0
    out_of_order = 0
    last = -1
    async with session.ws_connect(url, max_msg_size=0) as ws:
        await ws.receive_json()  # "connected"
        connected.append(1)
        await ready.wait()
        started = time.monotonic()
        while received < expected and time.monotonic() < deadline:
            try:
                message = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            body = json.loads(message.data)
            if body.get("type") != "log_entry":
                continue
            text = body["data"]["message"]
            if not text.startswith(MARKER):
                continue
            number = int(text[len(MARKER) :])
            if number != last + 1:
                out_of_order += 1
            last = number
            received += 1
        return {"received": received, "out_of_order": out_of_order, "seconds": time.monotonic() - started}


async def main(url: str, token: str, clients: int, expected: int, timeout: float) -> None:
    ready = asyncio.Event()
    connected: list[int] = []
    deadline = time.monotonic() + timeout
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        jobs = [
            asyncio.create_task(
                client(session, f"{url}/ws/logs?token={token}", expected, ready, connected, deadline)
            )
            for _ in range(clients)
        ]
        while len(connected) < clients:
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        ready.set()
        results = await asyncio.gather(*jobs)
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
