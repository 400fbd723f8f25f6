"""Cluster presence in the machine's Redis, without servers: each change of who is present in a
room comes with a rising version, and a server's view of the counts keeps the newest whatever
order counts reach it in (its own scripts, other servers' events, its reads of Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gochat.protocol import User
from gochat.server.cluster.presence import OnlineCounts, RedisPresence
from tests.conftest import RedisTarget

ALICE, BOB, CAROL = User(1, "alice"), User(2, "bob"), User(3, "carol")


def test_the_count_of_the_newest_version_wins_whatever_order_it_comes_in() -> None:
    counts = OnlineCounts()
    counts.note(7, 3, 3)  # carol entered here: three present
    counts.note(7, 1, 1)  # alice's "entered", heard late from another server
    counts.note(7, 2, 2)  # a read of Redis from before carol
    assert (counts.get(7), counts.version(7)) == (3, 3)
    counts.note(7, 4, 2)  # someone left
    assert counts.get(7) == 2
    assert counts.rooms() == [7]
    assert counts.get(8) == 0
    counts.forget()  # Redis came back empty: versions start again
    counts.note(7, 1, 1)
    assert (counts.get(7), counts.version(7)) == (1, 1)


@pytest.fixture
async def redis_client(redis_target: RedisTarget) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_target.url)
    yield client
    await client.aclose()


async def test_every_change_of_who_is_present_raises_the_room_version(
    redis_client: aioredis.Redis, redis_target: RedisTarget
) -> None:
    ns = redis_target.prefix + "ns"
    server_a = RedisPresence(redis_client, ns, "a")
    server_b = RedisPresence(redis_client, ns, "b")
    first = await server_a.enter(7, ALICE)
    second = await server_b.enter(7, BOB)
    again = await server_b.enter(7, ALICE)  # alice on a second server: still one member
    assert [(c.announce, c.online) for c in (first, second, again)] == [(True, 1), (True, 2), (False, 2)]
    assert first.version < second.version == again.version
    third = await server_a.enter(7, CAROL)
    assert (third.online, third.version) == (3, second.version + 1)
    assert await server_a.online_counts([7, 8]) == {7: (third.version, 3), 8: (0, 0)}
    version, members = await server_b.members(7)
    assert (version, sorted(members, key=lambda u: u.id)) == (third.version, [ALICE, BOB, CAROL])
    # Alice leaves one server: nothing changes in the room; then the other: she is gone.
    stays = await server_a.leave(7, ALICE.id)
    gone = await server_b.leave(7, ALICE.id)
    assert (stays.announce, stays.online, stays.version) == (False, 3, third.version)
    assert (gone.announce, gone.online, gone.version) == (True, 2, third.version + 1)
    # A dead server's share taken back is a change too.
    reaped = await server_b.reap("a")
    assert [(g.room_id, g.user, g.online, g.version) for g in reaped] == [(7, CAROL, 1, gone.version + 1)]
    assert await server_b.online_counts([7]) == {7: (gone.version + 1, 1)}
