"""uvicorn's httptools HTTP protocol with the guards a network-facing server needs.

- Every accepted connection takes a ticket from the ``ConnectionLedger`` (caps in total, per
  client address, on pending connections); one refused is closed at once, before anything is read.
- A header timeout: a connection that has not completed a request's headers within
  ``header_timeout`` seconds of connecting (or of its previous answer) is closed. uvicorn's own
  keep-alive timer restarts on every byte, so a client sending one byte every few seconds
  (slowloris) would be held forever; this clock does not restart.
- A header size cap: more than ``MAX_HEADER_BYTES`` without complete headers is answered 431
  (the parser itself has no limit, and uvicorn keeps every header it has parsed).
- Behind a trusted proxy (``--forwarded-allow-ips``) the connection counts against the client
  that X-Forwarded-For names, decided as uvicorn's ProxyHeadersMiddleware decides
  ``scope["client"]``, so the cap and every per-address limit key on the same address.
- An upgraded connection hands its ticket to the WebSocket protocol, which releases it on close.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import _TrustedHosts
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from gochat.protocol import ErrorCode
from gochat.server.connections import ConnectionLedger, ConnectionTicket
from gochat.server.frames import BatchingWebSocketProtocol

MAX_HEADER_BYTES = 64 * 1024


class TrustedProxies:
    """The proxies whose X-Forwarded-For is believed, and the client address it names: uvicorn's
    own rule (the right-most address that is not a trusted proxy), so ours cannot differ."""

    def __init__(self, listed: str) -> None:
        self._hosts = _TrustedHosts(listed) if listed else None

    def __contains__(self, peer: str | None) -> bool:
        return self._hosts is not None and peer in self._hosts

    def client_of(self, peer: str, headers: list[tuple[bytes, bytes]]) -> str:
        forwarded = [value for name, value in headers if name == b"x-forwarded-for"]
        if self._hosts is None or not forwarded or peer not in self._hosts:
            return peer
        host, _port = self._hosts.get_trusted_client_address(b", ".join(forwarded).decode("latin1"))
        return host or peer


class GuardedHttpProtocol(HttpToolsProtocol):
    ledger: ClassVar[ConnectionLedger]
    header_timeout: ClassVar[float]
    proxies: ClassVar[TrustedProxies]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._ticket: ConnectionTicket | None = None
        self._header_clock: asyncio.TimerHandle | None = None  # set while waiting for headers
        self._header_bytes = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = self.client[0] if self.client else None
        # A proxy's connection is counted once its request names the client (on_headers_complete).
        address = None if peer in self.proxies else peer
        self._ticket = self.ledger.admit(address, self._close)
        if self._ticket is None:
            self._refused = True
            transport.close()  # nothing has been read: no answer is owed
            return
        self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._stop_header_clock()
        if self._ticket is not None:
            self._ticket.release()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._header_clock is not None and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(
                    431, f"The request's headers are larger than the server accepts ({MAX_HEADER_BYTES} bytes)."
                )

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._stop_header_clock()
        ticket = self._ticket
        if ticket is not None:
            ticket.proven()
            client = self.client[0] if self.client else None
            if ticket.address is None and client and not ticket.identify(self.proxies.client_of(client, self.headers)):
                self._refuse(503, "Too many connections from your address; close some and try again.")
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        if self._refused:
            return
        super().handle_websocket_upgrade()
        websocket = self.transport.get_protocol()
        if isinstance(websocket, BatchingWebSocketProtocol) and self._ticket is not None:
            self._ticket.handed_over()
            websocket.connection_ticket, self._ticket = self._ticket, None

    def on_response_complete(self) -> None:
        idle_next = not self.pipeline  # otherwise a queued request starts at once
        super().on_response_complete()
        if idle_next and self._ticket is not None and not self.transport.is_closing():
            self._ticket.waiting()
            self._wait_for_headers()

    def _wait_for_headers(self) -> None:
        self._stop_header_clock()
        self._header_bytes = 0
        self._header_clock = self.loop.call_later(self.header_timeout, self._close)

    def _stop_header_clock(self) -> None:
        if self._header_clock is not None:
            self._header_clock.cancel()
            self._header_clock = None

    def _close(self) -> None:
        self._stop_header_clock()
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer with the JSON error body and close, whatever the parser has yet to say."""
        self._refused = True
        code = ErrorCode.TOO_LARGE if status == 431 else ErrorCode.UNAVAILABLE
        body = json.dumps({"error": code, "message": message}).encode()
        head = [
            STATUS_LINE[status],
            *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
        ]
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self._close()


def guarded_http_protocol(
    ledger: ConnectionLedger, header_timeout: float, forwarded_allow_ips: str
) -> type[GuardedHttpProtocol]:
    """The protocol class for one server (uvicorn makes an instance per connection)."""

    class ServerHttpProtocol(GuardedHttpProtocol):
        pass

    ServerHttpProtocol.ledger = ledger
    ServerHttpProtocol.header_timeout = header_timeout
    ServerHttpProtocol.proxies = TrustedProxies(forwarded_allow_ips)
    return ServerHttpProtocol
