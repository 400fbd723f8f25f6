"""DiscoveryController: the gochat servers announced on the LAN, over the zeroconf browser."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from gochat.discovery import FoundServer, ServerBrowser


class DiscoveryController(QObject):
    """Live list of gochat servers announced on the network, while the user wants it.

    Signals:
        changed(servers: list[FoundServer]): the servers found now (all of them; [] when
            browsing stops).
    """

    changed = Signal(list)  # list[FoundServer]

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._browser: ServerBrowser | None = None
        self.servers: list[FoundServer] = []
        self.changed.connect(self._remember)

    @property
    def browsing(self) -> bool:
        return self._browser is not None

    def start(self) -> None:
        if self._browser is None:
            # zeroconf calls back on its own threads; the signal queues it to the UI thread.
            self._browser = ServerBrowser(self.changed.emit)
            self._browser.start()

    def stop(self) -> None:
        if self._browser is not None:
            browser, self._browser = self._browser, None
            browser.close()
        self.changed.emit([])

    def _remember(self, servers: list[FoundServer]) -> None:
        self.servers = servers
