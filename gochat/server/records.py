"""Plain records passed between storage, cache and transport.

A user and a message are the protocol's own values (gochat/protocol.py writes their JSON
shape, once): the server stores and sends exactly what a client decodes. A room record is
the stored room; what a user sees of it (online count, their read marker) is added by
``RoomRecord.view``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gochat.protocol import Message, Room, User

UserRecord = User
MessageRecord = Message


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """A user with their password hash: never leaves the server."""

    user: UserRecord
    password_hash: str


@dataclass(frozen=True, slots=True)
class Reading:
    """One user's place in one room: their read marker (None: they never entered it) and how
    many messages from others lie after it."""

    last_read_id: int | None = None
    unread: int = 0


NOT_READ = Reading()


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Messages oldest first, and whether more lie beyond them in the direction paged."""

    messages: list[MessageRecord]
    more: bool


@dataclass(frozen=True, slots=True)
class RoomRecord:
    id: int
    name: str
    creator: UserRecord
    created_at: datetime

    def view(self, online: int = 0, reading: Reading = NOT_READ) -> Room:
        """The room as one user sees it: ``reading`` is theirs (the default suits a frame sent
        to everyone about a room nobody has read yet)."""
        return Room(self.id, self.name, self.creator, self.created_at, online, reading.last_read_id, reading.unread)

    def to_cache(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "creator": self.creator.to_wire(),
            "createdAt": self.created_at.isoformat(),
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> RoomRecord:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            creator=UserRecord.from_wire(data["creator"]),
            created_at=datetime.fromisoformat(data["createdAt"]),
        )


@dataclass(frozen=True, slots=True)
class RoomPage:
    """One page of the room list in the order asked for, the caller's reading of each of its
    rooms (rooms missing from ``readings`` have no marker and no unread), and how many rooms
    match in all."""

    rooms: list[RoomRecord]
    readings: dict[int, Reading]
    total: int
