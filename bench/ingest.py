"""Durable ingest: concurrent senders, each waiting for its ACK (sent only after the commit)
before sending the next message; acknowledged messages per second.

The generator is lean on purpose, so the figure is the server's: each sender is a bare asyncio
Protocol driving websockets' sans-I/O client, recognising an ACK by its first bytes and sending
the next message from the same callback, with the senders split over two processes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import resource
import statistics
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from bench.processes import shares, start_workers, stop_workers, wait_for
from bench.servers import Running, cpu_seconds

ACK = b'{"msgType":4'
ROOM_STATE = b'{"msgType":6'
PAYLOAD = "x" * 48  # ~64 bytes of content per message, as for fan-out
# One message in this many mentions someone ("@bench1 …", a seeded user), so the writer's look-up
# of mentioned names is in the measured path, as on a server where people mention each other.
MENTION_EVERY = 10


@dataclass
class WorkerResult:
    acknowledged: int
    cpu: float  # CPU seconds the worker spent while the clock ran


class Sender(asyncio.Protocol):
    """One authenticated client in a room of its own: enter, then send, await ACK, repeat."""

    def __init__(self, ws_url: str, token: str, room_id: int, index: int) -> None:
        self._protocol = ClientProtocol(parse_uri(ws_url), max_size=None)
        self._token = token
        self._room_id = room_id
        self._index = index
        self._transport: asyncio.Transport | None = None
        self.entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.finished: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._stop_at = 0.0
        self._sent = 0
        self.acknowledged = 0

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        request = self._protocol.connect()
        request.headers["Authorization"] = f"Bearer {self._token}"
        self._protocol.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._protocol.receive_data(data)
        for event in self._protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self._on_text(bytes(event.data))
            elif not self.entered.done():  # the handshake response
                if self._protocol.handshake_exc is not None:
                    self.entered.set_exception(self._protocol.handshake_exc)
                    return
                self._send(json.dumps({"msgType": 1, "data": {"roomId": self._room_id}}))
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"sender {self._index} lost its connection: {exc}")
        for future in (self.entered, self.finished):
            if not future.done():
                future.set_exception(error)

    # -- the exchange ---------------------------------------------------------------------

    def start(self, stop_at: float) -> None:
        self._stop_at = stop_at
        self._send_next()
        self._flush()

    def _on_text(self, data: bytes) -> None:
        if data.startswith(ACK):
            self.acknowledged += 1
            if time.time() < self._stop_at:
                self._send_next()
            elif not self.finished.done():
                self.finished.set_result(self.acknowledged)
        elif data.startswith(ROOM_STATE) and not self.entered.done():
            self.entered.set_result(None)

    def _send_next(self) -> None:
        number = self._index * 10_000_000 + self._sent
        self._sent += 1
        mention = "@bench1 " if number % MENTION_EVERY == 0 else ""
        data = f'"roomId":{self._room_id},"content":"{mention}{number} {PAYLOAD}","clientMsgId":"i{number}"'
        self._send(f'{{"msgType":2,"data":{{{data}}}}}')

    def _send(self, text: str) -> None:
        self._protocol.send_text(text.encode())

    def _flush(self) -> None:
        if self._transport is not None:
            for chunk in self._protocol.data_to_send():
                if chunk:
                    self._transport.write(chunk)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _worker(ws_url: str, senders: list[tuple[str, int, int]], pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    uri = parse_uri(ws_url)
    clients: list[Sender] = []
    for token, room_id, index in senders:
        _transport, client = await loop.create_connection(
            functools.partial(Sender, ws_url, token, room_id, index), uri.host, uri.port
        )
        clients.append(client)
    await asyncio.gather(*(c.entered for c in clients))
    pipe.send("ready")
    stop_at: float = await asyncio.to_thread(pipe.recv)
    before = resource.getrusage(resource.RUSAGE_SELF)
    for client in clients:
        client.start(stop_at)
    await asyncio.gather(*(c.finished for c in clients))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    pipe.send(WorkerResult(sum(c.acknowledged for c in clients), cpu))
    for client in clients:
        client.close()


def ingest_worker(ws_url: str, senders: list[tuple[str, int, int]], pipe: Connection) -> None:
    """Process entry point: drive ``senders`` (token, room id, index) until told when to stop."""
    asyncio.run(_worker(ws_url, senders, pipe))


def disk_flush_ms(folder: str, samples: int = 50) -> float:
    """Median milliseconds to fsync a 4 KiB write in ``folder``: the floor under every commit.

    A durable commit waits for this at least once (SQLite's WAL, InnoDB's redo log), so it
    says more about the machine's ingest figure than its CPU does."""
    path = os.path.join(folder, "flush-probe")
    times = []
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(samples):
            os.write(descriptor, b"\0" * 4096)
            started = time.perf_counter()
            os.fsync(descriptor)
            times.append(time.perf_counter() - started)
    finally:
        os.close(descriptor)
        os.unlink(path)
    return statistics.median(times) * 1000


def ingest_once(server: Running, seconds: float, worker_count: int) -> dict[str, Any]:
    """Every seeded user sends in a room of its own, for ``seconds``; acknowledged per second."""
    senders = [(token, room, i) for i, (token, room) in enumerate(zip(server.tokens, server.room_ids, strict=True))]
    pipes, workers = start_workers(ingest_worker, [(server.ws_url, share) for share in shares(senders, worker_count)])
    try:
        for pipe in pipes:
            if wait_for(pipe, 300) != "ready":
                raise RuntimeError("an ingest worker did not get ready")
        cpu_before = cpu_seconds(server.process.pid)
        started = time.time()
        for pipe in pipes:
            pipe.send(started + seconds)
        results: list[WorkerResult] = [wait_for(pipe, seconds + 120) for pipe in pipes]
        # The last ACK of each sender comes just after stop time; the clock runs until then.
        elapsed = time.time() - started
        server_cpu = cpu_seconds(server.process.pid) - cpu_before
    finally:
        stop_workers(workers)
    acknowledged = sum(r.acknowledged for r in results)
    return {
        "acknowledged": acknowledged,
        "seconds": elapsed,
        "per_second": acknowledged / elapsed,
        "server_cpu_share": server_cpu / elapsed,
        # Out of one core per client process: near 100 % would mean the generator set the pace.
        "generator_cpu_share": sum(r.cpu for r in results) / (elapsed * len(workers)),
    }
