"""Running the app: a uvicorn server that closes chat politely, headless or on a thread.

Headless (``python -m gochat.server``) and embedded (the desktop's "Host on this computer")
both call ``create_app`` and ``GochatServer``; only who owns the event loop differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gochat.certificates import pem_fingerprint
from gochat.discovery import Announcer, addresses_to_announce
from gochat.server import ws
from gochat.server.app import create_app
from gochat.server.config import Settings, masked_url
from gochat.server.connections import ConnectionLedger
from gochat.server.context import ServerContext
from gochat.server.descriptors import connection_budget, raise_descriptor_limit
from gochat.server.frames import BatchingWebSocketProtocol
from gochat.server.guarded_http import guarded_http_protocol
from gochat.server.handshakes import HandshakeGuard, guarded_loop_factory
from gochat.server.metrics import Metrics, describe_listener, metrics_server, with_metrics_for_token
from gochat.server.tls import certificate_problem

log = logging.getLogger("gochat.server")


_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"']+")


class _UvicornLogHygiene(logging.Filter):
    """Keeps uvicorn's log lines safe and useful.

    - A WebSocket URL may carry ``?token=``; a bearer token must never reach a log file.
    - uvicorn's sans-I/O WebSocket protocol logs our HTTP 401 denial of a bad token as
      "returned without completing handshake"; our endpoint always accepts or denies, so
      that line is noise for every refused client.
    - A failed start-up is logged once, with its reason (``QuietStartupFailure``); uvicorn's
      "Application startup failed. Exiting." after it would be a second line saying less.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "without completing handshake" in message or message == "Application startup failed. Exiting.":
            return False
        if "token=" in message:
            record.msg = _TOKEN_IN_URL.sub(r"\1***", message)
            record.args = ()
        return True


for _name in ("uvicorn.error", "uvicorn.access"):
    logging.getLogger(_name).addFilter(_UvicornLogHygiene())


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so "port taken" is an OSError we can report
    instead of uvicorn exiting the process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def settle_garbage_collector() -> None:
    """Once a headless server is up: keep the cyclic garbage collector off what lives as long
    as the process, and run it less often.

    A full collection stops the event loop while it walks every tracked object. With the
    ~100,000 alive at start-up (modules, the app, SQLAlchemy's metadata) plus the connections,
    that took 100-200 ms here, twice in 10 s of a 500-client room at 20 messages/s: a pause
    every client sees, and the whole of the latency p99. Frozen, the start-up objects are never
    walked again; collecting the young generation every 10,000 allocations instead of 700 lets
    a broadcast's short-lived objects die before they are promoted, so full collections (and
    their pauses) become rare. The embedded server leaves the desktop process's settings alone.
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(10_000, middle, old)


class ServerStartError(RuntimeError):
    """Why the server could not start (storage unreachable, bad URL...), in words."""


class GochatServer(uvicorn.Server):
    """uvicorn.Server that, on shutdown, closes WebSockets with 1001 "going away" (sending
    what is queued first) before uvicorn's own abrupt 1012, then flushes storage."""

    def __init__(self, settings: Settings, *, owns_process: bool = False) -> None:
        self.app = create_app(settings)
        descriptors = raise_descriptor_limit()
        self.ledger = ConnectionLedger(
            max_total=connection_budget(settings.max_connections, descriptors),
            max_per_address=settings.max_connections_per_address,
            max_pending=settings.max_pending_connections,
        )
        log.info(
            "file descriptors: %d; connections at most %d in total, %s per address, %d pending",
            descriptors,
            self.ledger.max_total,
            settings.max_connections_per_address or "any number",
            self.ledger.max_pending,
        )
        super().__init__(make_config(self.app, settings, self.ledger))
        self._header_timeout = settings.header_timeout
        self.started_event = threading.Event()
        self._owns_process = owns_process  # headless: process-wide settings are ours to tune

    @property
    def context(self) -> ServerContext | None:
        ctx: ServerContext | None = getattr(self.app.state, "context", None)
        return ctx

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(loop, HandshakeGuard):
            # A TLS handshake is the first bytes of a request: it gets the headers' time.
            loop.tls_handshake_timeout = self._header_timeout
        await super().startup(sockets)
        if self.started:
            if self._owns_process:
                settle_garbage_collector()
            self.started_event.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM start a graceful shutdown. Unlike uvicorn's own, this does not
        re-raise the signal afterwards: a clean shutdown exits 0, as the admin expects."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        ctx = self.context
        if ctx is not None:
            ctx.begin_shutdown()
            await ctx.wait_connections_closed(within=3.0)
            await self._wait_for_close_handshakes(within=3.0)
        if not self.config.is_ssl:
            await super().shutdown(sockets)
            return
        # A client may still finish a request, or open a connection accepted just before the
        # listener closed, while uvicorn waits for connections to close: each one idle from then
        # on is dropped too, for as long as the wait lasts.
        dropping = asyncio.create_task(self._keep_dropping_idle_tls_connections())
        try:
            await super().shutdown(sockets)
        finally:
            dropping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dropping
        loop = asyncio.get_running_loop()
        if isinstance(loop, HandshakeGuard):
            # Connections uvicorn never heard of (their handshake unfinished): left open, the
            # loop could not be closed.
            dropped = await loop.drop_leftovers()
            if dropped:
                log.info("dropped %d connection(s) still in their TLS handshake", dropped)

    async def _keep_dropping_idle_tls_connections(self) -> None:
        while True:
            self._drop_idle_tls_connections()
            await asyncio.sleep(0.05)

    def _drop_idle_tls_connections(self) -> None:
        # uvicorn closes an idle keep-alive connection with transport.close(), which over TLS
        # sends close_notify and then waits for the client's: a client that is not reading its
        # idle pooled connection (every httpx client) never answers, and shutdown waited out its
        # whole graceful timeout, then logged an error. Nothing is in flight on an idle
        # connection, so it is dropped at once, as a plain TCP close would be.
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            transport = getattr(connection, "transport", None)
            idle = cycle is None or getattr(cycle, "response_complete", False)
            if idle and transport is not None and not isinstance(connection, WebSocketsSansIOProtocol):
                transport.abort()

    async def _wait_for_close_handshakes(self, within: float) -> None:
        # uvicorn reports a WebSocket as disconnected to the app as soon as we send our close
        # frame, and its shutdown() then drops the TCP connection at once. A client still
        # sending would get a reset and might never read our 1001. So wait until each client
        # has answered the close (uvicorn then closes the socket itself), or the time is up.
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and any(  # noqa: ASYNC110 - uvicorn has no event for this
            isinstance(c, WebSocketsSansIOProtocol) for c in self.server_state.connections
        ):
            await asyncio.sleep(0.02)


