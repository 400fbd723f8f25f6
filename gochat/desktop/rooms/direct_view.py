"""The room list's "Direct messages" section: a row per conversation with the other person's
name, a dot when they are online, the newest message, and the unread count as a badge."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import QListView, QMenu, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from gochat.desktop.direct import DirectEntry, preview_text
from gochat.desktop.rooms.model import DirectRole, MutedRole, UnreadRole
from gochat.desktop.windows.item_views import enter_on_current_row, show_menu

ONLINE = QColor("#2ea043")
OFFLINE = QColor("#8a8f98")
BADGE = QColor("#2f6feb")
PADDING = 6
DOT = 8

Index = QModelIndex | QPersistentModelIndex


class DirectDelegate(QStyledItemDelegate):
    """Two lines a row: the dot and the name (bold while unread), the newest message below it in
    the muted colour; the unread count in a pill at the right (grey when muted)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        height = QFontMetrics(option.font).height()
        return QSize(160, 2 * height + 2 * PADDING + 2)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        entry: DirectEntry | None = index.data(DirectRole)
        if entry is None:
            return
        unread = int(index.data(UnreadRole) or 0)
        muted = bool(index.data(MutedRole))
        rect: QRect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if selected:
            painter.fillRect(rect, palette.highlight())
        text_colour = palette.highlightedText().color() if selected else palette.text().color()
        font = QFont(option.font)
        metrics = QFontMetrics(font)
        line = metrics.height()
        top = rect.top() + PADDING

        # The dot: filled green when the person is online, a grey ring when not.
        dot = QRect(rect.left() + PADDING, top + (line - DOT) // 2, DOT, DOT)
        if entry.online:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(ONLINE)
        else:
            painter.setPen(QPen(OFFLINE, 1.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(dot)

        # The unread count, right-aligned, in a pill.
        right = rect.right() - PADDING
        if unread:
            small = QFont(font)
            small.setBold(True)
            small_metrics = QFontMetrics(small)
            label = str(unread) if unread < 1000 else "999+"
            width = max(small_metrics.horizontalAdvance(label) + 10, line)
            pill = QRect(right - width + 1, top, width, line)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(OFFLINE if muted else BADGE)
            painter.drawRoundedRect(pill, line / 2, line / 2)
            painter.setPen(QColor("white"))
            painter.setFont(small)
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)
            right = pill.left() - PADDING

        left = dot.right() + PADDING
        name_font = QFont(font)
        name_font.setBold(unread > 0 and not muted)
        painter.setFont(name_font)
        painter.setPen(text_colour)
        name = QFontMetrics(name_font).elidedText(
            ("🔕 " if muted else "") + entry.peer.username, Qt.TextElideMode.ElideRight, max(0, right - left)
        )
        painter.drawText(QRect(left, top, max(0, right - left), line), Qt.AlignmentFlag.AlignVCenter, name)

        preview = preview_text(entry)
        painter.setFont(font)
        painter.setPen(text_colour if selected else OFFLINE)
        width = max(0, rect.right() - PADDING - left)
        painter.drawText(
            QRect(left, top + line + PADDING // 2, width, line),
            Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(preview, Qt.TextElideMode.ElideRight, width),
        )
        painter.restore()


class DirectView(QListView):
    """Signals: ``activatedRoom(room_id)`` (double-click or Enter); ``muteToggled(room_id,
    muted)`` (from the row's context menu)."""

    activatedRoom = Signal(int)  # noqa: N815
    muteToggled = Signal(int, bool)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setItemDelegate(DirectDelegate(self))
        self.setUniformItemSizes(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)
        self.doubleClicked.connect(self._open)

    def _open(self, index: QModelIndex) -> None:
        entry: DirectEntry | None = index.data(DirectRole)
        if entry is not None:
            self.activatedRoom.emit(entry.room.id)

    def context_menu(self, index: QModelIndex) -> QMenu | None:
        entry: DirectEntry | None = index.data(DirectRole) if index.isValid() else None
        if entry is None:
            return None
        room_id = entry.room.id
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.activatedRoom.emit(room_id))
        toggle = menu.addAction("Mute notifications")
        toggle.setCheckable(True)
        toggle.setChecked(bool(index.data(MutedRole)))
        toggle.toggled.connect(lambda on: self.muteToggled.emit(room_id, on))
        return menu

    def _show_menu(self, point: QPoint) -> None:
        show_menu(self, self.context_menu(self.indexAt(point)), point)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if enter_on_current_row(self, event):
            self._open(self.currentIndex())
            return
        super().keyPressEvent(event)
