"""Pure client state: room timelines, pending messages, unread counts. No Qt, no I/O.

A Timeline keeps one room's items in display order: confirmed messages by id (with system
lines such as "alice entered" where they happened), then the user's pending messages in the
order typed. Every change returns what moved, so a Qt model can announce exactly those rows.
"""

from __future__ import annotations

import bisect
import itertools
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any


class Status(Enum):
    SENT = "sent"
    PENDING = "pending"
    FAILED = "failed"


class LinkState(Enum):
    """The live connection, as every window shows it."""

    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"  # dropped; reconnecting
    CLOSED = "closed"  # logged out or stopped; no reconnecting


class Kind(Enum):
    MESSAGE = "message"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> User:
        return cls(int(data["id"]), str(data["username"]))


@dataclass(frozen=True, slots=True)
class Room:
    id: int
    name: str
    creator: User
    created_at: datetime
    online: int = 0

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Room:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            creator=User.from_wire(data["creator"]),
            created_at=parse_time(data["createdAt"]),
            online=int(data.get("online", 0)),
        )


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Item:
    """One row of a chat window."""

    kind: Kind
    text: str
    created_at: datetime
    # Sort key among confirmed items: (message id, 0) for a message; (id of the message
    # before it, n) for the n-th system line after that message.
    key: tuple[int, int]
    message_id: int | None = None
    author: User | None = None
    client_msg_id: str | None = None
    status: Status = Status.SENT
    mine: bool = False


def message_item(data: dict[str, Any], me: User | None) -> Item:
    author = User.from_wire(data["author"])
    return Item(
        kind=Kind.MESSAGE,
        text=str(data["content"]),
        created_at=parse_time(data["createdAt"]),
        key=(int(data["id"]), 0),
        message_id=int(data["id"]),
        author=author,
        client_msg_id=data.get("clientMsgId"),
        mine=me is not None and author.id == me.id,
    )


@dataclass(frozen=True, slots=True)
class Inserted:
    row: int
    count: int


@dataclass(frozen=True, slots=True)
class Updated:
    row: int


@dataclass(frozen=True, slots=True)
class Removed:
    row: int
    count: int = 1


Change = Inserted | Updated | Removed


