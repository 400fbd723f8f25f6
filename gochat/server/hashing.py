"""HashingPool: password hashing (argon2id, deliberately slow and memory-hard) on a bounded pool.

At most ``size`` hashes run at once, each on a thread of the pool's own, so a login storm costs
``size`` times argon2's memory and not one allocation per login in flight; the event loop and the
database's threads never wait on it. A login that finds every thread busy waits its turn for at
most ``wait`` seconds and is then refused (RateLimited: 429 with Retry-After).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from gochat.server.errors import RateLimited

P = ParamSpec("P")
T = TypeVar("T")

BUSY = "The server is busy checking passwords; try again in a moment."
RETRY_AFTER_MS = 1_000
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_MMAP_THRESHOLD = 1 << 20


@functools.cache
def give_hash_memory_back() -> bool:
    """Have glibc serve every allocation of 1 MiB or more (argon2's 19 MiB block) straight from
    the kernel and give it back when freed. Left to itself, glibc raises that threshold after the
    first large block is freed, and each hashing thread's arena then keeps its last block for
    good: a login storm left the server ~60 MB larger. False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))


class HashingPool:
    def __init__(self, size: int, wait: float) -> None:
        self._size = max(1, size)
        self._wait = wait
        give_hash_memory_back()
        self._executor = ThreadPoolExecutor(max_workers=self._size, thread_name_prefix="gochat-hash")
        self._turns: asyncio.Semaphore | None = None  # made on the loop that first uses it
        self.refusals = 0  # answered 429 for want of a turn: metrics.py

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
            self.refusals += 1
            raise RateLimited(BUSY, RETRY_AFTER_MS) from None
        try:
            yield
        finally:
            self._turns.release()

    def close(self) -> None:
        # Hashes still running finish on their own; nothing waits for them.
        self._executor.shutdown(wait=False, cancel_futures=True)
