"""Typing (docs/protocol.md, 9): TYPING forwarded to the others present in the room, never to the
typer's own connections nor to watchers; at most one per user per room every 2 s; nothing ever
answered — on both backends, in-process and over a real socket."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gochat.protocol import TYPING_FORWARD_SECONDS, EnterRoom, MsgType, StartTyping, Typing, User
from gochat.server.config import Settings
from gochat.server.context import ServerContext
from gochat.server.records import UserRecord
from gochat.server.runner import ServerThread
from gochat.server.typing_gate import TypingGate
from gochat.server.ws import WebSocketConnection
from tests.helpers import chat_client, create_room, register_and_login
from tests.server.memory import MemoryConnection

PASSWORD = "correct horse"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def context(settings: Settings) -> AsyncIterator[ServerContext]:
    ctx = await ServerContext.open(settings)
    try:
        yield ctx
    finally:
        await ctx.close()


async def person(ctx: ServerContext, name: str) -> UserRecord:
    return await ctx.accounts.register(name, PASSWORD)


def connect(ctx: ServerContext, user: UserRecord) -> MemoryConnection:
    connection = MemoryConnection(user)
    ctx.hub.register(connection)
    return connection


def typing_seen(connection: MemoryConnection) -> list[Typing]:
    return [f for f in connection.received() if isinstance(f, Typing)]


@pytest.mark.backends
async def test_typing_goes_to_the_others_present_only(context: ServerContext) -> None:
    alice, bob, carol, dave = [await person(context, n) for n in ("alice", "bob", "carol", "dave")]
    room = await context.rooms.create("lobby", alice)
    typer, typers_phone = connect(context, alice), connect(context, alice)
    listener, watcher, elsewhere = connect(context, bob), connect(context, carol), connect(context, dave)
    for connection in (typer, typers_phone, listener):
        await context.chat.handle(connection, EnterRoom(room.id))
    await context.chat.handle(watcher, EnterRoom(room.id, watch=True))
    for connection in (typer, typers_phone, listener, watcher, elsewhere):
        connection.frames.clear()

    assert await context.chat.handle(typer, StartTyping(room.id, request_id="t1")) is None
    # Bob, present, hears it (no requestId: it answers nothing of his).
    assert typing_seen(listener) == [Typing(room.id, User(alice.id, "alice"))]
    assert '"requestId"' not in listener.frames[0]
    # Never the typer (not even on another device), never a watcher, never anyone outside.
    for connection in (typer, typers_phone, watcher, elsewhere):
        assert connection.frames == []


@pytest.mark.backends
async def test_typing_is_forwarded_at_most_once_per_user_per_room_every_two_seconds(context: ServerContext) -> None:
    clock = FakeClock()
    context.chat.typing_gate = TypingGate(clock=clock)
    alice, bob = await person(context, "alice"), await person(context, "bob")
    lobby = await context.rooms.create("lobby", alice)
    garden = await context.rooms.create("garden", alice)
    typer, listener = connect(context, alice), connect(context, bob)
    for room in (lobby, garden):
        await context.chat.handle(typer, EnterRoom(room.id))
        await context.chat.handle(listener, EnterRoom(room.id))
    typer.frames.clear()
    listener.frames.clear()

    for step in (0.0, 0.5, 1.0, 1.99):  # one forwarded, three dropped
        clock.now = 1000.0 + step
        await context.chat.handle(typer, StartTyping(lobby.id))
    await context.chat.handle(typer, StartTyping(garden.id))  # another room: its own allowance
    await context.chat.handle(listener, StartTyping(lobby.id))  # another user: theirs
    assert [(t.room_id, t.user.username) for t in typing_seen(listener)] == [(lobby.id, "alice"), (garden.id, "alice")]
    assert [(t.room_id, t.user.username) for t in typing_seen(typer)] == [(lobby.id, "bob")]
    assert typer.frames[1:] == []  # the dropped ones were never answered

    clock.now = 1000.0 + TYPING_FORWARD_SECONDS
    listener.frames.clear()
    await context.chat.handle(typer, StartTyping(lobby.id))
    assert [t.room_id for t in typing_seen(listener)] == [lobby.id]


async def test_the_gate_forgets_what_is_older_than_its_interval() -> None:
    clock = FakeClock()
    gate = TypingGate(clock=clock)
    for user in range(1000):
        assert gate.admit(user, 1)
    assert len(gate) == 1000
    clock.now += TYPING_FORWARD_SECONDS
    assert gate.admit(5000, 1)
    assert len(gate) == 1  # the others' were forwarded 2 s ago: forgotten


@pytest.mark.backends
async def test_typing_where_one_is_not_present_is_dropped_silently(context: ServerContext) -> None:
    alice, bob = await person(context, "alice"), await person(context, "bob")
    room = await context.rooms.create("lobby", alice)
    stranger, watcher, listener = connect(context, alice), connect(context, alice), connect(context, bob)
    await context.chat.handle(listener, EnterRoom(room.id))
    await context.chat.handle(watcher, EnterRoom(room.id, watch=True))
    for connection in (stranger, watcher, listener):
        connection.frames.clear()
    await context.chat.handle(stranger, StartTyping(room.id))  # not entered
    await context.chat.handle(watcher, StartTyping(room.id))  # watching is not being in the room
    await context.chat.handle(stranger, StartTyping(room.id + 1000))  # no such room
    assert (stranger.frames, watcher.frames, listener.frames) == ([], [], [])
    # None of it used up alice's allowance: entering and typing is forwarded at once.
    await context.chat.handle(stranger, EnterRoom(room.id))
    listener.frames.clear()
    await context.chat.handle(stranger, StartTyping(room.id))
    assert len(typing_seen(listener)) == 1


class _IdleWebSocket:
    """Just enough of a Starlette WebSocket for a connection that is never written to."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}


