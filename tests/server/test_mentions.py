"""Mentions (docs/protocol.md, 12): "@name" resolved at store time against the registered users,
stored in messages.mentions and carried by SEND, ACK and history; MENTIONED (12) to each
connection of a mentioned user that is not present in the room — on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from gochat.protocol import (
    Ack,
    EnterRoom,
    Mentioned,
    MessagePosted,
    MsgType,
    RoomKind,
    SendMessage,
    User,
)
from gochat.server.config import Settings
from gochat.server.context import ServerContext
from gochat.server.records import UserRecord
from gochat.server.runner import ServerThread
from gochat.server.store import models
from gochat.server.store.mentions import resolve_mentions
from tests.helpers import auth, chat_client, create_room, register_and_login
from tests.server.memory import MemoryConnection

PASSWORD = "correct horse"


@pytest.fixture
async def context(settings: Settings) -> AsyncIterator[ServerContext]:
    ctx = await ServerContext.open(settings)
    try:
        yield ctx
    finally:
        await ctx.close()


async def users(ctx: ServerContext, *names: str) -> dict[str, UserRecord]:
    return {name: await ctx.accounts.register(name, PASSWORD) for name in names}


def connect(ctx: ServerContext, user: UserRecord) -> MemoryConnection:
    connection = MemoryConnection(user)
    ctx.hub.register(connection)
    return connection


async def send(ctx: ServerContext, connection: MemoryConnection, room_id: int, content: str) -> Ack:
    """Send and wait for the ACK (the room's broadcast and the mentions were delivered before it)."""
    acknowledgement = await ctx.chat.handle(connection, SendMessage(room_id, content, uuid.uuid4().hex))
    assert acknowledgement is not None
    await acknowledgement
    await asyncio.sleep(0)  # the ACK is queued by the future's done callback
    [ack] = [f for f in connection.received() if isinstance(f, Ack)][-1:]
    return ack


def mentioned_in(connection: MemoryConnection) -> list[Mentioned]:
    return [f for f in connection.received() if isinstance(f, Mentioned)]


def names(mentions: tuple[User, ...]) -> list[str]:
    return [user.username for user in mentions]


async def resolve(ctx: ServerContext, *texts: str, allowed: frozenset[int] | None = None) -> list[list[str]]:
    def run(session: Session) -> list[list[str]]:
        return [names(found) for found in resolve_mentions(session, [(text, allowed) for text in texts])]

    return await ctx.database.run(run)


@pytest.mark.backends
async def test_names_are_resolved_by_the_longest_registered_name_in_any_case_and_script(
    context: ServerContext,
) -> None:
    await users(context, "张三", "张三丰", "Иван", "Bob", "o'brien")
    assert await resolve(
        context,
        "@张三你好",  # Chinese without spaces: the longest registered name the text starts with
        "大家好@张三丰来了吗",  # 张三丰, not 张三: the longest wins
        "@BOB and @bob, again @Bob",  # any case; each user once
        "привет @иван!",  # Cyrillic, case-folded
        "@bobby",  # bob is registered, bobby is not: nobody
        "write to bob@example.com",  # an e-mail address mentions nobody
        "@nobody_here hi",  # unknown name
        "@bob's idea, @o'brien's too",  # a possessive after a name; an apostrophe inside one
        "no at sign at all",
    ) == [["张三"], ["张三丰"], ["Bob"], ["Иван"], [], [], [], ["Bob", "o'brien"], []]


@pytest.mark.backends
async def test_only_the_allowed_users_can_be_mentioned(context: ServerContext) -> None:
    people = await users(context, "alice", "bob", "carol")
    allowed = frozenset({people["alice"].id, people["bob"].id})
    assert await resolve(context, "@carol @bob @alice", allowed=allowed) == [["bob", "alice"]]


async def test_a_batch_is_one_query_and_a_text_without_at_none(context: ServerContext) -> None:
    await users(context, "alice", "bob")
    statements: list[str] = []

    def run(session: Session) -> list[tuple[UserRecord, ...]]:
        connection = session.connection()

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(connection, "before_cursor_execute", count)
        try:
            found = resolve_mentions(session, [(f"@alice {n} @bob", None) for n in range(300)])
            none = resolve_mentions(session, [("plain text", None)] * 300)
        finally:
            event.remove(connection, "before_cursor_execute", count)
        return found + none

    found = await context.database.run(run)
    assert [names(f) for f in found] == [["alice", "bob"]] * 300 + [[]] * 300
    assert len(statements) == 1


@pytest.mark.backends
async def test_mentions_are_stored_carried_by_send_ack_and_history(context: ServerContext) -> None:
    people = await users(context, "alice", "张三", "Bob")
    room = await context.rooms.create("lobby", people["alice"])
    alice = connect(context, people["alice"])
    await context.chat.handle(alice, EnterRoom(room.id))
    ack = await send(context, alice, room.id, "@张三你好 and @bob")
    expected = (User(people["张三"].id, "张三"), User(people["Bob"].id, "Bob"))
    assert ack.message.mentions == expected
    [posted] = [f for f in alice.received() if isinstance(f, MessagePosted)]
    assert posted.message.mentions == expected
    plain = await send(context, alice, room.id, "nobody here")
    assert plain.message.mentions == ()
    page = await context.history.page(room.id, viewer_id=people["alice"].id, limit=10)
    assert [m.mentions for m in page.messages] == [expected, ()]
    # Stored as JSON, NULL when none.
    stored = await context.database.run(
        lambda s: [m.mentions for m in s.query(models.Message).order_by(models.Message.id)]
    )
    assert stored[1] is None
    assert stored[0] is not None
    assert "张三" in stored[0]


@pytest.mark.backends
async def test_mentioned_goes_to_the_users_connections_not_in_the_room(context: ServerContext) -> None:
    people = await users(context, "alice", "bob", "carol")
    room = await context.rooms.create("lobby", people["alice"])
    alice = connect(context, people["alice"])
    bob_in_room, bob_watching, bob_elsewhere = (connect(context, people["bob"]) for _ in range(3))
    carol = connect(context, people["carol"])
    await context.chat.handle(alice, EnterRoom(room.id))
    await context.chat.handle(bob_in_room, EnterRoom(room.id))
    await context.chat.handle(bob_watching, EnterRoom(room.id, watch=True))
    ack = await send(context, alice, room.id, "@bob look, and @alice (myself)")
    assert names(ack.message.mentions) == ["bob", "alice"]
    # Bob's connections not present in the room (watching is not present) get MENTIONED, once.
    assert [m.message for m in mentioned_in(bob_watching)] == [ack.message]
    assert [m.message for m in mentioned_in(bob_elsewhere)] == [ack.message]
    # In the room he has the message already; alice mentioned herself; carol is not mentioned.
    assert mentioned_in(bob_in_room) == []
    assert mentioned_in(alice) == []
    assert mentioned_in(carol) == []


@pytest.mark.backends
async def test_in_a_direct_room_only_its_members_are_mentioned(context: ServerContext) -> None:
    people = await users(context, "alice", "bob", "carol")
    room_id = await context.database.run(direct_room, people["alice"].id, people["bob"].id)
    alice = connect(context, people["alice"])
    carol = connect(context, people["carol"])
    bob = connect(context, people["bob"])
    await context.chat.handle(alice, EnterRoom(room_id))
    ack = await send(context, alice, room_id, "@carol, @bob: hello")
    assert names(ack.message.mentions) == ["bob"]
    assert mentioned_in(carol) == []
    assert [m.message for m in mentioned_in(bob)] == [ack.message]


def direct_room(session: Session, low: int, high: int) -> int:
    """A direct room of two users, written as the schema keeps one (the dms endpoint is another
    part's)."""
    room = models.Room(user_id=low, room_name=f"dm-{low}-{high}", room_name_key=f"dm-{low}-{high}")
    room.kind = RoomKind.DIRECT.value
    session.add(room)
    session.flush()
    session.add(models.DirectRoom(room_id=room.id, user_low_id=min(low, high), user_high_id=max(low, high)))
    session.commit()
    return room.id


# -- over a real socket -------------------------------------------------------------------


@pytest.mark.backends
async def test_mentioned_over_a_socket_reaches_the_connection_outside_the_room(
    server: ServerThread, api: httpx.AsyncClient
) -> None:
    alice_token, _ = await register_and_login(api)
    bob_token, bob = await register_and_login(api)
    room = await create_room(api, alice_token)
    async with (
        chat_client(server.url, alice_token) as a,
        chat_client(server.url, bob_token) as in_room,
        chat_client(server.url, bob_token) as elsewhere,
    ):
        await a.enter(room["id"])
        await in_room.enter(room["id"])
        await a.expect(MsgType.ENTER)
        ack = await a.say(room["id"], f"hi @{bob['username'].upper()}!")
        message = ack.data["message"]
        assert message["mentions"] == [bob]
        note = await elsewhere.expect(MsgType.MENTIONED)
        assert note.data == {"message": message}
        # Bob in the room has the message and no MENTIONED: a SYNC's reply, sent after both, is
        # the barrier.
        assert (await in_room.expect(MsgType.SEND)).data == message
        await in_room.send(MsgType.SYNC, {"roomId": room["id"], "afterId": message["id"]}, "barrier")
        reply = await in_room.next()
        assert (reply.msg_type, reply.request_id) == (MsgType.SYNC, "barrier")
        assert in_room.skipped == []
        # History carries the mentions too.
        history = (await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(alice_token))).json()
        assert history[-1]["mentions"] == [bob]
