"""The WebSocket transport at /ws: authentication, reading frames, and a sender per connection.

Transport only: what a frame means is ChatService's business. Each connection has a bounded
outbound queue, written out by a callback a couple of loop turns later (or by its own task when
the peer's buffer is full), so fan-out never waits on a socket; a client that falls too far
behind is closed with 1013 and resumes with SYNC when it returns.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from fastapi import APIRouter, FastAPI, WebSocket
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from gochat.protocol import (
    ClientFrame,
    CloseCode,
    ErrorCode,
    ProtocolError,
    User,
    decode_client_frame,
    error_frame,
    request_failed,
)
from gochat.server import auth
from gochat.server.chat import Acknowledgement, rejection
from gochat.server.context import ServerContext
from gochat.server.errors import ChatError, RateLimited, ShuttingDown, log_if_storage_failed
from gochat.server.frames import send_texts_now_of, send_texts_of
from gochat.server.http_errors import chat_error_response
from gochat.server.hub import next_connection_id

log = logging.getLogger(__name__)
router = APIRouter()
PATH = "/ws"

MAX_IN_FLIGHT_SENDS = 1_000  # unacknowledged messages per connection before reading pauses
ERROR_BUDGET = 50  # bad frames tolerated per ERROR_WINDOW seconds before we call it abuse
ERROR_WINDOW = 10.0
FLUSH_TIMEOUT = 5.0
FRAMES_PER_WRITE = 256  # a bound on one write, so flow control still gets a say in a long backlog
BINARY_FRAME_REFUSED = "Frames must be text frames holding JSON; binary frames are not accepted."
# SENDs refused for speed (rate_limited) that a client may ignore before its frames are read no
# faster than it is allowed to send: each further refusal pauses reading for its retryAfter, and
# TCP makes the flooder wait. Far above what a client has in flight when its first refusal
# reaches it; counted afresh after REFUSAL_MEMORY seconds without a refusal.
REFUSALS_BEFORE_PAUSE = 64
REFUSAL_MEMORY = 1.0


class WebSocketConnection:
    """One client: the hub's Connection, backed by a Starlette WebSocket."""

    # Thousands of these sit idle on a server: slots, and nothing allocated until it is needed.
    __slots__ = (
        "_close",
        "_drained",
        "_errors",
        "_flush_before_close",
        "_flush_scheduled",
        "_loop",
        "_max_backlog",
        "_outbox",
        "_refusals",
        "_refused_at",
        "_send_now",
        "_sender_busy",
        "_wakeup",
        "_websocket",
        "id",
        "in_flight",
        "token_hash",
        "used",
        "user",
    )

    def __init__(self, websocket: WebSocket, user: User, token_hash: str, max_backlog: int) -> None:
        self.id = next_connection_id()
        self._max_backlog = max_backlog
        self.user = user
        self.token_hash = token_hash
        self.used = False
        self._websocket = websocket
        self._outbox: collections.deque[str] = collections.deque()
        self._wakeup = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self._flush_before_close = True
        self.in_flight: set[Acknowledgement] = set()  # messages sent, not yet acknowledged
        self._errors: collections.deque[float] | None = None  # times of recent bad frames
        self._refusals = 0  # rate_limited answers in a row (see REFUSALS_BEFORE_PAUSE)
        self._refused_at = 0.0
        self._drained: asyncio.Event | None = None  # made when the reader waits for the backlog
        self._loop = asyncio.get_running_loop()
        self._send_now = send_texts_now_of(websocket.scope)
        self._flush_scheduled = False
        self._sender_busy = False  # the sender task is writing: frames must wait their turn

    def deliver(self, frame: str) -> None:
        if self._close is not None:
            return
        self._outbox.append(frame)
        if len(self._outbox) > self._max_backlog:
            log.warning("closing connection %d of %s: %d frames unsent", self.id, self.user.username, len(self._outbox))
            self._outbox.clear()
            self._flush_before_close = False
            self.close(CloseCode.TRY_AGAIN_LATER, "too slow: reconnect and sync")
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # Two turns of the loop later, so whatever else queues frames here meanwhile (the
            # ACK that follows a message's broadcast, the rest of a batch) shares the write.
            self._loop.call_soon(self._loop.call_soon, self._flush)

    def offer(self, frame: str) -> bool:
        """Queue a frame that may be dropped (typing) while the backlog is short: below a quarter
        of the limit, where the reader is never paused, so it never brings a 1013 close."""
        if self._close is not None or len(self._outbox) >= self._max_backlog // 4:
            return False
        self.deliver(frame)
        return True

    def _flush(self) -> None:
        """Write what is queued now, without waking a task: a room's broadcast then costs a
        framing and a write per member, not two task switches each. Only when the peer's
        buffer is full, or the connection is closing, does the sender task take over."""
        self._flush_scheduled = False
        outbox = self._outbox
        if not outbox:
            return
        if self._send_now is None or self._sender_busy or self._close is not None:
            self._wakeup.set()
            return
        try:
            while outbox:
                frames = [outbox.popleft() for _ in range(min(len(outbox), FRAMES_PER_WRITE))]
                if not self._send_now(frames):
                    outbox.extendleft(reversed(frames))
                    self._wakeup.set()  # the peer is not reading: the sender waits for it
                    return
        except OSError:  # uvicorn's ClientDisconnected: the reader notices and cleans up
            return
        finally:
            self._wake_reader_if_drained()

    def _wake_reader_if_drained(self) -> None:
        """After a write: a reader waiting in ``wait_until_drained`` may go on below a quarter."""
        if self._drained is not None and len(self._outbox) <= self._max_backlog // 4:
            self._drained.set()

    def close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
        self._wakeup.set()
        if self._drained is not None:
            self._drained.set()

    @property
    def backlogged(self) -> bool:
        """Over half the backlog limit: stop reading this client's frames until it reads ours.

        Messages not yet committed count twice: each still owes its ACK and its broadcast.
        """
        return len(self._outbox) + 2 * len(self.in_flight) > self._max_backlog // 2

    async def wait_until_drained(self) -> None:
        """Until the backlog is down to a quarter of the limit, or the connection is closing.

        A client that sends fast but reads its replies (ACKs, its own broadcasts) slowly is
        slowed down to its reading pace, rather than cut off for a backlog it made itself.
        """
        if self._drained is None:
            self._drained = asyncio.Event()
        self._drained.clear()
        while self.backlogged and self._close is None:
            await self._drained.wait()
            self._drained.clear()

    @property
    def backlog(self) -> int:
        """Frames queued for this client and not yet written (gochat/server/metrics.py)."""
        return len(self._outbox)

    @property
    def closing(self) -> bool:
        return self._close is not None

    def count_error(self) -> bool:
        """Record one bad frame; True when the client has used up its error budget."""
        now = time.monotonic()
        if self._errors is None:
            self._errors = collections.deque()
        self._errors.append(now)
        while self._errors and self._errors[0] < now - ERROR_WINDOW:
            self._errors.popleft()
        return len(self._errors) > ERROR_BUDGET

    def count_refusal(self) -> bool:
        """Record one SEND refused for speed; True when the client has ignored so many that its
        frames should be read no faster than its allowance."""
        now = time.monotonic()
        if now - self._refused_at > REFUSAL_MEMORY:
            self._refusals = 0
        self._refused_at = now
        self._refusals += 1
        return self._refusals > REFUSALS_BEFORE_PAUSE

    async def run_sender(self) -> None:
        websocket = self._websocket
        outbox = self._outbox
        send_texts = send_texts_of(websocket.scope)
        try:
            while True:
                await self._wakeup.wait()
                # One turn of the loop for whatever else is ready to queue frames here (the ACK
                # that follows a message's broadcast, the rest of a burst): they share a write.
                await asyncio.sleep(0)
                self._wakeup.clear()
                self._sender_busy = True
                while outbox:
                    if self._close is not None and not self._flush_before_close:
                        break
                    if send_texts is None:
                        await websocket.send_text(outbox.popleft())
                    else:
                        count = min(len(outbox), FRAMES_PER_WRITE)
                        await send_texts([outbox.popleft() for _ in range(count)])
                    self._wake_reader_if_drained()
                self._sender_busy = False
                if self._close is not None:
                    code, reason = self._close
                    await websocket.close(code, reason)
                    return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the peer went away; the reader notices and cleans up


