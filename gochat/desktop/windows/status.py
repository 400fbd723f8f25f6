"""The connection banner every window shows while the live connection is down."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from gochat.desktop.state import LinkState


class ConnectionBanner(QLabel):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("banner")
        self.setWordWrap(True)
        self.hide()

    def show_link(self, state: str, detail: str) -> None:
        if state == LinkState.ONLINE.value:
            self.hide()
            return
        if state == LinkState.CONNECTING.value:
            self.setText("Connecting…")
        elif state == LinkState.OFFLINE.value:
            self.setText(f"{detail or 'Connection lost; reconnecting…'} Messages you send will wait until then.")
        else:
            self.setText(detail or "Disconnected.")
        self.show()
