"""SearchField: the text field above a list (the room list's search, the search window's query)
whose arrow and page keys move into the list and whose Esc clears it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLineEdit


class SearchField(QLineEdit):
    """Down, Up, Page Down and Page Up ask to move into the list (``listKeyPressed(key)``); Esc
    clears the text (with none, Esc goes on to the window, which may close)."""

    listKeyPressed = Signal(int)  # the Qt.Key that should move into the list  # noqa: N815

    LIST_KEYS = (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        # The keypad's arrows with NumLock off come with KeypadModifier: they are the arrows.
        if event.key() in self.LIST_KEYS and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            self.listKeyPressed.emit(event.key())
            return
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        super().keyPressEvent(event)
