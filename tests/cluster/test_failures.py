"""A cluster when parts fail (issue 14): an instance killed with SIGKILL during a burst, and
Redis stopped and started (a redis-server of the test's own). MariaDB stays the source of truth:
nothing acknowledged is lost, nothing is delivered twice, every member's order rises."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from gochat.protocol import MsgType
from gochat.server.cluster.presence import HEARTBEAT, SERVER_EXPIRY
from tests.cluster.conftest import Cluster, Instance
from tests.cluster.test_cluster import person
from tests.helpers import ChatClient, auth, chat_client, create_room, eventually, scaled
from tests.private_redis import PrivateRedis

pytestmark = pytest.mark.timeout(240)


class Member:
    """A client in the room that keeps every message it is sent, checking their order."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.ids: list[int] = []
        self.revs: list[int] = []
        self.others: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                frame = await self.client.next(3600)
            except ConnectionClosed:
                return  # its server went away: what it had is what it kept
            if frame.msg_type == MsgType.SEND:
                assert not self.ids or frame.data["id"] > self.ids[-1], (frame.data["id"], self.ids[-5:])
                self.ids.append(frame.data["id"])
                self.revs.append(frame.data["rev"])
            elif frame.msg_type != MsgType.ACK:
                self.others.append({"msgType": frame.msg_type, **frame.data})

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        # A failed check inside the reader fails the test here.
        failure = None if self.task.cancelled() else self.task.exception()
        if failure is not None:
            raise failure

    async def has(self, count: int) -> bool:
        return len(self.ids) >= count


async def send_acknowledged(client: ChatClient, room_id: int, prefix: str, count: int) -> list[int]:
    """Send ``count`` messages one after another, each once its ACK came; the acknowledged ids."""
    acknowledged = []
    for n in range(count):
        ack = await client.say(room_id, f"{prefix} {n}", client_msg_id=f"{prefix}-{n}")
        acknowledged.append(ack.data["message"]["id"])
    return acknowledged


async def history_ids(url: str, token: str, room_id: int) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=scaled(10)) as api:
        ids: list[int] = []
        after = 0
        while True:
            page = await api.get(
                f"/api/rooms/{room_id}/messages", params={"after": after, "limit": 100}, headers=auth(token)
            )
            assert page.status_code == 200, page.text
            batch = [m["id"] for m in page.json()]
            if not batch:
                return ids
            ids += batch
            after = batch[-1]


async def test_an_instance_killed_mid_burst_loses_nothing(cluster3: Cluster) -> None:
    """kill -9 of one instance while the others' senders burst: what it acknowledged stays; its
    client that comes back through another instance gets exactly what it missed; its user who
    does not come back is announced gone within 30 s; the online counts converge."""
    a, b, c = cluster3.instances
    tokens = [await person(a.url) for _ in range(5)]
    (stays_away, away_user), (comes_back, back_user), (on_b, _), (on_c, _), (sender_a, _) = tokens
    async with httpx.AsyncClient(base_url=a.url, timeout=scaled(10)) as api:
        room = (await create_room(api, on_b))["id"]
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(chat_client(instance.url, token))
            for name, instance, token in (
                ("away", a, stays_away),
                ("back", a, comes_back),
                ("b", b, on_b),
                ("c", c, on_c),
                ("sender a", a, sender_a),
            )
        }
        senders_bc = [await stack.enter_async_context(chat_client(i.url, on_b if i is b else on_c)) for i in (b, c)]
        for client in [*clients.values(), *senders_bc]:
            await client.enter(room)
        members = {name: Member(clients[name]) for name in ("back", "b", "c")}
        for member in members.values():
            member.start()
        acknowledged_on_a = await send_acknowledged(clients["sender a"], room, "from a", 20)
        burst = [asyncio.create_task(send_acknowledged(s, room, f"burst {i}", 60)) for i, s in enumerate(senders_bc)]
        await eventually(lambda: members["b"].has(40), what="the burst under way")
        a.kill()
        sent_by_bc = [i for ids in await asyncio.gather(*burst) for i in ids]
        await members["back"].stop()
        seen_before = list(members["back"].ids)

        # Nothing a acknowledged is lost.
        stored = await history_ids(b.url, on_b, room)
        assert set(acknowledged_on_a) <= set(stored)
        assert set(sent_by_bc) <= set(stored)

        # Its client reconnects to another instance and gets exactly what it missed.
        async with chat_client(b.url, comes_back) as back_again:
            after = seen_before[-1] if seen_before else 0
            state = await back_again.enter(room, afterId=after)
            missed = [m["id"] for m in state.data["messages"]]
            assert seen_before + missed == stored
            assert not set(seen_before) & set(missed)

            # The user who did not come back is gone for the others within 30 s; the one who did
            # came back without being announced as gone and back: one member throughout.
            async def away_gone() -> bool:
                return all(
                    any(o["msgType"] == MsgType.LEAVE and o["user"]["id"] == away_user["id"] for o in m.others)
                    for m in (members["b"], members["c"])
                )

            await eventually(
                away_gone, timeout=SERVER_EXPIRY + 2 * HEARTBEAT + 5, what="the killed instance's user gone"
            )
            for name in ("b", "c"):
                # Every message, once, in order: a's too, and the burst around its death.
                assert members[name].ids == stored
                left = [o["user"]["id"] for o in members[name].others if o["msgType"] == MsgType.LEAVE]
                assert back_user["id"] not in left

            # The online counts converge: the one who came back, the two on b and c, and the
            # senders there (the same users as b and c).
            async with httpx.AsyncClient(base_url=c.url, timeout=scaled(10)) as api:

                async def converged() -> bool:
                    rooms = (await api.get("/api/rooms", headers=auth(on_c))).json()
                    return bool(next(r for r in rooms if r["id"] == room)["online"] == 3)

                await eventually(converged, timeout=20, what="online counts converged")
        for name in ("b", "c"):
            await members[name].stop()