async def test_typing_is_dropped_for_a_connection_falling_behind() -> None:
    """A droppable frame is queued only while the backlog is under a quarter of the limit, so
    typing never pushes a slow reader towards the 1013 close."""
    connection = WebSocketConnection(_IdleWebSocket(), User(1, "bob"), "t", max_backlog=8)  # type: ignore[arg-type]
    assert connection.offer("typing 1")
    assert connection.offer("typing 2")
    assert not connection.offer("typing 3")  # 2 queued = 8 // 4
    connection.deliver("a message")  # what may not be dropped still goes
    assert not connection.closing


# -- over a real socket -------------------------------------------------------------------


@pytest.mark.backends
async def test_typing_over_a_socket_is_forwarded_and_never_answered(
    server: ServerThread, api: httpx.AsyncClient
) -> None:
    alice_token, alice = await register_and_login(api)
    bob_token, _ = await register_and_login(api)
    room = await create_room(api, alice_token)
    elsewhere = await create_room(api, bob_token)
    async with chat_client(server.url, alice_token) as a, chat_client(server.url, bob_token) as b:
        await a.enter(room["id"])
        await b.enter(room["id"])
        await b.enter(elsewhere["id"])
        await a.expect(MsgType.ENTER)
        # Far more TYPING than the bad-frame budget (50) or the SEND burst (50): none is answered,
        # none counts against either, and bob hears one.
        for _ in range(60):
            await a.send(MsgType.TYPING, {"roomId": room["id"]}, "t")
        await a.send(MsgType.TYPING, {"roomId": room["id"] + 1000}, "unknown room")
        await a.send(MsgType.TYPING, {"roomId": elsewhere["id"]}, "not entered")
        cid = uuid.uuid4().hex
        await a.send(MsgType.SEND, {"roomId": room["id"], "content": "done typing", "clientMsgId": cid})
        seen = await b.expect(MsgType.TYPING)
        assert seen.data == {"roomId": room["id"], "user": alice}
        assert seen.request_id is None
        # Alice's first frame back is her own message, then its ACK: nothing answered a TYPING.
        posted = await a.next()
        assert (posted.msg_type, posted.data["content"]) == (MsgType.SEND, "done typing")
        ack = await a.next()
        assert (ack.msg_type, ack.data["clientMsgId"]) == (MsgType.ACK, cid)
        # Bob got exactly one TYPING before the message.
        message = await b.next()
        assert (message.msg_type, message.data["content"]) == (MsgType.SEND, "done typing")
        assert b.skipped == []
