"""ChatSession: the QObject between the network layer and the windows.

Windows call its methods (coroutines, run as tasks on the qasync loop) and listen to its
signals; they never touch the network. It owns the REST client, the live connection, the
pure state and the Qt models over that state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QTimer, Signal

from gochat.desktop.api import DEFAULT_TIMEOUT, ApiError, Login, RestApi, display_address, normalise_address
from gochat.desktop.connection import LiveConnection
from gochat.desktop.models import MemberListModel, MessageListModel, RoomListModel
from gochat.desktop.state import Change, LinkState, Removed, Room, Timeline, UnreadCounts, User
from gochat.protocol import (
    EnterRoom,
    LeaveRoom,
    MsgType,
    SendMessage,
    ServerFrame,
    SyncRoom,
    encode_client_frame,
    validate_content,
    validate_room_name,
)
from gochat.protocol import ValidationError as InputError

log = logging.getLogger(__name__)

HISTORY_PAGE = 50
# Back at the newest messages, a chat window keeps this many rows and forgets older ones (they
# load again on scrolling up), once it holds KEEP_ROWS + TRIM_SLACK: trimming in steps, not on
# every new message.
KEEP_ROWS = 200
TRIM_SLACK = 100
# Live messages that arrive within this many milliseconds of each other join the view together:
# one insertion (one relayout, one repaint) for a run of frames, not one per message.
LIVE_BATCH_MS = 16


class OpenRoom:
    """An open chat window's data: its timeline, models and whether it is in front."""

    def __init__(self, room: Room, me: User) -> None:
        self.room = room
        self.timeline = Timeline(me=me)
        self.messages = MessageListModel(self.timeline)
        self.members = MemberListModel()
        self.entered = False
        self.loading_older = False
        self.incoming: list[dict[str, Any]] = []  # live messages not yet shown (see LIVE_BATCH_MS)


