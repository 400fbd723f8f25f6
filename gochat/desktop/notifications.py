"""Desktop notifications: the system tray where there is one, the taskbar alert always."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from gochat.desktop.resources import app_icon


@dataclass(frozen=True)
class Notification:
    room_id: int
    title: str
    text: str


class Notifier:
    def __init__(self) -> None:
        self.shown: list[Notification] = []
        self._tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._tray = QSystemTrayIcon(app_icon())
            self._tray.setToolTip("gochat")
            self._tray.show()

    @property
    def has_tray(self) -> bool:
        return self._tray is not None

    def notify(self, room_id: int, title: str, text: str, window: QWidget | None = None) -> None:
        preview = text if len(text) <= 140 else text[:139] + "…"
        self.shown.append(Notification(room_id, title, preview))
        if self._tray is not None:
            self._tray.showMessage(title, preview, app_icon(), 5000)
        if window is not None:
            QApplication.alert(window)

    def close(self) -> None:
        if self._tray is not None:
            self._tray.hide()
