"""A chat window, one per open room: bubbles, members, and an input where Enter sends."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gochat.desktop.delegates import MessageDelegate
from gochat.desktop.models import ItemRole, MemberListModel, MessageListModel
from gochat.desktop.resources import app_icon
from gochat.desktop.state import Item, Status
from gochat.desktop.windows.status import ConnectionBanner

# Start fetching older messages this close to the top, before the user hits it.
PREFETCH_PIXELS = 40


class MessageInput(QPlainTextEdit):
    """Enter sends; Shift+Enter starts a new line."""

    sendRequested = Signal()  # noqa: N815

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.sendRequested.emit()
            return
        super().keyPressEvent(event)


class ChatWindow(QWidget):
    sendRequested = Signal(int, str)  # noqa: N815
    olderRequested = Signal(int)  # noqa: N815
    retryRequested = Signal(int, str)  # noqa: N815
    # The view rests at the newest message: older rows may be let go (they load again on scrolling up).
    atNewest = Signal(int)  # noqa: N815
    closed = Signal(int)
    activeChanged = Signal(int, bool)  # noqa: N815

    def __init__(self, room_id: int, title: str, messages: MessageListModel, members: MemberListModel) -> None:
        super().__init__()
        self.room_id = room_id
        self.setWindowTitle(f"{title} — gochat")
        self.setWindowIcon(app_icon())
        self.resize(820, 600)

        self.banner = ConnectionBanner()
        heading = QLabel(title)
        heading.setProperty("role", "title")
        heading.setTextFormat(Qt.TextFormat.PlainText)

        self.messages_model = messages
        self.view = QListView()
        self.view.setModel(messages)
        self.view.setItemDelegate(MessageDelegate(self.view))
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(False)
        self.view.setWordWrap(True)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view.clicked.connect(self._clicked)

        self.members_title = QLabel("Online")
        self.members_title.setProperty("role", "muted")
        self.members = QListView()
        self.members.setModel(members)
        self.members.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.members.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.members_title)
        side_layout.addWidget(self.members)
        members.modelReset.connect(self._count_members)
        self._count_members()

        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([620, 170])

        self.input = MessageInput()
        self.input.setPlaceholderText("Write a message — Enter sends, Shift+Enter for a new line")
        self.input.setFixedHeight(72)
        self.send_button = QPushButton("Send")
        self.send_button.setProperty("primary", True)
        self.send_button.setEnabled(False)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input, 1)
        input_row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(8)
        # The title row; the app adds its window buttons (Rooms) at its end.
        self.header = QHBoxLayout()
        self.header.addWidget(heading, 1)
        layout.addLayout(self.header)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        layout.addLayout(input_row)

        self.input.textChanged.connect(self._update_send_button)
        self.input.sendRequested.connect(self._send)
        self.send_button.clicked.connect(self._send)

        # Keep the view where the user left it: at the bottom for new messages; on the same
        # message when older pages are inserted above.
        self._stick_to_bottom = True
        # The message at the top of the view, and how far above the edge it was, while older
        # rows are inserted above it.
        self._anchor: tuple[QPersistentModelIndex, int] | None = None
        self._older_requested = False
        # Said on the next turn of the loop, never from inside a scroll or layout in progress
        # (rows removed there would pull the ground from under the view), and once per turn.
        self._at_newest = QTimer(self)
        self._at_newest.setSingleShot(True)
        self._at_newest.setInterval(0)
        self._at_newest.timeout.connect(self._tell_at_newest)
        bar = self.view.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)
        messages.rowsAboutToBeInserted.connect(self._rows_about_to_be_inserted)
        messages.rowsInserted.connect(self._rows_inserted)
        self.input.setFocus()

    # -- input -------------------------------------------------------------------------

    def _update_send_button(self) -> None:
        self.send_button.setEnabled(bool(self.input.toPlainText().strip()))

    def _send(self) -> None:
        text = self.input.toPlainText()
        if not text.strip():
            return
        self.input.clear()
        self._stick_to_bottom = True
        self.sendRequested.emit(self.room_id, text)

    def _clicked(self, index: QModelIndex) -> None:
        item: Item = index.data(ItemRole)
        if item.status is Status.FAILED and item.client_msg_id is not None:
            self.retryRequested.emit(self.room_id, item.client_msg_id)

    def _count_members(self) -> None:
        count = self.members.model().rowCount()
        self.members_title.setText(f"Online — {count}")

    # -- scrolling ---------------------------------------------------------------------

    def _scrolled(self, value: int) -> None:
        bar = self.view.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - 4
        if self._stick_to_bottom and not self._at_newest.isActive():
            self._at_newest.start()
        if value <= PREFETCH_PIXELS and bar.maximum() > 0 and not self._older_requested:
            self._older_requested = True
            self.olderRequested.emit(self.room_id)

    def _tell_at_newest(self) -> None:
        if self._stick_to_bottom and self._anchor is None:
            self.atNewest.emit(self.room_id)

    def older_loaded(self) -> None:
        self._older_requested = False

    def _rows_about_to_be_inserted(self, _parent: QModelIndex, first: int, _last: int) -> None:
        if first == 0 and self.messages_model.rowCount() > 0 and not self._stick_to_bottom and self._anchor is None:
            top = self.view.indexAt(QPoint(4, 4))
            if top.isValid():
                self._anchor = (QPersistentModelIndex(top), self.view.visualRect(top).top())

    def _rows_inserted(self) -> None:
        if self._anchor is not None:
            QTimer.singleShot(0, self._restore_anchor)
        elif self._stick_to_bottom:
            QTimer.singleShot(0, self.view.scrollToBottom)

    def _restore_anchor(self) -> None:
        if self._anchor is None:
            return
        anchor, offset = self._anchor
        self._anchor = None
        if anchor.isValid():
            index = self.messages_model.index(anchor.row())
            self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
            bar = self.view.verticalScrollBar()
            bar.setValue(bar.value() - offset)

    def _range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick_to_bottom and self._anchor is None:
            self.view.verticalScrollBar().setValue(maximum)

    # -- window state ------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.ActivationChange:
            self.activeChanged.emit(self.room_id, self.isActiveWindow())
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.closed.emit(self.room_id)
        super().closeEvent(event)
