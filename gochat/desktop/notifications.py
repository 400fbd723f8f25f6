"""Desktop notifications: a tray notification where the desktop has a tray, the taskbar's
urgency hint otherwise. Clicking a tray notification asks to open its room at its message."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from gochat.desktop.resources import app_icon

PREVIEW_CHARS = 140
KEEP_SHOWN = 100  # the newest notifications remembered (for the click, and for tests)
# A busy room must not become a flood of pop-ups: at most one tray message (or taskbar alert)
# this often; what arrives meanwhile is remembered, and a click opens the newest.
QUIET_SECONDS = 2.0


@dataclass(frozen=True)
class Notification:
    room_id: int
    message_id: int
    title: str
    text: str


class Notifier(QObject):
    """Signals:

    - ``activated(room_id, message_id)``: the user clicked the notification of that message.
    """

    activated = Signal(int, int)

    def __init__(self, parent: QObject | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._clock = clock
        self._last_popup = -QUIET_SECONDS
        self.popups = 0  # tray messages and taskbar alerts actually raised
        self.shown: list[Notification] = []
        self.alerted: list[str] = []  # titles of the windows whose taskbar entry was made urgent
        self._tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._tray = QSystemTrayIcon(app_icon())
            self._tray.setToolTip("gochat")
            self._tray.messageClicked.connect(self._clicked)
            self._tray.show()

    @property
    def has_tray(self) -> bool:
        return self._tray is not None

    def notify(self, room_id: int, message_id: int, title: str, text: str, window: QWidget | None = None) -> None:
        preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
        self.shown.append(Notification(room_id, message_id, title, preview))
        del self.shown[:-KEEP_SHOWN]
        now = self._clock()
        if now - self._last_popup < QUIET_SECONDS:
            return
        self._last_popup = now
        self.popups += 1
        if self._tray is not None:
            # A tray shows one message at a time: a click is about the newest one.
            self._tray.showMessage(title, preview, app_icon(), 5000)
        elif window is not None:
            self.alerted.append(window.windowTitle())
            del self.alerted[:-KEEP_SHOWN]
            QApplication.alert(window)

    def revise(self, message_id: int, text: str) -> None:
        """A message notified of was edited (``text``) or deleted (""): what is remembered of
        it says so, and never keeps the old text. (A pop-up already on screen is the
        desktop's.)"""
        preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
        for index, shown in enumerate(self.shown):
            if shown.message_id == message_id:
                self.shown[index] = replace(shown, text=preview or "message deleted")

    def _clicked(self) -> None:
        if self.shown:
            latest = self.shown[-1]
            self.activated.emit(latest.room_id, latest.message_id)

    def close(self) -> None:
        if self._tray is not None:
            self._tray.hide()
