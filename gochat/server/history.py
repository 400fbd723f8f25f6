"""History: pages of a room's messages, for REST and for SYNC alike (one pager, one order)."""

from __future__ import annotations

from gochat.server.records import HistoryPage
from gochat.server.rooms import RoomDirectory
from gochat.server.store import queries
from gochat.server.store.database import Database


class History:
    def __init__(self, database: Database, rooms: RoomDirectory) -> None:
        self._db = database
        self._rooms = rooms

    async def page(
        self, room_id: int, *, viewer_id: int, before: int | None = None, after: int | None = None, limit: int
    ) -> HistoryPage:
        """The newest ``limit`` messages, those just older than ``before``, or the first after
        ``after``, oldest first; raises NotFound for a room that does not exist or that
        ``viewer_id`` may not see (someone else's direct room)."""
        room = await self._rooms.get_visible(room_id, viewer_id)
        return await self._db.run(queries.history_page, room.id, before=before, after=after, limit=limit)
