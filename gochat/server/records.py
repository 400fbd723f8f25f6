"""Plain records passed between storage, cache and transport, with their wire (JSON) shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gochat.protocol import dumps


def iso_utc(moment: datetime) -> str:
    """UTC ISO-8601 with a Z, millisecond precision: 2026-11-27T06:48:45.123Z."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> UserRecord:
        return cls(id=int(data["id"]), username=str(data["username"]))


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

    def to_wire(self) -> dict[str, Any]:
        return {"lastReadId": self.last_read_id, "unread": self.unread}


NOT_READ = Reading()


@dataclass(frozen=True, slots=True)
class RoomRecord:
    id: int
    name: str
    creator: UserRecord
    created_at: datetime

    def to_wire(self, online: int = 0, reading: Reading = NOT_READ) -> dict[str, Any]:
        """The room as one user sees it: ``reading`` is theirs (the default suits a frame sent
        to everyone about a room nobody has read yet)."""
        return {
            "id": self.id,
            "name": self.name,
            "creator": self.creator.to_wire(),
            "createdAt": iso_utc(self.created_at),
            "online": online,
            "lastReadId": reading.last_read_id,
            "unread": reading.unread,
        }

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
class MessageRecord:
    id: int
    room_id: int
    author: UserRecord
    content: str
    created_at: datetime
    client_msg_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "roomId": self.room_id,
            "author": self.author.to_wire(),
            "content": self.content,
            "createdAt": iso_utc(self.created_at),
        }
        if self.client_msg_id is not None:
            data["clientMsgId"] = self.client_msg_id
        return data

    def wire_json(self) -> str:
        """``dumps(self.to_wire())``, character for character, without building the dicts: every
        message stored is encoded once, on the event loop, so this is on its hot path."""
        client_msg_id = "" if self.client_msg_id is None else f',"clientMsgId":{dumps(self.client_msg_id)}'
        return (
            f'{{"id":{self.id},"roomId":{self.room_id},'
            f'"author":{{"id":{self.author.id},"username":{dumps(self.author.username)}}},'
            f'"content":{dumps(self.content)},"createdAt":{dumps(iso_utc(self.created_at))}{client_msg_id}}}'
        )
