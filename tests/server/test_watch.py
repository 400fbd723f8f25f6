"""Watching a room: its messages without presence (ENTER with "watch": true), over real sockets."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gochat.protocol import MsgType
from gochat.server.runner import ServerThread
from tests.helpers import ChatClient, auth, chat_client, create_room, register_and_login


async def watch(client: ChatClient, room_id: int) -> dict[str, object]:
    request_id = uuid.uuid4().hex
    await client.send(MsgType.ENTER, {"roomId": room_id, "watch": True}, request_id)
    state = await client.expect(MsgType.ROOM_STATE, lambda f: f.request_id == request_id)
    return state.data


async def test_a_watcher_gets_messages_but_is_not_present(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice_token, alice = await register_and_login(api)
    bob_token, bob = await register_and_login(api)
    room = await create_room(api, alice_token)
    async with chat_client(server.url, alice_token) as a, chat_client(server.url, bob_token) as b:
        await a.enter(room["id"])
        before = await a.say(room["id"], "before bob watches")
        state = await watch(b, room["id"])
        # The room, the marker and the count; no members, no messages.
        assert state["roomId"] == room["id"]
        assert state["lastReadId"] is None
        assert state["unread"] == 1
        assert state["watching"] is True
        assert state["lastMessageId"] == before.data["message"]["id"]
        assert "members" not in state
        assert "messages" not in state
        assert state["room"] == {**room, "online": 1, "lastReadId": None, "unread": 1}
        # Nobody hears of a watcher, nobody counts it.
        await a.silent()
        # A watcher hears who comes and goes (its room list's online count stays live).
        async with chat_client(server.url, alice_token) as a2:
            await a2.enter(room["id"])  # alice's second device: not news for the others
        await b.silent()
        rooms = (await api.get("/api/rooms", headers=auth(alice_token))).json()
        assert next(r for r in rooms if r["id"] == room["id"])["online"] == 1

        await a.say(room["id"], "bob sees this live")
        live = await b.expect(MsgType.SEND)
        assert live.data["content"] == "bob sees this live"
        # A watcher may post; the room gets it like any message.
        ack = await b.say(room["id"], "posted while watching")
        assert ack.data["message"]["author"] == bob
        assert (await a.expect(MsgType.SEND, lambda f: f.data["author"] == bob)).data["content"] == (
            "posted while watching"
        )

        carol_token, carol = await register_and_login(api)
        async with chat_client(server.url, carol_token) as c:
            await c.enter(room["id"])
            seen = await b.expect(MsgType.ENTER)
            assert (seen.data["user"], seen.data["online"]) == (carol, 2)
        gone = await b.expect(MsgType.LEAVE)
        assert (gone.data["user"], gone.data["online"]) == (carol, 1)
        await a.expect(MsgType.ENTER)
        await a.expect(MsgType.LEAVE)

        # A plain ENTER upgrades the watch to presence: now announced and counted.
        entered = await b.enter(room["id"])
        assert {m["id"] for m in entered.data["members"]} == {alice["id"], bob["id"]}
        announced = await a.expect(MsgType.ENTER)
        assert announced.data["user"] == bob
        assert announced.data["online"] == 2


async def test_leave_ends_presence_but_a_watch_set_before_stays(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice_token, _ = await register_and_login(api)
    bob_token, bob = await register_and_login(api)
    room = await create_room(api, alice_token)
    async with chat_client(server.url, alice_token) as a, chat_client(server.url, bob_token) as b:
        await a.enter(room["id"])
        await watch(b, room["id"])
        await b.enter(room["id"])
        await a.expect(MsgType.ENTER)

        await b.send(MsgType.LEAVE, {"roomId": room["id"]}, "l1")
        reply = await b.expect(MsgType.LEAVE, lambda f: f.request_id == "l1")
        assert reply.data == {"roomId": room["id"], "user": bob, "online": 1}
        left = await a.expect(MsgType.LEAVE)
        assert left.data["user"] == bob
        # Still watching: messages keep coming.
        await a.say(room["id"], "still there?")
        assert (await b.expect(MsgType.SEND)).data["content"] == "still there?"

        # LEAVE with unwatch ends the watch too: nothing more arrives, and no second "left".
        await b.send(MsgType.LEAVE, {"roomId": room["id"], "unwatch": True}, "l2")
        await b.expect(MsgType.LEAVE, lambda f: f.request_id == "l2")
        await a.say(room["id"], "gone now")
        await b.silent()
        await a.silent()
        # Neither present nor watching: a plain LEAVE is refused.
        await b.send(MsgType.LEAVE, {"roomId": room["id"]}, "l3")
        error = await b.expect(MsgType.ERROR)
        assert (error.data["code"], error.request_id) == ("not_in_room", "l3")


async def test_unwatch_while_present_ends_both(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, me = await register_and_login(api)
    other_token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(server.url, token) as c, chat_client(server.url, other_token) as other:
        await other.enter(room["id"])
        await c.enter(room["id"])
        await watch(c, room["id"])
        await other.expect(MsgType.ENTER)
        await c.send(MsgType.LEAVE, {"roomId": room["id"], "unwatch": True}, "bye")
        reply = await c.expect(MsgType.LEAVE, lambda f: f.request_id == "bye")
        assert reply.data["user"] == me
        assert (await other.expect(MsgType.LEAVE)).data["user"] == me
        await other.say(room["id"], "anyone?")
        await c.silent()
        # Sending now needs entering or watching again.
        await c.send(MsgType.SEND, {"roomId": room["id"], "content": "hi", "clientMsgId": "x"})
        assert (await c.expect(MsgType.ERROR)).data["code"] == "not_in_room"


async def test_watch_answers_bad_input_with_error_frames(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(server.url, token) as c:
        await c.send(MsgType.ENTER, {"roomId": 999_999, "watch": True}, "w1")
        error = await c.expect(MsgType.ERROR)
        assert (error.data["code"], error.request_id) == ("not_found", "w1")
        await c.send(MsgType.ENTER, {"roomId": room["id"], "watch": "yes"}, "w2")
        error = await c.expect(MsgType.ERROR)
        assert (error.data["code"], error.request_id) == ("validation", "w2")
        await c.send(MsgType.LEAVE, {"roomId": room["id"], "unwatch": 1}, "w3")
        error = await c.expect(MsgType.ERROR)
        assert (error.data["code"], error.request_id) == ("validation", "w3")
        # "watch": false is a plain ENTER.
        await c.send(MsgType.ENTER, {"roomId": room["id"], "watch": False}, "w4")
        state = await c.expect(MsgType.ROOM_STATE)
        assert "members" in state.data


@pytest.mark.unthrottled_messages
@pytest.mark.backends
async def test_watch_reply_and_live_messages_neither_overlap_nor_leave_a_gap(
    server: ServerThread, api: httpx.AsyncClient
) -> None:
    """Messages committed while the watch is being set up are counted once: either in the reply's
    unread count or as a live frame after it, never both."""
    sender_token, _ = await register_and_login(api)
    watcher_token, _ = await register_and_login(api)
    room = await create_room(api, sender_token)
    total = 300
    async with chat_client(server.url, sender_token) as s, chat_client(server.url, watcher_token) as w:
        await s.enter(room["id"])
        for i in range(total):
            await s.send(MsgType.SEND, {"roomId": room["id"], "content": f"m{i}", "clientMsgId": f"c{i}"})
        state = await watch(w, room["id"])  # while the burst is being committed
        acks = [await s.expect(MsgType.ACK) for _ in range(total)]
        unread = state["unread"]
        assert isinstance(unread, int)
        assert state["lastMessageId"] == (sorted(a.data["message"]["id"] for a in acks)[unread - 1] if unread else 0)
        live = [await w.expect(MsgType.SEND) for _ in range(total - unread)]
        await w.silent()
    all_ids = sorted(ack.data["message"]["id"] for ack in acks)
    # The live ones are exactly those after what the count covered, in order, once each.
    assert [f.data["id"] for f in live] == all_ids[unread:]
