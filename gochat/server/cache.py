"""The seed's cache.go: users by name (1 h expiry) and rooms by id.

The seed also cached users by id; nothing here looks a user up by id (a bearer token finds
its user in the same query that checks the session), so that half is not kept. The seed cached
the whole room list; gochat's list is paged, sorted and searched by the database (a page of it
from a cached whole meant loading every room for each page, 1.3 MB with 10,000 rooms), so the
cache keeps rooms by id: what every ENTER and history page looks up.

Two backends behind one interface, chosen by whether a Redis URL is given. The cache is
never the source of truth: a miss, or Redis being away, means "ask the database".
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gochat.server.records import RoomRecord, UserRecord

log = logging.getLogger(__name__)

USER_TTL_SECONDS = 3600
T = TypeVar("T")


class Cache(Protocol):
    backend: str

    async def get_user_by_name(self, name_key: str) -> UserRecord | None: ...
    async def put_user(self, user: UserRecord, name_key: str) -> None: ...
    async def get_room(self, room_id: int) -> RoomRecord | None: ...
    async def add_room(self, room: RoomRecord) -> None: ...
    async def health(self) -> dict[str, Any]: ...
    async def close(self) -> None: ...


class MemoryCache:
    """In-process cache for a single server (the embedded default)."""

    backend = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._users_by_name: dict[str, tuple[float, UserRecord]] = {}
        self._rooms: dict[int, RoomRecord] = {}

    def _fresh(self, entry: tuple[float, UserRecord] | None) -> UserRecord | None:
        if entry is None or entry[0] < self._clock():
            return None
        return entry[1]

    async def get_user_by_name(self, name_key: str) -> UserRecord | None:
        return self._fresh(self._users_by_name.get(name_key))

    async def put_user(self, user: UserRecord, name_key: str) -> None:
        self._users_by_name[name_key] = (self._clock() + USER_TTL_SECONDS, user)

    async def get_room(self, room_id: int) -> RoomRecord | None:
        return self._rooms.get(room_id)

    async def add_room(self, room: RoomRecord) -> None:
        self._rooms[room.id] = room

    async def health(self) -> dict[str, Any]:
        return {"backend": self.backend, "ok": True}

    async def close(self) -> None:
        pass


class RedisCache:
    """Redis-backed cache shared by every server using the same Redis and prefix.

    Redis going away must not stop chat: every failure is logged once, answered as a miss,
    and retried after a short pause. When Redis answers again the cached rooms are dropped
    (rooms never change, but the database behind the prefix may have been replaced meanwhile).
    """

    backend = "redis"
    RETRY_AFTER_SECONDS = 1.0

    def __init__(self, url: str, prefix: str = "gochat:", clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            health_check_interval=15,
        )
        self._prefix = prefix
        self._clock = clock
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._rooms_key = f"{prefix}rooms"

    def _user_name_key(self, name_key: str) -> str:
        return f"{self._prefix}user:name:{name_key}"

    async def _call(self, op: Callable[[], Awaitable[T]], what: str) -> T | None:
        if self._down_since is not None and self._clock() < self._retry_at:
            return None
        try:
            result = await op()
        except (RedisError, OSError) as exc:
            if self._down_since is None:
                self._down_since = self._clock()
                log.warning("Redis unavailable (%s while %s); using the database until it returns", exc, what)
            self._retry_at = self._clock() + self.RETRY_AFTER_SECONDS
            return None
        if self._down_since is not None:
            log.warning("Redis is back after %.1f s; dropping the cached rooms", self._clock() - self._down_since)
            self._down_since = None
            try:
                await self._redis.delete(self._rooms_key)
            except (RedisError, OSError):
                self._down_since = self._clock()
                return None
        return result

    async def get_user_by_name(self, name_key: str) -> UserRecord | None:
        raw = await self._call(lambda: self._redis.get(self._user_name_key(name_key)), "reading a user")
        return None if raw is None else UserRecord.from_wire(json.loads(raw))

    async def put_user(self, user: UserRecord, name_key: str) -> None:
        value = json.dumps(user.to_wire(), ensure_ascii=False)
        key = self._user_name_key(name_key)
        await self._call(lambda: self._redis.set(key, value, ex=USER_TTL_SECONDS), "caching a user")

    async def get_room(self, room_id: int) -> RoomRecord | None:
        raw = await self._call(lambda: self._redis.hget(self._rooms_key, str(room_id)), "reading a room")
        return None if raw is None else RoomRecord.from_cache(json.loads(raw))

    async def add_room(self, room: RoomRecord) -> None:
        value = json.dumps(room.to_cache(), ensure_ascii=False)
        await self._call(lambda: self._redis.hset(self._rooms_key, str(room.id), value), "caching a room")

    async def health(self) -> dict[str, Any]:
        ok = await self._call(self._redis.ping, "checking health")
        return {"backend": self.backend, "ok": bool(ok)}

    async def close(self) -> None:
        await self._redis.aclose()


def create_cache(redis_url: str | None, prefix: str) -> Cache:
    return RedisCache(redis_url, prefix) if redis_url else MemoryCache()
