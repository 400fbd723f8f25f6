"""ChatSession: one logged-in connection to a server, shared by the feature controllers.

It holds who is logged in where, the REST client and the live connection; it runs the
controllers' coroutines as tasks on the qasync loop, sends their frames, and hands each frame
that arrives (decoded once, by the connection, into its protocol class) to the controllers
that asked for that class. What a frame means (rooms, a chat room's timeline, unread counts)
is theirs: see gochat/desktop/{account,rooms,chat}/.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from gochat.desktop.api import ApiError, Login, RestApi, display_address
from gochat.desktop.connection import LiveConnection
from gochat.desktop.state import LinkState
from gochat.protocol import (
    EnterRoom,
    LeaveRoom,
    SendMessage,
    ServerFrame,
    StartTyping,
    SyncRoom,
    User,
    encode_client_frame,
)

log = logging.getLogger(__name__)

# A server frame class (protocol.RoomState, protocol.Presence...).
F = TypeVar("F", bound=ServerFrame)


class ChatSession(QObject):
    """The connection of the logged-in user (none between logins).

    Signals:
        linkChanged(state: str, detail: str): the live connection changed state (a
            ``LinkState`` value; ``detail`` says why, e.g. "reconnecting in 2 s", or "" ).
        closing(): a logout has begun; the connection is still up (controllers forget what
            belongs to the windows of this login).
        closed(): the connection is gone and ``me`` is None (controllers drop this login's data).
        errorShown(message: str): a problem to show the user that belongs to no form (a refused
            request, a failed page of history).
    """

    linkChanged = Signal(str, str)  # noqa: N815 - Qt naming
    closing = Signal()
    closed = Signal()
    errorShown = Signal(str)  # noqa: N815

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.me: User | None = None
        self.server = ""
        # The database behind the server (its health check says): what is kept for an account
        # (unsent messages, open rooms, drafts) is kept under it, never under the address alone.
        self.server_id = ""
        self.link_state = LinkState.CLOSED
        self.api: RestApi | None = None
        self._live: LiveConnection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shut_down = False
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}
        self._before_frame: list[Callable[[ServerFrame], None]] = []
        self._reconnect_steps: list[Callable[[], Awaitable[None]]] = []
        self._followed: list[Callable[[], set[int]]] = []
        # Rooms being watched (EnterRoom with watch) on the current connection.
        self._watching: set[int] = set()

    # -- running coroutines from slots -------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        """Run a coroutine on the loop; an exception in it is re-raised through the loop's
        exception handler (and so fails tests) instead of vanishing. After ``shutdown`` nothing
        runs (None): a window the app no longer serves may still get a last event from Qt (a
        scroll to its top asking for older messages) after the app's loop is gone."""
        if self._shut_down:
            coroutine.close()
            return None
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            loop = asyncio.get_event_loop()
            loop.call_exception_handler({"message": "ChatSession task failed", "exception": task.exception()})

    # -- what the controllers register -------------------------------------------------

    def on_frame(self, kind: type[F], handler: Callable[[F], None]) -> None:
        """Call ``handler`` with every frame of class ``kind``, in registration order. A frame no
        one asked for (an UnknownFrame: a newer server's msgType) is ignored."""
        self._handlers.setdefault(kind, []).append(handler)

    def before_frame(self, hook: Callable[[ServerFrame], None]) -> None:
        """Call ``hook`` with every frame before its handlers."""
        self._before_frame.append(hook)

    def on_reconnect(self, step: Callable[[], Awaitable[None]]) -> None:
        """Await ``step`` after every (re)connection, in registration order, before following rooms."""
        self._reconnect_steps.append(step)

    def follows(self, rooms: Callable[[], set[int]]) -> None:
        """After every (re)connection, watch the rooms ``rooms()`` gives (with all the others')."""
        self._followed.append(rooms)

    # -- the login's lifetime ------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Logged in (the REST client is there; the live connection may be reconnecting)."""
        return self.api is not None

    @property
    def online(self) -> bool:
        return self._live is not None and self._live.online

    def open(self, base_url: str, api: RestApi, login: Login) -> None:
        """Logged in: remember who and where, and start the live connection."""
        self.api = api
        self.me = login.user
        self.server = display_address(base_url)
        self.server_id = api.server_id
        self._live = LiveConnection(
            base_url,
            login.token,
            on_frame=self._on_frame,
            on_state=self._on_link,
            on_connected=self._on_connected,
            ssl=api.ssl_context,  # wss trusts exactly what REST trusted (a pinned certificate)
        )
        self._live.start()

    async def close(self, reason: str = "", *, everywhere: bool = False) -> None:
        """Stop the live connection and end the login on the server (unless ``reason`` says the
        server ended it already; ``everywhere``: every login of this user); ``closing`` comes
        first, ``closed`` last."""
        api, live = self.api, self._live
        self.api, self._live = None, None
        self.closing.emit()
        if live is not None:
            await live.stop()
        if api is not None:
            if not reason:
                try:
                    await api.logout(everywhere=everywhere)
                except ApiError as error:
                    log.info("logout request failed: %s", error.message)
            await api.close()
        self.me = None
        self.closed.emit()

    async def shutdown(self) -> None:
        self._shut_down = True
        for task in list(self._tasks):
            task.cancel()

    # -- sending -----------------------------------------------------------------------

    async def send_frame(self, frame: EnterRoom | SendMessage | LeaveRoom | SyncRoom | StartTyping) -> bool:
        """Send a frame now; False when offline (the caller keeps what it must send again)."""
        return self._live is not None and await self._live.send(encode_client_frame(frame))

    def watching(self, room_id: int) -> bool:
        return room_id in self._watching

    def watch(self, room_id: int) -> None:
        """Follow a room on this connection (its messages and counts come without entering it)."""
        if room_id not in self._watching:
            self._watching.add(room_id)
            self.spawn(self.send_frame(EnterRoom(room_id, watch=True)))

    # -- the live connection -----------------------------------------------------------

    def _on_link(self, state: LinkState, detail: str) -> None:
        self.link_state = state
        if state is not LinkState.ONLINE:
            self._watching.clear()
        self.linkChanged.emit(state.value, detail)

    async def _on_connected(self) -> None:
        """(Re)connected: the controllers' steps (re-entering open rooms, reloading the room
        list), then every room any of them follows is watched."""
        self._watching.clear()
        for step in self._reconnect_steps:
            await step()
        followed: set[int] = set()
        for rooms in self._followed:
            followed |= rooms()
        for room_id in sorted(followed):
            self.watch(room_id)

    def _on_frame(self, frame: ServerFrame) -> None:
        for hook in self._before_frame:
            hook(frame)
        for handler in self._handlers.get(type(frame), ()):
            handler(frame)
