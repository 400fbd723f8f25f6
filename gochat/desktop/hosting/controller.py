"""HostingController: the server this app runs for others (EmbeddedServer), its start and stop,
and its status. No widgets; the host dialog and the room list's hosting panel call it and
listen to its signals."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from gochat.desktop.hosting.options import HostOptions
from gochat.desktop.session import ChatSession
from gochat.server.embedded import EmbeddedServer, PortInUse
from gochat.server.runner import ServerStartError

# How often the hosting panel's figures (people connected, uptime) are brought up to date.
STATUS_INTERVAL_MS = 1000


@dataclass(frozen=True, slots=True)
class HostingStatus:
    """What the hosting panel shows."""

    name: str
    address: str  # this computer's
    addresses_for_others: list[str]
    others_connected: int  # people connected other than the host
    uptime: float  # seconds
    fingerprint: str = ""  # SHA-256 of the certificate served (hex), "" without TLS


class HostingController(QObject):
    """The embedded server: at most one, started with the host dialog's ``HostOptions``.

    Signals:
        started(address: str): the server runs; ``address`` is what this computer types to
            reach it, e.g. "127.0.0.1:8080", or "https://127.0.0.1:8080" with TLS.
        startFailed(message: str, free_port: int): it did not start; ``free_port`` is a port to
            offer instead (0 when the port was not the problem).
        statusChanged(status: HostingStatus | None): every second while hosting; None once the
            server is gone (stopping).
        failed(message: str): the running server died: what happened.
        stopped(): hosting stopped (everyone disconnected, every write committed).
    """

    started = Signal(str)
    startFailed = Signal(str, int)  # noqa: N815 - Qt naming
    statusChanged = Signal(object)  # noqa: N815
    failed = Signal(str)
    stopped = Signal()

    def __init__(self, session: ChatSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Who is logged in where: the host on their own server is not one of "the others".
        self.session = session
        self.server: EmbeddedServer | None = None
        self.options: HostOptions | None = None
        # The SHA-256 of the certificate served (hex), "" without TLS: the panel shows it.
        self.fingerprint = ""
        self._starting = False
        self._stopping: asyncio.Future[None] | None = None
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self._report_status)

    @property
    def hosting(self) -> bool:
        return self.server is not None and self.server.running

    async def start(self, options: HostOptions) -> bool:
        if self.hosting or self._starting:
            return False
        self._starting = True
        try:
            # Off the UI thread: making the certificate on first use (a key, files), opening
            # storage and binding the port.
            server = await asyncio.to_thread(self._make_server, options)
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
        self.fingerprint = server.fingerprint
        self._status_timer.start()
        self.started.emit(server.login_address)
        return True

    def _make_server(self, options: HostOptions) -> EmbeddedServer:
        return EmbeddedServer.for_desktop(
            name=options.name,
            port=options.port,
            let_others_join=options.let_others_join,
            announce=options.announce,
            database_url=options.database_url,
            redis_url=options.redis_url or None,
            redis_prefix=options.redis_prefix,
            tls=options.tls,
            # Called on the server's thread: a queued signal carries it to the UI thread.
            on_failure=lambda error: self.failed.emit(f"The server stopped: {error}"),
        )

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
                self.fingerprint = ""
                self._status_timer.stop()
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

    def on_own_server(self) -> bool:
        """The user is logged in to the server this app hosts."""
        server = self.server
        return self.session.me is not None and server is not None and self.session.server == server.address

    def others_connected(self) -> int:
        """People connected to our server other than the host: what the hosting panel shows and
        what stopping or quitting asks about (the same number in both places)."""
        people = self.connected_people()
        if self.on_own_server() and self.session.me is not None:
            people.discard(self.session.me.id)
        return len(people)

    def _report_status(self) -> None:
        server, options = self.server, self.options
        if server is None or options is None:
            self._status_timer.stop()
            self.statusChanged.emit(None)
            return
        self.statusChanged.emit(
            HostingStatus(
                options.name,
                server.address,
                self.addresses_for_others(),
                self.others_connected(),
                self.uptime(),
                self.fingerprint,
            )
        )
