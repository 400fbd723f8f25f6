"""Pure client state: room timelines, pending messages, unread counts. No Qt, no I/O.

A Timeline keeps one room's items in display order: confirmed messages by id (with system
lines such as "alice entered" where they happened), then the user's pending messages in the
order typed. Every change returns what moved, so a Qt model can announce exactly those rows.
An edit or a deletion replaces a message's item by id: the old text is not kept anywhere.
"""

from __future__ import annotations

import bisect
import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from gochat.protocol import Message, User, mention_spans


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
    UNREAD_LINE = "unread line"  # "New messages": where the user left off, when the room opened


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
    # The stored message's change number (protocol.Message.rev): a lower one never replaces a higher.
    rev: int = 0
    edited_at: datetime | None = None
    # A tombstone: no text ("message deleted" is shown in its place); who deleted it, when the
    # live frame said (history does not).
    deleted: bool = False
    deleted_by: User | None = None
    # Where the text mentions someone, (start, end, is it the user), to highlight; and whether
    # it mentions the user at all.
    mention_spans: tuple[tuple[int, int, bool], ...] = ()
    mentions_me: bool = False


def mention_spans_of(message: Message, me: User | None) -> tuple[tuple[int, int, bool], ...]:
    """Where a message's text names the users it mentions (the server's rule, protocol.mention_spans),
    each marked when it is the user."""
    if message.deleted or not message.mentions:
        return ()
    mine = set(mention_spans(message.content, [me.username])) if me is not None else set()
    spans = mention_spans(message.content, [user.username for user in message.mentions])
    return tuple((start, end, (start, end) in mine) for start, end in spans)


def message_item(message: Message, me: User | None) -> Item:
    return Item(
        kind=Kind.MESSAGE,
        text="" if message.deleted else message.content,
        created_at=message.created_at,
        key=(message.id, 0),
        message_id=message.id,
        author=message.author,
        client_msg_id=message.client_msg_id,
        mine=me is not None and message.author.id == me.id,
        rev=message.rev,
        edited_at=message.edited_at,
        deleted=message.deleted,
        mention_spans=mention_spans_of(message, me),
        mentions_me=not message.deleted and me is not None and any(user.id == me.id for user in message.mentions),
    )


