"""Latency at a fixed offered rate: N clients in one room, one sender posting R messages a
second on a timetable (not as fast as it can), every client timing every message from the
moment it was sent to the moment it arrived.

The send time (time.time(), one clock for every process on this machine) travels inside the
message content, so receivers need no shared state; each frame is parsed in full (json.loads),
as a real client would. The first second of messages warms the server up and is not counted.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.load import PAYLOAD, _drain, _open
from bench.processes import connect_and_drain, killed_on_error, shares, start_workers, stop_workers, wait_for
from bench.servers import Running, cpu_seconds, start_gochat, start_reference

WARMUP_SECONDS = 1.0
GRACE_SECONDS = 30.0  # after the last message is due: what has not arrived by then is lost


@dataclass
class LatencyReport:
    latencies: list[float] = field(default_factory=list)  # seconds, one per counted delivery
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    finished_at: float = 0.0  # time.time() when every client of the worker was done
    cpu: float = 0.0  # CPU seconds of the worker while it received


def message_frame(index: int, room_id: int, reference: bool) -> str:
    """A message whose content starts with its index and send time."""
    content = f"{index} {time.time():.6f} {PAYLOAD}"
    if reference:
        return json.dumps({"seq": index, "content": content})
    return json.dumps({"msgType": 2, "data": {"roomId": room_id, "content": content, "clientMsgId": f"l{index}"}})


def _content(frame: str | bytes, reference: bool) -> str | None:
    """The message content of a broadcast frame; None for any other frame (presence, ACK)."""
    data = json.loads(frame)
    if reference:
        return str(data["content"])
    if data.get("msgType") != 2:
        return None
    return str(data["data"]["content"])


async def _receive(ws: ClientConnection, expected: int, counted_from: int, reference: bool, out: LatencyReport) -> None:
    seen: set[int] = set()
    last = -1
    # No timeout per frame (asyncio.wait_for would cost a task per frame, making the generator
    # slower than it need be): the worker gives up on every client at once at a deadline.
    try:
        while len(seen) < expected:
            frame = await ws.recv()
            arrived = time.time()
            content = _content(frame, reference)
            if content is None:
                continue
            index_text, sent_text, _rest = content.split(" ", 2)
            index = int(index_text)
            out.received += 1
            if index in seen:
                out.duplicated += 1
                continue
            if index < last:
                out.reordered += 1
            seen.add(index)
            last = max(last, index)
            if index >= counted_from:
                out.latencies.append(arrived - float(sent_text))
    except ConnectionClosed:
        pass
    finally:
        out.lost += expected - len(seen)


async def _latency_worker(
    ws_url: str,
    tokens: list[str],
    room_id: int,
    expected: int,
    counted_from: int,
    within: float,
    reference: bool,
    pipe: Connection,
) -> None:
    sockets = [await _open(ws_url, token, room_id, reference) for token in tokens]
    pipe.send("connected")
    await asyncio.to_thread(pipe.recv)  # "drain": everyone is in; read the presence frames
    await asyncio.gather(*(_drain(ws) for ws in sockets))
    # A collector pause here would be charged to whichever server is being measured: no
    # collections while the clock runs (it runs for seconds; the garbage waits).
    gc.collect()
    gc.disable()
    before = resource.getrusage(resource.RUSAGE_SELF)
    pipe.send("ready")
    report = LatencyReport()
    receiving = [asyncio.create_task(_receive(ws, expected, counted_from, reference, report)) for ws in sockets]
    _done, late = await asyncio.wait(receiving, timeout=within)
    for task in late:
        task.cancel()
    await asyncio.gather(*receiving, return_exceptions=True)
    gc.enable()
    report.finished_at = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report.cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    pipe.send(report)
    await asyncio.gather(*(ws.close() for ws in sockets))


def latency_worker(
    ws_url: str,
    tokens: list[str],
    room_id: int,
    expected: int,
    counted_from: int,
    within: float,
    reference: bool,
    pipe: Connection,
) -> None:
    """Process entry point: ``tokens`` clients in the room, timing ``expected`` messages that
    should all have arrived ``within`` seconds of "ready"."""
    asyncio.run(_latency_worker(ws_url, tokens, room_id, expected, counted_from, within, reference, pipe))


async def _read_all(ws: ClientConnection) -> None:
    """The sender reads what it is sent too (its own messages, ACKs), as a client must."""
    try:
        async for _frame in ws:
            pass
    except ConnectionClosed:
        pass


async def _send_on_timetable(ws: ClientConnection, room_id: int, total: int, rate: float, reference: bool) -> float:
    """Message i goes out at start + i / rate, however long the previous send took: an open
    loop, so a slow server cannot slow the offered load down. Returns the start (time.time)."""
    started = time.time()
    clock = time.monotonic()
    for index in range(total):
        delay = clock + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await ws.send(message_frame(index, room_id, reference))
    return started


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def latency_once(
    server: Running, clients: int, rate: float, seconds: float, reference: bool, worker_count: int
) -> dict[str, Any]:
    warmup = round(rate * WARMUP_SECONDS)
    total = warmup + round(rate * seconds)
    loop = asyncio.new_event_loop()
    # The sender enters first, so its own "entered" frame is drained with the others'.
    sender = loop.run_until_complete(_open(server.ws_url, server.tokens[0], server.room_id, reference))
    reading = loop.create_task(_read_all(sender))
    tokens = server.tokens[1 : clients + 1]
    within = total / rate + GRACE_SECONDS
    pipes, workers = start_workers(
        latency_worker,
        [
            (server.ws_url, share, server.room_id, total, warmup, within, reference)
            for share in shares(tokens, worker_count)
        ],
    )
    with killed_on_error(workers):
        connect_and_drain(pipes)
        cpu_before = cpu_seconds(server.process.pid)
        own_before = resource.getrusage(resource.RUSAGE_SELF)
        started = loop.run_until_complete(_send_on_timetable(sender, server.room_id, total, rate, reference))
        own_after = resource.getrusage(resource.RUSAGE_SELF)
        reports: list[LatencyReport] = [wait_for(pipe, within + 60) for pipe in pipes]
        server_cpu = cpu_seconds(server.process.pid) - cpu_before
    loop.run_until_complete(sender.close())
    loop.run_until_complete(reading)
    loop.close()
    stop_workers(workers)
    elapsed = max(r.finished_at for r in reports) - started
    latencies = sorted(x for r in reports for x in r.latencies)
    sender_cpu = own_after.ru_utime + own_after.ru_stime - own_before.ru_utime - own_before.ru_stime
    return {
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "p999_ms": percentile(latencies, 0.999) * 1000,
        "max_ms": (latencies[-1] if latencies else math.nan) * 1000,
        "samples": len(latencies),
        "messages": total - warmup,
        "received": sum(r.received for r in reports),
        "lost": sum(r.lost for r in reports),
        "duplicated": sum(r.duplicated for r in reports),
        "reordered": sum(r.reordered for r in reports),
        "seconds": elapsed,
        "server_cpu_share": server_cpu / elapsed,
        # Out of one core per client process, the sender included: near 100 % would mean the
        # generator, not the server, set the pace. The busiest worker shows whether one process saturated.
        "generator_cpu_share": (sum(r.cpu for r in reports) + sender_cpu) / (elapsed * len(workers)),
        "busiest_worker_cpu_share": max(r.cpu for r in reports) / elapsed,
    }


def _start(reference: bool, users: int, folder: str) -> Running:
    return start_reference(users) if reference else start_gochat(f"sqlite:///{folder}/bench.sqlite3", users)


def bench_latency(clients: int, rate: float, seconds: float, runs: int, worker_count: int) -> dict[str, Any]:
    """Runs alternate reference, gochat, reference...: both see the same drift of the machine."""
    measured: dict[str, list[dict[str, Any]]] = {"reference": [], "gochat": []}
    for _ in range(runs):
        for name, reference in (("reference", True), ("gochat", False)):
            with tempfile.TemporaryDirectory() as folder:
                server = _start(reference, clients + 1, folder)
                try:
                    measured[name].append(latency_once(server, clients, rate, seconds, reference, worker_count))
                finally:
                    server.stop()
    row: dict[str, Any] = {"clients": clients, "rate": rate, "seconds": seconds}
    for name, runs_of in measured.items():
        row[name] = {
            "p50_ms": statistics.median(m["p50_ms"] for m in runs_of),
            "p99_ms": statistics.median(m["p99_ms"] for m in runs_of),
            "samples": sum(m["samples"] for m in runs_of),
            "lost": sum(m["lost"] for m in runs_of),
            "duplicated": sum(m["duplicated"] for m in runs_of),
            "reordered": sum(m["reordered"] for m in runs_of),
            "server_cpu_share": statistics.median(m["server_cpu_share"] for m in runs_of),
            "generator_cpu_share": statistics.median(m["generator_cpu_share"] for m in runs_of),
            "busiest_worker_cpu_share": statistics.median(m["busiest_worker_cpu_share"] for m in runs_of),
            "runs": runs_of,
        }
    row["p99_ratio"] = row["gochat"]["p99_ms"] / row["reference"]["p99_ms"]
    row["p50_ratio"] = row["gochat"]["p50_ms"] / row["reference"]["p50_ms"]
    print_latency_row(row)
    return row


def print_latency_row(row: dict[str, Any]) -> None:
    g, r = row["gochat"], row["reference"]
    print(
        f"latency N={row['clients']:>5} at {row['rate']:g}/s: "
        f"gochat p50 {g['p50_ms']:.1f} ms p99 {g['p99_ms']:.1f} ms  "
        f"reference p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms  "
        f"ratio p50 {row['p50_ratio']:.2f} p99 {row['p99_ratio']:.2f}  "
        f"lost/dup/reordered {g['lost']}/{g['duplicated']}/{g['reordered']}  "
        f"server CPU {g['server_cpu_share']:.0%} (ref {r['server_cpu_share']:.0%}), "
        f"generator CPU {g['generator_cpu_share']:.0%} (ref {r['generator_cpu_share']:.0%})",
        flush=True,
    )
