"""uvicorn's websockets-sansio protocol plus one ASGI extension: several text frames, one write;
and a quiet close (1007) for a text frame that is not UTF-8.

ASGI sends one frame per ``send`` call, and uvicorn writes each to the socket at once: a
system call per frame. A connection that has a message's broadcast and its ACK queued, or a
burst of a room's messages, then pays for many small writes. The ``gochat.send_texts``
extension frames a list of texts and hands them to the transport in one write. The app looks
for it in the scope and falls back to plain ``websocket.send`` when it is absent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

from gochat.protocol import CloseCode
from gochat.server.connections import ConnectionTicket

log = logging.getLogger(__name__)
SEND_TEXTS = "gochat.send_texts"

SendTexts = Callable[[Sequence[str]], Awaitable[None]]
SendTextsNow = Callable[[Sequence[str]], bool]


class BatchingWebSocketProtocol(WebSocketsSansIOProtocol):
    # The connection's place in the ledger, handed over by the HTTP protocol at the upgrade.
    connection_ticket: ConnectionTicket | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.connection_ticket is not None:
            self.connection_ticket.release()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][SEND_TEXTS] = {"send": self.send_texts, "send_now": self.send_texts_now}

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # uvicorn keeps the handshake's request and response, headers and all, for as long
            # as the connection is open, but reads neither once it has accepted: ~4 KiB of
            # every idle connection.
            del self.request, self.response

    def send_receive_event_to_app(self) -> None:
        """uvicorn's, except for a text frame that is not UTF-8: uvicorn closes with 1007 too,
        but logs an ERROR with a traceback, as for a bug of ours. It is the client's mistake
        (or a probe): one INFO line, and the connection ends the same way."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            # Past our close frame: dropped, and reading goes on until the peer's close arrives.
            return
        event: ASGIReceiveEvent
        if self.curr_msg_data_type == "text":
            try:
                event = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                log.info("closing a WebSocket from %s: a text frame was not UTF-8 (1007)", _peer(self.client))
                self.conn.send_close(CloseCode.INVALID_DATA, "text frames must be UTF-8")
                self.handle_parser_exception()  # tells the app it is over, sends the close, closes
                return
        else:
            event = {"type": "websocket.receive", "bytes": data}
        self.queue.put_nowait(event)
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    async def send_texts(self, frames: Sequence[str]) -> None:
        """Send text frames in one socket write, with the checks uvicorn's ``send`` makes."""
        await self.writable.wait()  # flow control: the peer's buffer is full
        self._write_texts(frames)

    def send_texts_now(self, frames: Sequence[str]) -> bool:
        """``send_texts`` without waiting, for callers that cannot await: False, and nothing
        sent, while the peer's buffer is full."""
        if not self.writable.is_set():
            return False
        self._write_texts(frames)
        return True

    def _write_texts(self, frames: Sequence[str]) -> None:
        if self.disconnected or self.close_sent or not self.handshake_complete:
            raise ClientDisconnected()
        try:
            for frame in frames:
                self.conn.send_text(frame.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(b"".join(self.conn.data_to_send()))


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown address"


def send_texts_of(scope: dict[str, Any] | Any) -> SendTexts | None:
    """The scope's batched sender, or None when the server does not offer one."""
    sender: SendTexts | None = _extension(scope).get("send")
    return sender


def send_texts_now_of(scope: dict[str, Any] | Any) -> SendTextsNow | None:
    """The scope's batched sender that never waits, or None when the server does not offer one."""
    sender: SendTextsNow | None = _extension(scope).get("send_now")
    return sender


def _extension(scope: dict[str, Any] | Any) -> dict[str, Any]:
    extension = (scope.get("extensions") or {}).get(SEND_TEXTS)
    return extension if isinstance(extension, dict) else {}
