"""The server's event loop: TLS handshakes with a deadline, and none left open at shutdown.

uvicorn serves TLS by ``loop.create_server(..., ssl=context)``: the loop wraps each connection
in its SSLProtocol and tells uvicorn about it only once the handshake is done. Two things
followed. A client that connects and never finishes its handshake held its connection for the
loop's default 60 s, not the header timeout a plain connection gets. And uvicorn's shutdown
closes only the connections it knows of: one still in its handshake stayed open, and closing the
loop then failed (uvloop: "Device or resource busy"; the transport "unclosed", its protocol
meeting a closed loop). ``HandshakeGuard`` passes the handshake timeout and keeps each TLS
connection's transport until it is lost, so ``drop_leftovers`` can end the rest.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import Any, cast


def _guarded_protocol_class(base: type[Any], open_transports: set[asyncio.Transport]) -> type[Any]:
    class GuardedSSLProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            open_transports.add(cast(asyncio.Transport, transport))
            self._guarded_transport = transport
            super().connection_made(transport)

        def connection_lost(self, exc: BaseException | None) -> None:
            open_transports.discard(self._guarded_transport)
            super().connection_lost(exc)

    return GuardedSSLProtocol


class HandshakeGuard:
    """Mixed into an event loop class (uvloop's or asyncio's): its TLS servers' connections are
    wrapped here, with ``tls_handshake_timeout``, and remembered until lost."""

    ssl_protocol_base: type[Any] = sslproto.SSLProtocol

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Seconds a client has to finish its TLS handshake (None: the loop's default, 60 s).
        self.tls_handshake_timeout: float | None = None
        self._tls_transports: set[asyncio.Transport] = set()

    async def create_server(
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], *args: Any, **kwargs: Any
    ) -> Any:
        base: Any = super()
        context: ssl.SSLContext | None = kwargs.pop("ssl", None)
        handshake_timeout = kwargs.pop("ssl_handshake_timeout", None) or self.tls_handshake_timeout
        ssl_shutdown_timeout = kwargs.pop("ssl_shutdown_timeout", None)
        if context is None:
            return await base.create_server(protocol_factory, *args, **kwargs)
        guarded = _guarded_protocol_class(self.ssl_protocol_base, self._tls_transports)

        def tls_protocol() -> asyncio.BaseProtocol:
            protocol: asyncio.BaseProtocol = guarded(
                self,
                protocol_factory(),
                context,
                None,
                server_side=True,
                ssl_handshake_timeout=handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout,
            )
            return protocol

        return await base.create_server(tls_protocol, *args, **kwargs)

    async def drop_leftovers(self) -> int:
        """Abort every TLS connection still open (at shutdown, after uvicorn closed the ones it
        knew of: what is left never finished its handshake). How many there were."""
        leftovers = [transport for transport in self._tls_transports if not transport.is_closing()]
        for transport in leftovers:
            transport.abort()
        self._tls_transports.clear()
        await asyncio.sleep(0)  # the aborts' callbacks run before the loop may be closed
        return len(leftovers)


class GuardedSelectorLoop(HandshakeGuard, asyncio.SelectorEventLoop):
    """asyncio's own loop, guarded (when uvloop is not installed)."""


def guarded_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when installed (faster fan-out), else asyncio's loop; either one guarded."""
    try:
        import uvloop
        from uvloop.loop import SSLProtocol  # type: ignore[attr-defined]  # not in uvloop's stubs
    except ImportError:
        return GuardedSelectorLoop

    class GuardedUvloop(HandshakeGuard, uvloop.Loop):  # type: ignore[misc]  # uvloop's stubs differ from asyncio's
        ssl_protocol_base = SSLProtocol

    return GuardedUvloop