class QuietStartupFailure:
    """The ASGI app uvicorn runs, but a start-up failure the app has explained (storage not
    answering, a bad database URL: ``app.state.startup_error``) is logged as one line with the
    reason, not as Starlette's traceback of some 80 lines: it is the admin's to fix, not a bug.
    Anything unexpected still logs its traceback. Not a coroutine function, so HTTP requests
    and WebSockets go straight to ``inner`` without one more frame kept per connection
    (uvicorn is told the interface is ASGI 3)."""

    def __init__(self, inner: ASGIApp, app: FastAPI) -> None:
        self._inner = inner
        self._app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "lifespan":
            return self._inner(scope, receive, self._lifespan_send(send))
        return self._inner(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def lifespan_send(message: MutableMapping[str, Any]) -> None:
            reason = getattr(self._app.state, "startup_error", None)
            if message["type"] == "lifespan.startup.failed" and reason:
                message = {**message, "message": f"The server could not start: {reason}"}
            await send(message)

        return lifespan_send


def metrics_of(app: FastAPI) -> Callable[[], Metrics | None]:
    """The running server's metrics, once its context is up (None before)."""

    def current() -> Metrics | None:
        context: ServerContext | None = getattr(app.state, "context", None)
        return None if context is None else context.metrics

    return current


def make_config(app: FastAPI, settings: Settings, ledger: ConnectionLedger) -> uvicorn.Config:
    served = ws.with_direct_websocket(app)
    if settings.metrics_token:
        served = with_metrics_for_token(served, settings.metrics_token, metrics_of(app))
    return uvicorn.Config(
        QuietStartupFailure(served, app),
        interface="asgi3",
        # httptools with a header timeout, a header size cap and the connection caps.
        http=guarded_http_protocol(ledger, settings.header_timeout, settings.forwarded_allow_ips),
        # An idle keep-alive connection is closed after this; one that trickles bytes of its next
        # request (which restarts uvicorn's timer) is closed by the header timeout.
        timeout_keep_alive=settings.keep_alive_timeout,
        # scope["client"] is the X-Forwarded-For client only behind a listed proxy. uvicorn's own
        # default believes 127.0.0.1 (or $FORWARDED_ALLOW_IPS); ours believes no one unless told.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        # uvicorn's websockets-sansio protocol, plus sending queued frames in one write.
        ws=BatchingWebSocketProtocol,
        # The protocol refuses frames over 64 KiB with an error frame; only far larger ones
        # (abuse) are cut off by the transport with close code 1009.
        ws_max_size=1024 * 1024,
        ws_per_message_deflate=False,
        log_config=None,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
        lifespan="on",
        ssl_certfile=settings.certfile if settings.tls else None,
        ssl_keyfile=settings.keyfile if settings.tls else None,
    )


def tls_problem(settings: Settings) -> str | None:
    """Why the server cannot serve https with its certificate and key, checked before it starts
    (uvicorn would fail later, with a traceback naming neither file); None when it can, or
    when it serves plain http."""
    if not (settings.tls and settings.certfile and settings.keyfile):
        return None
    return certificate_problem(settings.certfile, settings.keyfile)


def describe(settings: Settings, port: int) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    cache = masked_url(settings.redis_url) if settings.redis_url else "in-process"
    scheme = "https" if settings.tls else "http"
    return (
        f"gochat serving {scheme}://{host}:{port} ({scheme.replace('http', 'ws')}://{host}:{port}/ws); "
        f"storage {masked_url(settings.resolved_database_url())}; cache {cache}"
    )


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (faster fan-out), else the standard loop; either one with TLS
    handshakes timed and none left open at shutdown (gochat/server/handshakes.py)."""
    return guarded_loop_factory()


async def serve(
    settings: Settings, sock: socket.socket | None = None, metrics_sock: socket.socket | None = None
) -> None:
    """Run until SIGINT/SIGTERM (when on the main thread) or ``should_exit``; with
    ``--metrics-port``, GET /metrics on a listener of its own in the same loop (the desktop's
    hosting never calls this, so it never opens one)."""
    sock = sock or bind_socket(settings.host, settings.port)
    if metrics_sock is None and settings.metrics_port is not None:
        metrics_sock = bind_socket(settings.metrics_host, settings.metrics_port)
    server = GochatServer(settings, owns_process=True)
    port = sock.getsockname()[1]
    log.info("%s", describe(settings, port))
    metrics_listener: uvicorn.Server | None = None
    metrics_serving: asyncio.Task[None] | None = None
    if metrics_sock is not None:
        metrics_listener = metrics_server(metrics_of(server.app), settings.log_level)
        metrics_serving = asyncio.create_task(metrics_listener.serve(sockets=[metrics_sock]), name="gochat-metrics")
        log.info("metrics served at %s", describe_listener(metrics_sock))
    announcer: Announcer | None = None

    async def announce_once_started() -> None:
        nonlocal announcer
        await asyncio.to_thread(server.started_event.wait)
        # With TLS, the certificate's fingerprint too (TXT fp): a joiner that found it trusts it.
        fingerprint = ""
        if settings.certfile:
            fingerprint = pem_fingerprint(await asyncio.to_thread(Path(settings.certfile).read_bytes))
        announcer = Announcer(
            settings.server_name, port, addresses_to_announce(settings.host), tls=settings.tls, fingerprint=fingerprint
        )
        await asyncio.to_thread(announcer.start)

    announcing = asyncio.create_task(announce_once_started()) if settings.announce else None
    try:
        await server.serve(sockets=[sock])
    finally:
        if metrics_listener is not None and metrics_serving is not None:
            # Last: Prometheus may watch the connections drain while chat shuts down.
            metrics_listener.should_exit = True
            await metrics_serving
        if metrics_sock is not None:
            metrics_sock.close()
        if announcing is not None:
            announcing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announcing
        if announcer is not None:
            await asyncio.to_thread(announcer.close)


class ServerThread:
    """The server on a thread with its own event loop: the embedded mode's engine.

    ``start`` returns once the server accepts connections (or raises why it could not);
    ``stop`` closes chat politely and flushes every write before returning.
    """

    def __init__(self, settings: Settings, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.settings = settings
        self._on_failure = on_failure
        self._server: GochatServer | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.port: int | None = None

    def start(self, timeout: float = 30.0) -> None:
        problem = tls_problem(self.settings)
        if problem is not None:
            raise ServerStartError(f"The server could not start: {problem}")
        sock = bind_socket(self.settings.host, self.settings.port)
        self.port = sock.getsockname()[1]
        self._server = GochatServer(self.settings)
        self._thread = threading.Thread(target=self._run, args=(sock,), name="gochat-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started_event.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                break
        if not self._server.started_event.is_set() or self._error is not None:
            reason = getattr(self._server.app.state, "startup_error", None) or self._error or "it timed out"
            self.stop()
            raise ServerStartError(f"The server could not start: {reason}")

    def _run(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                runner.run(self._server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the owner, never swallowed
            self._error = exc
            if self._server.started_event.is_set():
                log.exception("the embedded server failed")
                if self._on_failure is not None:
                    self._on_failure(exc)
            # Before it started, start() raises the reason to its caller instead.
        finally:
            sock.close()

    @property
    def context(self) -> ServerContext | None:
        return None if self._server is None else self._server.context

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        return f"{scheme}://{self.settings.host}:{self.port}"

    def stop(self, timeout: float = 30.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
