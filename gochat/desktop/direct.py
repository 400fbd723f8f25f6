"""The room list's "Direct messages" section, as pure state: the user's direct rooms with the
other member, their newest activity and whether that person is online, in the order shown
(most recent activity first). No Qt, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gochat.protocol import DirectConversation, Message, Room, User


@dataclass
class DirectEntry:
    """One direct room: ``room`` as the server gave it (its ``name`` is the peer's username),
    ``peer`` the other member, ``last_at`` the newest message's time (the room's creation while
    it has none), ``last_text`` that message's text, ``online`` whether the peer is connected."""

    room: Room
    peer: User
    last_at: datetime
    last_id: int = 0
    last_text: str = ""
    online: bool = False
    last_deleted: bool = False  # the newest message is a tombstone: its text is gone


def preview_text(entry: DirectEntry) -> str:
    """What the column shows under the name: the newest message on one line, never the text of
    one deleted."""
    if entry.last_deleted:
        return "message deleted"
    return " ".join(entry.last_text.split()) or "No messages yet"


class DirectList:
    """The user's direct rooms, most recent activity first (ties: the newer room first)."""

    def __init__(self) -> None:
        self._entries: dict[int, DirectEntry] = {}

    def __contains__(self, room_id: object) -> bool:
        return room_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, room_id: int) -> DirectEntry | None:
        return self._entries.get(room_id)

    def room_ids(self) -> set[int]:
        return set(self._entries)

    def ordered(self) -> list[DirectEntry]:
        return sorted(self._entries.values(), key=lambda e: (e.last_at, e.last_id, e.room.id), reverse=True)

    def load(self, conversations: Iterable[DirectConversation]) -> None:
        """``GET /api/dms``: the whole list again (what is known of peers being online stays)."""
        online = {entry.peer.id: entry.online for entry in self._entries.values()}
        self._entries = {}
        for conversation in conversations:
            entry = self._entry(conversation.room, conversation.peer, conversation.last_message)
            entry.online = online.get(entry.peer.id, False)
            self._entries[entry.room.id] = entry

    def add(self, room: Room, me: User) -> bool:
        """A direct room met (started by the user, or ROOM_CREATED): True when it is new here."""
        if room.id in self._entries:
            self._entries[room.id].room = room
            return False
        peer = room.peer_of(me.id) or User(0, room.name)
        self._entries[room.id] = self._entry(room, peer, None)
        return True

    @staticmethod
    def _entry(room: Room, peer: User, last: Message | None) -> DirectEntry:
        if last is None:
            return DirectEntry(room, peer, room.created_at)
        return DirectEntry(room, peer, last.created_at, last.id, last.content, last_deleted=last.deleted)

    def message(self, message: Message) -> bool:
        """A message in one of the rooms: it becomes the room's newest activity. True when the
        room is a direct one and this message is newer than what it had."""
        entry = self._entries.get(message.room_id)
        if entry is None or message.id <= entry.last_id:
            return False
        entry.last_at, entry.last_id, entry.last_text = message.created_at, message.id, message.content
        entry.last_deleted = message.deleted
        return True

    def revise(self, room_id: int, message_id: int, text: str, deleted: bool = False) -> bool:
        """A message edited (its new text) or deleted: True when it is the one the room's row
        shows, which then shows the change (a deleted text is dropped, never kept)."""
        entry = self._entries.get(room_id)
        if entry is None or entry.last_id != message_id:
            return False
        entry.last_text, entry.last_deleted = ("" if deleted else text), deleted
        return True

    def set_online(self, user_id: int, online: bool) -> list[int]:
        """Whether a person is connected: the rooms whose dot changed."""
        changed = []
        for entry in self._entries.values():
            if entry.peer.id == user_id and entry.online != online:
                entry.online = online
                changed.append(entry.room.id)
        return changed

    def clear(self) -> None:
        self._entries.clear()
