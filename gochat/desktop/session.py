"""ChatSession: the QObject between the network layer and the windows.

Windows call its methods (coroutines, run as tasks on the qasync loop) and listen to its
signals; they never touch the network. It owns the REST client, the live connection, the
pure state and the Qt models over that state.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QTimer, Signal

from gochat.desktop.api import DEFAULT_TIMEOUT, ApiError, Login, RestApi, display_address, normalise_address
from gochat.desktop.connection import LiveConnection
from gochat.desktop.models import MemberListModel, MessageListModel, RoomListModel
from gochat.desktop.state import (
    Change,
    Item,
    LinkState,
    Outbox,
    Removed,
    Room,
    Status,
    Timeline,
    UnreadCounts,
    User,
)
from gochat.protocol import (
    EnterRoom,
    Envelope,
    LeaveRoom,
    MsgType,
    SendMessage,
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
# Reading moves the server's marker at most this often per room (a busy room read live would
# otherwise cost a request per message).
READ_REPORT_MS = 400
# Someone missing after a reconnect who is back within this long was never gone: no "left" and
# "entered" pair for a blip of the connection or a server restart.
REJOIN_GRACE_SECONDS = 30.0


class OpenRoom:
    """An open chat window's data: its timeline and models, and whether it entered the room on
    the current connection."""

    def __init__(self, room: Room, me: User, pending: list[Item]) -> None:
        self.room = room
        self.timeline = Timeline(me=me, pending=pending)
        self.messages = MessageListModel(self.timeline)
        self.members = MemberListModel()
        self.entered = False
        self.loading_older = False
        self.incoming: list[dict[str, Any]] = []  # live messages not yet shown (see LIVE_BATCH_MS)
        # Members missing when the room was re-entered after a reconnect, and until when they may
        # come back without a word (a server restart drops everyone for a moment).
        self.away: dict[int, tuple[User, float]] = {}


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
    # room id, message id, title, text: a message the user has not seen, in a room that is theirs
    notify = Signal(int, int, str, str)
    errorShown = Signal(str)  # noqa: N815

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.unread = UnreadCounts()
        self.rooms = RoomListModel(self.unread)
        self.me: User | None = None
        self.server = ""
        self.link_state = LinkState.CLOSED
        # The database behind the server (its health check says): what is kept for an account
        # (unsent messages, open rooms, drafts) is kept under it, never under the address alone.
        self.server_id = ""
        # (field, message, HTTP status) of the last failed login, for callers that said it quietly.
        self.last_login_failure: tuple[str, str, int] | None = None
        # How long a server may take to accept the connection, and then to answer (seconds).
        self.request_timeout = DEFAULT_TIMEOUT
        self._login_attempt: asyncio.Future[Login] | None = None
        self._api: RestApi | None = None
        self._live: LiveConnection | None = None
        self._open: dict[int, OpenRoom] = {}
        # What the user typed and the server has not acknowledged: the account's, not a window's.
        self.outbox = Outbox()
        # Where the outbox is kept between runs (a file per server and user); None: memory only.
        self.data_dir: Path | None = None
        # Rooms whose window is on screen: what arrives there is read.
        self._visible: set[int] = set()
        # Rooms whose notifications the user turned off (the app keeps them in its settings); the
        # room list shows the same set.
        self.muted: set[int] = self.rooms.muted
        # On the current connection: rooms being watched (asked) and messages already sent.
        self._watching: set[int] = set()
        self._sent_on_link: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._live_batch = QTimer(self)
        self._live_batch.setSingleShot(True)
        self._live_batch.setInterval(LIVE_BATCH_MS)
        self._live_batch.timeout.connect(self._show_incoming)
        self.rejoin_grace = REJOIN_GRACE_SECONDS
        self._away_check = QTimer(self)
        self._away_check.setSingleShot(True)
        self._away_check.timeout.connect(self._say_who_stayed_away)
        self._reads_due: set[int] = set()
        self._read_report = QTimer(self)
        self._read_report.setSingleShot(True)
        self._read_report.setInterval(READ_REPORT_MS)
        self._read_report.timeout.connect(self._report_reads)
        self.loggedIn.connect(self._load_outbox)

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
        self.server_id = api.server_id
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
            self._forget_window(room_id)
        if live is not None:
            await live.stop()
        if api is not None:
            if not reason:
                try:
                    await api.logout()
                except ApiError as error:
                    log.info("logout request failed: %s", error.message)
            await api.close()
        self._save_outbox()  # unsent messages wait on disk for this account's next login
        self.me = None
        self.outbox = Outbox()
        self.unread.rooms.clear()
        self._visible.clear()
        self._reads_due.clear()
        self.rooms.reset([])
        self.loggedOut.emit(reason)

    async def shutdown(self) -> None:
        if self._api is not None:
            await self.logout()
        for task in list(self._tasks):
            task.cancel()

    # -- keeping the outbox between runs -------------------------------------------------

    def _outbox_file(self) -> Path | None:
        if self.data_dir is None or self.me is None or not self.server:
            return None
        account = hashlib.sha256(f"{self.server}\n{self.server_id}\n{self.me.id}".encode()).hexdigest()[:24]
        return self.data_dir / f"outbox-{account}.json"

    def _load_outbox(self, me: User, _server: str) -> None:
        path = self._outbox_file()
        if path is None or not path.is_file():
            return
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("could not read the unsent messages in %s: %s", path, error)
            return
        if isinstance(saved, list):
            self.outbox.load(saved, me)

    def _save_outbox(self) -> None:
        """Write what is unsent, so quitting (or a crash) while offline loses nothing typed."""
        path = self._outbox_file()
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not len(self.outbox):
                path.unlink(missing_ok=True)
                return
            partial = path.with_suffix(".tmp")
            partial.write_text(json.dumps(self.outbox.to_json(), ensure_ascii=False), encoding="utf-8")
            os.replace(partial, path)
        except OSError as error:
            log.warning("could not keep the unsent messages in %s: %s", path, error)

    # -- rooms -------------------------------------------------------------------------

    async def refresh_rooms(self) -> None:
        if self._api is None:
            return
        try:
            rooms = await self._api.rooms()
        except ApiError as error:
            self.errorShown.emit(error.message)
            return
        for room in rooms:
            self.unread.reset(room.id, room.last_read_id, room.unread)
        self.rooms.reset(rooms)

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
        opened = OpenRoom(self.rooms.room_at(row), self.me, self.outbox.room(room_id))
        self._open[room_id] = opened
        self.roomOpened.emit(room_id)
        self.spawn(self._send_frame(EnterRoom(room_id)))
        return opened

    def opened(self, room_id: int) -> OpenRoom | None:
        return self._open.get(room_id)

    def close_room(self, room_id: int) -> None:
        """The window closed: presence ends; the room stays followed (watched) and what was typed
        for it stays in the outbox."""
        if self._forget_window(room_id):
            self.spawn(self._send_frame(LeaveRoom(room_id)))

    def _forget_window(self, room_id: int) -> bool:
        opened = self._open.pop(room_id, None)
        self._visible.discard(room_id)
        if opened is None:
            return False
        # The window (and its model) may outlive this moment; from now on the outbox changes
        # without it, so it keeps a copy of its own and never sees rows vanish unannounced.
        opened.timeline.pending = list(opened.timeline.pending)
        return True

    def is_visible(self, room_id: int) -> bool:
        return room_id in self._visible

    def set_room_visible(self, room_id: int, visible: bool) -> None:
        """Whether the room's window is on screen: what it shows then counts as read."""
        if visible:
            self._visible.add(room_id)
            self._read_shown(room_id)
        else:
            self._visible.discard(room_id)

    def set_muted(self, room_id: int, muted: bool) -> None:
        if muted:
            self.muted.add(room_id)
        else:
            self.muted.discard(room_id)
        self.rooms.room_changed(room_id)

    def set_muted_rooms(self, rooms: set[int]) -> None:
        """The account's muted rooms, as kept (at login)."""
        self.muted.clear()
        self.muted.update(rooms)
        for room_id in rooms:
            self.rooms.room_changed(room_id)

    def _read_shown(self, room_id: int) -> None:
        """A visible window shows its newest message: read up to it (the server hears soon)."""
        opened = self._open.get(room_id)
        if opened is None or room_id not in self._visible:
            return
        newest = opened.timeline.last_id
        if newest and self.unread.read(room_id, newest):
            self.rooms.unread_changed(room_id)
            self._reads_due.add(room_id)
            if not self._read_report.isActive():
                self._read_report.start()

    def _report_reads(self) -> None:
        due, self._reads_due = self._reads_due, set()
        for room_id in due:
            upto = self.unread.last_read_id(room_id)
            if upto is not None:
                self.spawn(self._post_read(room_id, upto))

    async def _post_read(self, room_id: int, upto: int) -> None:
        if self._api is None:
            return
        try:
            await self._api.mark_read(room_id, upto)
        except ApiError as error:
            # Not worth a message: the count corrects itself at the next read or reconnect.
            log.info("could not report reading room %d: %s", room_id, error.message)

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
        """Show the message at once as pending; it goes out now, or after the next reconnect
        (window open or not)."""
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
        self._save_outbox()
        assert item.client_msg_id is not None
        if opened.entered or room_id in self._watching:
            self._send_message(room_id, item)
        return item.client_msg_id

    async def retry(self, room_id: int, client_msg_id: str) -> None:
        opened = self._open.get(room_id)
        if opened is None:
            return
        opened.messages.apply(opened.timeline.mark_pending(client_msg_id))
        self._save_outbox()
        for item in opened.timeline.pending:
            if item.client_msg_id == client_msg_id and (opened.entered or room_id in self._watching):
                self._sent_on_link.discard(client_msg_id)
                self._send_message(room_id, item)

    def _send_message(self, room_id: int, item: Item) -> None:
        assert item.client_msg_id is not None
        self._sent_on_link.add(item.client_msg_id)
        self.spawn(self._send_frame(SendMessage(room_id, item.text, item.client_msg_id)))

    def _send_unsent(self, room_id: int) -> None:
        """What was typed for the room while offline goes now, each once per connection (the
        server also de-duplicates by clientMsgId)."""
        for item in self.outbox.room(room_id):
            if item.status is Status.PENDING and item.client_msg_id not in self._sent_on_link:
                self._send_message(room_id, item)

    async def _send_frame(self, frame: EnterRoom | SendMessage | LeaveRoom | SyncRoom) -> bool:
        return self._live is not None and await self._live.send(encode_client_frame(frame))

    def _watch(self, room_id: int) -> None:
        if room_id not in self._watching:
            self._watching.add(room_id)
            self.spawn(self._send_frame(EnterRoom(room_id, watch=True)))

    def _rooms_to_follow(self) -> set[int]:
        """The user's rooms (a read marker), and any with messages waiting to be sent."""
        mine = {room.id for room in self.rooms.rooms() if self.unread.last_read_id(room.id) is not None}
        return mine | set(self.outbox.rooms_with_messages()) | set(self._open)

    # -- the live connection -----------------------------------------------------------

    def _on_link(self, state: LinkState, detail: str) -> None:
        self.link_state = state
        if state is not LinkState.ONLINE:
            for opened in self._open.values():
                opened.entered = False
            self._watching.clear()
        self.linkChanged.emit(state.value, detail)
        if state is LinkState.CLOSED and detail and self._api is not None:
            self.spawn(self.logout(detail))

    async def _on_connected(self) -> None:
        """(Re)connected: re-enter every open room, asking only for what was missed, then follow
        every room of the user's (unread counts, notifications, unsent messages)."""
        self._watching.clear()
        self._sent_on_link.clear()
        for room_id, opened in list(self._open.items()):
            # Resume after the last message shown; with none yet, ask for the newest page.
            await self._send_frame(EnterRoom(room_id, after_id=opened.timeline.last_id or None))
        if self._api is not None:
            await self.refresh_rooms()
        for room_id in sorted(self._rooms_to_follow()):
            self._watch(room_id)

    def _on_frame(self, frame: Envelope) -> None:
        if frame.msg_type != MsgType.SEND and self._live_batch.isActive():
            # Anything else (presence, acks, history) comes after the messages already here.
            self._live_batch.stop()
            self._show_incoming()
        handler = self._handlers.get(frame.msg_type)
        if handler is not None:
            handler(self, frame.data)

    def _reading(self, room_id: int, data: dict[str, Any]) -> None:
        """The server's count for a room (ROOM_STATE, READ); a room with a marker is followed."""
        last_read = data.get("lastReadId")
        if "unread" not in data:
            return
        counted = data.get("lastMessageId")
        self.unread.reset(
            room_id,
            None if last_read is None else int(last_read),
            int(data["unread"]),
            None if counted is None else int(counted),
        )
        self.rooms.unread_changed(room_id)
        if last_read is not None and self._live is not None and self._live.online:
            self._watch(room_id)

    def _room_state(self, data: dict[str, Any]) -> None:
        room_id = int(data["roomId"])
        self._reading(room_id, data)
        if data.get("watching"):
            self._send_unsent(room_id)
            return
        opened = self._open.get(room_id)
        if opened is None:
            return
        timeline = opened.timeline
        first_entry = not opened.entered and not timeline.confirmed
        members = [User.from_wire(u) for u in data.get("members", [])]
        if not first_entry:
            self._members_changed_while_away(opened, members)
        opened.members.reset(members)
        changes = timeline.add_history(data.get("messages", []), data.get("hasOlder") if first_entry else None)
        opened.messages.apply(changes)
        last_read = data.get("lastReadId")
        if first_entry and isinstance(last_read, int):
            opened.messages.apply(timeline.mark_unread_after(last_read))
        self.rooms.set_online(room_id, len(members))
        opened.entered = True
        if data.get("hasNewer"):
            self.spawn(self._send_frame(SyncRoom(room_id, timeline.last_id)))
        self._send_unsent(room_id)
        self._read_shown(room_id)
        self.roomEntered.emit(room_id)

    def _members_changed_while_away(self, opened: OpenRoom, members: list[User]) -> None:
        """Re-entering after a reconnect: those who came meanwhile entered; those missing may be
        reconnecting too, so their "left" waits REJOIN_GRACE_SECONDS and is never said if they
        come back by then (the server announced nothing to a connection that was gone)."""
        before = {user.id: user for user in opened.members.members()}
        now = {user.id: user for user in members}
        me = self.me.id if self.me is not None else None
        deadline = time.monotonic() + self.rejoin_grace
        for user_id, user in before.items():
            if user_id not in now and user_id != me:
                opened.away[user_id] = (user, deadline)
        for user_id, user in now.items():
            if user_id not in before and user_id != me and opened.away.pop(user_id, None) is None:
                opened.messages.apply(opened.timeline.add_system(f"{user.username} entered"))
        self._arm_away_check()

    def _arm_away_check(self) -> None:
        """Wake up when the first grace after a reconnect is over (or not at all: none left)."""
        deadlines = [deadline for opened in self._open.values() for _user, deadline in opened.away.values()]
        if not deadlines:
            self._away_check.stop()
            return
        self._away_check.start(max(0, int((min(deadlines) - time.monotonic()) * 1000)) + 1)

    def _say_who_stayed_away(self) -> None:
        """The grace after a reconnect is over: whoever has not come back has left."""
        now = time.monotonic()
        for opened in self._open.values():
            for user_id, (user, deadline) in list(opened.away.items()):
                if deadline <= now:
                    del opened.away[user_id]
                    opened.messages.apply(opened.timeline.add_system(f"{user.username} left"))
        self._arm_away_check()

    def _sync(self, data: dict[str, Any]) -> None:
        opened = self._open.get(int(data["roomId"]))
        if opened is None:
            return
        opened.messages.apply(opened.timeline.add_history(data.get("messages", [])))
        if data.get("hasNewer"):
            self.spawn(self._send_frame(SyncRoom(opened.room.id, opened.timeline.last_id)))
        self._read_shown(opened.room.id)

    def _message(self, data: dict[str, Any]) -> None:
        room_id = int(data["roomId"])
        opened = self._open.get(room_id)
        if opened is None:
            # A room the user follows with its window closed: counted and notified at once.
            self._arrived(room_id, data)
            return
        opened.incoming.append(data)
        if not self._live_batch.isActive():
            self._live_batch.start()

    def _show_incoming(self) -> None:
        """Put the live messages that arrived since the last time into their timelines, each
        room's run announced as one insertion."""
        for room_id, opened in list(self._open.items()):
            batch, opened.incoming = opened.incoming, []
            if not batch:
                continue
            changes: list[Change] = []
            for data in batch:
                added = opened.timeline.add_message(data)
                if added:
                    changes.extend(added)
                    self._arrived(room_id, data)
            opened.messages.apply(changes)
            self._read_shown(room_id)

    def _arrived(self, room_id: int, data: dict[str, Any]) -> None:
        """A new message: unread count and notification, unless the user sees it (its window is
        on screen) or wrote it."""
        author = User.from_wire(data["author"])
        mine = self.me is not None and author.id == self.me.id
        seen = room_id in self._visible
        if not self.unread.arrived(room_id, int(data["id"]), seen=seen, mine=mine):
            return
        self.rooms.unread_changed(room_id)
        if room_id in self.muted:
            return
        row = self.rooms.row_of(room_id)
        name = self.rooms.room_at(row).name if row is not None else f"room {room_id}"
        self.notify.emit(room_id, int(data["id"]), f"{author.username} in {name}", str(data["content"]))

    def _ack(self, data: dict[str, Any]) -> None:
        message = data.get("message") or {}
        client_msg_id = data.get("clientMsgId")
        if not isinstance(client_msg_id, str):
            return
        opened = self._open.get(int(message.get("roomId", 0)))
        if opened is not None:
            opened.messages.apply(opened.timeline.acknowledge(client_msg_id, message))
        else:
            self.outbox.remove(client_msg_id)
        self._save_outbox()

    def _presence(self, data: dict[str, Any], entered: bool) -> None:
        room_id = int(data["roomId"])
        self.rooms.set_online(room_id, int(data.get("online", 0)))
        opened = self._open.get(room_id)
        if opened is None or data.get("user") is None:
            return
        user = User.from_wire(data["user"])
        if self.me is not None and user.id == self.me.id:
            return  # our own leave reply, or another of our devices
        listed = any(member.id == user.id for member in opened.members.members())
        if entered == listed:
            return  # nothing changed for this window (already listed, or never seen here)
        if entered:
            opened.members.add(user)
            if opened.away.pop(user.id, None) is not None:
                return  # back after a reconnect: never gone, as far as anyone here could tell
        else:
            opened.members.remove(user)
        opened.messages.apply(opened.timeline.add_system(f"{user.username} {'entered' if entered else 'left'}"))

    def _error(self, data: dict[str, Any]) -> None:
        client_msg_id = data.get("clientMsgId")
        if isinstance(client_msg_id, str):
            found = self.outbox.find(client_msg_id)
            if found is not None:
                opened = self._open.get(found[0])
                if opened is not None:
                    opened.messages.apply(opened.timeline.mark_failed(client_msg_id))
                else:
                    self.outbox.set_status(client_msg_id, Status.FAILED)
                self._save_outbox()
                return
        self.errorShown.emit(str(data.get("message", "The server refused a request.")))

    def _room_created(self, data: dict[str, Any]) -> None:
        self.rooms.upsert(Room.from_wire(data))

    def _read(self, data: dict[str, Any]) -> None:
        """Read on another device (or our marker was made): the count follows."""
        self._reading(int(data["roomId"]), data)

    _handlers: ClassVar[dict[int, Callable[[ChatSession, dict[str, Any]], None]]] = {
        MsgType.ROOM_STATE: _room_state,
        MsgType.SYNC: _sync,
        MsgType.SEND: _message,
        MsgType.ACK: _ack,
        MsgType.ENTER: lambda self, data: self._presence(data, True),
        MsgType.LEAVE: lambda self, data: self._presence(data, False),
        MsgType.ERROR: _error,
        MsgType.ROOM_CREATED: _room_created,
        MsgType.READ: _read,
    }
