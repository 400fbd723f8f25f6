"""Load generators. They parse only what they must: a regular expression pulls the message id
(gochat) or sequence number (reference) out of each frame to check loss, duplicates and order."""

from __future__ import annotations

import asyncio
import json
import re
import resource
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

GOCHAT_MESSAGE = re.compile(r'^\{"msgType":2,"data":\{"id":(\d+),')
REFERENCE_MESSAGE = re.compile(r'^\{"seq":(\d+)')
PAYLOAD = "x" * 48  # ~64 bytes of content per message


@dataclass
class ClientResult:
    finished_at: float  # wall clock (time.time) when every client of the worker had every message
    received: int
    lost: int
    duplicated: int
    reordered: int
    cpu: float  # CPU seconds this worker spent while the clock ran


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _open(ws_url: str, token: str, room_id: int, reference: bool) -> ClientConnection:
    ws = await connect(
        ws_url, additional_headers=_headers(token), max_size=None, ping_interval=None, open_timeout=60, close_timeout=2
    )
    if not reference:
        await ws.send(json.dumps({"msgType": 1, "data": {"roomId": room_id}}))
        while not str(await ws.recv()).startswith('{"msgType":6'):
            pass
    return ws


async def _drain(ws: ClientConnection, quiet: float = 1.0) -> None:
    while True:
        try:
            await asyncio.wait_for(ws.recv(), quiet)
        except (TimeoutError, ConnectionClosed):
            return


async def _receive(ws: ClientConnection, expected: int, reference: bool) -> tuple[int, int, int, int]:
    pattern = REFERENCE_MESSAGE if reference else GOCHAT_MESSAGE
    seen: set[int] = set()
    last = -1
    received = duplicated = reordered = 0
    while len(seen) < expected:
        try:
            frame = await asyncio.wait_for(ws.recv(), 60)
        except (TimeoutError, ConnectionClosed):
            break
        found = pattern.match(str(frame))
        if not found:
            continue
        number = int(found.group(1))
        received += 1
        if number in seen:
            duplicated += 1
        elif number < last:
            reordered += 1
        seen.add(number)
        last = max(last, number)
    return received, expected - len(seen), duplicated, reordered


async def _fanout_worker(
    ws_urls: list[str], tokens: list[str], room_id: int, expected: int, reference: bool, pipe: Connection
) -> None:
    sockets = [await _open(ws_url, token, room_id, reference) for ws_url, token in zip(ws_urls, tokens, strict=True)]
    pipe.send("connected")
    # Everyone entering announces itself to everyone already there: drain those frames before
    # the clock starts, so the figure is about messages, not set-up.
    await asyncio.to_thread(pipe.recv)
    await asyncio.gather(*(_drain(ws) for ws in sockets))
    before = resource.getrusage(resource.RUSAGE_SELF)
    pipe.send("ready")
    results = await asyncio.gather(*(_receive(ws, expected, reference) for ws in sockets))
    finished = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    pipe.send(
        ClientResult(
            finished_at=finished,
            received=sum(r[0] for r in results),
            lost=sum(r[1] for r in results),
            duplicated=sum(r[2] for r in results),
            reordered=sum(r[3] for r in results),
            cpu=usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
        )
    )
    # Hang up all at once: closed one by one, each would wait behind the others' "left" frames.
    await asyncio.gather(*(ws.close() for ws in sockets))


def fanout_worker(
    ws_urls: list[str], tokens: list[str], room_id: int, expected: int, reference: bool, pipe: Connection
) -> None:
    """Process entry point: hold ``tokens`` connections in the room until each got ``expected``;
    each connects to its own entry of ``ws_urls`` (one server's address for all, or a cluster's)."""
    asyncio.run(_fanout_worker(ws_urls, tokens, room_id, expected, reference, pipe))


def message_frame(index: int, room_id: int, reference: bool) -> str:
    if reference:
        return f'{{"seq":{index},"content":"{PAYLOAD}"}}'
    return json.dumps(
        {"msgType": 2, "data": {"roomId": room_id, "content": f"{index} {PAYLOAD}", "clientMsgId": f"b{index}"}}
    )


async def send_burst(
    ws_url: str, token: str, room_id: int, count: int, reference: bool
) -> tuple[float, ClientConnection]:
    """Open a sender, then post ``count`` messages at once; returns when the first was sent."""
    ws = await _open(ws_url, token, room_id, reference)
    frames = [message_frame(i, room_id, reference) for i in range(count)]
    started = time.time()
    for frame in frames:
        await ws.send(frame)
    return started, ws


async def ingest(ws_url: str, tokens: list[str], room_ids: list[int], seconds: float) -> dict[str, Any]:
    """Concurrent senders, each in a room of its own, each waiting for its acknowledgement
    before sending the next message: acknowledged (= committed) messages per second."""
    sockets = [await _open(ws_url, token, room_id, False) for token, room_id in zip(tokens, room_ids, strict=True)]
    stop_at = time.monotonic() + seconds
    counts = [0] * len(sockets)

    async def sender(index: int, ws: ClientConnection) -> None:
        n = 0
        while time.monotonic() < stop_at:
            await ws.send(message_frame(index * 10_000_000 + n, room_ids[index], False))
            while not str(await ws.recv()).startswith('{"msgType":4'):
                pass
            n += 1
        counts[index] = n

    started = time.monotonic()
    await asyncio.gather(*(sender(i, ws) for i, ws in enumerate(sockets)))
    elapsed = time.monotonic() - started
    await asyncio.gather(*(ws.close() for ws in sockets))
    return {"acknowledged": sum(counts), "seconds": elapsed, "per_second": sum(counts) / elapsed}
