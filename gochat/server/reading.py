"""ReadMarkers: how far each user has read in each room, and how many messages wait for them.

A marker only moves forward. Having one makes a room the user's (the desktop follows it while
its window is closed). When a marker moves, every connection of that user hears of it (READ),
so unread counts agree across devices.
"""

from __future__ import annotations

from gochat.protocol import ReadMoved, encode_server_frame
from gochat.server.fanout import Fanout
from gochat.server.hub import Connection
from gochat.server.records import Reading, UserRecord
from gochat.server.store import queries
from gochat.server.store.database import Database


class ReadMarkers:
    def __init__(self, database: Database, fanout: Fanout) -> None:
        self._db = database
        self._fanout = fanout

    async def of_room(self, user: UserRecord, room_id: int) -> Reading:
        marker, unread, _newest = await self._db.run(queries.room_reading, user.id, room_id)
        return Reading(marker, unread)

    async def advance(self, user: UserRecord, room_id: int, last_read_id: int) -> Reading:
        """Move the user's marker forward (the room must exist: the caller checks)."""
        marker, unread, moved = await self._db.run(queries.advance_read_marker, user.id, room_id, last_read_id)
        reading = Reading(marker, unread)
        if moved:
            self.announce(user, room_id, reading)
        return reading

    def announce(self, user: UserRecord, room_id: int, reading: Reading, exclude: Connection | None = None) -> None:
        """READ to every connection of ``user``, on every server (but ``exclude``, which knows already)."""
        frame = encode_server_frame(ReadMoved(room_id, reading.last_read_id, reading.unread))
        self._fanout.to_user(user.id, frame, exclude)
