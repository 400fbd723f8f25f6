"""EmbeddedServer: the bundled server as the desktop app hosts it.

The same app factory and runner as ``python -m gochat.server``, on a thread with its own event
loop so the UI and the server never stall each other. A small public API: ``start``, ``stop``,
``address``, ``connected_count``, ``connected_people``, ``addresses_for_others``, ``storage_description`` and a
failure callback. No Qt.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import platformdirs
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gochat.certificates import pem_fingerprint, self_signed_in
from gochat.discovery import Announcer, addresses_to_announce, lan_ipv4_addresses
from gochat.server.config import APP_NAME, Settings, masked_url
from gochat.server.runner import ServerThread

log = logging.getLogger(__name__)

ALL_INTERFACES = "0.0.0.0"
THIS_COMPUTER = "127.0.0.1"


def default_certificate_dir() -> Path:
    """Where the hosted server's self-signed certificate is kept (made on first use): beside
    its SQLite file, in the user's data directory."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "tls"


class PortInUse(OSError):
    """The port is taken; ``suggestion`` is a free one on the same address."""

    def __init__(self, port: int, suggestion: int) -> None:
        super().__init__(errno.EADDRINUSE, f"Port {port} is already in use on this computer.")
        self.port = port
        self.suggestion = suggestion


def describe_storage(settings: Settings) -> str:
    url = settings.resolved_database_url()
    try:
        parsed = make_url(url)
    except ArgumentError:
        storage = masked_url(url)
    else:
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            storage = f"SQLite file {parsed.database}" if parsed.database else "SQLite in memory"
        else:
            name = "MySQL" if backend in ("mysql", "mariadb") else backend
            storage = f"{name} {masked_url(url)}"
    cache = f"Redis {masked_url(settings.redis_url)}" if settings.redis_url else "in-process cache"
    return f"Storage: {storage} · cache: {cache}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedServer:
    def __init__(
        self,
        settings: Settings,
        *,
        announce: bool = False,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.settings = settings
        self.announce = announce and settings.host == ALL_INTERFACES
        self._on_failure = on_failure
        self._thread: ServerThread | None = None
        self._announcer: Announcer | None = None
        self.started_at: float | None = None

    @classmethod
    def for_desktop(
        cls,
        *,
        name: str,
        port: int,
        let_others_join: bool,
        announce: bool = False,
        database_url: str = "",
        redis_url: str | None = None,
        redis_prefix: str = "",
        tls: bool = True,
        certificate_dir: Path | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> EmbeddedServer:
        """The server the host dialog asks for. Letting others join turns on TLS (unless ``tls``
        is False) with the self-signed certificate kept in ``certificate_dir`` (made on first
        use); a server only this computer reaches stays plain http."""
        certfile = keyfile = None
        if let_others_join and tls:
            # Named after this computer (a server name may be any text; a certificate name may not).
            pair = self_signed_in(certificate_dir or default_certificate_dir())
            certfile, keyfile = str(pair.certfile), str(pair.keyfile)
        settings = Settings(
            host=ALL_INTERFACES if let_others_join else THIS_COMPUTER,
            port=port,
            database_url=database_url,
            redis_url=redis_url or None,
            server_name=name,
            log_level="warning",
            certfile=certfile,
            keyfile=keyfile,
        )
        if redis_prefix:  # empty: the server's own default namespace
            settings = replace(settings, redis_prefix=redis_prefix)
        return cls(settings, announce=announce, on_failure=on_failure)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start serving (blocking until it accepts connections). Raises PortInUse when the
        port is taken, or the reason the server could not start."""
        thread = ServerThread(self.settings, on_failure=self._failed)
        try:
            thread.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(self.settings.port, free_port(self.settings.host)) from None
            raise
        self._thread = thread
        self.started_at = time.monotonic()
        if self.announce:
            self._announcer = Announcer(
                self.settings.server_name,
                self.port,
                addresses_to_announce(self.settings.host),
                tls=self.settings.tls,
                fingerprint=self.fingerprint,
            )
            self._announcer.start()

    def stop(self) -> None:
        """Close every connection with 1001, commit every pending message, stop the thread."""
        if self._announcer is not None:
            announcer, self._announcer = self._announcer, None
            announcer.close()
        if self._thread is not None:
            thread, self._thread = self._thread, None
            thread.stop()
        self.started_at = None

    def _failed(self, error: BaseException) -> None:
        log.error("the hosted server stopped: %s", error)
        if self._on_failure is not None:
            self._on_failure(error)

    # -- what the host sees ------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        assert self._thread is not None
        assert self._thread.port is not None
        return self._thread.port

    @property
    def address(self) -> str:
        """Where this computer's own client connects."""
        return f"{THIS_COMPUTER}:{self.port}"

    @property
    def login_address(self) -> str:
        """What this computer's own client types: the address, with https:// when TLS is on."""
        return f"https://{self.address}" if self.settings.tls else self.address

    @property
    def fingerprint(self) -> str:
        """The SHA-256 of the certificate served (lower-case hex), or "" without TLS."""
        if not self.settings.certfile:
            return ""
        return pem_fingerprint(Path(self.settings.certfile).read_bytes())

    @property
    def uptime(self) -> float:
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    def connected_count(self) -> int:
        """Open WebSocket connections (read across threads: a single int, no lock needed)."""
        context = self._thread.context if self._thread is not None else None
        return 0 if context is None else context.hub.connection_count

    def connected_people(self) -> set[int]:
        """The ids of the people connected (one person on two devices is one). Read across
        threads: copying the hub's dict of int keys runs in C without letting go of the GIL, so
        the server thread cannot change it meanwhile."""
        context = self._thread.context if self._thread is not None else None
        return set() if context is None else context.hub.connected_user_ids()

    def storage_description(self) -> str:
        """Where messages are kept and what caches them, passwords masked: "SQLite file …" or
        "MySQL mysql+pymysql://user:***@host/chat", then the cache."""
        return describe_storage(self.settings)

    def addresses_for_others(self) -> list[str]:
        """What people on the network should type: every LAN IPv4 address with the port."""
        if self.settings.host != ALL_INTERFACES:
            return []
        return [f"{ip}:{self.port}" for ip in lan_ipv4_addresses()]
