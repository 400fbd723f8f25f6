"""DirectRooms: conversations of exactly two users — opening one, listing a user's, and telling
the other member when one gets its first message.

A direct room is a room (kind direct, its members in direct_rooms) that only its two members
can see (RoomRecord.visible_to; RoomDirectory.get_visible answers anyone else as for an id
never used). Opening one announces nothing; its first message does, to the other member only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from gochat.protocol import (
    DIRECT_ROOMS_MAX,
    DirectConversation,
    RoomCreated,
    ValidationError,
    encode_server_frame,
    username_key,
    validate_username,
)
from gochat.server.cache import Cache
from gochat.server.errors import ChatError, NotFound, log_if_storage_failed
from gochat.server.fanout import Fanout
from gochat.server.hub import RoomHub
from gochat.server.records import MessageRecord, RoomRecord, UserRecord
from gochat.server.rooms import RoomDirectory
from gochat.server.store import queries
from gochat.server.store.database import Database
from gochat.server.store.writer import Committed

log = logging.getLogger(__name__)

# How many times a request that lost the race to make the same room reads it again (once is
# enough: the winner committed before the loser's insert failed).
_RACE_RETRIES = 3
# The empty direct rooms kept for their first message are swept of rooms nobody here follows
# any more once there are this many (and then twice as many as were kept).
_SWEEP_FLOOR = 64


class DirectRooms:
    def __init__(self, database: Database, cache: Cache, rooms: RoomDirectory, hub: RoomHub, fanout: Fanout) -> None:
        self._db = database
        self._cache = cache
        self._rooms = rooms
        self._hub = hub
        self._fanout = fanout
        # Direct rooms someone here entered or watched while they had no message: the first
        # message committed here in one of them is checked against the database (a stale ENTER
        # may have put back a room that has messages) and announced to the other member.
        self._awaiting_first: dict[int, RoomRecord] = {}
        self._sweep_at = _SWEEP_FLOOR
        self._announcing: set[asyncio.Task[None]] = set()

    async def open(self, asker: UserRecord, username: object) -> tuple[RoomRecord, bool]:
        """The direct room of ``asker`` and the user called ``username``, and whether it was made
        now. One room per two users however many ask at once, on however many servers: the
        database's unique pair decides, and a request that lost the race reads the winner's."""
        name = validate_username(username)
        if username_key(name) == username_key(asker.username):
            raise ValidationError("username", "A direct conversation needs someone else: that is you.")
        other = await self._db.run(queries.find_user, name)
        if other is None:
            raise NotFound("There is no user with that name.")
        for _ in range(_RACE_RETRIES):
            try:
                room, made = await self._db.run(queries.open_direct_room, asker, other)
            except queries.DirectRoomTaken:
                continue
            if made:
                await self._cache.add_room(room)
            return room, made
        # Only if the unique pair were missing: the loser of a race finds the winner's room at once.
        raise ChatError("The direct room could not be opened; try again.")

    async def conversations(self, user: UserRecord) -> list[DirectConversation]:
        """``user``'s direct rooms as they see them, the most recent activity first (at most
        DIRECT_ROOMS_MAX), each with the other member and its newest message."""
        found = await self._db.run(queries.direct_conversations, user.id, DIRECT_ROOMS_MAX)
        conversations = []
        for room, last_message, reading in found:
            view = self._rooms.view(room, reading, viewer_id=user.id)
            peer = view.peer_of(user.id)
            assert peer is not None  # a direct room has two members
            conversations.append(DirectConversation(view, peer, last_message))
        return conversations

    # -- the first message -------------------------------------------------------------

    def expect_first_message(self, room: RoomRecord) -> None:
        """``room``, a direct room, had no message when someone here entered or watched it (the
        only way to send to it): its first message will be announced."""
        self._awaiting_first[room.id] = room
        if len(self._awaiting_first) > self._sweep_at:
            # Rooms nobody here is in or watching can get no message from here until someone
            # enters again (which puts them back): forget them, so the map stays bounded.
            self._awaiting_first = {
                room_id: kept for room_id, kept in self._awaiting_first.items() if self._hub.is_followed(room_id)
            }
            self._sweep_at = max(_SWEEP_FLOOR, 2 * len(self._awaiting_first))

    def messages_committed(self, batch: Sequence[Committed]) -> None:
        """A batch the writer just committed here, in id order: the first new message in a direct
        room waiting for one is announced to the room's other member. A dictionary look-up per
        message, and nothing at all while no empty direct room is followed here."""
        if not self._awaiting_first:
            return
        for committed in batch:
            message = committed.message
            room = self._awaiting_first.pop(message.room_id, None) if committed.is_new else None
            if room is not None:
                task = asyncio.create_task(self._announce_if_first(room, message), name=f"direct-first-{room.id}")
                self._announcing.add(task)
                task.add_done_callback(self._announcing.discard)

    async def _announce_if_first(self, room: RoomRecord, message: MessageRecord) -> None:
        """ROOM_CREATED (8) to every connection of the room's other member, with the room as
        they see it — if ``message`` is the room's first (the database says) and they are connected
        (to any server)."""
        assert room.members is not None
        peer = next(member for member in room.members if member.id != message.author.id)
        if not await self._fanout.online_users([peer.id]):
            return  # offline: GET /api/dms has it, with its unread count, when they come back
        try:
            reading = await self._db.run(queries.first_message_reading, room.id, message.id, peer.id)
        except ChatError as exc:
            log_if_storage_failed(exc)
            return
        if reading is None:
            return
        frame = encode_server_frame(RoomCreated(self._rooms.view(room, reading, viewer_id=peer.id)))
        self._fanout.to_user(peer.id, frame)

    async def close(self) -> None:
        """Finish the announcements under way (before storage closes)."""
        if self._announcing:
            await asyncio.gather(*self._announcing, return_exceptions=True)
