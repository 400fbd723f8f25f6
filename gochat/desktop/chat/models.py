"""Qt item models of a chat room (its timeline, its members) over the pure client state.
Views and delegates read these; nothing here does networking."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QDate,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTime,
)

from gochat.desktop.state import Change, Inserted, Item, Removed, Timeline, Updated
from gochat.protocol import User

ItemRole = Qt.ItemDataRole.UserRole + 1

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


def tooltip(item: Item) -> str:
    """When a message was sent; when it was last edited; who deleted it (when known)."""
    lines = [full_date_time(item.created_at)]
    if item.deleted:
        lines.append(f"Deleted by {item.deleted_by.username}" if item.deleted_by is not None else "Deleted")
    elif item.edited_at is not None:
        lines.append(f"Edited {full_date_time(item.edited_at)}")
    return "\n".join(lines)


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
            return tooltip(item)
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
