"""ChatService: what entering, sending, leaving and syncing mean. Testable without sockets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gochat.protocol import (
    HISTORY_DEFAULT_LIMIT,
    EnterRoom,
    LeaveRoom,
    MsgType,
    SendMessage,
    SyncRoom,
    ack_frame,
    encode_server_frame,
    message_frame,
)
from gochat.server.errors import NotInRoom
from gochat.server.hub import Connection, RoomHub
from gochat.server.records import MessageRecord
from gochat.server.rooms import RoomDirectory
from gochat.server.store import queries
from gochat.server.store.database import Database
from gochat.server.store.writer import Committed, MessageWriter

log = logging.getLogger(__name__)

# How many missed messages one reply carries; a client asks again while hasNewer is true.
SYNC_PAGE = 500


def _messages(records: list[MessageRecord]) -> list[dict[str, Any]]:
    return [record.to_wire() for record in records]


class ChatService:
    def __init__(self, database: Database, rooms: RoomDirectory, hub: RoomHub) -> None:
        self._db = database
        self._rooms = rooms
        self._hub = hub
        self.writer = MessageWriter(database, self.broadcast_committed)

    # -- sending ---------------------------------------------------------------------

    def submit(self, connection: Connection, request: SendMessage) -> asyncio.Future[Committed]:
        """Queue a message for storage, in the order frames arrived; raises NotInRoom."""
        if not self._hub.is_in(connection, request.room_id):
            raise NotInRoom(f"Enter room {request.room_id} before sending to it.")
        return self.writer.submit(connection.user, request.room_id, request.content, request.client_msg_id)

    def broadcast_committed(self, batch: list[Committed]) -> None:
        """The writer's listener: each new message goes to its room once, in id order."""
        for committed in batch:
            if committed.is_new:
                message = committed.message
                self._hub.broadcast(message.room_id, message_frame(committed.message_json()), message_id=message.id)

    @staticmethod
    def ack_frame(request: SendMessage, committed: Committed) -> str:
        return ack_frame(committed.message_json(), not committed.is_new, request.client_msg_id, request.request_id)

    # -- presence and history --------------------------------------------------------

    async def enter(self, connection: Connection, request: EnterRoom) -> None:
        room = await self._rooms.get(request.room_id)
        newly_present = self._hub.enter(connection, room.id)
        try:
            data: dict[str, Any] = {"room": self._rooms.to_wire(room)}
            if request.after_id is None:
                page = await self._db.run(queries.history_before, room.id, None, HISTORY_DEFAULT_LIMIT + 1)
                data["hasOlder"] = len(page) > HISTORY_DEFAULT_LIMIT
                page = page[-HISTORY_DEFAULT_LIMIT:]
            else:
                page = await self._db.run(queries.messages_after, room.id, request.after_id, SYNC_PAGE + 1)
                data["hasNewer"] = len(page) > SYNC_PAGE
                page = page[:SYNC_PAGE]
        except BaseException:
            self._hub.leave(connection, room.id)  # never announced, so nothing to take back
            raise
        data["roomId"] = room.id
        data["members"] = [user.to_wire() for user in self._hub.members(room.id)]
        data["messages"] = _messages(page)
        connection.deliver(encode_server_frame(MsgType.ROOM_STATE, data, request.request_id))
        upto = page[-1].id if page else (request.after_id or 0)
        self._hub.finish_join(connection, room.id, upto)
        if newly_present:
            self._announce(MsgType.ENTER, connection, room.id, exclude=connection)

    async def sync(self, connection: Connection, request: SyncRoom) -> None:
        room = await self._rooms.get(request.room_id)
        page = await self._db.run(queries.messages_after, room.id, request.after_id, SYNC_PAGE + 1)
        data = {"roomId": room.id, "messages": _messages(page[:SYNC_PAGE]), "hasNewer": len(page) > SYNC_PAGE}
        connection.deliver(encode_server_frame(MsgType.SYNC, data, request.request_id))

    def leave(self, connection: Connection, request: LeaveRoom) -> None:
        if not self._hub.is_in(connection, request.room_id):
            raise NotInRoom(f"You are not in room {request.room_id}.")
        now_absent = self._hub.leave(connection, request.room_id)
        reply = self._presence(connection, request.room_id)
        connection.deliver(encode_server_frame(MsgType.LEAVE, reply, request.request_id))
        if now_absent:
            self._announce(MsgType.LEAVE, connection, request.room_id)

    def disconnected(self, connection: Connection) -> None:
        for room_id in self._hub.unregister(connection):
            self._announce(MsgType.LEAVE, connection, room_id)

    def _announce(
        self, msg_type: MsgType, connection: Connection, room_id: int, exclude: Connection | None = None
    ) -> None:
        self._hub.broadcast(
            room_id, encode_server_frame(msg_type, self._presence(connection, room_id)), exclude=exclude
        )

    def _presence(self, connection: Connection, room_id: int) -> dict[str, Any]:
        return {"roomId": room_id, "user": connection.user.to_wire(), "online": self._hub.online(room_id)}
