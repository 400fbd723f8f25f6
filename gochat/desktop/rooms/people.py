"""Finding someone to write to: type part of a name, pick a person, "Message" opens the direct
conversation. The dialog asks (``searchRequested``) and shows what it is given; it does no
networking itself."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gochat.desktop.windows.labels import error_label
from gochat.protocol import USERNAME_MAX, Person

# The server is asked once typing has paused this long.
SEARCH_PAUSE_MS = 250


def _dot(colour: str, filled: bool) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if filled:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
    else:
        painter.setPen(QColor(colour))
    painter.drawEllipse(2, 2, 8, 8)
    painter.end()
    return QIcon(pixmap)


class PeopleDialog(QDialog):
    """Signals: ``searchRequested(text)`` (the user paused typing); ``startRequested(username)``
    (Message, Enter or a double-click on a person)."""

    searchRequested = Signal(str)  # noqa: N815
    startRequested = Signal(str)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Message someone — gochat")
        self.resize(360, 420)
        intro = QLabel("Who do you want to write to?")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Type part of a name…")
        self.search.setMaxLength(USERNAME_MAX)
        self.search.setClearButtonEnabled(True)
        self.results = QListWidget()
        self.results.setAccessibleName("People found")
        self.status = QLabel()
        self.status.setProperty("role", "muted")
        self.status.setWordWrap(True)
        self.error = error_label()
        buttons = QDialogButtonBox()
        self.message_button = QPushButton("Message")
        self.message_button.setProperty("primary", True)
        self.message_button.setEnabled(False)
        # Enter anywhere in the dialog messages the person chosen (the first found is chosen).
        self.message_button.setDefault(True)
        buttons.addButton(self.message_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.search)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

        self._online, self._offline = _dot("#2ea043", True), _dot("#8a8f98", False)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(SEARCH_PAUSE_MS)
        self._soon.timeout.connect(self._ask)
        self.search.textChanged.connect(self._typed)
        self.results.currentItemChanged.connect(lambda *_: self._update_button())
        self.results.itemDoubleClicked.connect(lambda _item: self._start())
        self.message_button.clicked.connect(self._start)

    def open_fresh(self) -> None:
        """Shown again: an empty search, nothing said, the cursor in the search."""
        self.search.clear()
        self.results.clear()
        self.status.clear()
        self.error.hide()
        self._update_button()
        self.show()
        self.raise_()
        self.activateWindow()
        self.search.setFocus(Qt.FocusReason.OtherFocusReason)

    def _typed(self, text: str) -> None:
        self.error.hide()
        if not text.strip():
            self._soon.stop()
            self.results.clear()
            self.status.clear()
            self._update_button()
            return
        self._soon.start()

    def _ask(self) -> None:
        text = self.search.text().strip()
        if text:
            self.status.setText("Looking…")
            self.searchRequested.emit(text)

    def show_people(self, query: str, people: list[Person]) -> None:
        """What the server found for ``query``; an answer to an older search is dropped."""
        if query != self.search.text().strip():
            return
        self.results.clear()
        for person in people:
            item = QListWidgetItem(self._online if person.online else self._offline, person.user.username)
            item.setData(Qt.ItemDataRole.UserRole, person.user.username)
            item.setToolTip("online" if person.online else "not online")
            self.results.addItem(item)
        if people:
            self.results.setCurrentRow(0)
            self.status.setText("")
        else:
            self.status.setText(f"No one else's name contains “{query}”.")
        self._update_button()

    def show_error(self, message: str) -> None:
        self.status.clear()
        self.error.setText(message)
        self.error.show()

    def chosen(self) -> str | None:
        item = self.results.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def _update_button(self) -> None:
        self.message_button.setEnabled(self.chosen() is not None)

    def _start(self) -> None:
        name = self.chosen()
        if name is not None:
            self.error.hide()
            self.startRequested.emit(name)