def _token_of(websocket: WebSocket) -> str | None:
    return auth.bearer_token(websocket.headers.get("authorization")) or websocket.query_params.get("token")


def with_direct_websocket(app: FastAPI) -> ASGIApp:
    """The ASGI app the server runs: ``app``, except that WebSockets to /ws go straight to
    the endpoint.

    Through FastAPI every connection keeps the router and middleware stack alive for as long
    as it is open - about a dozen suspended coroutine frames, three AsyncExitStacks and the
    exception-handling closures, some 11 KiB per idle connection (tracemalloc) - and each
    frame sent passes through those layers. The route stays registered, so the app behaves
    the same under any other ASGI server or test client.
    """

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == PATH and not scope.get("root_path"):
            scope["app"] = app  # what Starlette would set; the endpoint finds its context there
            await websocket_endpoint(WebSocket(scope, receive, send))
        else:
            await app(scope, receive, send)

    return asgi


@router.websocket(PATH)
async def websocket_endpoint(websocket: WebSocket) -> None:
    ctx: ServerContext = websocket.app.state.context
    try:
        if ctx.closing:
            # 503, not 401: the token is fine, and a client told 401 would log its person out.
            raise ShuttingDown("The server is shutting down; connect again shortly.")
        user, digest = await ctx.accounts.authenticate(_token_of(websocket))
    except ChatError as exc:
        # Refused at the handshake, before any chat: an HTTP status (401, or 503 when storage
        # cannot say who this is) with a readable JSON reason, as REST answers.
        log_if_storage_failed(exc)
        await websocket.send_denial_response(chat_error_response(exc))
        return
    await websocket.accept()
    connection = WebSocketConnection(websocket, user, digest, ctx.settings.max_client_backlog)
    ctx.chat.connected(connection)
    sender = asyncio.create_task(connection.run_sender(), name=f"ws-sender-{connection.id}")
    try:
        await _read_frames(ctx, websocket, connection)
    finally:
        ctx.chat.disconnected(connection)
        ctx.connection_closed()
        connection.close(CloseCode.NORMAL, "")
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
        if connection.backlogged:
            await connection.wait_until_drained()
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        connection.used = True  # keeps the token alive (gochat/server/token_sweep.py)
        if connection.closing:
            # After our close frame nothing more is served (RFC 6455 §5.5.1), but we keep
            # reading until the peer's close arrives: closing the socket with unread data
            # would reset the connection and the peer could lose our close frame.
            continue
        payload = message.get("text")
        if payload is None:
            # The protocol is JSON in text frames; a binary frame is a client's mistake, answered
            # like any other bad frame (and counted towards the abuse limit), never parsed.
            _reject(connection, ProtocolError(ErrorCode.BAD_FRAME, BINARY_FRAME_REFUSED))
            continue
        await _handle(ctx, connection, payload)


