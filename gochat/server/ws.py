"""The WebSocket transport at /ws: authentication, reading frames, and a sender per connection.

Transport only: what a frame means is ChatService's business. Each connection has a bounded
outbound queue drained by its own task, so fan-out never waits on a socket; a client that
falls too far behind is closed with 1013 and resumes with SYNC when it returns.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from gochat.protocol import (
    ClientFrame,
    EnterRoom,
    ErrorCode,
    LeaveRoom,
    MsgType,
    ProtocolError,
    SendMessage,
    SyncRoom,
    decode_client_frame,
    error_frame,
)
from gochat.server import auth
from gochat.server.chat import ChatService
from gochat.server.context import ServerContext
from gochat.server.errors import ChatError, Unauthorized
from gochat.server.hub import next_connection_id
from gochat.server.records import UserRecord
from gochat.server.store.writer import Committed

log = logging.getLogger(__name__)
router = APIRouter()

MAX_IN_FLIGHT_SENDS = 1_000  # unacknowledged messages per connection before reading pauses
ERROR_BUDGET = 50  # bad frames tolerated per ERROR_WINDOW seconds before we call it abuse
ERROR_WINDOW = 10.0
CLOSE_TOO_SLOW = 1013
CLOSE_POLICY = 1008
FLUSH_TIMEOUT = 5.0


class WebSocketConnection:
    """One client: the hub's Connection, backed by a Starlette WebSocket."""

    def __init__(self, websocket: WebSocket, user: UserRecord, token_hash: str, max_backlog: int) -> None:
        self.id = next_connection_id()
        self._max_backlog = max_backlog
        self.user = user
        self.token_hash = token_hash
        self._websocket = websocket
        self._outbox: collections.deque[str] = collections.deque()
        self._wakeup = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self._flush_before_close = True
        self.in_flight: set[asyncio.Task[None]] = set()
        self._errors: collections.deque[float] = collections.deque()

    def deliver(self, frame: str) -> None:
        if self._close is not None:
            return
        self._outbox.append(frame)
        if len(self._outbox) > self._max_backlog:
            log.warning("closing connection %d of %s: %d frames unsent", self.id, self.user.username, len(self._outbox))
            self._outbox.clear()
            self._flush_before_close = False
            self.close(CLOSE_TOO_SLOW, "too slow: reconnect and sync")
            return
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
        self._wakeup.set()

    @property
    def closing(self) -> bool:
        return self._close is not None

    def count_error(self) -> bool:
        """Record one bad frame; True when the client has used up its error budget."""
        now = time.monotonic()
        self._errors.append(now)
        while self._errors and self._errors[0] < now - ERROR_WINDOW:
            self._errors.popleft()
        return len(self._errors) > ERROR_BUDGET

    async def run_sender(self) -> None:
        websocket = self._websocket
        outbox = self._outbox
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while outbox:
                    if self._close is not None and not self._flush_before_close:
                        break
                    await websocket.send_text(outbox.popleft())
                if self._close is not None:
                    code, reason = self._close
                    await websocket.close(code, reason)
                    return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the peer went away; the reader notices and cleans up


def _token_of(websocket: WebSocket) -> str | None:
    return auth.bearer_token(websocket.headers.get("authorization")) or websocket.query_params.get("token")


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    ctx: ServerContext = websocket.app.state.context
    try:
        if ctx.closing:
            raise Unauthorized("The server is shutting down.")
        user, digest = await ctx.accounts.authenticate(_token_of(websocket))
    except Unauthorized as exc:
        # Refused at the handshake, before any chat: an HTTP 401 with a readable reason.
        await websocket.send_denial_response(JSONResponse({"error": exc.code, "message": exc.message}, status_code=401))
        return
    await websocket.accept()
    connection = WebSocketConnection(websocket, user, digest, ctx.settings.max_client_backlog)
    ctx.hub.register(connection)
    sender = asyncio.create_task(connection.run_sender(), name=f"ws-sender-{connection.id}")
    try:
        await _read_frames(ctx, websocket, connection)
    finally:
        ctx.chat.disconnected(connection)
        ctx.connection_closed()
        connection.close(1000, "")
        try:
            await asyncio.wait_for(sender, FLUSH_TIMEOUT)
        except TimeoutError:
            log.warning("connection %d did not flush within %.0f s", connection.id, FLUSH_TIMEOUT)