class ChatSession(QObject):
    loggedIn = Signal(object, str)  # User, server address  # noqa: N815 - Qt naming
    loginFailed = Signal(str, str)  # field ("server", "username", "password"), message  # noqa: N815
    loggedOut = Signal(str)  # reason ("" when the user asked)  # noqa: N815
    busyChanged = Signal(bool)  # noqa: N815
    linkChanged = Signal(str, str)  # LinkState value, detail  # noqa: N815
    roomCreateFailed = Signal(str)  # noqa: N815
    roomCreated = Signal(object)  # Room (created by us)  # noqa: N815
    roomOpened = Signal(int)  # noqa: N815
    roomEntered = Signal(int)  # the room's state arrived  # noqa: N815
    olderLoaded = Signal(int, int)  # room id, rows added at the top  # noqa: N815
    notify = Signal(int, str, str)  # room id, title, text: a message the user has not seen
    errorShown = Signal(str)  # noqa: N815

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.unread = UnreadCounts()
        self.rooms = RoomListModel(self.unread)
        self.me: User | None = None
        self.server = ""
        self.link_state = LinkState.CLOSED
        # (field, message, HTTP status) of the last failed login, for callers that said it quietly.
        self.last_login_failure: tuple[str, str, int] | None = None
        # How long a server may take to accept the connection, and then to answer (seconds).
        self.request_timeout = DEFAULT_TIMEOUT
        self._login_attempt: asyncio.Future[Login] | None = None
        self._api: RestApi | None = None
        self._live: LiveConnection | None = None
        self._open: dict[int, OpenRoom] = {}
        self._active_room: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._live_batch = QTimer(self)
        self._live_batch.setSingleShot(True)
        self._live_batch.setInterval(LIVE_BATCH_MS)
        self._live_batch.timeout.connect(self._show_incoming)

    # -- running coroutines from slots -------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a coroutine on the loop; an exception in it is re-raised through the loop's
        exception handler (and so fails tests) instead of vanishing."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            loop = asyncio.get_event_loop()
            loop.call_exception_handler({"message": "ChatSession task failed", "exception": task.exception()})

    # -- login -------------------------------------------------------------------------

    async def login(
        self,
        address: str,
        username: str,
        password: str,
        *,
        register: bool = False,
        quiet_statuses: frozenset[int] = frozenset(),
    ) -> bool:
        """Check that a gochat server answers at ``address``, register first if asked, log in.

        An address that cannot be one is refused before anything is sent. A failure is shown
        (loginFailed) unless its HTTP status is in ``quiet_statuses``: the caller then decides
        what to say (``last_login_failure`` has it). ``cancel_login`` ends the attempt."""
        self.last_login_failure = None
        try:
            base = normalise_address(address)
        except ApiError as error:
            self._login_failed(error, quiet_statuses)
            return False
        api = RestApi(base, timeout=self.request_timeout)
        attempt = asyncio.ensure_future(self._sign_in(api, username, password, register=register))
        self._login_attempt = attempt
        self.busyChanged.emit(True)
        try:
            login = await attempt
        except ApiError as error:
            await api.close()
            self._login_failed(error, quiet_statuses)
            return False
        except asyncio.CancelledError:
            await api.close()
            current = asyncio.current_task()
            if attempt.cancelled() and current is not None and not current.cancelling():
                return False  # the person pressed Cancel; the form is theirs again
            raise
        except BaseException:
            await api.close()
            raise
        finally:
            if self._login_attempt is attempt:
                self._login_attempt = None
            self.busyChanged.emit(False)
        self._api = api
        self.me = login.user
        self.server = display_address(base)
        self._live = LiveConnection(
            base, login.token, on_frame=self._on_frame, on_state=self._on_link, on_connected=self._on_connected
        )
        self._live.start()
        self.loggedIn.emit(self.me, self.server)
        await self.refresh_rooms()
        return True

    @staticmethod
    async def _sign_in(api: RestApi, username: str, password: str, *, register: bool) -> Login:
        # Whatever answers must be a gochat server before it is sent a password.
        await api.check_server()
        if register:
            await api.register(username, password)
        return await api.login(username, password)

    def _login_failed(self, error: ApiError, quiet_statuses: frozenset[int]) -> None:
        self.last_login_failure = (error.field or "server", error.message, error.status or 0)
        if error.status not in quiet_statuses:
            self.loginFailed.emit(error.field or "server", error.message)

    def cancel_login(self) -> bool:
        """Stop the login under way (connecting, or waiting for an answer). False if there was none."""
        attempt = self._login_attempt
        if attempt is None or attempt.done():
            return False
        attempt.cancel()
        return True

    async def register_and_login(self, address: str, username: str, password: str) -> bool:
        """Create the account (the person asked for it) and log in. When the name is taken the
        account exists already, so the password they typed was wrong: that is what is said."""
        if await self.login(address, username, password, register=True, quiet_statuses=frozenset({409})):
            return True
        if self.last_login_failure is not None and self.last_login_failure[2] == 409:
            self.loginFailed.emit("password", "Wrong username or password.")
        return False

    async def logout(self, reason: str = "") -> None:
        api, live = self._api, self._live
        self._api, self._live = None, None
        for room_id in list(self._open):
            self._open.pop(room_id)
        if live is not None:
            await live.stop()
        if api is not None:
            if not reason:
                try:
                    await api.logout()
                except ApiError as error:
                    log.info("logout request failed: %s", error.message)
            await api.close()
        self.me = None
        self.rooms.reset([])
        self.loggedOut.emit(reason)

    async def shutdown(self) -> None:
        if self._api is not None:
            await self.logout()
        for task in list(self._tasks):
            task.cancel()

    # -- rooms -------------------------------------------------------------------------

    async def refresh_rooms(self) -> None:
        if self._api is None:
            return
        try:
            self.rooms.reset(await self._api.rooms())
        except ApiError as error:
            self.errorShown.emit(error.message)

    async def create_room(self, name: str) -> Room | None:
        try:
            validate_room_name(name)
        except InputError as error:
            self.roomCreateFailed.emit(error.message)
            return None
        if self._api is None:
            return None
        try:
            room = await self._api.create_room(name)
        except ApiError as error:
            self.roomCreateFailed.emit(error.message)
            return None
        self.rooms.upsert(room)
        self.roomCreated.emit(room)
        return room

    def open_room(self, room_id: int) -> OpenRoom | None:
        """Open (or bring back) a room: its window shows the newest history at once."""
        if self.me is None:
            return None
        if room_id in self._open:
            self.roomOpened.emit(room_id)
            return self._open[room_id]
        row = self.rooms.row_of(room_id)
        if row is None:
            return None
        opened = OpenRoom(self.rooms.room_at(row), self.me)
        self._open[room_id] = opened
        self.roomOpened.emit(room_id)
        self.spawn(self._send_frame(EnterRoom(room_id)))
        return opened

    def opened(self, room_id: int) -> OpenRoom | None:
        return self._open.get(room_id)

    def close_room(self, room_id: int) -> None:
        if self._open.pop(room_id, None) is not None:
            self.spawn(self._send_frame(LeaveRoom(room_id)))
        if self._active_room == room_id:
            self._active_room = None

    @property
    def active_room(self) -> int | None:
        return self._active_room

    def set_active_room(self, room_id: int | None) -> None:
        """Which room the user is looking at (its window is active)."""
        self._active_room = room_id
        if room_id is not None:
            self.unread.read(room_id)
            self.rooms.unread_changed(room_id)

    async def load_older(self, room_id: int) -> int:
        """Load the page before the oldest message shown. olderLoaded always follows (with 0 when
        nothing came), so the window may ask again later: after an error, or after trimming
        made older messages loadable again."""
        added = 0
        try:
            added = await self._load_older(room_id)
        finally:
            self.olderLoaded.emit(room_id, added)
        return added

    async def _load_older(self, room_id: int) -> int:
        opened = self._open.get(room_id)
        if opened is None or self._api is None or opened.loading_older or not opened.timeline.has_older:
            return 0
        oldest = opened.timeline.oldest_id
        opened.loading_older = True
        try:
            page = await self._api.history(room_id, before=oldest, limit=HISTORY_PAGE)
        except ApiError as error:
            self.errorShown.emit(error.message)
            return 0
        finally:
            opened.loading_older = False
        if self._open.get(room_id) is not opened or opened.timeline.oldest_id != oldest:
            return 0  # closed, or trimmed meanwhile: the page no longer borders what is shown
        changes = opened.timeline.add_history(page, has_older=len(page) == HISTORY_PAGE)
        opened.messages.apply(changes)
        return len(changes)

    def forget_older(self, room_id: int) -> int:
        """The window shows the newest messages: keep KEEP_ROWS rows, dropping older ones (their
        Items, model rows and measurements), so an open chat costs the same after reading far
        back, or after hours of live traffic, as after opening. Returns the rows dropped."""
        opened = self._open.get(room_id)
        if opened is None or opened.loading_older or len(opened.timeline.confirmed) <= KEEP_ROWS + TRIM_SLACK:
            return 0
        changes = opened.timeline.drop_older(KEEP_ROWS)
        opened.messages.apply(changes)
        return sum(change.count for change in changes if isinstance(change, Removed))

    # -- sending -----------------------------------------------------------------------

    def send(self, room_id: int, text: str) -> str | None:
        """Show the message at once as pending; it goes out now, or after the next reconnect."""
        opened = self._open.get(room_id)
        if opened is None:
            return None
        try:
            validate_content(text)
        except InputError as error:
            self.errorShown.emit(error.message)
            return None
        item, changes = opened.timeline.add_pending(text)
        opened.messages.apply(changes)
        assert item.client_msg_id is not None
        if opened.entered:
            self.spawn(self._send_frame(SendMessage(room_id, text, item.client_msg_id)))
        return item.client_msg_id

    async def retry(self, room_id: int, client_msg_id: str) -> None:
        opened = self._open.get(room_id)
        if opened is None:
            return
        opened.messages.apply(opened.timeline.mark_pending(client_msg_id))
        for item in opened.timeline.pending:
            if item.client_msg_id == client_msg_id and opened.entered:
                await self._send_frame(SendMessage(room_id, item.text, client_msg_id))

    async def _send_frame(self, frame: EnterRoom | SendMessage | LeaveRoom | SyncRoom) -> bool:
        return self._live is not None and await self._live.send(encode_client_frame(frame))

    # -- the live connection -----------------------------------------------------------

    def _on_link(self, state: LinkState, detail: str) -> None:
        self.link_state = state
        if state is not LinkState.ONLINE:
            for opened in self._open.values():
                opened.entered = False
        self.linkChanged.emit(state.value, detail)
        if state is LinkState.CLOSED and detail and self._api is not None:
            self.spawn(self.logout(detail))

    async def _on_connected(self) -> None:
        """(Re)connected: re-enter every open room, asking only for what was missed."""
        for room_id, opened in list(self._open.items()):
            # Resume after the last message shown; with none yet, ask for the newest page.
            await self._send_frame(EnterRoom(room_id, after_id=opened.timeline.last_id or None))
        if self._api is not None:
            await self.refresh_rooms()

    def _on_frame(self, frame: ServerFrame) -> None:
        if frame.msg_type != MsgType.SEND and self._live_batch.isActive():
            # Anything else (presence, acks, history) comes after the messages already here.
            self._live_batch.stop()
            self._show_incoming()
        handler = self._handlers.get(frame.msg_type)
        if handler is not None:
            handler(self, frame.data)

    def _room_state(self, data: dict[str, Any]) -> None:
        opened = self._open.get(int(data["roomId"]))
        if opened is None:
            return
        timeline = opened.timeline
        first_entry = not opened.entered and not timeline.confirmed
        opened.members.reset([User.from_wire(u) for u in data.get("members", [])])
        changes = timeline.add_history(data.get("messages", []), data.get("hasOlder") if first_entry else None)
        opened.messages.apply(changes)
        self.rooms.set_online(opened.room.id, len(opened.members.members()))
        opened.entered = True
        if data.get("hasNewer"):
            self.spawn(self._send_frame(SyncRoom(opened.room.id, timeline.last_id)))
        # What was typed while offline goes now, each once: the server de-duplicates by clientMsgId.
        for item in timeline.unsent():
            assert item.client_msg_id is not None
            self.spawn(self._send_frame(SendMessage(opened.room.id, item.text, item.client_msg_id)))
        self.roomEntered.emit(opened.room.id)

    def _sync(self, data: dict[str, Any]) -> None:
        opened = self._open.get(int(data["roomId"]))
        if opened is None:
            return
        opened.messages.apply(opened.timeline.add_history(data.get("messages", [])))
        if data.get("hasNewer"):
            self.spawn(self._send_frame(SyncRoom(opened.room.id, opened.timeline.last_id)))

    def _message(self, data: dict[str, Any]) -> None:
        opened = self._open.get(int(data["roomId"]))
        if opened is None:
            return
        opened.incoming.append(data)
        if not self._live_batch.isActive():
            self._live_batch.start()

    def _show_incoming(self) -> None:
        """Put the live messages that arrived since the last time into their timelines, each
        room's run announced as one insertion."""
        for room_id, opened in list(self._open.items()):
            batch, opened.incoming = opened.incoming, []
            changes: list[Change] = []
            for data in batch:
                added = opened.timeline.add_message(data)
                if added:
                    changes.extend(added)
                    self._arrived(room_id, opened, data)
            opened.messages.apply(changes)

    def _arrived(self, room_id: int, opened: OpenRoom, data: dict[str, Any]) -> None:
        """A new message in an open room: unread count and notification unless the user saw it."""
        author = User.from_wire(data["author"])
        mine = self.me is not None and author.id == self.me.id
        seen = self._active_room == room_id
        self.unread.arrived(room_id, seen=seen, mine=mine)
        if not seen and not mine:
            self.rooms.unread_changed(room_id)
            self.notify.emit(room_id, f"{author.username} in {opened.room.name}", str(data["content"]))

    def _ack(self, data: dict[str, Any]) -> None:
        message = data.get("message") or {}
        opened = self._open.get(int(message.get("roomId", 0)))
        client_msg_id = data.get("clientMsgId")
        if opened is not None and isinstance(client_msg_id, str):
            opened.messages.apply(opened.timeline.acknowledge(client_msg_id, message))

    def _presence(self, data: dict[str, Any], entered: bool) -> None:
        room_id = int(data["roomId"])
        self.rooms.set_online(room_id, int(data.get("online", 0)))
        opened = self._open.get(room_id)
        if opened is None or data.get("user") is None:
            return
        user = User.from_wire(data["user"])
        if self.me is not None and user.id == self.me.id:
            return  # our own leave reply, or another of our devices
        if entered:
            opened.members.add(user)
        else:
            opened.members.remove(user)
        opened.messages.apply(opened.timeline.add_system(f"{user.username} {'entered' if entered else 'left'}"))

    def _error(self, data: dict[str, Any]) -> None:
        client_msg_id = data.get("clientMsgId")
        if isinstance(client_msg_id, str):
            for opened in self._open.values():
                changes = opened.timeline.mark_failed(client_msg_id)
                if changes:
                    opened.messages.apply(changes)
                    return
        self.errorShown.emit(str(data.get("message", "The server refused a request.")))

    def _room_created(self, data: dict[str, Any]) -> None:
        self.rooms.upsert(Room.from_wire(data))

    _handlers: ClassVar[dict[int, Callable[[ChatSession, dict[str, Any]], None]]] = {
        MsgType.ROOM_STATE: _room_state,
        MsgType.SYNC: _sync,
        MsgType.SEND: _message,
        MsgType.ACK: _ack,
        MsgType.ENTER: lambda self, data: self._presence(data, True),
        MsgType.LEAVE: lambda self, data: self._presence(data, False),
        MsgType.ERROR: _error,
        MsgType.ROOM_CREATED: _room_created,
    }
