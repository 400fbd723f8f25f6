"""HashingPool: password hashing (argon2id, deliberately slow and memory-hard) on a bounded pool.

At most ``size`` hashes run at once, each on a thread of the pool's own, so a login storm costs
``size`` times argon2's memory and not one allocation per login in flight; the event loop and the
database's threads never wait on it. A login that finds every thread busy waits its turn for at
most ``wait`` seconds and is then refused (RateLimited: 429 with Retry-After).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from gochat.server.errors import RateLimited

P = ParamSpec("P")
T = TypeVar("T")

BUSY = "The server is busy checking passwords; try again in a moment."
RETRY_AFTER_MS = 1_000


class HashingPool:
    def __init__(self, size: int, wait: float) -> None:
        self._size = max(1, size)
        self._wait = wait
        self._executor = ThreadPoolExecutor(max_workers=self._size, thread_name_prefix="gochat-hash")
        self._turns: asyncio.Semaphore | None = None  # made on the loop that first uses it

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on the pool, when a turn is free within the wait."""
        async with self._turn():
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._turns is None:
            self._turns = asyncio.Semaphore(self._size)
        try:
            await asyncio.wait_for(self._turns.acquire(), self._wait)
        except TimeoutError:
            raise RateLimited(BUSY, RETRY_AFTER_MS) from None
        try:
            yield
        finally:
            self._turns.release()

    def close(self) -> None:
        # Hashes still running finish on their own; nothing waits for them.
        self._executor.shutdown(wait=False, cancel_futures=True)
