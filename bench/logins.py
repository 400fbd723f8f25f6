"""A login storm (issue 12): N users log in at once, each from an address of its own in
127.0.0.0/8 (the client socket bound to 127.x.y.z), against a server with its default limits and
real argon2id. The figures are the server's VmRSS at its peak during the storm and after it (target:
under 150 MB), how long until every user was in, and how many logins were asked to wait (429:
every hashing turn was busy for --hash-wait seconds) and came back after Retry-After, as a
client should.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import threading
import time
from typing import Any

import httpx

from bench.servers import Running, rss_bytes, start_gochat

PASSWORD = "bench storm password"
TARGET_RSS_MB = 150.0
MB = 1024 * 1024


def source_address(n: int) -> str:
    """The n-th client's own loopback address: 127.0.1.1, 127.0.1.2, ... (never 127.0.0.x)."""
    n += 256 + 1
    return f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class PeakRss:
    """Samples a process's VmRSS on a thread of its own until stopped; keeps the highest."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.peak = 0
        self._pid = pid
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self._pid))
            self._stop.wait(self._every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def _log_in(url: str, n: int, deadline: float) -> tuple[int, float]:
    """Log user ``bench<n>`` in from its own address, waiting out 429s; (429s seen, seconds)."""
    transport = httpx.AsyncHTTPTransport(local_address=source_address(n))
    started = time.monotonic()
    waits = 0
    # A connection per attempt: a client waiting out a 429 is not holding a keep-alive connection
    # the server may close meanwhile (its keep-alive timeout is 5 s; a loaded client can be late).
    headers = {"Connection": "close"}
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=120, headers=headers) as api:
        while True:
            response = await api.post("/api/login", json={"username": f"bench{n}", "password": PASSWORD})
            if response.status_code == 200:
                return waits, time.monotonic() - started
            if response.status_code != 429 or time.monotonic() > deadline:
                raise RuntimeError(f"login of bench{n} answered {response.status_code}: {response.text}")
            waits += 1
            # Retry-After says when; a little jitter keeps the returning crowd from arriving as one.
            await asyncio.sleep(response.json()["retryAfter"] / 1000 * (1 + random.random()))


def storm_once(server: Running, users: int, settle: float) -> dict[str, Any]:
    pid = server.process.pid
    before = rss_bytes(pid)

    async def storm() -> list[tuple[int, float]]:
        deadline = time.monotonic() + 600
        return await asyncio.gather(*(_log_in(server.url, n, deadline) for n in range(users)))

    started = time.monotonic()
    with PeakRss(pid) as sampler:
        results = asyncio.run(storm())
    elapsed = time.monotonic() - started
    time.sleep(settle)  # what the server keeps once the storm is over
    return {
        "rss_before_mb": before / MB,
        "rss_peak_mb": sampler.peak / MB,
        "rss_after_mb": rss_bytes(pid) / MB,
        "seconds": elapsed,
        "logins_per_second": users / elapsed,
        "told_to_wait": sum(1 for waits, _ in results if waits),
        "longest_login_s": max(seconds for _, seconds in results),
    }


def bench_logins(users: int, runs: int, settle: float = 2.0) -> dict[str, Any]:
    measured = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            # One seeded hash (today's parameters) for every user; each login verifies it anew.
            server = start_gochat(f"sqlite:///{folder}/logins.sqlite3", users, password=PASSWORD, message_limit=True)
            try:
                measured.append(storm_once(server, users, settle))
            finally:
                server.stop()
    row: dict[str, Any] = {"users": users, "target_rss_mb": TARGET_RSS_MB, "runs": measured}
    for key in ("rss_before_mb", "rss_peak_mb", "rss_after_mb", "seconds", "logins_per_second", "told_to_wait"):
        row[key] = statistics.median(m[key] for m in measured)
    print(
        f"login storm of {users} from as many addresses: server RSS {row['rss_before_mb']:.0f} MB before, "
        f"peak {row['rss_peak_mb']:.0f} MB, after {row['rss_after_mb']:.0f} MB (target < {TARGET_RSS_MB:.0f}); "
        f"all in after {row['seconds']:.1f} s ({row['logins_per_second']:.0f}/s), "
        f"{row['told_to_wait']:.0f} told to wait (429) and back after Retry-After",
        flush=True,
    )
    return row
