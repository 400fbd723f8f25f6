"""Idle connections: what one authenticated connection costs the server in memory, and whether
N of them stay up on one server process for a while.

Each gochat connection does what a desktop client does on login: the WebSocket handshake with a
valid bearer token, then ENTER a room and read the room state. Connections are spread over rooms
of ROOM_SIZE people, because everyone entering one room of 10,000 would be announced to everyone
already there (50 million presence frames) and each room state would list thousands of members:
no real room looks like that. Reference connections just connect (it has no rooms or auth).

RSS per connection = (server RSS with N idle connections - RSS before) / N, from /proc VmRSS.
"Before" is taken after a few warm-up connections came and went, so one-time costs (modules
imported on the first WebSocket, the database thread pool, caches) are not charged to N.
"""

from __future__ import annotations

import asyncio
import math
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.processes import killed_on_error, shares, start_workers, stop_workers, wait_for
from bench.servers import Running, cpu_seconds, rss_bytes, start_gochat, start_reference

ROOM_SIZE = 100  # connections per room; see the module docstring
WARMUP_CONNECTIONS = 20
# Handshakes in flight per worker: enough to open thousands quickly, few enough that the
# server's listen backlog never overflows (an overflow costs a 1 s SYN retry, not a failure).
OPENING_AT_ONCE = 64
QUIET_SECONDS = 1.0  # no frame for this long = presence announcements have all been read


@dataclass
class HoldReport:
    opened: int
    failed: int
    errors: list[str]  # a few, to say why opening failed
    open_seconds: float  # from the first handshake to the last ROOM_STATE
    dropped: int = 0  # connections that ended while held
    cpu: float = 0.0  # CPU seconds of this worker while connections were opened and held


@dataclass
class _Held:
    expected: int
    sockets: list[ClientConnection] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # every connection opened or failed
    last_frame: float = field(default_factory=time.monotonic)
    dropped: int = 0
    closing: bool = False

    def opened(self, ws: ClientConnection) -> None:
        self.sockets.append(ws)
        self._check()

    def failed(self, error: BaseException) -> None:
        self.errors.append(repr(error))
        self._check()

    def _check(self) -> None:
        if len(self.sockets) + len(self.errors) >= self.expected:
            self.settled.set()

    async def quiet(self, seconds: float) -> None:
        """Until no frame has arrived for ``seconds``."""
        while True:
            wait = self.last_frame + seconds - time.monotonic()
            if wait <= 0:
                return
            await asyncio.sleep(wait)


async def _open_and_read(
    ws_url: str, token: str, room_id: int, reference: bool, gate: asyncio.Semaphore, held: _Held
) -> None:
    """Open one connection, enter its room, then read until it ends (counting a drop unless we
    ended it). Reading matters: unread frames would pile up in the server's buffers and be
    counted as the connection's memory."""
    try:
        async with gate:
            ws = await connect(
                ws_url,
                additional_headers={"Authorization": f"Bearer {token}"} if token else {},
                ping_interval=None,  # the server pings; the client answers, as a desktop client does
                open_timeout=120,
                close_timeout=5,
            )
            if not reference:
                await ws.send(f'{{"msgType":1,"data":{{"roomId":{room_id}}}}}')
                while not str(await ws.recv()).startswith('{"msgType":6'):
                    pass
    except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
        held.failed(exc)
        return
    held.opened(ws)
    try:
        async for _frame in ws:
            held.last_frame = time.monotonic()
    except ConnectionClosed:
        pass
    if not held.closing:
        held.dropped += 1


async def _hold(ws_url: str, tokens: list[str], room_ids: list[int], reference: bool, pipe: Connection) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF)
    held = _Held(len(tokens))
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    started = time.monotonic()
    readers = [
        asyncio.create_task(_open_and_read(ws_url, token, room_id, reference, gate, held))
        for token, room_id in zip(tokens, room_ids, strict=True)
    ]
    await held.settled.wait()
    open_seconds = time.monotonic() - started
    await held.quiet(QUIET_SECONDS)
    report = HoldReport(len(held.sockets), len(held.errors), held.errors[:3], open_seconds)
    pipe.send(report)
    await asyncio.to_thread(pipe.recv)  # "report": the hold is over
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report.dropped = held.dropped
    report.cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    pipe.send(report)
    await asyncio.to_thread(pipe.recv)  # "close"
    held.closing = True
    # Hang up all at once; the server is stopped right after, so a slow close handshake is not
    # worth waiting for.
    await asyncio.wait([asyncio.create_task(ws.close()) for ws in held.sockets], timeout=10)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


def hold_worker(ws_url: str, tokens: list[str], room_ids: list[int], reference: bool, pipe: Connection) -> None:
    """Process entry point: open one connection per token (entering room_ids[i]) and hold them."""
    asyncio.run(_hold(ws_url, tokens, room_ids, reference, pipe))


async def _warm_up(server: Running, reference: bool) -> None:
    """A few connections that enter a room and leave, so first-use costs land before 'before'."""
    tokens = server.tokens[-WARMUP_CONNECTIONS:]
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    held = _Held(len(tokens))
    readers = [
        asyncio.create_task(_open_and_read(server.ws_url, t, server.room_ids[0], reference, gate, held)) for t in tokens
    ]
    await held.settled.wait()
    if held.errors:
        raise RuntimeError(f"a warm-up connection failed: {held.errors[0]}")
    held.closing = True
    await asyncio.gather(*(ws.close() for ws in held.sockets))
    await asyncio.gather(*readers)


