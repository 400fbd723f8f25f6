"""The live WebSocket connection with automatic reconnection. No Qt.

It keeps one connection to /ws up while the user is logged in: when the connection drops
it says so, waits (exponential backoff with jitter, 0.5 s doubling to 10 s) and connects
again, then calls ``on_connected`` so the session can re-enter its rooms, fetch what it
missed and resend what was pending. A 401 or a 4001 close means the login is gone: it stops.
Each frame is decoded here, once, into its protocol class (``decode_server_frame``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from gochat.desktop.state import LinkState
from gochat.desktop.tls import CertificateChanged, certificate_problem
from gochat.protocol import CloseCode, ProtocolError, ServerFrame, decode_server_frame

log = logging.getLogger(__name__)


def ws_url(base_url: str) -> str:
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws"


class LiveConnection:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        on_frame: Callable[[ServerFrame], None],
        on_state: Callable[[LinkState, str], None],
        on_connected: Callable[[], Awaitable[None]],
        first_delay: float = 0.5,
        max_delay: float = 10.0,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self._url = ws_url(base_url)
        # wss: the context the REST client trusted the server with (None: the default's CAs).
        self._tls: dict[str, Any] = {"ssl": ssl} if ssl is not None else {}
        self._token = token
        self._on_frame = on_frame
        self._on_state = on_state
        self._on_connected = on_connected
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.state = LinkState.CONNECTING

    @property
    def online(self) -> bool:
        return self._ws is not None and self.state is LinkState.ONLINE

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gochat-live-connection")

    async def stop(self) -> None:
        self._stopped = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._set_state(LinkState.CLOSED, "")

    async def send(self, text: str) -> bool:
        """Send a frame if online; False means "not now" (the caller keeps it pending)."""
        ws = self._ws
        if ws is None or self.state is not LinkState.ONLINE:
            return False
        try:
            await ws.send(text)
        except ConnectionClosed:
            return False
        return True

    def _set_state(self, state: LinkState, detail: str) -> None:
        if state is self.state and state is not LinkState.OFFLINE:
            return
        self.state = state
        self._on_state(state, detail)

    async def _run(self) -> None:
        delay = self._first_delay
        while not self._stopped:
            close_code: int | None = None
            try:
                async with connect(
                    self._url,
                    additional_headers={"Authorization": f"Bearer {self._token}"},
                    open_timeout=10,
                    max_size=None,
                    **self._tls,
                ) as ws:
                    self._ws = ws
                    delay = self._first_delay
                    self._set_state(LinkState.ONLINE, "")
                    await self._on_connected()
                    async for raw in ws:
                        try:
                            frame = decode_server_frame(raw)
                        except ProtocolError as error:
                            # A frame that breaks its type's shape: dropped, the connection kept.
                            log.warning("the server sent a bad frame: %s", error.message)
                            continue
                        self._on_frame(frame)
                    close_code = ws.close_code
            except InvalidStatus as exc:
                if exc.response.status_code == 401:
                    self._ws = None
                    self._set_state(LinkState.CLOSED, "Your login has ended; log in again.")
                    return
            except ConnectionClosed as exc:
                close_code = exc.rcvd.code if exc.rcvd is not None else None
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                if isinstance(certificate_problem(exc), CertificateChanged):
                    # Not a network hiccup to retry quietly: someone else may be answering.
                    self._ws = None
                    self._set_state(
                        LinkState.CLOSED,
                        "The server's certificate changed since you trusted it: it may be someone else "
                        "pretending to be that server. Disconnected; nothing was sent.",
                    )
                    return
                log.debug("connecting to %s failed: %s", self._url, exc)
            finally:
                self._ws = None
            if self._stopped:
                return
            if close_code == CloseCode.LOGGED_OUT:
                self._set_state(LinkState.CLOSED, "You were logged out.")
                return
            wait = delay * (0.75 + random.random() / 2)
            self._set_state(LinkState.OFFLINE, f"Connection lost; reconnecting in {wait:.0f} s…")
            await asyncio.sleep(wait)
            delay = min(delay * 2, self._max_delay)
