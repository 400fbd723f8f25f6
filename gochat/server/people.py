"""People: finding someone to talk to by part of their name, and whether they are connected."""

from __future__ import annotations

from gochat.protocol import USERNAME_MAX, USERS_SEARCH_MAX, Person, ValidationError
from gochat.server.fanout import Fanout
from gochat.server.store import queries
from gochat.server.store.database import Database


class People:
    def __init__(self, database: Database, fanout: Fanout) -> None:
        self._db = database
        self._fanout = fanout

    async def search(self, query: object) -> list[Person]:
        """Users whose name contains ``query`` ignoring case, at most USERS_SEARCH_MAX: the exact
        name first, then by name; ``online``: connected to any server."""
        if not isinstance(query, str) or not 1 <= len(query) <= USERNAME_MAX:
            raise ValidationError("q", f"q must be 1 to {USERNAME_MAX} characters long.")
        found = await self._db.run(queries.search_users, query, USERS_SEARCH_MAX)
        connected = await self._fanout.online_users([user.id for user in found])
        return [Person(user, user.id in connected) for user in found]