YIELD_EVERY = 16


async def _read_frames(ctx: ServerContext, websocket: WebSocket, connection: WebSocketConnection) -> None:
    handled = 0
    while True:
        handled += 1
        if handled % YIELD_EVERY == 0:
            # receive() does not suspend while frames are buffered, so a client that floods us
            # would keep the loop to itself; let the other connections' senders run.
            await asyncio.sleep(0)
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if connection.closing:
            # After our close frame nothing more is served (RFC 6455 §5.5.1), but we keep
            # reading until the peer's close arrives: closing the socket with unread data
            # would reset the connection and the peer could lose our close frame.
            continue
        payload = message.get("text")
        if payload is None:
            payload = message.get("bytes") or b""
        await _handle(ctx, connection, payload)


async def _handle(ctx: ServerContext, connection: WebSocketConnection, payload: str | bytes) -> None:
    frame: ClientFrame | None = None
    try:
        frame = decode_client_frame(payload)
        if isinstance(frame, SendMessage):
            future = ctx.chat.submit(connection, frame)
            await _limit_in_flight(connection)
            task = asyncio.create_task(_acknowledge(connection, frame, future))
            connection.in_flight.add(task)
            task.add_done_callback(connection.in_flight.discard)
        elif isinstance(frame, EnterRoom):
            await ctx.chat.enter(connection, frame)
        elif isinstance(frame, LeaveRoom):
            ctx.chat.leave(connection, frame)
        elif isinstance(frame, SyncRoom):
            await ctx.chat.sync(connection, frame)
    except ProtocolError as exc:
        _reject(connection, exc)
    except ChatError as exc:
        _reject(connection, _as_protocol_error(exc, frame))
    except Exception:
        log.exception("handling a frame from connection %d failed", connection.id)
        error = ProtocolError(ErrorCode.INTERNAL, "The server could not handle that request; try again.")
        _reject(connection, _with_request(error, frame))


def _as_protocol_error(exc: ChatError, frame: ClientFrame | None) -> ProtocolError:
    return _with_request(ProtocolError(exc.code, exc.message), frame)


def _with_request(error: ProtocolError, frame: ClientFrame | None) -> ProtocolError:
    if frame is not None:
        error.request_id = frame.request_id
        error.msg_type = _TYPE_OF[type(frame)]
        if isinstance(frame, SendMessage):
            error.client_msg_id = frame.client_msg_id
    return error


_TYPE_OF: dict[type[Any], int] = {
    EnterRoom: MsgType.ENTER,
    SendMessage: MsgType.SEND,
    LeaveRoom: MsgType.LEAVE,
    SyncRoom: MsgType.SYNC,
}


def _reject(connection: WebSocketConnection, error: ProtocolError) -> None:
    connection.deliver(error_frame(error))
    if connection.count_error():
        connection.close(CLOSE_POLICY, "too many bad frames")


async def _limit_in_flight(connection: WebSocketConnection) -> None:
    # Back-pressure: a client with this many unacknowledged messages waits before we read more.
    while len(connection.in_flight) >= MAX_IN_FLIGHT_SENDS:
        await asyncio.wait(set(connection.in_flight), return_when=asyncio.FIRST_COMPLETED)


async def _acknowledge(
    connection: WebSocketConnection, request: SendMessage, future: asyncio.Future[Committed]
) -> None:
    try:
        committed = await future
    except ChatError as exc:
        connection.deliver(error_frame(_as_protocol_error(exc, request)))
        return
    except Exception:
        log.exception("storing a message from connection %d failed", connection.id)
        error = ProtocolError(ErrorCode.UNAVAILABLE, "The message could not be stored; send it again.")
        connection.deliver(error_frame(_with_request(error, request)))
        return
    connection.deliver(ChatService.ack_frame(request, committed))
