"""RoomDirectory: the room list (cached like the seed's cache.go) and room creation."""

from __future__ import annotations

from gochat.protocol import Room, RoomCreated, encode_server_frame, validate_room_name
from gochat.server.cache import Cache
from gochat.server.errors import Conflict, NotFound
from gochat.server.hub import RoomHub
from gochat.server.limits import RateLimits
from gochat.server.records import NOT_READ, Reading, RoomRecord, UserRecord
from gochat.server.store import queries
from gochat.server.store.database import Database


class RoomDirectory:
    def __init__(self, database: Database, cache: Cache, hub: RoomHub, limits: RateLimits) -> None:
        self._db = database
        self._cache = cache
        self._hub = hub
        self._limits = limits

    async def all(self) -> list[RoomRecord]:
        rooms = await self._cache.get_rooms()
        if rooms is None:
            rooms = await self._db.run(queries.list_rooms)
            await self._cache.put_rooms(rooms)
        return rooms

    async def search(self, query: str | None) -> list[RoomRecord]:
        rooms = await self.all()
        if query:
            needle = query.casefold()
            rooms = [room for room in rooms if needle in room.name.casefold()]
        return rooms

    async def get(self, room_id: int) -> RoomRecord:
        for cached in await self._cache.get_rooms() or ():
            if cached.id == room_id:
                return cached
        room = await self._db.run(queries.get_room, room_id)
        if room is None:
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
        self._hub.broadcast_everyone(encode_server_frame(RoomCreated(self.view(room))))
        return room

    def view(self, room: RoomRecord, reading: Reading | None = None) -> Room:
        """The room as one user sees it, with their ``reading`` (None: they have none)."""
        return room.view(online=self._hub.online(room.id), reading=reading or NOT_READ)
