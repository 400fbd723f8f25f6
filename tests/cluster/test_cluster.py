"""Three real server processes on one MariaDB database and one Redis, clients spread over them
(issue 14): accounts and rooms everywhere at once, global presence, every frame crossing,
fan-out exactly once in one rising-id order, logging out everywhere."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from gochat.protocol import CloseCode, MsgType
from tests.cluster.conftest import Cluster
from tests.helpers import (
    ChatClient,
    auth,
    chat_client,
    create_room,
    eventually,
    register_and_login,
    scaled,
)

pytestmark = pytest.mark.timeout(180)


async def person(url: str, name: str | None = None) -> tuple[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=scaled(10)) as api:
        return await register_and_login(api, name)


async def close_code(client: ChatClient, within: float) -> int | None:
    """The close code the server sends within ``within`` seconds (frames before it are skipped)."""
    try:
        async with asyncio.timeout(scaled(within)):
            while True:
                await client.next(within)
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else closed.rcvd.code


async def test_accounts_and_rooms_are_everywhere_at_once(cluster3: Cluster) -> None:
    a, b, c = cluster3.instances
    token, user = await person(a.url)
    async with AsyncExitStack() as stack:
        apis = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=i.url, timeout=scaled(10))) for i in (a, b, c)
        ]
        # A token issued by one works on all.
        for api in apis:
            me = await api.get("/api/me", headers=auth(token))
            assert me.status_code == 200
            assert me.json()["id"] == user["id"]
        watchers = [await stack.enter_async_context(chat_client(i.url, token)) for i in (b, c)]
        room = await create_room(apis[0], token)
        # Listed on the others at once, and every connection everywhere hears of it.
        for api in apis[1:]:
            listed = (await api.get("/api/rooms", headers=auth(token))).json()
            assert room["id"] in [r["id"] for r in listed]
        for watcher in watchers:
            created = await watcher.expect(MsgType.ROOM_CREATED)
            assert created.data["id"] == room["id"]


async def test_presence_counts_users_on_every_instance_once(cluster3: Cluster) -> None:
    a, b, c = cluster3.instances
    (alice_token, alice), (bob_token, bob), (carol_token, carol) = [await person(a.url) for _ in range(3)]
    async with httpx.AsyncClient(base_url=a.url, timeout=scaled(10)) as api:
        room = await create_room(api, alice_token)
    async with chat_client(a.url, alice_token) as alice_a, chat_client(b.url, bob_token) as bob_b:
        await alice_a.enter(room["id"])
        state = await bob_b.enter(room["id"])
        assert {m["id"] for m in state.data["members"]} == {alice["id"], bob["id"]}
        entered = await alice_a.expect(MsgType.ENTER)
        assert (entered.data["user"]["id"], entered.data["online"]) == (bob["id"], 2)
        async with chat_client(c.url, carol_token) as carol_c, chat_client(c.url, alice_token) as alice_c:
            state = await carol_c.enter(room["id"])
            assert {m["id"] for m in state.data["members"]} == {alice["id"], bob["id"], carol["id"]}
            for client in (alice_a, bob_b):
                assert (await client.expect(MsgType.ENTER)).data["online"] == 3
            # Alice on a second instance is still one member: nobody is told she entered again.
            state = await alice_c.enter(room["id"])
            assert len(state.data["members"]) == 3
            # The online count agrees on every instance's REST.
            for instance in (a, b, c):
                async with httpx.AsyncClient(base_url=instance.url, timeout=scaled(10)) as api:

                    async def three(api: httpx.AsyncClient = api) -> bool:
                        rooms = (await api.get("/api/rooms", headers=auth(carol_token))).json()
                        return bool(next(r for r in rooms if r["id"] == room["id"])["online"] == 3)

                    await eventually(three, what=f"three online on {instance.port}")
            # Alice leaves on one instance: still present on the other, so no one hears of it.
            await alice_a.send(MsgType.LEAVE, {"roomId": room["id"]})
            await alice_a.expect(MsgType.LEAVE)
            await carol_c.silent(scaled(0.5))
            await bob_b.silent(0.1)
            # Then on the other: now she is gone, announced once to each.
            await alice_c.send(MsgType.LEAVE, {"roomId": room["id"]})
            for client in (bob_b, carol_c):
                left = await client.expect(MsgType.LEAVE)
                assert (left.data["user"]["id"], left.data["online"]) == (alice["id"], 2)
            await bob_b.silent(scaled(0.5))
            await carol_c.silent(0.1)


async def test_every_frame_crosses_instances(cluster3: Cluster) -> None:
    """Typing, mentions, edits, deletions, read markers and a direct room's first message reach
    connections on other instances."""
    a, b, c = cluster3.instances
    (alice_token, alice), (bob_token, bob) = await person(a.url), await person(b.url)
    async with httpx.AsyncClient(base_url=a.url, timeout=scaled(10)) as api_a:
        room = await create_room(api_a, alice_token)
        async with (
            chat_client(a.url, alice_token) as alice_a,
            chat_client(b.url, bob_token) as bob_b,
            chat_client(c.url, bob_token) as bob_c,
        ):
            await alice_a.enter(room["id"])
            await bob_b.enter(room["id"])
            await alice_a.expect(MsgType.ENTER)
            # Typing: bob on b types; alice on a sees it.
            await bob_b.send(MsgType.TYPING, {"roomId": room["id"]})
            typing = await alice_a.expect(MsgType.TYPING)
            assert typing.data["user"]["id"] == bob["id"]
            # A mention of bob reaches his connection on c (not in the room).
            sent = await alice_a.say(room["id"], f"hello @{bob['username']}")
            message = sent.data["message"]
            mentioned = await bob_c.expect(MsgType.MENTIONED)
            assert mentioned.data["message"]["id"] == message["id"]
            assert (await bob_b.expect(MsgType.SEND)).data["id"] == message["id"]
            # Edit and delete through a's REST: bob on b sees both.
            edited = await api_a.patch(
                f"/api/rooms/{room['id']}/messages/{message['id']}",
                json={"content": "hello everyone"},
                headers=auth(alice_token),
            )
            assert edited.status_code == 200, edited.text
            frame = await bob_b.expect(MsgType.MESSAGE_EDITED)
            assert (frame.data["content"], frame.data["rev"]) == ("hello everyone", edited.json()["rev"])
            deleted = await api_a.delete(f"/api/rooms/{room['id']}/messages/{message['id']}", headers=auth(alice_token))
            assert deleted.status_code == 204
            frame = await bob_b.expect(MsgType.MESSAGE_DELETED)
            assert (frame.data["id"], frame.data["deletedBy"]["id"]) == (message["id"], alice["id"])
            # Bob's read marker, moved on b, reaches his connection on c.
            async with httpx.AsyncClient(base_url=b.url, timeout=scaled(10)) as api_b:
                second = await alice_a.say(room["id"], "one more")
                moved = await api_b.post(
                    f"/api/rooms/{room['id']}/read",
                    json={"lastReadId": second.data["message"]["id"]},
                    headers=auth(bob_token),
                )
                assert moved.status_code in (200, 204), moved.text
                # (Entering made the room his: a READ at 0 came first.)
                last_read = second.data["message"]["id"]
                read = await bob_c.expect(MsgType.READ, lambda f: f.data["lastReadId"] == last_read)
                assert read.data["roomId"] == room["id"]
                # A direct room's first message: bob's connection on c hears of the room; carol does not.
                carol_token, _ = await person(c.url)
                async with chat_client(c.url, carol_token) as carol_c:
                    dm = (
                        await api_a.post("/api/dms", json={"username": bob["username"]}, headers=auth(alice_token))
                    ).json()
                    await alice_a.enter(dm["id"])
                    await alice_a.say(dm["id"], "psst")
                    created = await bob_c.expect(MsgType.ROOM_CREATED, lambda f: f.data["id"] == dm["id"])
                    assert created.data["name"] == alice["username"]
                    await carol_c.silent(scaled(0.5))


async def test_fanout_is_exactly_once_in_one_rising_order(cluster3: Cluster) -> None:
    """Senders on three instances pipeline at once; every member on every instance gets every
    message once, all in the same rising-id order."""
    per_sender = 150
    instances = cluster3.instances
    people = [await person(instances[i % 3].url) for i in range(6)]
    async with httpx.AsyncClient(base_url=instances[0].url, timeout=scaled(10)) as api:
        room = await create_room(api, people[0][0])
    async with AsyncExitStack() as stack:
        members = [
            await stack.enter_async_context(chat_client(instances[i % 3].url, token))
            for i, (token, _) in enumerate(people)
        ]
        for member in members:
            await member.enter(room["id"])
        senders = members[:3]  # one on each instance
        expected = 3 * per_sender

        async def send_all(client: ChatClient, index: int) -> None:
            for n in range(per_sender):
                await client.send(
                    MsgType.SEND, {"roomId": room["id"], "content": f"{index}:{n}", "clientMsgId": f"s{index}-{n}"}
                )

        async def received(client: ChatClient) -> list[int]:
            ids: list[int] = []
            async with asyncio.timeout(scaled(60)):
                while len(ids) < expected:
                    frame = await client.next(60)
                    if frame.msg_type == MsgType.SEND:
                        ids.append(frame.data["id"])
            # And nothing more: no message twice (the senders' last ACKs may still come).
            try:
                async with asyncio.timeout(scaled(0.5)):
                    while True:
                        frame = await client.next(1.0)
                        assert frame.msg_type == MsgType.ACK, frame
            except TimeoutError:
                pass
            return ids

        receiving = [asyncio.create_task(received(member)) for member in members]
        await asyncio.gather(*(send_all(client, i) for i, client in enumerate(senders)))
        sequences = await asyncio.gather(*receiving)
    first = sequences[0]
    assert len(set(first)) == expected
    assert first == sorted(first)
    for sequence in sequences[1:]:
        assert sequence == first


async def test_logout_kills_the_token_on_every_instance(cluster3: Cluster) -> None:
    a, b, c = cluster3.instances
    token, _ = await person(a.url)
    other_token, _ = await person(a.url)
    async with (
        chat_client(a.url, token) as on_a,
        chat_client(b.url, token) as on_b,
        chat_client(b.url, other_token) as bystander,
        httpx.AsyncClient(base_url=c.url, timeout=scaled(10)) as api_c,
        httpx.AsyncClient(base_url=a.url, timeout=scaled(10)) as api_a,
    ):
        assert (await api_c.post("/api/logout", headers=auth(token))).status_code == 204
        assert (await api_a.get("/api/me", headers=auth(token))).status_code == 401
        for client in (on_a, on_b):
            assert await close_code(client, within=1.0) == CloseCode.LOGGED_OUT
        await bystander.silent(0.2)  # another token of another user stays


async def test_logout_everywhere_closes_every_socket_of_the_user(cluster3: Cluster) -> None:
    a, b, c = cluster3.instances
    name = f"u{uuid.uuid4().hex[:10]}"
    first, _ = await person(a.url, name)
    async with httpx.AsyncClient(base_url=b.url, timeout=scaled(10)) as api_b:
        response = await api_b.post("/api/login", json={"username": name, "password": "correct horse 42"})
        second = response.json()["token"]
        async with chat_client(a.url, first) as on_a, chat_client(c.url, second) as on_c:
            reply = await api_b.post("/api/logout", json={"everywhere": True}, headers=auth(second))
            assert reply.status_code == 204
            for client in (on_a, on_c):
                assert await close_code(client, within=1.0) == CloseCode.LOGGED_OUT


async def test_a_server_started_later_knows_who_is_online_already(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster()
    (a,) = cluster.start(1)
    token, _ = await person(a.url)
    async with httpx.AsyncClient(base_url=a.url, timeout=scaled(10)) as api:
        room = await create_room(api, token)
    async with chat_client(a.url, token) as client:
        await client.enter(room["id"])
        (late,) = cluster.start(1)
        async with httpx.AsyncClient(base_url=late.url, timeout=scaled(10)) as api:

            async def one_online() -> bool:
                rooms = (await api.get("/api/rooms", headers=auth(token))).json()
                return bool(next(r for r in rooms if r["id"] == room["id"])["online"] == 1)

            await eventually(one_online, timeout=5, what="the late server's online count")
