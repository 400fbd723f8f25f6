"""ChatService in-process, with an in-memory connection: every reply is a typed protocol frame,
and storage failing reaches the client as `unavailable` (an error frame naming the request, or a
503 from REST), never as a driver's exception."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from gochat import protocol
from gochat.protocol import Ack, EnterRoom, ErrorFrame, MessagePosted, RoomState, SendMessage, SyncPage, SyncRoom
from gochat.server.app import create_app
from gochat.server.config import Settings
from gochat.server.context import ServerContext
from gochat.server.errors import StorageUnavailable
from gochat.server.hub import next_connection_id
from gochat.server.records import UserRecord


@dataclass
class MemoryConnection:
    user: UserRecord
    token_hash: str = "t"
    id: int = field(default_factory=next_connection_id)
    frames: list[str] = field(default_factory=list)
    closed: tuple[int, str] | None = None

    def deliver(self, frame: str) -> None:
        self.frames.append(frame)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def received(self) -> list[protocol.ServerFrame]:
        return [protocol.decode_server_frame(frame) for frame in self.frames]


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[ServerContext]:
    ctx = await ServerContext.open(Settings(database_url=f"sqlite:///{tmp_path}/chat.sqlite3"))
    try:
        yield ctx
    finally:
        await ctx.close()


class DriverDown:
    """What a dead database connection looks like from inside SQLAlchemy."""

    def begin(self) -> None:
        raise OperationalError("SELECT ...", {}, Exception("Lost connection to MySQL server"))

    def connect(self) -> None:
        raise OperationalError("connect", {}, Exception("Can't connect to MySQL server"))


async def _alice_in_a_room(ctx: ServerContext) -> tuple[MemoryConnection, int]:
    alice = await ctx.accounts.register("alice", "correct horse")
    room = await ctx.rooms.create("lobby", alice)
    connection = MemoryConnection(alice)
    ctx.hub.register(connection)
    return connection, room.id


async def test_enter_send_and_sync_reply_with_typed_frames(context: ServerContext) -> None:
    connection, room_id = await _alice_in_a_room(context)
    assert await context.chat.handle(connection, EnterRoom(room_id, request_id="e1")) is None
    acknowledgement = await context.chat.handle(connection, SendMessage(room_id, "你好 😀", "c1", "s1"))
    assert acknowledgement is not None
    await acknowledgement
    await asyncio.sleep(0)  # the ACK is queued by the future's done callback
    await context.chat.handle(connection, SyncRoom(room_id, 0, "y1"))
    state, posted, ack, page = connection.received()
    assert isinstance(state, RoomState)
    assert (state.request_id, state.room.name, state.members, state.messages) == ("e1", "lobby", (connection.user,), ())
    assert isinstance(posted, MessagePosted)
    assert (posted.message.content, posted.message.client_msg_id) == ("你好 😀", "c1")
    assert isinstance(ack, Ack)
    assert (ack.message, ack.duplicate, ack.client_msg_id, ack.request_id) == (posted.message, False, "c1", "s1")
    assert isinstance(page, SyncPage)
    assert (page.messages, page.has_newer, page.request_id) == ((posted.message,), False, "y1")


@pytest.mark.allow_logged_errors
async def test_storage_down_is_storage_unavailable_not_a_driver_error(
    context: ServerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection, room_id = await _alice_in_a_room(context)
    await context.chat.handle(connection, EnterRoom(room_id))
    monkeypatch.setattr(context.database, "sessions", DriverDown())
    with pytest.raises(StorageUnavailable) as raised:
        await context.chat.handle(connection, SyncRoom(room_id, 0))
    assert "Lost connection" in raised.value.detail
    assert raised.value.code == "unavailable"


@pytest.mark.allow_logged_errors
async def test_a_message_storage_cannot_take_gets_unavailable_naming_it(
    context: ServerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection, room_id = await _alice_in_a_room(context)
    await context.chat.handle(connection, EnterRoom(room_id))
    connection.frames.clear()
    monkeypatch.setattr(context.database, "engine", DriverDown())
    acknowledgement = await context.chat.handle(connection, SendMessage(room_id, "lost?", "c9", "s9"))
    assert acknowledgement is not None
    with pytest.raises(StorageUnavailable):
        await acknowledgement
    await asyncio.sleep(0)
    [error] = connection.received()
    assert error == ErrorFrame("unavailable", "The message could not be stored; send it again.", 2, "c9", "s9")


@pytest.mark.allow_logged_errors
async def test_rest_answers_storage_down_with_503_and_a_reason(
    context: ServerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, room_id = await _alice_in_a_room(context)
    token, _ = await context.accounts.login("alice", "correct horse")
    app = create_app(context.settings, context)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gochat") as client:
        app.state.context = context  # no lifespan under ASGITransport: the context is ready already
        monkeypatch.setattr(context.database, "sessions", DriverDown())
        answer = await client.get(f"/api/rooms/{room_id}/messages", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503
    assert answer.json() == {"error": "unavailable", "message": "Storage is unavailable right now; try again shortly."}
