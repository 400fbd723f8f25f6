"""The seed's caches (users by name, rooms by id) in memory and in Redis,
and chat carrying on while Redis is away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import httpx
import pytest
import redis

from gochat.protocol import MsgType
from gochat.server.cache import USER_TTL_SECONDS, Cache, MemoryCache, RedisCache
from gochat.server.config import Settings
from gochat.server.records import RoomRecord, UserRecord
from gochat.server.runner import ServerThread
from tests.conftest import RedisTarget
from tests.helpers import auth, chat_client, create_room, eventually, register_and_login, scaled
from tests.private_redis import PrivateRedis

ALICE = UserRecord(1, "Alice")
ROOM = RoomRecord(5, "茶馆", ALICE, datetime(2026, 1, 2, 3, 4, 5))


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    target: RedisTarget = request.getfixturevalue("redis_target")
    redis_cache = RedisCache(target.url, target.prefix)
    try:
        yield redis_cache
    finally:
        await redis_cache.close()


async def test_users_by_name(cache: Cache) -> None:
    assert await cache.get_user_by_name("alice") is None
    await cache.put_user(ALICE, "alice")
    assert await cache.get_user_by_name("alice") == ALICE


async def test_rooms_by_id_are_a_miss_until_added(cache: Cache) -> None:
    # The room list itself is paged by the database (tests/server/test_room_pages.py); the cache
    # answers "which room is this id", asked by every ENTER and history page.
    assert await cache.get_room(ROOM.id) is None  # a miss: the database is asked
    await cache.add_room(ROOM)
    assert await cache.get_room(ROOM.id) == ROOM
    newer = RoomRecord(6, "新房间 🏠", ALICE, datetime(2026, 1, 3))
    await cache.add_room(newer)
    assert (await cache.get_room(6), await cache.get_room(5), await cache.get_room(7)) == (newer, ROOM, None)


async def test_memory_users_expire_after_an_hour() -> None:
    now = [1000.0]
    cache = MemoryCache(clock=lambda: now[0])
    await cache.put_user(ALICE, "alice")
    now[0] += USER_TTL_SECONDS + 1
    assert await cache.get_user_by_name("alice") is None


async def test_redis_user_key_carries_the_one_hour_expiry(redis_target: RedisTarget) -> None:
    cache = RedisCache(redis_target.url, redis_target.prefix)
    await cache.put_user(ALICE, "alice")
    await cache.close()
    client = redis.Redis.from_url(redis_target.url)
    try:
        assert 3500 < client.ttl(f"{redis_target.prefix}user:name:alice") <= USER_TTL_SECONDS
        assert not client.exists(f"{redis_target.prefix}user:id:1")  # users are not cached by id
    finally:
        client.close()


@pytest.mark.expect_log(logger="gochat.server.cache", text="Redis unavailable")
@pytest.mark.expect_log(logger="gochat.server.cache", text="Redis is back")
# The server is a cluster of one (--redis-url): its cross-instance delivery pauses too.
@pytest.mark.expect_log(logger="gochat.server.cluster.node", text="cross-instance delivery paused")
async def test_chat_goes_on_while_redis_is_away_and_recovers(
    private_redis: PrivateRedis, mariadb_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(host="127.0.0.1", port=0, database_url=mariadb_url, redis_url=private_redis.url)
    thread = ServerThread(settings)
    await asyncio.to_thread(thread.start)
    try:
        async with httpx.AsyncClient(base_url=thread.url, timeout=scaled(10)) as api:
            token, _ = await register_and_login(api)
            before = await create_room(api, token)
            assert (await api.get("/api/rooms", headers=auth(token))).status_code == 200

            private_redis.stop()
            during = await create_room(api, token)  # must not fail
            rooms = (await api.get("/api/rooms", headers=auth(token))).json()
            assert [r["id"] for r in rooms] == [before["id"], during["id"]]
            health = (await api.get("/api/health")).json()
            assert health["status"] == "degraded"
            assert health["cache"]["ok"] is False
            assert health["cluster"] == {"ok": False, "instances": 1, "message": "cross-instance delivery paused"}
            other_token, _ = await register_and_login(api)
            async with chat_client(thread.url, other_token) as c:
                await c.enter(during["id"])
                await c.say(during["id"], "Redis is down and I can still talk")
                await c.expect(MsgType.SEND)
            assert any("Redis unavailable" in r.getMessage() for r in caplog.records)

            private_redis.start()

            async def cache_back() -> bool:
                return bool((await api.get("/api/health")).json()["cache"]["ok"])

            # The cache retries Redis RETRY_AFTER_SECONDS after it failed.
            await eventually(cache_back, timeout=RedisCache.RETRY_AFTER_SECONDS + 10, what="the cache's recovery")

            async def cluster_back() -> bool:
                return bool((await api.get("/api/health")).json()["cluster"]["ok"])

            await eventually(cluster_back, timeout=10, what="the cluster's recovery")
            rooms = (await api.get("/api/rooms", headers=auth(token))).json()
            assert [r["id"] for r in rooms] == [before["id"], during["id"]]
            after = await create_room(api, token)
            rooms = (await api.get("/api/rooms", headers=auth(token))).json()
            assert [r["id"] for r in rooms] == [before["id"], during["id"], after["id"]]
            assert any("Redis is back" in r.getMessage() for r in caplog.records)
    finally:
        await asyncio.to_thread(thread.stop)


async def test_servers_on_different_databases_share_one_redis_without_mixing_caches(
    new_mariadb_database: Callable[[], str], redis_target: RedisTarget
) -> None:
    """A cache never crosses its database: two servers with the same Redis and the same prefix,
    on two databases, each list only their own rooms (no phantom room with an unknown creator)."""
    first = ServerThread(
        Settings(
            port=0, database_url=new_mariadb_database(), redis_url=redis_target.url, redis_prefix=redis_target.prefix
        )
    )
    second = ServerThread(
        Settings(
            port=0, database_url=new_mariadb_database(), redis_url=redis_target.url, redis_prefix=redis_target.prefix
        )
    )
    await asyncio.to_thread(first.start)
    await asyncio.to_thread(second.start)
    try:
        async with httpx.AsyncClient(base_url=first.url) as a, httpx.AsyncClient(base_url=second.url) as b:
            token_a, _ = await register_and_login(a, "sameuser")
            token_b, _ = await register_and_login(b, "sameuser")
            assert (await a.get("/api/rooms", headers=auth(token_a))).json() == []
            mine = await create_room(a, token_a, "only on the first")
            assert [r["name"] for r in (await a.get("/api/rooms", headers=auth(token_a))).json()] == [mine["name"]]
            assert (await b.get("/api/rooms", headers=auth(token_b))).json() == []
            theirs = await create_room(b, token_b, "only on the second")
            assert [r["id"] for r in (await a.get("/api/rooms", headers=auth(token_a))).json()] == [mine["id"]]
            assert [r["id"] for r in (await b.get("/api/rooms", headers=auth(token_b))).json()] == [theirs["id"]]
    finally:
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)
    client = redis.Redis.from_url(redis_target.url)
    try:
        keys = {key.decode() for key in client.scan_iter(match=f"{redis_target.prefix}*")}
    finally:
        client.close()
    namespaces = {key.removeprefix(redis_target.prefix).split(":", 1)[0] for key in keys}
    assert len(namespaces) == 2, keys  # one per database, each under the operator's prefix


async def test_a_restarted_server_finds_its_own_cache_again(mariadb_url: str, redis_target: RedisTarget) -> None:
    settings = Settings(port=0, database_url=mariadb_url, redis_url=redis_target.url, redis_prefix=redis_target.prefix)
    namespaces = []
    for _ in range(2):
        thread = ServerThread(settings)
        await asyncio.to_thread(thread.start)
        try:
            assert thread.context is not None
            namespaces.append(thread.context.cache_namespace)
        finally:
            await asyncio.to_thread(thread.stop)
    assert namespaces[0] == namespaces[1]
    assert namespaces[0].startswith(redis_target.prefix)
    assert len(namespaces[0]) > len(redis_target.prefix) + 8