async def _handle(ctx: ServerContext, connection: WebSocketConnection, payload: str) -> None:
    frame: ClientFrame | None = None
    try:
        frame = decode_client_frame(payload)
        acknowledgement = await ctx.chat.handle(connection, frame)
        if acknowledgement is not None:
            connection.in_flight.add(acknowledgement)
            acknowledgement.add_done_callback(connection.in_flight.discard)
            await _limit_in_flight(connection)
    except ProtocolError as exc:
        _reject(connection, exc)
    except RateLimited as exc:
        # A well-formed frame sent too soon: answered (retryAfter), never held against the
        # client's bad-frame budget, so a fast sender is slowed, not disconnected.
        connection.deliver(error_frame(rejection(exc, frame)))
        if connection.count_refusal():
            # It keeps sending regardless: read its next frame only when one may be accepted, so
            # a flood costs the server (and the other rooms) no more than its allowance does.
            await asyncio.sleep(exc.retry_after_ms / 1000)
    except ChatError as exc:
        log_if_storage_failed(exc)
        _reject(connection, rejection(exc, frame))
    except Exception:
        log.exception("handling a frame from connection %d failed", connection.id)
        error = ProtocolError(ErrorCode.INTERNAL, "The server could not handle that request; try again.")
        _reject(connection, request_failed(error, frame))


def _reject(connection: WebSocketConnection, error: ProtocolError) -> None:
    connection.deliver(error_frame(error))
    if connection.count_error():
        connection.close(CloseCode.POLICY_VIOLATION, "too many bad frames")


async def _limit_in_flight(connection: WebSocketConnection) -> None:
    # Back-pressure: a client with this many unacknowledged messages waits before we read more.
    while len(connection.in_flight) >= MAX_IN_FLIGHT_SENDS:
        await asyncio.wait(set(connection.in_flight), return_when=asyncio.FIRST_COMPLETED)
