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

from gochat.protocol import Message, Room, RoomKind, User

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
    """A stored room. A direct room has ``kind`` direct and its two ``members`` (lower id
    first); to anyone else it does not exist (``visible_to``)."""

    id: int
    name: str
    creator: UserRecord
    created_at: datetime
    kind: RoomKind = RoomKind.PUBLIC
    members: tuple[UserRecord, UserRecord] | None = None

    @property
    def is_direct(self) -> bool:
        return self.kind == RoomKind.DIRECT

    def visible_to(self, user_id: int) -> bool:
        """Whether ``user_id`` may enter, watch, read, search or change anything in this room."""
        return self.members is None or any(member.id == user_id for member in self.members)

    def view(self, online: int = 0, reading: Reading = NOT_READ, viewer_id: int | None = None) -> Room:
        """The room as one user (``viewer_id``) sees it: ``reading`` is theirs (the default suits
        a frame sent to everyone about a room nobody has read yet). A direct room is named
        after the viewer's peer."""
        name = self.name
        if self.members is not None and viewer_id is not None:
            name = next((m.username for m in self.members if m.id != viewer_id), self.members[0].username)
        return Room(
            self.id,
            name,
            self.creator,
            self.created_at,
            online,
            reading.last_read_id,
            reading.unread,
            kind=self.kind,
            members=self.members,
        )

    def to_cache(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "creator": self.creator.to_wire(),
            "createdAt": self.created_at.isoformat(),
            "kind": self.kind.value,
        }
        if self.members is not None:
            data["members"] = [member.to_wire() for member in self.members]
        return data

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> RoomRecord:
        members = data.get("members")
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            creator=UserRecord.from_wire(data["creator"]),
            created_at=datetime.fromisoformat(data["createdAt"]),
            kind=RoomKind(data.get("kind", RoomKind.PUBLIC.value)),
            members=None if members is None else (UserRecord.from_wire(members[0]), UserRecord.from_wire(members[1])),
        )


@dataclass(frozen=True, slots=True)
class RoomPage:
    """One page of the room list in the order asked for, the caller's reading of each of its
    rooms (rooms missing from ``readings`` have no marker and no unread), and how many rooms
    match in all."""

    rooms: list[RoomRecord]
    readings: dict[int, Reading]
    total: int
