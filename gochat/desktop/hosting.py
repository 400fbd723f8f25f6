"""Hosting from the desktop, and finding servers on the LAN: QObjects over EmbeddedServer and
the zeroconf browser. No widgets; windows call these and listen to their signals."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QObject, Signal

from gochat.desktop.state import HostOptions
from gochat.discovery import FoundServer, ServerBrowser
from gochat.server.embedded import EmbeddedServer, PortInUse
from gochat.server.runner import ServerStartError


class HostingController(QObject):
    started = Signal(str)  # this computer's address, e.g. 127.0.0.1:8080
    startFailed = Signal(str, int)  # message, a free port to offer (0 when the port was not the problem)  # noqa: N815
    stopped = Signal()
    failed = Signal(str)  # the running server died: what happened

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server: EmbeddedServer | None = None
        self.options: HostOptions | None = None
        self._starting = False
        self._stopping: asyncio.Future[None] | None = None

    @property
    def hosting(self) -> bool:
        return self.server is not None and self.server.running

    async def start(self, options: HostOptions) -> bool:
        if self.hosting or self._starting:
            return False
        self._starting = True
        server = EmbeddedServer.for_desktop(
            name=options.name,
            port=options.port,
            let_others_join=options.let_others_join,
            announce=options.announce,
            database_url=options.database_url,
            redis_url=options.redis_url or None,
            redis_prefix=options.redis_prefix,
            # Called on the server's thread: a queued signal carries it to the UI thread.
            on_failure=lambda error: self.failed.emit(f"The server stopped: {error}"),
        )
        try:
            # Starting opens storage and binds the port: keep it off the UI thread.
            await asyncio.to_thread(server.start)
        except PortInUse as taken:
            self.startFailed.emit(f"Port {taken.port} is in use by another program.", taken.suggestion)
            return False
        except (ServerStartError, OSError) as error:
            self.startFailed.emit(str(error), 0)
            return False
        finally:
            self._starting = False
        self.server, self.options = server, options
        self.started.emit(server.address)
        return True

    async def stop(self) -> None:
        """Disconnect everyone cleanly and commit every pending write, off the UI thread.
        Calling it again while a stop is under way waits for that one."""
        if self._stopping is None:
            server, self.server = self.server, None
            if server is None:
                return
            self._stopping = asyncio.ensure_future(asyncio.to_thread(server.stop))
        stopping = self._stopping
        try:
            await asyncio.shield(stopping)
        finally:
            if self._stopping is stopping and stopping.done():
                self._stopping = None
                self.stopped.emit()

    def connected_count(self) -> int:
        return self.server.connected_count() if self.server is not None else 0

    def connected_people(self) -> set[int]:
        """Who is connected (user ids; several devices of one person count once)."""
        return self.server.connected_people() if self.server is not None else set()

    def addresses_for_others(self) -> list[str]:
        return self.server.addresses_for_others() if self.server is not None else []

    def storage_description(self) -> str:
        return self.server.storage_description() if self.server is not None else ""

    def uptime(self) -> float:
        return self.server.uptime if self.server is not None else 0.0


class DiscoveryController(QObject):
    """Live list of gochat servers announced on the network, while the user wants it."""

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
