"""What one server tells the others through Redis, and how it is written there (JSON).

Two kinds of event:

- Stream events (``StoredBatch``, ``Edited``, ``Deleted``) carry revs from the one "rev"
  sequence of the shared database. Every server delivers them in rev order (ordering.py), so
  every member everywhere gets the same messages in the same rising-id order; one that never
  arrives is read back from the database.
- Everything else (presence, typing, new rooms, frames for one user, sessions closed) is
  delivered as it comes: no client resumes from them, and losing one while Redis is away costs
  a typing line or a live count that the next change corrects.

Each event names the server it came from (``origin``): a server acts on its own events when it
makes them, never again when Redis echoes them back. ``sent_at`` (epoch seconds) measures the
hop (metrics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gochat.protocol import Message, User


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """New messages committed together, in id order, with revs ``first_rev``..``last_rev``."""

    first_rev: int
    last_rev: int
    messages: tuple[Message, ...]
    # Each message's wire JSON when the server that stored them has it already (not sent).
    wire: tuple[str, ...] | None = field(default=None, compare=False, repr=False)


class _OneRev:
    """A change that took one rev: it is both the first and the last of its range."""

    __slots__ = ()
    rev: int

    @property
    def first_rev(self) -> int:
        return self.rev

    @property
    def last_rev(self) -> int:
        return self.rev


@dataclass(frozen=True, slots=True)
class Edited(_OneRev):
    rev: int
    message: Message
    # Users the text mentioned before the edit: they were notified already.
    mentioned_before: frozenset[int]


@dataclass(frozen=True, slots=True)
class Deleted(_OneRev):
    rev: int
    room_id: int
    message_id: int
    deleted_by: User


StreamEvent = StoredBatch | Edited | Deleted


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """``user`` entered or left ``room_id`` on the whole cluster; ``online`` counts after it, as of
    the room's presence ``version`` (Redis's; a server keeps the count of the highest it has seen,
    since events from several servers and its own reads of Redis arrive in any order)."""

    room_id: int
    user: User
    entered: bool
    online: int
    version: int = 0


@dataclass(frozen=True, slots=True)
class ToEveryone:
    frame: str


@dataclass(frozen=True, slots=True)
class ToUser:
    user_id: int
    frame: str


@dataclass(frozen=True, slots=True)
class TypingStarted:
    room_id: int
    user_id: int
    frame: str


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """Close with 4001 every connection of ``token_hash``, or with ``user_id`` every one of the user's."""

    reason: str
    token_hash: str | None = None
    user_id: int | None = None


ClusterEvent = StreamEvent | PresenceChanged | ToEveryone | ToUser | TypingStarted | SessionsEnded


def encode(event: ClusterEvent, origin: str, sent_at: float) -> str:
    """The event as one JSON text for Redis."""
    head = {"origin": origin, "sentAt": sent_at}
    match event:
        case StoredBatch():
            body: dict[str, Any] = {
                "t": "stored",
                "first": event.first_rev,
                "last": event.last_rev,
                "messages": [m.to_wire() for m in event.messages],
            }
        case Edited():
            body = {
                "t": "edited",
                "rev": event.rev,
                "message": event.message.to_wire(),
                "before": sorted(event.mentioned_before),
            }
        case Deleted():
            body = {
                "t": "deleted",
                "rev": event.rev,
                "roomId": event.room_id,
                "id": event.message_id,
                "by": event.deleted_by.to_wire(),
            }
        case PresenceChanged():
            body = {
                "t": "presence",
                "roomId": event.room_id,
                "user": event.user.to_wire(),
                "entered": event.entered,
                "online": event.online,
                "version": event.version,
            }
        case ToEveryone():
            body = {"t": "everyone", "frame": event.frame}
        case ToUser():
            body = {"t": "user", "userId": event.user_id, "frame": event.frame}
        case TypingStarted():
            body = {"t": "typing", "roomId": event.room_id, "userId": event.user_id, "frame": event.frame}
        case SessionsEnded():
            body = {"t": "ended", "reason": event.reason, "token": event.token_hash, "userId": event.user_id}
    return json.dumps(head | body, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Received:
    event: ClusterEvent
    origin: str
    sent_at: float


def from_origin(text: str | bytes, origin: str) -> bool:
    """Whether an event's text is one ``origin`` published (``encode`` writes the origin first):
    a server drops its own echo without decoding it."""
    head = f'{{"origin":{json.dumps(origin)},'
    if isinstance(text, bytes):
        return text.startswith(head.encode())
    return text.startswith(head)


def decode(text: str | bytes) -> Received:
    """An event another server published; ValueError (or KeyError/TypeError) when malformed."""
    data = json.loads(text)
    kind = data["t"]
    event: ClusterEvent
    if kind == "stored":
        event = StoredBatch(
            int(data["first"]), int(data["last"]), tuple(Message.from_wire(m) for m in data["messages"])
        )
    elif kind == "edited":
        event = Edited(int(data["rev"]), Message.from_wire(data["message"]), frozenset(map(int, data["before"])))
    elif kind == "deleted":
        event = Deleted(int(data["rev"]), int(data["roomId"]), int(data["id"]), User.from_wire(data["by"]))
    elif kind == "presence":
        event = PresenceChanged(
            int(data["roomId"]),
            User.from_wire(data["user"]),
            bool(data["entered"]),
            int(data["online"]),
            int(data.get("version", 0)),
        )
    elif kind == "everyone":
        event = ToEveryone(str(data["frame"]))
    elif kind == "user":
        event = ToUser(int(data["userId"]), str(data["frame"]))
    elif kind == "typing":
        event = TypingStarted(int(data["roomId"]), int(data["userId"]), str(data["frame"]))
    elif kind == "ended":
        token, user_id = data.get("token"), data.get("userId")
        event = SessionsEnded(
            str(data["reason"]), None if token is None else str(token), None if user_id is None else int(user_id)
        )
    else:
        raise ValueError(f"unknown cluster event {kind!r}")
    return Received(event, str(data["origin"]), float(data["sentAt"]))