@dataclass
class Timeline:
    """One room's messages as shown: confirmed (sorted), then pending."""

    me: User | None = None
    confirmed: list[Item] = field(default_factory=list)
    pending: list[Item] = field(default_factory=list)
    has_older: bool = False
    _system_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __len__(self) -> int:
        return len(self.confirmed) + len(self.pending)

    def __getitem__(self, row: int) -> Item:
        return self.confirmed[row] if row < len(self.confirmed) else self.pending[row - len(self.confirmed)]

    def items(self) -> list[Item]:
        return [*self.confirmed, *self.pending]

    @property
    def last_id(self) -> int:
        """The newest confirmed message id: where to resume after a reconnect."""
        for item in reversed(self.confirmed):
            if item.message_id is not None:
                return item.message_id
        return 0

    @property
    def oldest_id(self) -> int | None:
        for item in self.confirmed:
            if item.message_id is not None:
                return item.message_id
        return None

    def _has_id(self, message_id: int) -> bool:
        row = bisect.bisect_left(self.confirmed, (message_id, 0), key=lambda i: i.key)
        return row < len(self.confirmed) and self.confirmed[row].key == (message_id, 0)

    def add_message(self, data: dict[str, Any]) -> list[Change]:
        """A message from the server (live, history or resume): placed by id, once."""
        item = message_item(data, self.me)
        assert item.message_id is not None
        if self._has_id(item.message_id):
            return []
        changes: list[Change] = []
        if item.client_msg_id is not None and item.mine:
            for index, waiting in enumerate(self.pending):
                if waiting.client_msg_id == item.client_msg_id:
                    del self.pending[index]
                    changes.append(Removed(len(self.confirmed) + index))
                    break
        row = bisect.bisect_left(self.confirmed, item.key, key=lambda i: i.key)
        self.confirmed.insert(row, item)
        changes.append(Inserted(row, 1))
        return changes

    def add_history(self, messages: list[dict[str, Any]], has_older: bool | None = None) -> list[Change]:
        """A page of messages (any order relative to what is shown); returns one change each."""
        if has_older is not None:
            self.has_older = has_older
        changes: list[Change] = []
        for data in messages:
            changes.extend(self.add_message(data))
        return changes

    def drop_older(self, keep: int) -> list[Change]:
        """Forget all but the newest ``keep`` confirmed rows (pending ones stay). The messages
        are on the server: ``has_older`` turns true, and scrolling up loads them again from
        ``oldest_id``, without a gap. System lines dropped with them are not on the server and
        do not come back."""
        drop = len(self.confirmed) - keep
        if drop <= 0:
            return []
        if any(item.message_id is not None for item in self.confirmed[:drop]):
            self.has_older = True
        del self.confirmed[:drop]
        return [Removed(0, drop)]

    def add_system(self, text: str, when: datetime | None = None) -> list[Change]:
        item = Item(Kind.SYSTEM, text, when or now_utc(), key=(self.last_id, next(self._system_seq)))
        row = bisect.bisect_right(self.confirmed, item.key, key=lambda i: i.key)
        self.confirmed.insert(row, item)
        return [Inserted(row, 1)]

    def add_pending(self, text: str, client_msg_id: str | None = None) -> tuple[Item, list[Change]]:
        item = Item(
            Kind.MESSAGE,
            text,
            now_utc(),
            key=(0, 0),
            author=self.me,
            client_msg_id=client_msg_id or uuid.uuid4().hex,
            status=Status.PENDING,
            mine=True,
        )
        self.pending.append(item)
        return item, [Inserted(len(self) - 1, 1)]

    def _pending_row(self, client_msg_id: str) -> int | None:
        for index, item in enumerate(self.pending):
            if item.client_msg_id == client_msg_id:
                return index
        return None

    def acknowledge(self, client_msg_id: str, message: dict[str, Any]) -> list[Change]:
        """The server committed a pending message (the broadcast may have come first)."""
        return self.add_message(message) if self._pending_row(client_msg_id) is not None else []

    def mark_failed(self, client_msg_id: str) -> list[Change]:
        return self._set_status(client_msg_id, Status.FAILED)

    def mark_pending(self, client_msg_id: str) -> list[Change]:
        """A failed message is being retried."""
        return self._set_status(client_msg_id, Status.PENDING)

    def _set_status(self, client_msg_id: str, status: Status) -> list[Change]:
        index = self._pending_row(client_msg_id)
        if index is None:
            return []
        self.pending[index] = replace(self.pending[index], status=status)
        return [Updated(len(self.confirmed) + index)]

    def unsent(self) -> list[Item]:
        """Pending (not failed) messages, in the order typed: what to send after a reconnect."""
        return [item for item in self.pending if item.status is Status.PENDING]


@dataclass
class UnreadCounts:
    """Messages that arrived in rooms the user was not looking at."""

    counts: dict[int, int] = field(default_factory=dict)

    def arrived(self, room_id: int, *, seen: bool, mine: bool) -> int:
        if not seen and not mine:
            self.counts[room_id] = self.counts.get(room_id, 0) + 1
        return self.counts.get(room_id, 0)

    def read(self, room_id: int) -> None:
        self.counts.pop(room_id, None)

    def get(self, room_id: int) -> int:
        return self.counts.get(room_id, 0)


def filter_rooms(rooms: list[Room], query: str) -> list[Room]:
    needle = query.strip().casefold()
    return [room for room in rooms if needle in room.name.casefold()] if needle else list(rooms)


DEFAULT_HOST_PORT = 8080


@dataclass(frozen=True, slots=True)
class HostOptions:
    """What the host dialog asks for."""

    name: str
    port: int = DEFAULT_HOST_PORT
    let_others_join: bool = False
    announce: bool = False
    database_url: str = ""  # empty: SQLite in the user's data directory
    redis_url: str = ""
    redis_prefix: str = ""  # empty: the server's default


@dataclass(frozen=True, slots=True)
class ServerEntry:
    """A server found on the network, as the login window lists it."""

    name: str
    address: str
