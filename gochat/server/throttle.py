"""Token buckets, keyed, with an injected clock and bounded memory. Pure: no I/O, no asyncio.

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second; each request takes one,
and a request that finds less than one is refused with the wait until there is one. A bucket that
has refilled to the brim is the same as no bucket at all, so it is forgotten: only keys that were
busy lately take memory, and a hard cap (the least recently used key goes first) bounds even a
flood of distinct keys.

With backoff, each time a bucket is emptied its refill slows by half (down to 1/2**max_backoff
of the rate); it returns to the full rate once the bucket is full again. Guessing passwords then
gets slower the longer it goes on, while a person who mistypes a few times waits seconds.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

Clock = Callable[[], float]

DEFAULT_MAX_KEYS = 50_000  # ~150 bytes a bucket: a few MB at most, whatever the flood


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float  # when ``tokens`` was last brought up to date
    level: int = 0  # backoff: the refill runs at rate / 2**level


@dataclass(frozen=True, slots=True)
class Limit:
    """``rate`` tokens a second up to ``burst``; a rate of 0 (or less) means no limit."""

    rate: float
    burst: int
    max_backoff: int = 0  # how many halvings of the refill backoff may reach; 0: no backoff

    @classmethod
    def per_minute(cls, per_minute: float, burst: int, max_backoff: int = 0) -> Limit:
        return cls(per_minute / 60.0, burst, max_backoff)

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def scaled(self, factor: float) -> Limit:
        """The same limit, ``factor`` times as generous (rate and burst)."""
        return Limit(self.rate * factor, max(1, math.ceil(self.burst * factor)), self.max_backoff)


class Throttle:
    """Token buckets by key (a username, an address, a user id ...) under one ``Limit``."""

    def __init__(self, limit: Limit, clock: Clock = time.monotonic, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max(1, max_keys)
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds until one is there (and
        nothing is taken)."""
        if self.limit.unlimited:
            return 0.0
        now = self._clock()
        self._forget_full(now)
        bucket = self._bucket(key, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            if bucket.tokens < 1.0 and bucket.level < self.limit.max_backoff:
                bucket.level += 1
            return 0.0
        return (1.0 - bucket.tokens) / self._rate(bucket)

    def refund(self, key: Hashable) -> None:
        """Give back a token taken for ``key`` (a login that succeeded does not count)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return
        bucket.tokens = min(float(self.limit.burst), bucket.tokens + 1.0)
        if bucket.tokens >= self.limit.burst:
            del self._buckets[key]

    def forget(self, key: Hashable) -> None:
        self._buckets.pop(key, None)

    def _rate(self, bucket: _Bucket) -> float:
        return self.limit.rate / (1 << bucket.level)

    def _bucket(self, key: Hashable, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._buckets.popitem(last=False)  # the least recently used key starts over
            bucket = self._buckets[key] = _Bucket(float(self.limit.burst), now)
            return bucket
        self._buckets.move_to_end(key)
        self._refill(bucket, now)
        return bucket

    def _refill(self, bucket: _Bucket, now: float) -> None:
        elapsed = max(0.0, now - bucket.stamp)
        bucket.tokens = min(float(self.limit.burst), bucket.tokens + elapsed * self._rate(bucket))
        bucket.stamp = now
        if bucket.tokens >= self.limit.burst:
            bucket.level = 0

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled to the brim, oldest first, stopping at the first one
        still short: amortised O(1) a call, and idle keys do not pile up."""
        buckets = self._buckets
        while buckets:
            key, bucket = next(iter(buckets.items()))
            if bucket.tokens + (now - bucket.stamp) * self._rate(bucket) < self.limit.burst:
                return
            del buckets[key]


def retry_after_ms(seconds: float) -> int:
    """A wait in seconds as the whole milliseconds a client is told (never 0)."""
    return max(1, math.ceil(seconds * 1000))