def _settled_rss(pid: int) -> int:
    """RSS once the server is idle: sample until two readings half a second apart agree within
    1 % (at most 10 s)."""
    previous = rss_bytes(pid)
    for _ in range(20):
        time.sleep(0.5)
        current = rss_bytes(pid)
        if abs(current - previous) <= previous / 100:
            return current
        previous = current
    return previous


def _server_connections(server: Running, reference: bool) -> int | None:
    """gochat's own count of open WebSockets (the reference has no such endpoint)."""
    if reference:
        return None
    count: int = httpx.get(f"{server.url}/api/health", timeout=10).json()["connections"]
    return count


def connections_once(
    server: Running, count: int, hold_seconds: float, reference: bool, worker_count: int
) -> dict[str, Any]:
    asyncio.run(_warm_up(server, reference))
    pid = server.process.pid
    rss_start = _settled_rss(pid)
    cpu_start = cpu_seconds(pid)
    tokens = server.tokens[:count]
    rooms = server.room_ids  # the reference has one pretend room
    room_ids = [rooms[(i // ROOM_SIZE) % len(rooms)] for i in range(count)]
    pipes, workers = start_workers(
        hold_worker,
        [
            (server.ws_url, [token for token, _ in share], [room for _, room in share], reference)
            for share in shares(list(zip(tokens, room_ids, strict=True)), worker_count)
        ],
    )
    with killed_on_error(workers):
        opened: list[HoldReport] = [wait_for(pipe, 900) for pipe in pipes]
        open_cpu = cpu_seconds(pid) - cpu_start
        rss_connected = _settled_rss(pid)
        server_count = _server_connections(server, reference)
        time.sleep(hold_seconds)  # every reader counts its connection if it ends meanwhile
        rss_held = rss_bytes(pid)
        server_count_held = _server_connections(server, reference)
        for pipe in pipes:
            pipe.send("report")
        held: list[HoldReport] = [wait_for(pipe, 60) for pipe in pipes]
        for pipe in pipes:
            pipe.send("close")
    stop_workers(workers)
    open_count = sum(r.opened for r in opened)
    dropped = sum(r.dropped for r in held)
    # The larger of the two readings: an idle connection's cost is what it holds at its worst.
    per_connection = (max(rss_connected, rss_held) - rss_start) / count
    return {
        "connections": count,
        "opened": open_count,
        "failed": sum(r.failed for r in opened),
        "errors": [e for r in opened for e in r.errors][:3],
        "open_seconds": max(r.open_seconds for r in opened),
        "server_open_cpu_seconds": open_cpu,
        "held_seconds": hold_seconds,
        "dropped": dropped,
        "all_held": open_count == count and dropped == 0,
        "server_connections": server_count,
        "server_connections_after_hold": server_count_held,
        "rss_before": rss_start,
        "rss_connected": rss_connected,
        "rss_after_hold": rss_held,
        "rss_per_connection": per_connection,
        "generator_cpu_seconds": sum(r.cpu for r in held),
    }


def bench_connections(sizes: list[int], hold_seconds: float, runs: int, worker_count: int) -> list[dict[str, Any]]:
    rows = []
    for count in sizes:
        row: dict[str, Any] = {"connections": count, "room_size": ROOM_SIZE, "hold_seconds": hold_seconds}
        for name, reference in (("reference", True), ("gochat", False)):
            measured = []
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as folder:
                    users = count + WARMUP_CONNECTIONS
                    server = (
                        start_reference(users)
                        if reference
                        else start_gochat(
                            f"sqlite:///{folder}/bench.sqlite3", users, rooms=math.ceil(count / ROOM_SIZE)
                        )
                    )
                    try:
                        measured.append(connections_once(server, count, hold_seconds, reference, worker_count))
                    finally:
                        server.stop()
            row[name] = {
                "rss_per_connection": statistics.median(m["rss_per_connection"] for m in measured),
                "all_held": all(m["all_held"] for m in measured),
                "opened": min(m["opened"] for m in measured),
                "dropped": sum(m["dropped"] for m in measured),
                "runs": measured,
            }
        # A handful of connections can leave the reference's RSS where it was: no ratio then.
        reference_rss = row["reference"]["rss_per_connection"]
        row["ratio"] = row["gochat"]["rss_per_connection"] / reference_rss if reference_rss > 0 else None
        rows.append(row)
        print_connections_row(row)
    return rows


def _ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}"


def print_connections_row(row: dict[str, Any]) -> None:
    g, r = row["gochat"], row["reference"]

    def held(side: dict[str, Any]) -> str:
        verdict = "all held" if side["all_held"] else f"{side['opened']} opened, {side['dropped']} dropped"
        return f"{verdict} {row['hold_seconds']:.0f} s"

    print(
        f"idle connections N={row['connections']:>6}: gochat {g['rss_per_connection'] / 1024:>6.1f} KiB/conn  "
        f"reference {r['rss_per_connection'] / 1024:>6.1f} KiB/conn  ratio {_ratio(row['ratio'])}  "
        f"gochat {held(g)}, reference {held(r)}",
        flush=True,
    )