async def test_redis_away_pauses_crossing_and_nothing_is_lost(
    make_cluster: Callable[..., Cluster], private_redis: PrivateRedis
) -> None:
    """Redis stops: each instance keeps acknowledging its own clients, every member's order still
    rises, health says degraded; Redis returns: every member catches up, nothing lost or doubled."""
    cluster = make_cluster(private_redis.url)
    a, b = cluster.start(2)
    (token_a, _), (token_b, _) = await person(a.url), await person(b.url)
    async with httpx.AsyncClient(base_url=a.url, timeout=scaled(10)) as api:
        room = (await create_room(api, token_a))["id"]
    async with AsyncExitStack() as stack:
        reader_a = await stack.enter_async_context(chat_client(a.url, token_a))
        reader_b = await stack.enter_async_context(chat_client(b.url, token_b))
        sender_a = await stack.enter_async_context(chat_client(a.url, token_a))
        sender_b = await stack.enter_async_context(chat_client(b.url, token_b))
        for client in (reader_a, reader_b, sender_a, sender_b):
            await client.enter(room)
        members = [Member(reader_a), Member(reader_b)]
        for member in members:
            member.start()
        before = await send_acknowledged(sender_a, room, "before a", 5) + await send_acknowledged(
            sender_b, room, "before b", 5
        )

        private_redis.stop()
        for instance in (a, b):
            await _cluster_health(instance, ok=False)
        during = [
            i
            for ids in await asyncio.gather(
                send_acknowledged(sender_a, room, "during a", 15), send_acknowledged(sender_b, room, "during b", 15)
            )
            for i in ids
        ]

        private_redis.start()
        for instance in (a, b):
            await _cluster_health(instance, ok=True)
        after = await send_acknowledged(sender_b, room, "after b", 5) + await send_acknowledged(
            sender_a, room, "after a", 5
        )
        everything = sorted(before + during + after)
        for member in members:
            await eventually(functools.partial(member.has, len(everything)), timeout=20, what="every message")
        for member in members:
            await member.stop()
            assert member.ids == everything


async def _cluster_health(instance: Instance, *, ok: bool) -> None:
    async with httpx.AsyncClient(base_url=instance.url, timeout=scaled(10)) as api:

        async def as_expected() -> bool:
            health = (await api.get("/api/health")).json()
            return bool(health.get("cluster", {}).get("ok") is ok)

        await eventually(as_expected, timeout=20, what=f"cluster ok={ok} on {instance.port}")
        health = (await api.get("/api/health")).json()
        if not ok:
            assert health["status"] == "degraded"
            assert health["cluster"]["message"] == "cross-instance delivery paused"
            assert health["cluster"]["instances"] >= 1


async def test_a_restarted_server_shows_nobody_leaving_who_comes_back(cluster3: Cluster) -> None:
    """SIGTERM (systemctl restart): its connections close with 1001 and reconnect elsewhere; the
    others see nobody leave and enter again, and only who does not come back leave."""
    a, b, c = cluster3.instances
    (alice_token, alice), (erin_token, erin), (bob_token, _) = [await person(b.url) for _ in range(3)]
    async with httpx.AsyncClient(base_url=b.url, timeout=scaled(10)) as api:
        room = (await create_room(api, bob_token))["id"]
    async with chat_client(b.url, bob_token) as bob, chat_client(a.url, erin_token) as erin_a:
        await bob.enter(room)
        await erin_a.enter(room)
        async with chat_client(a.url, alice_token) as alice_a:
            await alice_a.enter(room)
            watcher = Member(bob)
            watcher.start()
            a.stop()
        async with chat_client(c.url, alice_token) as alice_c:
            await alice_c.enter(room)

            async def erin_gone() -> bool:
                return any(o["msgType"] == MsgType.LEAVE and o["user"]["id"] == erin["id"] for o in watcher.others)

            await eventually(erin_gone, timeout=SERVER_EXPIRY + 2 * HEARTBEAT + 5, what="erin announced gone")
            await watcher.stop()
            about_alice = [o["msgType"] for o in watcher.others if o.get("user", {}).get("id") == alice["id"]]
            # She entered once (before the restart); never left, never entered again.
            assert about_alice == [MsgType.ENTER]
