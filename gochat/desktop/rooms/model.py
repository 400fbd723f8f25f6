"""The room list as a Qt table model, over the pure client state (rooms and their unread
counts): the pages loaded so far, in the server's order. Views read it; nothing here does
networking."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from gochat.desktop.direct import DirectEntry, DirectList
from gochat.desktop.state import UnreadCounts
from gochat.protocol import Room

RoomRole = Qt.ItemDataRole.UserRole + 2
MutedRole = Qt.ItemDataRole.UserRole + 3
DirectRole = Qt.ItemDataRole.UserRole + 4  # the row's DirectEntry
UnreadRole = Qt.ItemDataRole.UserRole + 5  # the row's unread count (int)

Index = QModelIndex | QPersistentModelIndex


class RoomListModel(QAbstractTableModel):
    """Rooms with name, creator, creation date, online count and unread count."""

    HEADERS = ("Room", "Created by", "Created", "Online", "Unread")
    NAME, CREATOR, CREATED, ONLINE, UNREAD = range(5)
    # What a column sorts by: names ignoring case, the creation time as a number, counts as
    # numbers (the text shown would put "10" before "9", and "" for no unread first).
    SORT_ROLE = Qt.ItemDataRole.UserRole + 10

    def __init__(self, unread: UnreadCounts) -> None:
        super().__init__()
        self._rooms: list[Room] = []
        self._unread = unread  # the session's counts, shown as they are; never copied
        self.muted: set[int] = set()  # rooms whose notifications are off (the session's set)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rooms)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        room = self._rooms[index.row()]
        column = index.column()
        if role == RoomRole:
            return room
        if role == self.SORT_ROLE:
            return self.sort_key(room, column)
        if role == Qt.ItemDataRole.DisplayRole:
            unread = self._unread.get(room.id)
            return {
                self.NAME: room.name,
                self.CREATOR: room.creator.username,
                self.CREATED: room.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                self.ONLINE: str(room.online),
                # A muted room says so where its count is: its messages do not notify.
                self.UNREAD: ("🔕 " if room.id in self.muted else "") + (str(unread) if unread else ""),
            }[column].strip()
        if role == MutedRole:
            return room.id in self.muted
        if column == self.UNREAD and self._unread.get(room.id):
            # The count of a room of the user's is the one thing on its row that asks for attention;
            # a muted room's, or one never entered (not followed: every message there counts), is quiet.
            quiet = room.id in self.muted or self._unread.last_read_id(room.id) is None
            if role == Qt.ItemDataRole.FontRole and not quiet:
                font = QFont()
                font.setBold(True)
                return font
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor("#8a8f98") if quiet else QColor("#2f6feb")
            if role == Qt.ItemDataRole.ToolTipRole:
                count = self._unread.get(room.id)
                if self._unread.last_read_id(room.id) is None:
                    return f"{count} messages from others; you have not entered this room"
                return f"{count} unread" + (" (muted)" if room.id in self.muted else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.ONLINE, self.UNREAD):
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.UNREAD and room.id in self.muted:
            return "Muted: new messages here do not notify"
        return None

    def sort_key(self, room: Room, column: int) -> str | float | int:
        if column == self.NAME:
            return room.name.casefold()
        if column == self.CREATOR:
            return room.creator.username.casefold()
        if column == self.CREATED:
            return room.created_at.timestamp()
        if column == self.ONLINE:
            return room.online
        return self._unread.get(room.id)

    def rooms(self) -> list[Room]:
        return list(self._rooms)

    def row_of(self, room_id: int) -> int | None:
        for row, room in enumerate(self._rooms):
            if room.id == room_id:
                return row
        return None

    def reset(self, rooms: list[Room]) -> None:
        """Rows in the order given (the server's order for the list's search and sort)."""
        self.beginResetModel()
        self._rooms = list(rooms)
        self.endResetModel()

    def extend(self, rooms: list[Room]) -> None:
        """The next page, after the rows there are; a room already shown (a page boundary moved
        while the list changed) is not shown twice."""
        shown = {room.id for room in self._rooms}
        new = [room for room in rooms if room.id not in shown]
        if new:
            self.beginInsertRows(QModelIndex(), len(self._rooms), len(self._rooms) + len(new) - 1)
            self._rooms += new
            self.endInsertRows()

    def upsert(self, room: Room) -> None:
        row = self.row_of(room.id)
        if row is None:
            self.beginInsertRows(QModelIndex(), len(self._rooms), len(self._rooms))
            self._rooms.append(room)
            self.endInsertRows()
        else:
            self._rooms[row] = room
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.UNREAD))

    def set_online(self, room_id: int, online: int) -> None:
        row = self.row_of(room_id)
        if row is not None and self._rooms[row].online != online:
            old = self._rooms[row]
            self._rooms[row] = Room(old.id, old.name, old.creator, old.created_at, online)
            self.dataChanged.emit(self.index(row, self.ONLINE), self.index(row, self.ONLINE))

    def unread_changed(self, room_id: int) -> None:
        row = self.row_of(room_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, self.UNREAD), self.index(row, self.UNREAD))

    def room_changed(self, room_id: int) -> None:
        """Something shown on the whole row changed (muting)."""
        row = self.row_of(room_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.UNREAD))

    def unread(self, room_id: int) -> int:
        return self._unread.get(room_id)


class DirectListModel(QAbstractListModel):
    """The "Direct messages" section: one row per direct room (the other person's name, whether
    they are online, the newest message, the unread count), most recent activity first."""

    def __init__(self, direct: DirectList, unread: UnreadCounts, muted: set[int]) -> None:
        super().__init__()
        self._direct = direct  # the controller's list, shown as it is
        self._unread = unread
        self._muted = muted
        self._rows: list[DirectEntry] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        entry = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.peer.username
        if role == DirectRole:
            return entry
        if role == RoomRole:
            return entry.room
        if role == UnreadRole:
            return self._unread.get(entry.room.id)
        if role == MutedRole:
            return entry.room.id in self._muted
        if role == Qt.ItemDataRole.ToolTipRole:
            said = [entry.peer.username, "online" if entry.online else "not online"]
            unread = self._unread.get(entry.room.id)
            if unread:
                said.append(f"{unread} unread")
            if entry.room.id in self._muted:
                said.append("muted")
            return " — ".join(said)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            unread = self._unread.get(entry.room.id)
            return f"{entry.peer.username}, {'online' if entry.online else 'not online'}, {unread} unread"
        return None

    def row_of(self, room_id: int) -> int | None:
        return next((row for row, entry in enumerate(self._rows) if entry.room.id == room_id), None)

    def refresh(self) -> None:
        """The list changed (loaded, a room added, a message moved one up): rows in the new
        order; a view's selection and current row follow their room."""
        rows = self._direct.ordered()
        if [e.room.id for e in rows] == [e.room.id for e in self._rows]:
            self._rows = rows
            if rows:
                self.dataChanged.emit(self.index(0), self.index(len(rows) - 1))
            return
        if {e.room.id for e in rows} != {e.room.id for e in self._rows}:
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
            return
        self.layoutAboutToBeChanged.emit()
        row_of = {entry.room.id: row for row, entry in enumerate(rows)}
        before = self.persistentIndexList()
        after = [self.index(row_of[self._rows[i.row()].room.id]) for i in before]
        self._rows = rows
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    def room_changed(self, room_id: int) -> None:
        """Its unread count, muting or dot changed."""
        row = self.row_of(room_id)
        if row is not None:
            self.dataChanged.emit(self.index(row), self.index(row))
