"""RoomDirectory: the room list (paged, sorted and searched by the database), rooms by id (cached
like the seed's cache.go), and room creation."""

from __future__ import annotations

from gochat.protocol import Room, RoomCreated, RoomSort, encode_server_frame, validate_room_name
from gochat.server.cache import Cache
from gochat.server.errors import Conflict, NotFound
from gochat.server.fanout import Fanout
from gochat.server.limits import RateLimits
from gochat.server.records import NOT_READ, Reading, RoomPage, RoomRecord, UserRecord
from gochat.server.store import queries
from gochat.server.store.database import Database


class RoomDirectory:
    def __init__(self, database: Database, cache: Cache, fanout: Fanout, limits: RateLimits) -> None:
        self._db = database
        self._cache = cache
        self._fanout = fanout
        self._limits = limits

    async def page(
        self, user: UserRecord, *, query: str | None, sort: RoomSort, mine: bool, limit: int, offset: int
    ) -> RoomPage:
        """One page of the room list as ``user`` asked for it, with their readings and the total.
        Straight from the database: a page of a sorted, filtered list cannot come from a cache
        of the whole list without loading all of it."""
        return await self._db.run(
            queries.room_page, user.id, query=query, sort=sort, mine=mine, limit=limit, offset=offset
        )

    async def get(self, room_id: int) -> RoomRecord:
        room = await self._cache.get_room(room_id)
        if room is None:
            room = await self._db.run(queries.get_room, room_id)
            if room is None:
                raise NotFound(f"There is no room {room_id}.")
            await self._cache.add_room(room)
        return room

    async def get_visible(self, room_id: int, user_id: int) -> RoomRecord:
        """The room, if ``user_id`` may see it. Someone else's direct room is answered exactly
        as an id never used (NotFound, the same message), so its existence does not leak."""
        room = await self.get(room_id)
        if not room.visible_to(user_id):
            raise NotFound(f"There is no room {room_id}.")
        return room

    async def create(self, name: object, creator: UserRecord) -> RoomRecord:
        room_name = validate_room_name(name)
        # Every connection hears of a new room: a flood of them would be a flood for everyone.
        self._limits.create_room(creator.id)
        try:
            room = await self._db.run(queries.create_room, room_name, creator)
        except queries.NameTaken:
            raise Conflict("A room with that name exists already.") from None
        await self._cache.add_room(room)
        # Everyone connected learns of it, so room lists stay live without polling.
        self._fanout.to_everyone(encode_server_frame(RoomCreated(self.view(room))))
        return room

    def view(self, room: RoomRecord, reading: Reading | None = None, viewer_id: int | None = None) -> Room:
        """The room as one user (``viewer_id``) sees it, with their ``reading`` (None: they have none)."""
        return room.view(online=self._fanout.online(room.id), reading=reading or NOT_READ, viewer_id=viewer_id)
