"""Qt item models over the pure client state. Views and delegates read these; nothing here
does networking."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QDate,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTime,
)
from PySide6.QtGui import QColor, QFont

from gochat.desktop.state import Change, Inserted, Item, Removed, Room, Timeline, UnreadCounts, Updated, User

ItemRole = Qt.ItemDataRole.UserRole + 1
RoomRole = Qt.ItemDataRole.UserRole + 2
MutedRole = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex


def full_date_time(moment: datetime, locale: QLocale | None = None) -> str:
    """A message's date and time in the locale's long formats, in local time, for its tooltip:
    "Monday, 30 November 2026 19:31:35". The time zone's name is left out (the long time format
    would add "Central European Standard Time")."""
    locale = locale or QLocale()
    local = moment.astimezone()
    day = locale.toString(QDate(local.year, local.month, local.day), QLocale.FormatType.LongFormat)
    time_format = re.sub(r"\s*\bt+\b", "", locale.timeFormat(QLocale.FormatType.LongFormat)).strip()
    time = locale.toString(QTime(local.hour, local.minute, local.second), time_format)
    return f"{day} {time}"


class MessageListModel(QAbstractListModel):
    """One room's timeline. Only what was loaded (newest page, pages scrolled back to,
    live messages) is here, so a room with 100,000 messages costs what is on screen."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__()
        self.timeline = timeline
        # Views ask rowCount() between begin* and end*; answer from a count that moves
        # only when the change is announced.
        self._rows = len(timeline)
        # Per row, what the delegate measured (its laid-out text size): QListView lays every
        # row out again on each insert, and text layout is the expensive part. Kept in step
        # with the rows, so it goes when they go.
        self._measured: list[object] = [None] * self._rows

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else self._rows

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self._rows:
            return None
        item = self.timeline[index.row()]
        if role == ItemRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            return item.text
        if role == Qt.ItemDataRole.ToolTipRole:
            return full_date_time(item.created_at)
        return None

    def item(self, row: int) -> Item:
        return self.timeline[row]

    def measured(self, row: int) -> object:
        return self._measured[row] if 0 <= row < self._rows else None

    def set_measured(self, row: int, value: object) -> None:
        if 0 <= row < self._rows:
            self._measured[row] = value

    def apply(self, changes: list[Change]) -> None:
        """Announce changes the timeline has just made, in order; a run of insertions that
        together fill one block of rows (a page of history, a burst of live messages) is
        announced as one, so views lay out once, not once per row."""
        for change in merge_insertions(changes):
            if isinstance(change, Inserted):
                self.beginInsertRows(QModelIndex(), change.row, change.row + change.count - 1)
                self._rows += change.count
                self._measured[change.row : change.row] = [None] * change.count
                self.endInsertRows()
            elif isinstance(change, Removed):
                self.beginRemoveRows(QModelIndex(), change.row, change.row + change.count - 1)
                self._rows -= change.count
                del self._measured[change.row : change.row + change.count]
                self.endRemoveRows()
            elif isinstance(change, Updated):
                self._measured[change.row] = None
                index = self.index(change.row)
                self.dataChanged.emit(index, index)


def merge_insertions(changes: list[Change]) -> list[Change]:
    """Consecutive insertions, each landing inside or just after the block the previous ones
    made, become one insertion of that block (the rows end up contiguous, in their final order)."""
    merged: list[Change] = []
    for change in changes:
        last = merged[-1] if merged else None
        if isinstance(change, Inserted) and isinstance(last, Inserted) and 0 <= change.row - last.row <= last.count:
            merged[-1] = Inserted(last.row, last.count + change.count)
        else:
            merged.append(change)
    return merged


class MemberListModel(QAbstractListModel):
    def __init__(self) -> None:
        super().__init__()
        self._members: list[User] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._members)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        member = self._members[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return member.username
        if role == ItemRole:
            return member
        return None

    def members(self) -> list[User]:
        return list(self._members)

    def reset(self, members: list[User]) -> None:
        self.beginResetModel()
        self._members = sorted(members, key=lambda u: (u.username.casefold(), u.id))
        self.endResetModel()

    def add(self, user: User) -> None:
        if any(m.id == user.id for m in self._members):
            return
        self.reset([*self._members, user])

    def remove(self, user: User) -> None:
        self.reset([m for m in self._members if m.id != user.id])


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

    def room_at(self, row: int) -> Room:
        return self._rooms[row]

    def row_of(self, room_id: int) -> int | None:
        for row, room in enumerate(self._rooms):
            if room.id == room_id:
                return row
        return None

    def reset(self, rooms: list[Room]) -> None:
        self.beginResetModel()
        self._rooms = sorted(rooms, key=lambda r: r.id)
        self.endResetModel()

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