def pending_item(
    text: str, me: User | None, client_msg_id: str, created_at: datetime | None = None, status: Status = Status.PENDING
) -> Item:
    """A message the user typed, not yet acknowledged by the server."""
    return Item(
        Kind.MESSAGE,
        text,
        created_at or now_utc(),
        key=(0, 0),
        author=me,
        client_msg_id=client_msg_id,
        status=status,
        mine=True,
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
    """One room's messages as shown: confirmed (sorted), then pending.

    ``pending`` is the account's outbox list for the room (``Outbox.room``), shared, not copied:
    what the user typed belongs to the account, not to the window, and outlives it."""

    me: User | None = None
    confirmed: list[Item] = field(default_factory=list)
    pending: list[Item] = field(default_factory=list)
    has_older: bool = False
    # The highest rev this timeline is known to reflect (live frames, ENTER and SYNC replies):
    # sent back as afterRev on re-entering, so edits and deletions missed offline come back.
    # Pages of older history (REST) do not raise it: they may be fetched while the live
    # connection is down, and a change they skip over would then never be asked for.
    rev: int = 0
    # System lines after a message get keys (id, 2), (id, 3)...: (id, 1) is the unread line's.
    _system_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(2))

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
        return self._row_of_id(message_id) is not None

    def _row_of_id(self, message_id: int) -> int | None:
        row = bisect.bisect_left(self.confirmed, (message_id, 0), key=lambda i: i.key)
        return row if row < len(self.confirmed) and self.confirmed[row].key == (message_id, 0) else None

    def note_rev(self, rev: int | None) -> None:
        """A live frame or a catch-up reply reflects changes up to ``rev``."""
        if rev is not None and rev > self.rev:
            self.rev = rev

    def add_message(self, message: Message) -> list[Change]:
        """A message from the server (live, history or resume): placed by id, once; a newer
        state of one already here (a higher rev: edited, or a tombstone) replaces it."""
        item = message_item(message, self.me)
        assert item.message_id is not None
        if self._has_id(item.message_id):
            return self.replace_message(message)
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

    def replace_message(self, message: Message) -> list[Change]:
        """An edit (MESSAGE_EDITED, or ``changed`` in a catch-up): the message's row shows it as
        it now is. A message not loaded (older than what is shown) changes nothing; nor does a
        state older than the one shown (a lower rev)."""
        row = self._row_of_id(message.id)
        if row is None:
            return []
        shown = self.confirmed[row]
        if message.rev <= shown.rev:
            return []
        item = message_item(message, self.me)
        if item.deleted and shown.deleted_by is not None:
            item = replace(item, deleted_by=shown.deleted_by)
        self.confirmed[row] = item
        return [Updated(row)]

    def tombstone(self, message_id: int, deleted_by: User | None, rev: int) -> list[Change]:
        """A deletion (MESSAGE_DELETED): the message stays in its place with no text."""
        row = self._row_of_id(message_id)
        if row is None:
            return []
        shown = self.confirmed[row]
        if shown.deleted or rev < shown.rev:
            return []
        self.confirmed[row] = replace(
            shown, text="", deleted=True, deleted_by=deleted_by, rev=rev, mention_spans=(), mentions_me=False
        )
        return [Updated(row)]

    def apply_changed(self, messages: Iterable[Message], rev: int | None) -> list[Change]:
        """A catch-up reply's ``changed`` (replaced by id) and its ``rev`` (kept)."""
        changes: list[Change] = []
        for message in messages:
            changes.extend(self.replace_message(message))
        self.note_rev(rev)
        return changes

    def last_own_message(self) -> Item | None:
        """The user's newest stored message that is not deleted (what Up on an empty composer edits)."""
        for item in reversed(self.confirmed):
            if item.kind is Kind.MESSAGE and item.mine and not item.deleted:
                return item
        return None

    def message(self, message_id: int) -> Item | None:
        row = self._row_of_id(message_id)
        return None if row is None else self.confirmed[row]

    def recent_authors(self, limit: int = 50) -> list[User]:
        """Who wrote the newest messages shown, newest first, each once (for completing "@na…")."""
        seen: dict[int, User] = {}
        for item in reversed(self.confirmed):
            if item.kind is Kind.MESSAGE and item.author is not None and item.author.id not in seen:
                seen[item.author.id] = item.author
                if len(seen) >= limit:
                    break
        return list(seen.values())

    def add_history(self, messages: Iterable[Message], has_older: bool | None = None) -> list[Change]:
        """A page of messages (any order relative to what is shown); returns one change each."""
        if has_older is not None:
            self.has_older = has_older
        changes: list[Change] = []
        for message in messages:
            changes.extend(self.add_message(message))
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

    def mark_unread_after(self, last_read_id: int) -> list[Change]:
        """Put the "New messages" line just after ``last_read_id``, when a message from someone
        else follows it; once per timeline (it shows where the user left off when the room opened)."""
        if any(item.kind is Kind.UNREAD_LINE for item in self.confirmed):
            return []
        after = bisect.bisect_right(self.confirmed, (last_read_id, 0), key=lambda i: i.key)
        if not any(item.kind is Kind.MESSAGE and not item.mine for item in self.confirmed[after:]):
            return []
        # Dated like the first message after it, so it sits under that day's separator.
        first_new = self.confirmed[after].created_at
        item = Item(Kind.UNREAD_LINE, "New messages", first_new, key=(last_read_id, 1))
        row = bisect.bisect_left(self.confirmed, item.key, key=lambda i: i.key)
        self.confirmed.insert(row, item)
        return [Inserted(row, 1)]

    def add_system(self, text: str, when: datetime | None = None) -> list[Change]:
        item = Item(Kind.SYSTEM, text, when or now_utc(), key=(self.last_id, next(self._system_seq)))
        row = bisect.bisect_right(self.confirmed, item.key, key=lambda i: i.key)
        self.confirmed.insert(row, item)
        return [Inserted(row, 1)]

    def add_pending(self, text: str, client_msg_id: str | None = None) -> tuple[Item, list[Change]]:
        item = pending_item(text, self.me, client_msg_id or uuid.uuid4().hex)
        self.pending.append(item)
        return item, [Inserted(len(self) - 1, 1)]

    def _pending_row(self, client_msg_id: str) -> int | None:
        for index, item in enumerate(self.pending):
            if item.client_msg_id == client_msg_id:
                return index
        return None

    def acknowledge(self, client_msg_id: str, message: Message) -> list[Change]:
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


@dataclass
class RoomReading:
    """What the app knows of the user's reading of one room."""

    last_read_id: int | None = None
    unread: int = 0
    # The newest message id the count accounts for: a message at or below it was counted (or
    # read) already, and arriving live again (a present connection gets it too) changes nothing.
    counted_upto: int = 0


