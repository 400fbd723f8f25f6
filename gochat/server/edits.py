"""MessageEdits: editing and deleting stored messages, and who is a server admin. Testable
without sockets: the transport hands in the caller and the ids; the room hears of each change
(MESSAGE_EDITED 10, MESSAGE_DELETED 11) from here."""

from __future__ import annotations

from collections.abc import Iterable

from gochat.protocol import username_key, validate_content
from gochat.server.errors import Forbidden, NotFound
from gochat.server.fanout import Fanout
from gochat.server.limits import RateLimits
from gochat.server.records import MessageRecord, UserRecord
from gochat.server.rooms import RoomDirectory
from gochat.server.store import queries
from gochat.server.store.database import Database


def _no_message(room_id: int, message_id: int) -> NotFound:
    # One answer for a message never stored, deleted, or in another room.
    return NotFound(f"There is no message {message_id} in room {room_id}.")


class MessageEdits:
    def __init__(
        self,
        database: Database,
        rooms: RoomDirectory,
        fanout: Fanout,
        limits: RateLimits,
        admins: Iterable[str],
    ) -> None:
        self._db = database
        self._rooms = rooms
        self._fanout = fanout
        self._limits = limits
        # Compared as usernames are: "Alice" on the command line is the account alice.
        self._admins = frozenset(username_key(name) for name in admins)

    def is_admin(self, user: UserRecord) -> bool:
        return username_key(user.username) in self._admins

    async def edit(self, user: UserRecord, room_id: int, message_id: int, content: object) -> MessageRecord:
        """Replace the text of ``user``'s own message; the room (present and watching) gets
        MESSAGE_EDITED, and people the new text mentions that the old one did not get MENTIONED
        (as for a new message: those not present in the room). NotFound for a room the user
        cannot see or a message not (or no longer) in it, Forbidden for someone else's message,
        RateLimited past the user's pace, ValidationError for content that could not be sent."""
        text = validate_content(content)
        room = await self._rooms.get_visible(room_id, user.id)
        self._limits.edit(user.id)
        mentionable = None if room.members is None else frozenset(member.id for member in room.members)
        try:
            outcome = await self._db.run(queries.edit_message, room.id, message_id, user.id, text, mentionable)
        except queries.ChangeRefused:
            raise Forbidden("Only its author may edit a message.") from None
        if outcome is None:
            raise _no_message(room.id, message_id)
        edited, mentioned_before = outcome
        # The room hears of it (on every server), and who the new text newly mentions.
        self._fanout.edited(edited, {u.id for u in mentioned_before})
        return edited

    async def delete(self, user: UserRecord, room_id: int, message_id: int) -> None:
        """Make a message a tombstone (its text gone from the database); the room gets
        MESSAGE_DELETED. Its author, the room's creator or a server admin may (a direct room's
        creator too: whoever asked for it first — the issue's rule, docs/protocol.md); Forbidden
        for anyone else, NotFound as for ``edit``."""
        room = await self._rooms.get_visible(room_id, user.id)
        any_author = room.creator.id == user.id or self.is_admin(user)
        try:
            rev = await self._db.run(queries.delete_message, room.id, message_id, user.id, any_author)
        except queries.ChangeRefused:
            raise Forbidden("Only its author, the room's creator or a server admin may delete a message.") from None
        if rev is None:
            raise _no_message(room.id, message_id)
        self._fanout.deleted(room.id, message_id, user, rev)
