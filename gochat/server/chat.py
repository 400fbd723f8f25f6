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
from gochat.server.reading import ReadMarkers
from gochat.server.records import MessageRecord, Reading, RoomRecord
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
    def __init__(self, database: Database, rooms: RoomDirectory, hub: RoomHub, markers: ReadMarkers) -> None:
        self._db = database
        self._rooms = rooms
        self._hub = hub
        self._markers = markers
        self.writer = MessageWriter(database, self.broadcast_committed)

    # -- sending ---------------------------------------------------------------------

    def submit(self, connection: Connection, request: SendMessage) -> asyncio.Future[Committed]:
        """Queue a message for storage, in the order frames arrived; raises NotInRoom."""
        if not self._hub.may_send(connection, request.room_id):
            raise NotInRoom(f"Enter or watch room {request.room_id} before sending to it.")
        return self.writer.submit(connection.user, request.room_id, request.content, request.client_msg_id)

    def broadcast_committed(self, batch: list[Committed]) -> None:
        """The writer's listener: each new message goes to its room (present and watching
        connections) once, in id order."""
        for committed in batch:
            if committed.is_new:
                message = committed.message
                frame = message_frame(committed.message_json())
                self._hub.broadcast(message.room_id, frame, message_id=message.id, watchers=True)

    @staticmethod
    def ack_frame(request: SendMessage, committed: Committed) -> str:
        return ack_frame(committed.message_json(), not committed.is_new, request.client_msg_id, request.request_id)

    # -- presence and history --------------------------------------------------------

    async def enter(self, connection: Connection, request: EnterRoom) -> None:
        room = await self._rooms.get(request.room_id)
        if request.watch:
            await self._watch(connection, room, request)
            return
        newly_present = self._hub.enter(connection, room.id)
        user = connection.user
        try:
            if request.after_id is None:
                (marker, unread, newest, joined), page = await self._db.run(
                    queries.enter_room, user.id, room.id, None, HISTORY_DEFAULT_LIMIT + 1
                )
                has_more = {"hasOlder": len(page) > HISTORY_DEFAULT_LIMIT}
                page = page[-HISTORY_DEFAULT_LIMIT:]
            else:
                (marker, unread, newest, joined), page = await self._db.run(
                    queries.enter_room, user.id, room.id, request.after_id, SYNC_PAGE + 1
                )
                has_more = {"hasNewer": len(page) > SYNC_PAGE}
                page = page[:SYNC_PAGE]
        except BaseException:
            self._hub.leave(connection, room.id)  # never announced, so nothing to take back
            raise
        reading = Reading(marker, unread)
        data = self._room_state(room, reading, newest)
        data.update(has_more)
        data["members"] = [member.to_wire() for member in self._hub.members(room.id)]
        data["messages"] = _messages(page)
        connection.deliver(encode_server_frame(MsgType.ROOM_STATE, data, request.request_id))
        upto = page[-1].id if page else (request.after_id or 0)
        self._hub.finish_join(connection, room.id, upto)
        if newly_present:
            self._announce(MsgType.ENTER, connection, room.id, exclude=connection)
        if joined:
            # The room is now theirs: their other devices start following it too.
            self._markers.announce(user, room.id, reading, exclude=connection)

    async def _watch(self, connection: Connection, room: RoomRecord, request: EnterRoom) -> None:
        """Follow the room's messages without presence: no announcement, not a member, not
        online. The reply is the room with the user's read marker and unread count."""
        was_watching = self._hub.is_watching(connection, room.id)
        self._hub.watch(connection, room.id)
        try:
            marker, unread, newest = await self._db.run(queries.room_reading, connection.user.id, room.id)
        except BaseException:
            if not was_watching:
                self._hub.unwatch(connection, room.id)
            raise
        data = self._room_state(room, Reading(marker, unread), newest)
        data["watching"] = True
        connection.deliver(encode_server_frame(MsgType.ROOM_STATE, data, request.request_id))
        # Messages up to ``newest`` are in the count; those after it follow live, once.
        self._hub.finish_join(connection, room.id, newest)

    def _room_state(self, room: RoomRecord, reading: Reading, newest: int) -> dict[str, Any]:
        # lastMessageId: the newest message the count covers, so a client that also gets the
        # room's messages live (it is present) counts none of them twice.
        return {
            "roomId": room.id,
            "room": self._rooms.to_wire(room, reading),
            **reading.to_wire(),
            "lastMessageId": newest,
        }

    async def sync(self, connection: Connection, request: SyncRoom) -> None:
        room = await self._rooms.get(request.room_id)
        page = await self._db.run(queries.messages_after, room.id, request.after_id, SYNC_PAGE + 1)
        data = {"roomId": room.id, "messages": _messages(page[:SYNC_PAGE]), "hasNewer": len(page) > SYNC_PAGE}
        connection.deliver(encode_server_frame(MsgType.SYNC, data, request.request_id))

    def leave(self, connection: Connection, request: LeaveRoom) -> None:
        """End presence (a watch set before stays); with ``unwatch``, end the watch as well."""
        present = self._hub.is_in(connection, request.room_id)
        watching = request.unwatch and self._hub.is_watching(connection, request.room_id)
        if not present and not watching:
            raise NotInRoom(f"You are not in room {request.room_id}.")
        now_absent = present and self._hub.leave(connection, request.room_id)
        if watching:
            self._hub.unwatch(connection, request.room_id)
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
        # Watchers hear it too: their room list's online count stays live.
        frame = encode_server_frame(msg_type, self._presence(connection, room_id))
        self._hub.broadcast(room_id, frame, exclude=exclude, watchers=True)

    def _presence(self, connection: Connection, room_id: int) -> dict[str, Any]:
        return {"roomId": room_id, "user": connection.user.to_wire(), "online": self._hub.online(room_id)}
