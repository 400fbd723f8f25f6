"""SearchResultsModel: the messages a search found, newest first, as the search window lists
them (with each one's room name, learned as the rooms become known). No networking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from gochat.desktop.chat.models import full_date_time
from gochat.desktop.search.matching import Span, match_spans, snippet
from gochat.protocol import Message

HitRole = Qt.ItemDataRole.UserRole + 1

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class Hit:
    """One result as shown: the message, its room's name, and its text on one line with the
    query's occurrences in it."""

    message: Message
    room_name: str
    text: str
    spans: list[Span]


class SearchResultsModel(QAbstractListModel):
    def __init__(self) -> None:
        super().__init__()
        self.query = ""
        self._messages: list[Message] = []
        self._snippets: list[tuple[str, list[Span]]] = []
        self._room_names: dict[int, str] = {}

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self._messages)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._messages):
            return None
        if role == HitRole:
            return self.hit(index.row())
        message = self._messages[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return message.content
        if role == Qt.ItemDataRole.ToolTipRole:
            return full_date_time(message.created_at)
        return None

    def hit(self, row: int) -> Hit:
        message = self._messages[row]
        text, spans = self._snippets[row]
        return Hit(message, self.room_name(message.room_id), text, spans)

    def room_name(self, room_id: int) -> str:
        """The room's name once known ("room 7" until then)."""
        return self._room_names.get(room_id) or f"room {room_id}"

    def messages(self) -> list[Message]:
        return list(self._messages)

    @property
    def last_id(self) -> int | None:
        """The oldest result's id: the next page is the one before it."""
        return self._messages[-1].id if self._messages else None

    def reset(self, query: str) -> None:
        """A new search: no results yet."""
        self.beginResetModel()
        self.query = query
        self._messages = []
        self._snippets = []
        self.endResetModel()

    def extend(self, messages: list[Message]) -> None:
        """The next page (older than what is listed; one already listed is not listed twice)."""
        listed = {message.id for message in self._messages}
        fresh = [message for message in messages if message.id not in listed]
        if not fresh:
            return
        first = len(self._messages)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self._messages += fresh
        self._snippets += [snippet(message.content, match_spans(message.content, self.query)) for message in fresh]
        self.endInsertRows()

    def edited(self, message: Message) -> None:
        """A listed message was edited: it shows its new text, or leaves the results when the
        words searched for are no longer in it (as a new search would not find it)."""
        row = self._row_of(message.id)
        if row is None:
            return
        spans = match_spans(message.content, self.query)
        if not spans:
            self.removed(message.id)
            return
        self._messages[row] = message
        self._snippets[row] = snippet(message.content, spans)
        self.dataChanged.emit(self.index(row), self.index(row))

    def removed(self, message_id: int) -> None:
        """A listed message was deleted: it leaves the results, its text with it."""
        row = self._row_of(message_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._messages[row]
        del self._snippets[row]
        self.endRemoveRows()

    def _row_of(self, message_id: int) -> int | None:
        return next((row for row, message in enumerate(self._messages) if message.id == message_id), None)

    def set_room_name(self, room_id: int, name: str) -> None:
        if self._room_names.get(room_id) == name:
            return
        self._room_names[room_id] = name
        for row, message in enumerate(self._messages):
            if message.room_id == room_id:
                self.dataChanged.emit(self.index(row), self.index(row))

    def forget(self) -> None:
        """Logged out: nothing of this account's stays."""
        self._room_names.clear()
        self.reset("")
