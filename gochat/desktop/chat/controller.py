"""ChatController: the open chat rooms: each one's timeline and members, sending, the outbox
of what is not yet acknowledged, reading and history."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from gochat.desktop.api import ApiError
from gochat.desktop.chat.models import MemberListModel, MessageListModel
from gochat.desktop.rooms.controller import RoomsController
from gochat.desktop.session import ChatSession
from gochat.desktop.state import Change, Item, LinkState, Outbox, Removed, Status, Timeline
from gochat.desktop.typing_now import TypingNow, TypingThrottle, typing_line
from gochat.protocol import (
    TYPING_SHOW_SECONDS,
    Ack,
    EnterRoom,
    ErrorCode,
    ErrorFrame,
    LeaveRoom,
    Message,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    Presence,
    Room,
    RoomState,
    SendMessage,
    ServerFrame,
    StartTyping,
    SyncPage,
    SyncRoom,
    Typing,
    User,
    validate_content,
)
from gochat.protocol import ValidationError as InputError

log = logging.getLogger(__name__)

HISTORY_PAGE = 50
# Going to a message older than what is shown (a search result), the history back to it comes in
# pages this big (the server's largest), up to JUMP_MAX_MESSAGES in all: farther back, the window
# says so and the reader scrolls up the rest.
JUMP_PAGE = 200
JUMP_MAX_MESSAGES = 5000
# Back at the newest messages, a chat window keeps this many rows and forgets older ones (they
# load again on scrolling up), once it holds KEEP_ROWS + TRIM_SLACK: trimming in steps, not on
# every new message.
KEEP_ROWS = 200
TRIM_SLACK = 100
# Live messages that arrive within this many milliseconds of each other join the view together:
# one insertion (one relayout, one repaint) for a run of frames, not one per message.
LIVE_BATCH_MS = 16
# Someone missing after a reconnect who is back within this long was never gone: no "left" and
# "entered" pair for a blip of the connection or a server restart.
REJOIN_GRACE_SECONDS = 30.0
# A rate_limited refusal without retryAfter (an older server's) waits this long before sending again.
DEFAULT_RETRY_AFTER_MS = 1000


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
        self.incoming: list[Message] = []  # live messages not yet shown (see LIVE_BATCH_MS)
        # Members missing when the room was re-entered after a reconnect, and until when they may
        # come back without a word (a server restart drops everyone for a moment).
        self.away: dict[int, tuple[User, float]] = {}
        # Who is typing here (TYPING from the server), and when the user's own composing may
        # send TYPING again.
        self.typing = TypingNow()
        self.typing_sent = TypingThrottle()


class ChatController(QObject):
    """The rooms open in windows, and the account's outbox (kept on disk between runs, in
    ``data_dir``, per server and user): chat windows call its methods and show its models.

    Signals:
        roomOpened(room_id: int): a room was opened, or opened again: its window should show.
        roomEntered(room_id: int): the room's state arrived (members, newest messages): its
            window has loaded.
        olderLoaded(room_id: int, rows: int): a page of older messages was asked for; ``rows``
            were added at the top (0 when nothing came: the window may ask again later).
        editFinished(room_id: int, message_id: int, error: str): an edit the user saved was
            stored ("") or refused (what went wrong, for the person; the text typed stays).
        deleteFailed(room_id: int, message: str): a deletion the user asked for was refused.
        typingChanged(room_id: int, line: str): who is typing in the room changed: the line to
            show under its messages ("bob is typing…"; "" for nobody).
    """

    roomOpened = Signal(int)  # noqa: N815 - Qt naming
    roomEntered = Signal(int)  # noqa: N815
    olderLoaded = Signal(int, int)  # noqa: N815
    editFinished = Signal(int, int, str)  # noqa: N815
    deleteFailed = Signal(int, str)  # noqa: N815
    typingChanged = Signal(int, str)  # noqa: N815

    def __init__(self, session: ChatSession, rooms: RoomsController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.rooms = rooms
        self._open: dict[int, OpenRoom] = {}
        # What the user typed and the server has not acknowledged: the account's, not a window's.
        self.outbox = Outbox()
        # Where the outbox is kept between runs (a file per server and user); None: memory only.
        self.data_dir: Path | None = None
        self._outbox_path: Path | None = None
        # Rooms whose window is on screen: what arrives there is read.
        self._visible: set[int] = set()
        # Messages already sent on the current connection.
        self._sent_on_link: set[str] = set()
        # Rooms whose sends the server asked to wait (rate_limited), and until when (monotonic):
        # their pending messages go out again together, in order, once the wait is over.
        self._held_until: dict[int, float] = {}
        self._live_batch = QTimer(self)
        self._live_batch.setSingleShot(True)
        self._live_batch.setInterval(LIVE_BATCH_MS)
        self._live_batch.timeout.connect(self._show_incoming)
        self.rejoin_grace = REJOIN_GRACE_SECONDS
        self._away_check = QTimer(self)
        self._away_check.setSingleShot(True)
        self._away_check.timeout.connect(self._say_who_stayed_away)
        # Whether the user is a server admin (GET /api/me), who may delete anyone's message;
        # None until asked, once per login.
        self.admin: bool | None = None
        # The clock of typing (who is typing, and how often the user's own composing is said);
        # tests give a fake one, or a shorter show time.
        self.clock: Callable[[], float] = time.monotonic
        self.typing_show_seconds = TYPING_SHOW_SECONDS
        self._typing_expiry = QTimer(self)
        self._typing_expiry.setSingleShot(True)
        self._typing_expiry.timeout.connect(self._typing_expired)
        session.before_frame(self._before_frame)
        session.on_frame(RoomState, self._room_state)
        session.on_frame(SyncPage, self._sync)
        session.on_frame(MessagePosted, self._message)
        session.on_frame(Ack, self._ack)
        session.on_frame(Presence, self._presence)
        session.on_frame(MessageEdited, self._edited)
        session.on_frame(MessageDeleted, self._deleted)
        session.on_frame(ErrorFrame, self._error)
        session.on_frame(Typing, self._typing)
        session.on_reconnect(self._resume)
        session.follows(self._rooms_to_follow)
        session.linkChanged.connect(self._link_changed)
        session.closing.connect(self._forget_windows)
        session.closed.connect(self._forget_account)

    # -- keeping the outbox between runs -------------------------------------------------

    def load_outbox(self) -> None:
        """Logged in: what this account left unsent (at an earlier run) is back."""
        me = self.session.me
        path = self._outbox_path = self._outbox_file()
        if me is None or path is None or not path.is_file():
            return
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("could not read the unsent messages in %s: %s", path, error)
            return
        if isinstance(saved, list):
            self.outbox.load(saved, me)

    def _outbox_file(self) -> Path | None:
        me, server = self.session.me, self.session.server
        if self.data_dir is None or me is None or not server:
            return None
        account = hashlib.sha256(f"{server}\n{self.session.server_id}\n{me.id}".encode()).hexdigest()[:24]
        return self.data_dir / f"outbox-{account}.json"

    def _save_outbox(self) -> None:
        """Write what is unsent, so quitting (or a crash) while offline loses nothing typed."""
        path = self._outbox_path
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

    def _forget_windows(self) -> None:
        for room_id in list(self._open):
            self._forget_window(room_id)

    def _forget_account(self) -> None:
        self._save_outbox()  # unsent messages wait on disk for this account's next login
        self._outbox_path = None
        self.outbox = Outbox()
        self._visible.clear()
        self.admin = None

    # -- open rooms ----------------------------------------------------------------------

    def open_room(self, room_id: int) -> OpenRoom | None:
        """Open (or bring back) a room: its window shows the newest history at once."""
        me = self.session.me
        if me is None:
            return None
        if room_id in self._open:
            self.roomOpened.emit(room_id)
            return self._open[room_id]
        room = self.rooms.room(room_id)
        if room is None:
            return None
        opened = OpenRoom(room, me, self.outbox.room(room_id))
        self._open[room_id] = opened
        self.roomOpened.emit(room_id)
        self.session.spawn(self.session.send_frame(EnterRoom(room_id)))
        return opened

    def opened(self, room_id: int) -> OpenRoom | None:
        return self._open.get(room_id)

    def close_room(self, room_id: int) -> None:
        """The window closed: presence ends; the room stays followed (watched) and what was typed
        for it stays in the outbox."""
        if self._forget_window(room_id):
            self.session.spawn(self.session.send_frame(LeaveRoom(room_id)))

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

    def _read_shown(self, room_id: int) -> None:
        """A visible window shows its newest message: read up to it (the server hears soon)."""
        opened = self._open.get(room_id)
        if opened is None or room_id not in self._visible:
            return
        self.rooms.read_upto(room_id, opened.timeline.last_id)

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
        if opened is None or self.session.api is None or opened.loading_older or not opened.timeline.has_older:
            return 0
        oldest = opened.timeline.oldest_id
        opened.loading_older = True
        try:
            page = await self.session.api.history(room_id, before=oldest, limit=HISTORY_PAGE)
        except ApiError as error:
            self.session.errorShown.emit(error.message)
            return 0
        finally:
            opened.loading_older = False
        if self._open.get(room_id) is not opened or opened.timeline.oldest_id != oldest:
            return 0  # closed, or trimmed meanwhile: the page no longer borders what is shown
        changes = opened.timeline.add_history(page, has_older=len(page) == HISTORY_PAGE)
        opened.messages.apply(changes)
        return len(changes)

    async def load_back_to(self, room_id: int, message_id: int) -> int:
        """Load the history from the oldest message shown back to ``message_id`` (a search result
        far back), JUMP_PAGE at a time and at most JUMP_MAX_MESSAGES, shown at once as one block
        without a gap. olderLoaded follows, as for a page of older messages."""
        added = 0
        try:
            added = await self._load_back_to(room_id, message_id)
        finally:
            self.olderLoaded.emit(room_id, added)
        return added

    async def _load_back_to(self, room_id: int, message_id: int) -> int:
        opened = self._open.get(room_id)
        api = self.session.api
        if opened is None or api is None or opened.loading_older or not opened.timeline.has_older:
            return 0
        oldest = opened.timeline.oldest_id
        if oldest is None or oldest <= message_id:
            return 0
        opened.loading_older = True  # no trimming and no other page meanwhile
        older: list[Message] = []
        has_older = True
        try:
            before = oldest
            while has_older and before > message_id and len(older) < JUMP_MAX_MESSAGES:
                page = await api.history(room_id, before=before, limit=JUMP_PAGE)
                older += page
                has_older = len(page) == JUMP_PAGE
                if page:
                    before = page[0].id
        except ApiError as error:
            self.session.errorShown.emit(error.message)
            has_older = True  # what came still borders what is shown: it is shown, the rest loads on scrolling
        finally:
            opened.loading_older = False
        if not older or self._open.get(room_id) is not opened or opened.timeline.oldest_id != oldest:
            return 0  # closed, or trimmed meanwhile: the pages no longer border what is shown
        # Oldest first, so the rows go in as one block above the rest (one layout, not one a page).
        changes = opened.timeline.add_history(sorted(older, key=lambda message: message.id), has_older=has_older)
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
            self.session.errorShown.emit(error.message)
            return None
        item, changes = opened.timeline.add_pending(text)
        opened.messages.apply(changes)
        self._save_outbox()
        assert item.client_msg_id is not None
        if opened.entered or self.session.watching(room_id):
            self._send_message(room_id, item)
        return item.client_msg_id

    async def retry(self, room_id: int, client_msg_id: str) -> None:
        opened = self._open.get(room_id)
        if opened is None:
            return
        opened.messages.apply(opened.timeline.mark_pending(client_msg_id))
        self._save_outbox()
        for item in opened.timeline.pending:
            if item.client_msg_id == client_msg_id and (opened.entered or self.session.watching(room_id)):
                self._sent_on_link.discard(client_msg_id)
                self._send_message(room_id, item)

    def _send_message(self, room_id: int, item: Item) -> None:
        assert item.client_msg_id is not None
        if room_id in self._held_until:
            return  # it stays pending and goes out, after those before it, when the wait is over
        self._sent_on_link.add(item.client_msg_id)
        self.session.spawn(self.session.send_frame(SendMessage(room_id, item.text, item.client_msg_id)))

    def _send_unsent(self, room_id: int) -> None:
        """What was typed for the room while offline goes now, each once per connection (the
        server also de-duplicates by clientMsgId)."""
        for item in self.outbox.room(room_id):
            if item.status is Status.PENDING and item.client_msg_id not in self._sent_on_link:
                self._send_message(room_id, item)

    def _hold(self, room_id: int, wait_ms: int) -> None:
        until = time.monotonic() + wait_ms / 1000
        if until <= self._held_until.get(room_id, 0.0):
            return
        self._held_until[room_id] = until
        QTimer.singleShot(wait_ms, self, lambda: self._release(room_id))

    def _release(self, room_id: int) -> None:
        """A wait is over: send what is pending in the room, in order (unless a later refusal
        asked for a longer wait, whose own timer comes later)."""
        until = self._held_until.get(room_id)
        if until is None:
            return
        early = until - time.monotonic()
        if early > 0:  # a timer may fire a little early, or a later refusal asked for longer
            QTimer.singleShot(math.ceil(early * 1000), self, lambda: self._release(room_id))
            return
        del self._held_until[room_id]
        opened = self._open.get(room_id)
        if (opened is not None and opened.entered) or self.session.watching(room_id):
            self._send_unsent(room_id)

    def _rooms_to_follow(self) -> set[int]:
        """Rooms with messages waiting to be sent, and the open ones."""
        return set(self.outbox.rooms_with_messages()) | set(self._open)

    # -- the live connection -----------------------------------------------------------

    def _link_changed(self, state: str, _detail: str) -> None:
        if state != LinkState.ONLINE.value:
            for room_id, opened in self._open.items():
                opened.entered = False
                # Nobody's typing reaches a connection that is gone: what was shown is stale.
                if opened.typing.names():
                    opened.typing.clear()
                    self.typingChanged.emit(room_id, "")

    async def _resume(self) -> None:
        """(Re)connected: re-enter every open room, asking only for what was missed."""
        self._sent_on_link.clear()
        if self.admin is None:
            self.session.spawn(self._learn_admin())
        for room_id, opened in list(self._open.items()):
            # Resume after the last message shown (and the last change seen: the edits and
            # deletions made meanwhile come back as ``changed``); with none yet, the newest page.
            last_id = opened.timeline.last_id or None
            after_rev = (opened.timeline.rev or None) if last_id is not None else None
            await self.session.send_frame(EnterRoom(room_id, after_id=last_id, after_rev=after_rev))

    async def _learn_admin(self) -> None:
        api = self.session.api
        if api is None:
            return
        try:
            admin = await api.is_admin()
        except ApiError as error:
            log.info("could not ask whether this user is an admin: %s", error.message)
            return
        if self.session.api is api:
            self.admin = admin

    def _before_frame(self, frame: ServerFrame) -> None:
        if not isinstance(frame, MessagePosted) and self._live_batch.isActive():
            # Anything else (presence, acks, history) comes after the messages already here.
            self._live_batch.stop()
            self._show_incoming()

    def _room_state(self, frame: RoomState) -> None:
        room_id = frame.room_id
        if frame.watching:
            self._send_unsent(room_id)
            return
        opened = self._open.get(room_id)
        if opened is None:
            return
        timeline = opened.timeline
        first_entry = not opened.entered and not timeline.confirmed
        members = list(frame.members or ())
        if not first_entry:
            self._members_changed_while_away(opened, members)
        opened.members.reset(members)
        changes = timeline.add_history(frame.messages or (), frame.has_older if first_entry else None)
        changes += timeline.apply_changed(frame.changed or (), frame.rev)
        timeline.note_rev(max((message.rev for message in frame.messages or ()), default=0))
        opened.messages.apply(changes)
        if first_entry and frame.last_read_id is not None:
            opened.messages.apply(timeline.mark_unread_after(frame.last_read_id))
        self.rooms.set_online(room_id, len(members))
        opened.entered = True
        if frame.has_newer:
            self.session.spawn(self.session.send_frame(self._sync_frame(room_id, timeline)))
        self._send_unsent(room_id)
        self._read_shown(room_id)
        self.roomEntered.emit(room_id)

    def _members_changed_while_away(self, opened: OpenRoom, members: list[User]) -> None:
        """Re-entering after a reconnect: those who came meanwhile entered; those missing may be
        reconnecting too, so their "left" waits REJOIN_GRACE_SECONDS and is never said if they
        come back by then (the server announced nothing to a connection that was gone)."""
        before = {user.id: user for user in opened.members.members()}
        now = {user.id: user for user in members}
        me = self.session.me.id if self.session.me is not None else None
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

    @staticmethod
    def _sync_frame(room_id: int, timeline: Timeline) -> SyncRoom:
        """The next page after the last message held, with the changes since the last rev seen."""
        return SyncRoom(room_id, timeline.last_id, after_rev=timeline.rev or None)

    def _sync(self, frame: SyncPage) -> None:
        opened = self._open.get(frame.room_id)
        if opened is None:
            return
        timeline = opened.timeline
        changes = timeline.add_history(frame.messages)
        changes += timeline.apply_changed(frame.changed or (), frame.rev)
        timeline.note_rev(max((message.rev for message in frame.messages), default=0))
        opened.messages.apply(changes)
        if frame.has_newer:
            self.session.spawn(self.session.send_frame(self._sync_frame(opened.room.id, timeline)))
        self._read_shown(opened.room.id)

    def _message(self, frame: MessagePosted) -> None:
        message = frame.message
        opened = self._open.get(message.room_id)
        if opened is None:
            # A room the user follows with its window closed: counted and notified at once.
            self._arrived(message)
            return
        self._stopped_typing(message.room_id, opened, message.author.id)
        opened.incoming.append(message)
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
            for message in batch:
                added = opened.timeline.add_message(message)
                if opened.entered:
                    opened.timeline.note_rev(message.rev)
                if added:
                    changes.extend(added)
                    self._arrived(message)
            opened.messages.apply(changes)
            self._read_shown(room_id)

    def _arrived(self, message: Message) -> None:
        self.rooms.arrived(message, seen=message.room_id in self._visible)

    def _ack(self, frame: Ack) -> None:
        client_msg_id = frame.client_msg_id
        if client_msg_id is None:
            return
        opened = self._open.get(frame.message.room_id)
        if opened is not None:
            opened.messages.apply(opened.timeline.acknowledge(client_msg_id, frame.message))
        else:
            self.outbox.remove(client_msg_id)
        self._save_outbox()

    # -- edits and deletions --------------------------------------------------------------

    def _edited(self, frame: MessageEdited) -> None:
        """MESSAGE_EDITED: the message's row shows it as it now is (the old text goes)."""
        opened = self._open.get(frame.message.room_id)
        if opened is None:
            return
        opened.messages.apply(opened.timeline.replace_message(frame.message))
        if opened.entered:
            opened.timeline.note_rev(frame.message.rev)

    def _deleted(self, frame: MessageDeleted) -> None:
        """MESSAGE_DELETED: the message's row becomes a tombstone, in its place."""
        opened = self._open.get(frame.room_id)
        if opened is None:
            return
        opened.messages.apply(opened.timeline.tombstone(frame.id, frame.deleted_by, frame.rev))
        if opened.entered:
            opened.timeline.note_rev(frame.rev)

    def may_edit(self, item: Item) -> bool:
        """Only its author edits a message, and not a deleted one."""
        return item.mine and item.message_id is not None and not item.deleted and item.status is Status.SENT

    def may_delete(self, room_id: int, item: Item) -> bool:
        """Its author, the room's creator and a server admin may delete a (stored) message."""
        me = self.session.me
        if item.message_id is None or item.deleted or item.status is not Status.SENT or me is None:
            return False
        room = self.rooms.room(room_id)
        return item.mine or bool(self.admin) or (room is not None and room.creator.id == me.id)

    async def edit_message(self, room_id: int, message_id: int, text: str) -> bool:
        """Save an edit (PATCH). editFinished says how it went; on a refusal the window keeps
        what was typed. The room's MESSAGE_EDITED updates every window (this one's at once)."""
        try:
            validate_content(text)
        except InputError as error:
            self.editFinished.emit(room_id, message_id, error.message)
            return False
        api = self.session.api
        if api is None:
            self.editFinished.emit(room_id, message_id, "Not saved: you are logged out.")
            return False
        try:
            message = await api.edit_message(room_id, message_id, text)
        except ApiError as error:
            self.editFinished.emit(room_id, message_id, error.message)
            return False
        opened = self._open.get(room_id)
        if opened is not None:
            # Shown now, whether or not the live connection is up; its rev is not noted, since
            # the frames of others' changes may be missing if it is down (the catch-up asks).
            opened.messages.apply(opened.timeline.replace_message(message))
        self.editFinished.emit(room_id, message_id, "")
        return True

    async def delete_message(self, room_id: int, message_id: int) -> bool:
        """Delete a message (DELETE); a refusal is said through deleteFailed."""
        api = self.session.api
        if api is None:
            return False
        try:
            await api.delete_message(room_id, message_id)
        except ApiError as error:
            self.deleteFailed.emit(room_id, error.message)
            return False
        opened = self._open.get(room_id)
        item = opened.timeline.message(message_id) if opened is not None else None
        if opened is not None and item is not None:
            # A tombstone now (MESSAGE_DELETED may be late, or not come while offline).
            opened.messages.apply(opened.timeline.tombstone(message_id, self.session.me, item.rev))
        return True

    def _presence(self, frame: Presence) -> None:
        opened = self._open.get(frame.room_id)
        if opened is None:
            return
        user, entered = frame.user, frame.entered
        if self.session.me is not None and user.id == self.session.me.id:
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
            self._stopped_typing(frame.room_id, opened, user.id)
        opened.messages.apply(opened.timeline.add_system(f"{user.username} {'entered' if entered else 'left'}"))

    def _error(self, frame: ErrorFrame) -> None:
        client_msg_id = frame.client_msg_id
        if client_msg_id is not None:
            found = self.outbox.find(client_msg_id)
            if found is not None and frame.code == ErrorCode.RATE_LIMITED:
                # Sent too fast: not a failure. It stays pending (nothing to alarm anyone) and
                # goes again after the wait the server named, the room's later messages after it.
                self._sent_on_link.discard(client_msg_id)
                self._hold(found[0], frame.retry_after or DEFAULT_RETRY_AFTER_MS)
                return
            if found is not None:
                opened = self._open.get(found[0])
                if opened is not None:
                    opened.messages.apply(opened.timeline.mark_failed(client_msg_id))
                else:
                    self.outbox.set_status(client_msg_id, Status.FAILED)
                self._save_outbox()
                return
        self.session.errorShown.emit(frame.message or "The server refused a request.")

    # -- typing ------------------------------------------------------------------------

    def composing(self, room_id: int) -> None:
        """The user changed the text in the room's composer (and there is text): TYPING goes
        out, at most once every TYPING_SEND_SECONDS, while the room is entered."""
        opened = self._open.get(room_id)
        if opened is None or not opened.entered or not opened.typing_sent.may_send(self.clock()):
            return
        self.session.spawn(self.session.send_frame(StartTyping(room_id)))

    def typing_names(self, room_id: int) -> list[str]:
        opened = self._open.get(room_id)
        return opened.typing.names() if opened is not None else []

    def _typing(self, frame: Typing) -> None:
        opened = self._open.get(frame.room_id)
        me = self.session.me
        if opened is None or (me is not None and frame.user.id == me.id):
            return  # never our own (the server does not send it; another device's is not news)
        opened.typing.show_seconds = self.typing_show_seconds
        if opened.typing.saw(frame.user, self.clock()):
            self.typingChanged.emit(frame.room_id, typing_line(opened.typing.names()))
        self._arm_typing_expiry()

    def _stopped_typing(self, room_id: int, opened: OpenRoom, user_id: int) -> None:
        """Their message arrived, or they left: no longer "typing", at once."""
        if opened.typing.stopped(user_id):
            self.typingChanged.emit(room_id, typing_line(opened.typing.names()))
            self._arm_typing_expiry()

    def _arm_typing_expiry(self) -> None:
        """Wake up when the next name is due to go (not at all when nobody is typing)."""
        due = [when for opened in self._open.values() if (when := opened.typing.next_expiry()) is not None]
        if not due:
            self._typing_expiry.stop()
            return
        self._typing_expiry.start(max(0, math.ceil((min(due) - self.clock()) * 1000)))

    def _typing_expired(self) -> None:
        now = self.clock()
        for room_id, opened in self._open.items():
            if opened.typing.expire(now):
                self.typingChanged.emit(room_id, typing_line(opened.typing.names()))
        self._arm_typing_expiry()
