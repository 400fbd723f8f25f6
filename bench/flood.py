"""A flood beside normal traffic (issue 12): one client posts to its own room as fast as its
socket takes frames while N clients in another room are timed as in the latency section, on a
server with its default limits. The figure is the other room's p99 flooded over unflooded (target:
at most 1.5); the same flood with the message limit off (--message-rate 0, what every server did
before issue 12) is measured beside it, so the limit's effect shows.

The normal traffic is a person's pace (default 8 messages/s, under the default limit of 10 a
second per connection); the flooder reads everything it is sent (its ACKs and refusals), as a
client that wants the server's answers must.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.latency import latency_once
from bench.load import PAYLOAD, _open
from bench.processes import killed_on_error, start_workers, stop_workers, wait_for
from bench.servers import Running, start_gochat

TARGET_RATIO = 1.5


async def _flood(ws_url: str, token: str, room_id: int, pipe: Connection) -> None:
    ws = await _open(ws_url, token, room_id, reference=False)
    counts = {"sent": 0, "acked": 0, "refused": 0, "closed": 0}

    async def read(client: ClientConnection) -> None:
        try:
            async for frame in client:
                text = str(frame)
                if text.startswith('{"msgType":4'):
                    counts["acked"] += 1
                elif '"rate_limited"' in text:
                    counts["refused"] += 1
        except ConnectionClosed:
            pass

    async def send() -> None:
        n = 0
        try:
            while True:
                frame = {"msgType": 2, "data": {"roomId": room_id, "content": f"{n} {PAYLOAD}", "clientMsgId": f"x{n}"}}
                # Waits while the socket's buffers are full: a server that stops reading slows it.
                await ws.send(json.dumps(frame))
                counts["sent"] += 1
                n += 1
                if n % 64 == 0:
                    await asyncio.sleep(0)  # let the reader run: it reads what the server answers
        except ConnectionClosed:
            counts["closed"] = 1

    reading = asyncio.create_task(read(ws))
    sending = asyncio.create_task(send())
    started = time.monotonic()
    pipe.send("flooding")
    await asyncio.to_thread(pipe.recv)  # "stop"
    seconds = time.monotonic() - started
    sending.cancel()  # a send may wait long on a server that reads it slowly: the flood ends now
    await asyncio.gather(sending, return_exceptions=True)
    ws.transport.abort()
    await asyncio.gather(reading, return_exceptions=True)
    pipe.send({**counts, "seconds": seconds})


def flood_worker(ws_url: str, token: str, room_id: int, pipe: Connection) -> None:
    """Process entry point: flood ``room_id`` until told to stop; report what was answered."""
    asyncio.run(_flood(ws_url, token, room_id, pipe))


def _measure(
    server: Running, clients: int, rate: float, seconds: float, flood: bool, worker_count: int
) -> dict[str, Any]:
    """The latency of room 0's clients, with a flooder in room 1 or without."""
    if not flood:
        return {"latency": latency_once(server, clients, rate, seconds, False, worker_count)}
    flooder_token = server.tokens[clients + 1]
    pipes, workers = start_workers(flood_worker, [(server.ws_url, flooder_token, server.room_ids[1])])
    with killed_on_error(workers):
        if wait_for(pipes[0], 120) != "flooding":
            raise RuntimeError("the flooder did not start")
        latency = latency_once(server, clients, rate, seconds, False, worker_count)
        pipes[0].send("stop")
        flooder = wait_for(pipes[0], 120)
    stop_workers(workers)
    return {"latency": latency, "flooder": flooder}


def bench_flood(clients: int, rate: float, seconds: float, runs: int, worker_count: int) -> dict[str, Any]:
    """Per run, three servers in turn: quiet, flooded (default limits), flooded without the
    message limit. Medians over runs; the ratio is flooded p99 / quiet p99."""
    cases = {"quiet": (False, True), "flooded": (True, True), "flooded_unlimited": (True, False)}
    measured: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (flood, limited) in cases.items():
            with tempfile.TemporaryDirectory() as folder:
                server = start_gochat(f"sqlite:///{folder}/flood.sqlite3", clients + 2, rooms=2, message_limit=limited)
                try:
                    measured[name].append(_measure(server, clients, rate, seconds, flood, worker_count))
                finally:
                    server.stop()
    row: dict[str, Any] = {"clients": clients, "rate": rate, "seconds": seconds, "target_ratio": TARGET_RATIO}
    for name, runs_of in measured.items():
        figures: dict[str, Any] = {
            "p50_ms": statistics.median(m["latency"]["p50_ms"] for m in runs_of),
            "p99_ms": statistics.median(m["latency"]["p99_ms"] for m in runs_of),
            "lost": sum(m["latency"]["lost"] for m in runs_of),
            "runs": runs_of,
        }
        if name != "quiet":
            figures["flood_sent_per_second"] = statistics.median(
                m["flooder"]["sent"] / m["flooder"]["seconds"] for m in runs_of
            )
            figures["flood_stored_per_second"] = statistics.median(
                m["flooder"]["acked"] / m["flooder"]["seconds"] for m in runs_of
            )
            figures["flood_refused"] = sum(m["flooder"]["refused"] for m in runs_of)
        row[name] = figures
    row["p99_ratio"] = row["flooded"]["p99_ms"] / row["quiet"]["p99_ms"]
    row["p99_ratio_unlimited"] = row["flooded_unlimited"]["p99_ms"] / row["quiet"]["p99_ms"]
    print_flood_row(row)
    return row


def print_flood_row(row: dict[str, Any]) -> None:
    quiet, flooded, unlimited = row["quiet"], row["flooded"], row["flooded_unlimited"]
    print(
        f"flood beside N={row['clients']} at {row['rate']:g}/s: other room p99 quiet {quiet['p99_ms']:.1f} ms, "
        f"flooded {flooded['p99_ms']:.1f} ms (ratio {row['p99_ratio']:.2f}, target ≤ {TARGET_RATIO}; "
        f"flood stored {flooded['flood_stored_per_second']:,.0f}/s of {flooded['flood_sent_per_second']:,.0f}/s sent), "
        f"without the limit {unlimited['p99_ms']:.1f} ms (ratio {row['p99_ratio_unlimited']:.2f}; "
        f"stored {unlimited['flood_stored_per_second']:,.0f}/s)  lost {flooded['lost']}/{unlimited['lost']}",
        flush=True,
    )
