"""The desktop section of ``python -m bench``: the real app, offscreen, against a room
holding 100,000 messages.

A gochat server is seeded with the history by bulk inserts; each run starts the app in a process
of its own (bench.desktop_probe), which opens the room, samples its event loop's lag while
this process posts to the room over a WebSocket at a fixed rate, then scrolls back through
10,000 messages and returns, reading its own VmRSS. Each figure is the median of the runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import httpx
from websockets.asyncio.client import connect

from bench.chatter import chat_text
from bench.servers import ROOT, Running, start_gochat

# The app process reports on stdout, one line per stage: PREFIX + JSON. The sender's messages
# carry clientMsgIds starting with LOAD_PREFIX, so the app can tell them from the rest.
PREFIX = "@bench "
LOAD_PREFIX = "load-"
PASSWORD = "bench desktop password"
USERS = 4  # bench0 is the person at the desktop, bench1 the sender, all four wrote the history
TARGET_OPEN_MS = 300.0
TARGET_LAG_P99_MS = 50.0
TARGET_RSS_RATIO = 1.10


async def post_at_rate(
    ws_url: str,
    token: str,
    room_id: int,
    count: int,
    rate: float,
    client_msg_id: Callable[[int], str],
    *,
    first_text: int = 7,
    ack_wait: float = 120,
) -> dict[str, Any]:
    """Post ``count`` messages at ``rate`` per second on a timetable (an open loop: nothing waits
    for acknowledgements), then wait for every acknowledgement. ``client_msg_id(n)`` names the
    n-th, when it is sent (the probes tell the benchmark's messages by it); every acknowledgement
    must be in within ``ack_wait`` seconds of the last send."""
    async with connect(
        ws_url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None, ping_interval=None
    ) as ws:
        await ws.send(json.dumps({"msgType": 1, "data": {"roomId": room_id}}))
        while not str(await ws.recv()).startswith('{"msgType":6'):
            pass
        acknowledged = 0
        all_acknowledged = asyncio.Event()

        async def read() -> None:
            nonlocal acknowledged
            async for frame in ws:
                if str(frame).startswith('{"msgType":4'):
                    acknowledged += 1
                    if acknowledged == count:
                        all_acknowledged.set()

        reader = asyncio.create_task(read())
        loop = asyncio.get_running_loop()
        started = loop.time()
        behind = 0.0
        for n in range(count):
            delay = started + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            behind = max(behind, -delay)
            data = {"roomId": room_id, "content": chat_text(n + first_text), "clientMsgId": client_msg_id(n)}
            await ws.send(json.dumps({"msgType": 2, "data": data}, ensure_ascii=False))
        sending = loop.time() - started
        await asyncio.wait_for(all_acknowledged.wait(), ack_wait)
        reader.cancel()
    return {
        "sent": count,
        "acknowledged": acknowledged,
        "send_rate": (count - 1) / sending if count > 1 and sending > 0 else 0.0,
        "sender_max_behind_ms": behind * 1000,
    }


async def send_at_rate(server: Running, token: str, count: int, rate: float, run: int) -> dict[str, Any]:
    """Post ``count`` messages to the benchmark's room at ``rate`` per second (see post_at_rate)."""
    return await post_at_rate(server.ws_url, token, server.room_id, count, rate, lambda n: f"{LOAD_PREFIX}{run}-{n}")


def newest_id(server: Running, token: str) -> int:
    response = httpx.get(
        f"{server.url}/api/rooms/{server.room_id}/messages",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    response.raise_for_status()
    return int(response.json()[-1]["id"])


class Probe:
    """An app process running a probe module; its ``@bench`` lines arrive on a queue read by a
    thread; with ``commands``, lines written to its stdin tell it what to do next."""

    def __init__(
        self,
        argv: list[str],
        errors: IO[bytes],
        *,
        module: str = "bench.desktop_probe",
        platform: str = "offscreen",
        commands: bool = False,
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *argv],
            stdin=subprocess.PIPE if commands else None,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env={**os.environ, "QT_QPA_PLATFORM": platform},
            cwd=ROOT,  # where ``-m bench...`` is found, wherever the bench was started from
        )
        self._errors = errors
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(PREFIX):
                self._lines.put(line[len(PREFIX) :])
        self._lines.put(None)

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def expect(self, stage: str, timeout: float) -> dict[str, Any]:
        """The next report, which must be of ``stage`` (else the app's stderr says why not)."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        message: dict[str, Any] = json.loads(line) if line is not None else {}
        if message.get("stage") != stage:
            self.stop()
            self._errors.seek(0)
            tail = self._errors.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"the app did not report {stage!r} (got {message!r}):\n{tail}")
        return message

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def desktop_once(server: Running, rate: float, seconds: float, scrollback: int, run: int) -> dict[str, Any]:
    count = max(1, round(rate * seconds))
    argv = [
        "--server",
        server.url.removeprefix("http://"),
        "--username",
        "bench0",
        "--password",
        PASSWORD,
        "--room-id",
        str(server.room_id),
        "--newest-id",
        str(newest_id(server, server.tokens[1])),
        "--load-messages",
        str(count),
        "--scrollback",
        str(scrollback),
    ]
    with tempfile.TemporaryFile() as errors:
        probe = Probe(argv, errors)
        try:
            probe.expect("load-ready", 180)
            sender = asyncio.run(send_at_rate(server, server.tokens[1], count, rate, run))
            result = probe.expect("result", 900)
            probe.process.wait(60)
        finally:
            probe.stop()
    result.pop("stage")
    return {**result, **sender}


def median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def bench_desktop(messages: int, rate: float, seconds: float, scrollback: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        server = start_gochat(f"sqlite:///{folder}/desktop.sqlite3", USERS, password=PASSWORD, messages=messages)
        seeding = time.monotonic() - started
        try:
            measured = [desktop_once(server, rate, seconds, scrollback, run) for run in range(runs)]
        finally:
            server.stop()
    row: dict[str, Any] = {
        "messages": messages,
        "rate": rate,
        "seconds": seconds,
        "scrollback": scrollback,
        "seed_seconds": seeding,
        "open_to_painted_ms": median(measured, "open_to_painted_ms"),
        "open_to_room_state_ms": median(measured, "open_to_room_state_ms"),
        "lag_p50_ms": median(measured, "lag_p50_ms"),
        "lag_p99_ms": median(measured, "lag_p99_ms"),
        "lag_max_ms": median(measured, "lag_max_ms"),
        "app_cpu_share": median(measured, "app_cpu_share"),
        "rss_before": median(measured, "rss_before"),
        "rss_after": median(measured, "rss_after"),
        "rss_after_ratio": median(measured, "rss_after_ratio"),
        "targets": {
            "open_to_painted_ms": TARGET_OPEN_MS,
            "lag_p99_ms": TARGET_LAG_P99_MS,
            "rss_after_ratio": TARGET_RSS_RATIO,
        },
        "runs": measured,
    }
    row["met"] = {
        "open_to_painted_ms": row["open_to_painted_ms"] <= TARGET_OPEN_MS,
        "lag_p99_ms": row["lag_p99_ms"] <= TARGET_LAG_P99_MS,
        "rss_after_ratio": row["rss_after_ratio"] <= TARGET_RSS_RATIO,
    }
    print_desktop_rows(row)
    return row


def print_desktop_rows(row: dict[str, Any]) -> None:
    met = {key: "yes" if ok else "NO" for key, ok in row["met"].items()}
    mb = 1024 * 1024
    rows = [
        (
            f"desktop: open a {row['messages']:,}-message room → newest page painted",
            f"{row['open_to_painted_ms']:,.0f} ms",
            f"≤ {TARGET_OPEN_MS:.0f} ms",
            met["open_to_painted_ms"],
        ),
        (
            f"desktop: event-loop lag at {row['rate']:,.0f} messages/s, p99 / max",
            f"{row['lag_p99_ms']:.1f} / {row['lag_max_ms']:.1f} ms",
            f"p99 ≤ {TARGET_LAG_P99_MS:.0f} ms",
            met["lag_p99_ms"],
        ),
        (
            f"desktop: memory after scrolling back {row['scrollback']:,} messages and returning",
            f"{row['rss_before'] / mb:.0f} → {row['rss_after'] / mb:.0f} MB ({row['rss_after_ratio'] - 1:+.1%})",
            f"within +{TARGET_RSS_RATIO - 1:.0%}",
            met["rss_after_ratio"],
        ),
    ]
    header = ("figure", f"median of {len(row['runs'])}", "target", "met")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    for cells in (header, tuple("-" * w for w in widths), *rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |", flush=True)
