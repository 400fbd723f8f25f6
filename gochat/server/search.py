"""MessageSearch: finding messages by their text, in the rooms the caller may read."""

from __future__ import annotations

from gochat.protocol import SEARCH_PAGE, validate_search_query
from gochat.server.records import MessageRecord, UserRecord
from gochat.server.rooms import RoomDirectory
from gochat.server.store import queries
from gochat.server.store.database import Database


class MessageSearch:
    def __init__(self, database: Database, rooms: RoomDirectory) -> None:
        self._db = database
        self._rooms = rooms

    async def find(
        self, user: UserRecord, query: object, *, room_id: int | None = None, before: int | None = None
    ) -> list[MessageRecord]:
        """One page (SEARCH_PAGE) of messages containing ``query``, ignoring case, newest first and
        older than ``before``: in ``room_id``, or in every room ``user`` may read. ValidationError
        for a query that is not 2 to 200 characters; NotFound for a room ``user`` may not read,
        exactly as for one that does not exist."""
        text = validate_search_query(query)
        if room_id is not None:
            room_id = (await self._rooms.get_visible(room_id, user.id)).id
        return await self._db.run(
            queries.search_messages, user.id, text, room_id=room_id, before=before, limit=SEARCH_PAGE
        )
