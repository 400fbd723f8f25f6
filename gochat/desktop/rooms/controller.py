"""RoomsController: the user's room list, creating rooms, unread counts and muting."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal

from gochat.desktop.api import ApiError
from gochat.desktop.rooms.model import RoomListModel
from gochat.desktop.session import ChatSession
from gochat.desktop.state import UnreadCounts
from gochat.protocol import Message, Presence, ReadMoved, Room, RoomCreated, RoomState, validate_room_name
from gochat.protocol import ValidationError as InputError

log = logging.getLogger(__name__)

# Reading moves the server's marker at most this often per room (a busy room read live would
# otherwise cost a request per message).
READ_REPORT_MS = 400


class RoomsController(QObject):
    """The room list (``model``) and what the user has read of each room (``unread``), kept
    live by the session's frames; rooms with a read marker are followed on every connection.

    Signals:
        roomCreated(room: Room): the user created ``room`` (it is in the list already).
        roomCreateFailed(message: str): creating a room was refused (bad name, taken, offline).
        notify(room_id: int, message_id: int, title: str, text: str): a message the user has
            not seen arrived in a room of theirs that is not muted.
    """

    roomCreated = Signal(object)  # noqa: N815 - Qt naming
    roomCreateFailed = Signal(str)  # noqa: N815
    notify = Signal(int, int, str, str)

    def __init__(self, session: ChatSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.unread = UnreadCounts()
        self.model = RoomListModel(self.unread)
        # Rooms whose notifications the user turned off (the app keeps them in its settings);
        # the room list shows the same set.
        self.muted: set[int] = self.model.muted
        self._reads_due: set[int] = set()
        self._read_report = QTimer(self)
        self._read_report.setSingleShot(True)
        self._read_report.setInterval(READ_REPORT_MS)
        self._read_report.timeout.connect(self._report_reads)
        session.on_frame(
            RoomState, lambda f: self._reading(f.room_id, f.last_read_id, f.unread, counted_upto=f.last_message_id)
        )
        session.on_frame(ReadMoved, lambda f: self._reading(f.room_id, f.last_read_id, f.unread))
        session.on_frame(Presence, lambda f: self.model.set_online(f.room_id, f.online))
        session.on_frame(RoomCreated, lambda f: self.model.upsert(f.room))
        session.on_reconnect(self.refresh)
        session.follows(self._rooms_with_marker)
        session.closed.connect(self._forget)

    async def refresh(self) -> None:
        """Load the room list (at login and after every reconnect)."""
        api = self.session.api
        if api is None:
            return
        try:
            rooms = await api.rooms()
        except ApiError as error:
            self.session.errorShown.emit(error.message)
            return
        for room in rooms:
            self.unread.reset(room.id, room.last_read_id, room.unread)
        self.model.reset(rooms)

    async def create_room(self, name: str) -> Room | None:
        try:
            validate_room_name(name)
        except InputError as error:
            self.roomCreateFailed.emit(error.message)
            return None
        api = self.session.api
        if api is None:
            return None
        try:
            room = await api.create_room(name)
        except ApiError as error:
            self.roomCreateFailed.emit(error.message)
            return None
        self.model.upsert(room)
        self.roomCreated.emit(room)
        return room

    def room(self, room_id: int) -> Room | None:
        row = self.model.row_of(room_id)
        return None if row is None else self.model.room_at(row)

    def set_online(self, room_id: int, online: int) -> None:
        self.model.set_online(room_id, online)

    # -- muting --------------------------------------------------------------------------

    def set_muted(self, room_id: int, muted: bool) -> None:
        if muted:
            self.muted.add(room_id)
        else:
            self.muted.discard(room_id)
        self.model.room_changed(room_id)

    def set_muted_rooms(self, rooms: set[int]) -> None:
        """The account's muted rooms, as kept (at login)."""
        self.muted.clear()
        self.muted.update(rooms)
        for room_id in rooms:
            self.model.room_changed(room_id)

    # -- unread counts -------------------------------------------------------------------

    def arrived(self, message: Message, *, seen: bool) -> None:
        """A new message: unread count and notification, unless the user sees it (``seen``: its
        window is on screen) or wrote it."""
        room_id, author, me = message.room_id, message.author, self.session.me
        mine = me is not None and author.id == me.id
        if not self.unread.arrived(room_id, message.id, seen=seen, mine=mine):
            return
        self.model.unread_changed(room_id)
        if room_id in self.muted:
            return
        room = self.room(room_id)
        name = room.name if room is not None else f"room {room_id}"
        self.notify.emit(room_id, message.id, f"{author.username} in {name}", message.content)

    def read_upto(self, room_id: int, newest: int) -> None:
        """The user has seen the room up to ``newest``: the count goes, the server hears soon."""
        if newest and self.unread.read(room_id, newest):
            self.model.unread_changed(room_id)
            self._reads_due.add(room_id)
            if not self._read_report.isActive():
                self._read_report.start()

    def _report_reads(self) -> None:
        due, self._reads_due = self._reads_due, set()
        for room_id in due:
            upto = self.unread.last_read_id(room_id)
            if upto is not None:
                self.session.spawn(self._post_read(room_id, upto))

    async def _post_read(self, room_id: int, upto: int) -> None:
        api = self.session.api
        if api is None:
            return
        try:
            await api.mark_read(room_id, upto)
        except ApiError as error:
            # Not worth a message: the count corrects itself at the next read or reconnect.
            log.info("could not report reading room %d: %s", room_id, error.message)

    # -- frames ----------------------------------------------------------------------------

    def _reading(self, room_id: int, last_read: int | None, unread: int, counted_upto: int | None = None) -> None:
        """The server's count for a room (ROOM_STATE; READ: read on another device, or our marker
        was made); a room with a marker is followed."""
        self.unread.reset(room_id, last_read, unread, counted_upto)
        self.model.unread_changed(room_id)
        if last_read is not None and self.session.online:
            self.session.watch(room_id)

    def _rooms_with_marker(self) -> set[int]:
        """The user's rooms: those with a read marker."""
        return {room.id for room in self.model.rooms() if self.unread.last_read_id(room.id) is not None}

    def _forget(self) -> None:
        self.unread.rooms.clear()
        self._reads_due.clear()
        self.model.reset([])