@dataclass
class UnreadCounts:
    """Unread messages per room, as the server counts them (room list, ROOM_STATE, READ), kept
    live by the messages that arrive while the user is not looking."""

    rooms: dict[int, RoomReading] = field(default_factory=dict)

    def reset(self, room_id: int, last_read_id: int | None, unread: int, counted_upto: int | None = None) -> None:
        """What the server says. ``counted_upto`` is the newest message its count covers, when known."""
        known = self.rooms.get(room_id)
        upto = counted_upto if counted_upto is not None else (known.counted_upto if known else 0)
        read_here = known.last_read_id if known else None
        if read_here is not None and (last_read_id is None or read_here > last_read_id):
            # The server counted before it heard of a read made here (reported soon, or on its
            # way: after a reconnect the reply to watching an open room does this). A marker never
            # moves back; what the count covers is read when the marker here covers it too.
            last_read_id = read_here
            if upto <= read_here:
                unread = 0
        self.rooms[room_id] = RoomReading(last_read_id, unread, max(upto, last_read_id or 0))

    def arrived(self, room_id: int, message_id: int, *, seen: bool, mine: bool) -> bool:
        """A message came in; True when it is a new unread one."""
        reading = self.rooms.setdefault(room_id, RoomReading())
        if message_id <= reading.counted_upto:
            return False
        reading.counted_upto = message_id
        if seen or mine or message_id <= (reading.last_read_id or 0):
            return False
        reading.unread += 1
        return True

    def read(self, room_id: int, upto: int) -> bool:
        """The user has seen everything up to ``upto``; True when that is news (worth telling the
        server)."""
        reading = self.rooms.setdefault(room_id, RoomReading())
        moved = reading.last_read_id is None or upto > reading.last_read_id
        if moved:
            reading.last_read_id = upto
        reading.counted_upto = max(reading.counted_upto, upto)
        had = reading.unread
        reading.unread = 0
        return moved or had > 0

    def get(self, room_id: int) -> int:
        reading = self.rooms.get(room_id)
        return reading.unread if reading else 0

    def last_read_id(self, room_id: int) -> int | None:
        reading = self.rooms.get(room_id)
        return reading.last_read_id if reading else None


class Outbox:
    """Messages the user typed that the server has not acknowledged yet, per room, for the
    whole account: closing a window does not drop them, and they go out after a reconnect
    whether or not the window is open. A room's list is shared with its open Timeline."""

    def __init__(self) -> None:
        self._rooms: dict[int, list[Item]] = {}

    def room(self, room_id: int) -> list[Item]:
        """The room's pending list itself (the open window's timeline holds the same list)."""
        return self._rooms.setdefault(room_id, [])

    def rooms_with_messages(self) -> list[int]:
        return [room_id for room_id, items in self._rooms.items() if items]

    def find(self, client_msg_id: str) -> tuple[int, int] | None:
        """(room id, index) of a pending message."""
        for room_id, items in self._rooms.items():
            for index, item in enumerate(items):
                if item.client_msg_id == client_msg_id:
                    return room_id, index
        return None

    def remove(self, client_msg_id: str) -> bool:
        found = self.find(client_msg_id)
        if found is None:
            return False
        room_id, index = found
        del self._rooms[room_id][index]
        return True

    def set_status(self, client_msg_id: str, status: Status) -> int | None:
        """Mark a pending message; returns its room, or None when it is not pending."""
        found = self.find(client_msg_id)
        if found is None:
            return None
        room_id, index = found
        items = self._rooms[room_id]
        items[index] = replace(items[index], status=status)
        return room_id

    def __len__(self) -> int:
        return sum(len(items) for items in self._rooms.values())

    def to_json(self) -> list[dict[str, Any]]:
        """What survives a restart: each message's room, text, id and time."""
        return [
            {
                "roomId": room_id,
                "text": item.text,
                "clientMsgId": item.client_msg_id,
                "createdAt": item.created_at.isoformat(),
                "failed": item.status is Status.FAILED,
            }
            for room_id, items in self._rooms.items()
            for item in items
        ]

    def load(self, saved: list[dict[str, Any]], me: User) -> None:
        """Put back what ``to_json`` saved (messages already here are kept once)."""
        for entry in saved:
            try:
                room_id, text, client_msg_id = int(entry["roomId"]), str(entry["text"]), str(entry["clientMsgId"])
                created_at = datetime.fromisoformat(str(entry["createdAt"]))
            except (KeyError, TypeError, ValueError):
                continue  # a damaged entry is skipped, not fatal
            if self.find(client_msg_id) is not None:
                continue
            status = Status.FAILED if entry.get("failed") else Status.PENDING
            self.room(room_id).append(pending_item(text, me, client_msg_id, created_at, status))


@dataclass(frozen=True, slots=True)
class ServerEntry:
    """A server found on the network, as the login window lists it."""

    name: str
    address: str
