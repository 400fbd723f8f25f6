"""Live chat over /ws against a real server, on SQLite + in-process and MariaDB + Redis."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gochat.protocol import MsgType
from gochat.server.runner import ServerThread
from tests.helpers import auth, chat_client, create_room, register_and_login


@pytest.mark.backends
async def test_register_login_room_enter_send_history_logout(server: ServerThread, api: httpx.AsyncClient) -> None:
    """The whole path a user walks: two clients chat and both see the same messages in order."""
    alice_token, alice = await register_and_login(api)
    bob_token, bob = await register_and_login(api)
    room = await create_room(api, alice_token, "闲聊 ☕")

    async with chat_client(server.url, alice_token) as a, chat_client(server.url, bob_token, via="query") as b:
        state_a = await a.enter(room["id"])
        assert state_a.data["members"] == [alice]
        assert state_a.data["messages"] == []
        state_b = await b.enter(room["id"])
        assert {m["id"] for m in state_b.data["members"]} == {alice["id"], bob["id"]}
        entered = await a.expect(MsgType.ENTER)
        assert entered.data["user"] == bob
        assert entered.data["roomId"] == room["id"]

        ack1 = await a.say(room["id"], "你好 bob 😀")
        ack2 = await b.say(room["id"], "hi alice")
        await a.say(room["id"], "third")
        ids = []
        for client in (a, b):
            got = [await client.expect(MsgType.SEND) for _ in range(3)]
            assert [f.data["content"] for f in got] == ["你好 bob 😀", "hi alice", "third"]
            ids.append([f.data["id"] for f in got])
        assert ids[0] == ids[1] == sorted(ids[0])
        assert ack1.data["message"]["author"] == alice
        assert ack2.data["message"]["author"] == bob

    history = await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(bob_token))
    assert history.status_code == 200
    assert [m["content"] for m in history.json()] == ["你好 bob 😀", "hi alice", "third"]
    assert history.json()[0]["createdAt"].endswith("Z")

    assert (await api.post("/api/logout", headers=auth(alice_token))).status_code == 204
    assert (await api.get("/api/me", headers=auth(alice_token))).status_code == 401
    with pytest.raises(InvalidStatus) as refused:
        async with chat_client(server.url, alice_token):
            pass
    assert refused.value.response.status_code == 401


@pytest.mark.unthrottled_messages
@pytest.mark.backends
async def test_entering_gives_newest_history_and_older_pages_follow(
    server: ServerThread, api: httpx.AsyncClient
) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(server.url, token) as c:
        await c.enter(room["id"])
        for i in range(60):
            await c.say(room["id"], f"m{i}")
    async with chat_client(server.url, token) as c:
        state = await c.enter(room["id"])
    contents = [m["content"] for m in state.data["messages"]]
    assert contents == [f"m{i}" for i in range(10, 60)]
    assert state.data["hasOlder"] is True
    first_id = state.data["messages"][0]["id"]
    older = await api.get(f"/api/rooms/{room['id']}/messages", params={"before": first_id}, headers=auth(token))
    assert [m["content"] for m in older.json()] == [f"m{i}" for i in range(10)]


async def test_leaving_and_disconnecting_are_announced(server: ServerThread, api: httpx.AsyncClient) -> None:
    a_token, _ = await register_and_login(api)
    b_token, bob = await register_and_login(api)
    room = await create_room(api, a_token)
    async with chat_client(server.url, a_token) as a:
        await a.enter(room["id"])
        async with chat_client(server.url, b_token) as b:
            await b.enter(room["id"])
            await a.expect(MsgType.ENTER)
            await b.send(MsgType.LEAVE, {"roomId": room["id"]}, "bye")
            mine = await b.expect(MsgType.LEAVE)
            assert mine.request_id == "bye"
            left = await a.expect(MsgType.LEAVE)
            assert left.data["user"] == bob
            assert left.data["online"] == 1
            await b.enter(room["id"])
            await a.expect(MsgType.ENTER)
        # b's connection closed without a word: the room still hears that bob left.
        gone = await a.expect(MsgType.LEAVE)
        assert gone.data["user"] == bob
        rooms = (await api.get("/api/rooms", headers=auth(a_token))).json()
        assert [r["online"] for r in rooms if r["id"] == room["id"]] == [1]


async def test_one_user_on_two_devices_is_one_member(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, me = await register_and_login(api)
    other_token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(server.url, other_token) as watcher:
        await watcher.enter(room["id"])
        async with chat_client(server.url, token) as phone, chat_client(server.url, token) as laptop:
            await phone.enter(room["id"])
            await watcher.expect(MsgType.ENTER)
            state = await laptop.enter(room["id"])
            assert [m["id"] for m in state.data["members"]].count(me["id"]) == 1
            await phone.say(room["id"], "from phone")
            assert (await laptop.expect(MsgType.SEND)).data["content"] == "from phone"
            await watcher.expect(MsgType.SEND)
            await phone.ws.close()
            await watcher.silent(0.3)  # still present through the laptop: no "left"
        await watcher.expect(MsgType.LEAVE)


async def test_one_connection_in_several_rooms(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    rooms = [await create_room(api, token) for _ in range(3)]
    async with chat_client(server.url, token) as c:
        for room in rooms:
            await c.enter(room["id"])
        for room in rooms:
            await c.say(room["id"], f"in {room['id']}")
        got = [await c.expect(MsgType.SEND) for _ in rooms]
        assert [(f.data["roomId"], f.data["content"]) for f in got] == [(r["id"], f"in {r['id']}") for r in rooms]
        await c.send(MsgType.LEAVE, {"roomId": rooms[0]["id"]})
        await c.expect(MsgType.LEAVE)
        await c.send(MsgType.SEND, {"roomId": rooms[0]["id"], "content": "nope"}, "r")
        error = await c.expect(MsgType.ERROR)
        assert error.data["code"] == "not_in_room"
        assert error.request_id == "r"


@pytest.mark.backends
async def test_retried_client_msg_id_is_stored_and_broadcast_once(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(server.url, token) as c:
        await c.enter(room["id"])
        first = await c.say(room["id"], "only once", client_msg_id="retry-me")
        await c.expect(MsgType.SEND)
        again = await c.say(room["id"], "only once", client_msg_id="retry-me")
        assert again.data["duplicate"] is True
        assert again.data["message"]["id"] == first.data["message"]["id"]
        # Two copies in flight at once (a retry racing the original) also store one.
        for _ in range(2):
            await c.send(MsgType.SEND, {"roomId": room["id"], "content": "racing", "clientMsgId": "race"})
        acks = [await c.expect(MsgType.ACK) for _ in range(2)]
        assert acks[0].data["message"]["id"] == acks[1].data["message"]["id"]
        await c.expect(MsgType.SEND, lambda f: f.data["content"] == "racing")
        assert not c.skipped
        await c.silent(0.3)
    history = await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(token))
    assert [m["content"] for m in history.json()] == ["only once", "racing"]


@pytest.mark.backends
async def test_reconnecting_client_gets_exactly_what_it_missed(server: ServerThread, api: httpx.AsyncClient) -> None:
    a_token, _ = await register_and_login(api)
    b_token, _ = await register_and_login(api)
    room = await create_room(api, a_token)
    async with chat_client(server.url, a_token) as a:
        await a.enter(room["id"])
        async with chat_client(server.url, b_token) as b:
            await b.enter(room["id"])
            await a.say(room["id"], "seen by b")
            last_seen = (await b.expect(MsgType.SEND)).data["id"]
        for i in range(7):
            await a.say(room["id"], f"missed {i}")
        async with chat_client(server.url, b_token) as b:
            state = await b.enter(room["id"], afterId=last_seen)
            assert [m["content"] for m in state.data["messages"]] == [f"missed {i}" for i in range(7)]
            assert state.data["hasNewer"] is False
            await b.send(MsgType.SYNC, {"roomId": room["id"], "afterId": last_seen}, "s1")
            synced = await b.expect(MsgType.SYNC)
            assert synced.request_id == "s1"
            assert [m["content"] for m in synced.data["messages"]] == [f"missed {i}" for i in range(7)]
            await a.say(room["id"], "live again")
            live = await b.expect(MsgType.SEND)
            assert live.data["content"] == "live again"


async def test_messages_sent_while_entering_arrive_once_and_in_order(
    server: ServerThread, api: httpx.AsyncClient
) -> None:
    """History and live messages meet without a gap or an overlap."""
    a_token, _ = await register_and_login(api)
    b_token, _ = await register_and_login(api)
    room = await create_room(api, a_token)
    async with chat_client(server.url, a_token) as a, chat_client(server.url, b_token) as b:
        await a.enter(room["id"])

        async def chatter() -> None:
            for i in range(40):
                await a.send(MsgType.SEND, {"roomId": room["id"], "content": f"c{i}", "clientMsgId": f"c{i}"})

        sending = asyncio.create_task(chatter())
        state = await b.enter(room["id"])
        await sending
        seen = [m["content"] for m in state.data["messages"]]
        while len(seen) < 40:
            seen.append((await b.expect(MsgType.SEND)).data["content"])
        assert seen == [f"c{i}" for i in range(40)]
        await b.silent(0.3)
        # The sender's ACKs, read: a client that leaves frames unread waits out its library's
        # close timeout (10 s) on leaving.
        for i in range(40):
            await a.expect(MsgType.ACK, lambda f, i=i: f.data.get("clientMsgId") == f"c{i}")  # type: ignore[misc]


async def test_identity_comes_from_the_token_not_the_frame(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, me = await register_and_login(api)
    _, victim = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(server.url, token) as c:
        await c.enter(room["id"])
        await c.send(
            MsgType.SEND,
            {"roomId": room["id"], "content": "who am I", "userId": victim["id"], "username": victim["username"]},
        )
        message = await c.expect(MsgType.SEND)
        assert message.data["author"] == me


async def test_html_is_plain_text(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token, "<i>room</i>")
    assert room["name"] == "<i>room</i>"
    typed = "<b>hi</b> & <script>alert(1)</script>"
    async with chat_client(server.url, token) as c:
        await c.enter(room["id"])
        await c.say(room["id"], typed)
        assert (await c.expect(MsgType.SEND)).data["content"] == typed
    history = await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(token))
    assert history.json()[0]["content"] == typed


async def test_websocket_without_a_valid_token_is_refused(server: ServerThread) -> None:
    for token in ("", "not-a-token"):
        with pytest.raises(InvalidStatus) as refused:
            async with chat_client(server.url, token):
                pass
        assert refused.value.response.status_code == 401
        assert b"unauthorized" in refused.value.response.body


async def test_logout_closes_that_tokens_open_websockets(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    async with chat_client(server.url, token) as c:
        assert (await api.post("/api/logout", headers=auth(token))).status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            await c.next()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4001


async def test_room_created_elsewhere_is_pushed_to_connected_clients(
    server: ServerThread, api: httpx.AsyncClient
) -> None:
    token, _ = await register_and_login(api)
    async with chat_client(server.url, token) as c:
        room = await create_room(api, token, f"pushed {uuid.uuid4().hex[:6]}")
        created = await c.expect(MsgType.ROOM_CREATED)
        assert created.data["id"] == room["id"]
        assert created.data["name"] == room["name"]
