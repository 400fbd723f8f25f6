"""ChatService: what entering, sending, leaving and syncing mean. Testable without sockets.

Every reply and broadcast is built here from the protocol's frame classes; the transport only
hands frames in and delivers what comes out.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from gochat.protocol import (
    HISTORY_DEFAULT_LIMIT,
    ClientFrame,
    EnterRoom,
    LeaveRoom,
    Presence,
    ProtocolError,
    RoomState,
    SendMessage,
    StartTyping,
    SyncPage,
    SyncRoom,
    Typing,
    ack_frame,
    encode_server_frame,
    error_frame,
    request_failed,
)
from gochat.server.direct import DirectRooms
from gochat.server.errors import ChatError, NotInRoom, RateLimited, StorageUnavailable
from gochat.server.fanout import Fanout
from gochat.server.history import History
from gochat.server.hub import Connection, RoomHub
from gochat.server.limits import RateLimits
from gochat.server.reading import ReadMarkers
from gochat.server.records import HistoryPage, Reading, RoomRecord
from gochat.server.rooms import RoomDirectory
from gochat.server.store import queries
from gochat.server.store.database import Database
from gochat.server.store.writer import Committed, MessageWriter, SendTimedOut, WriterClosed
from gochat.server.typing_gate import TypingGate

log = logging.getLogger(__name__)

# How many missed messages one reply carries; a client asks again while hasNewer is true.
SYNC_PAGE = 500

# A message on its way to storage: done once its ACK (or its error) is queued to the sender.
Acknowledgement = asyncio.Future[Committed]


def caught_up_rev(after_rev: int, page: HistoryPage, changes: HistoryPage) -> int:
    """The highest rev a catch-up reply reflects (its messages and changes come from one
    snapshot, in which revs are committed in order). When more changes remain than one reply
    holds, the last change's: the client asks again from there (hasNewer is true) and may get
    some of this reply's messages once more, which it merges by id."""
    if changes.more:
        return changes.messages[-1].rev
    return max([after_rev, *(m.rev for m in page.messages), *(m.rev for m in changes.messages)])


def rejection(error: ChatError, request: ClientFrame | None) -> ProtocolError:
    """A domain error as the protocol error that answers ``request``."""
    retry_after = error.retry_after_ms if isinstance(error, RateLimited) else None
    return request_failed(ProtocolError(error.code, error.message, retry_after=retry_after), request)


class ChatService:
    def __init__(
        self,
        database: Database,
        rooms: RoomDirectory,
        hub: RoomHub,
        fanout: Fanout,
        markers: ReadMarkers,
        history: History,
        limits: RateLimits,
        direct: DirectRooms,
    ) -> None:
        self._db = database
        self._limits = limits
        self._rooms = rooms
        self._hub = hub
        self._fanout = fanout
        self._markers = markers
        self._history = history
        self._direct = direct
        self.writer = MessageWriter(database, self.broadcast_committed)
        # Public so that a test can give it a clock of its own.
        self.typing_gate = TypingGate()
        self.messages_accepted = 0  # SENDs past the checks and queued for storage: metrics.py

    async def handle(self, connection: Connection, frame: ClientFrame) -> Acknowledgement | None:
        """Serve one frame from ``connection``; a SEND returns its acknowledgement to come (the
        transport counts those for flow control). Raises ChatError for the error frame."""
        match frame:
            case SendMessage():
                return self.send(connection, frame)
            case EnterRoom():
                await self.enter(connection, frame)
            case LeaveRoom():
                self.leave(connection, frame)
            case SyncRoom():
                await self.sync(connection, frame)
            case StartTyping():
                self.typing(connection, frame)
        return None

    # -- sending ---------------------------------------------------------------------

    def send(self, connection: Connection, request: SendMessage) -> Acknowledgement:
        """Queue a message for storage, in the order frames arrived; once it is committed the
        room gets it and then the sender its ACK (or an error frame). Raises NotInRoom, or
        RateLimited past the connection's or the user's allowance (nothing is stored: the client
        sends it again after retryAfter)."""
        if not self._hub.may_send(connection, request.room_id):
            raise NotInRoom(f"Enter or watch room {request.room_id} before sending to it.")
        self._limits.send(connection.user.id, connection.id)
        future = self.writer.submit(
            connection.user,
            request.room_id,
            request.content,
            request.client_msg_id,
            # Known here since this connection entered or watches the room.
            mentionable=self._hub.direct_members(request.room_id),
        )
        # A callback, not a task per message: the ACK goes out as soon as the commit lands.
        future.add_done_callback(functools.partial(self._acknowledge, connection, request))
        self.messages_accepted += 1
        return future

    def broadcast_committed(self, batch: list[Committed]) -> None:
        """The writer's listener: each new message goes to its room (present and watching
        connections, on every server) once, in id order; then the users it mentions hear of it
        (Fanout, Delivery)."""
        self._fanout.stored([(c.message, c.message_json()) for c in batch if c.is_new])
        self._direct.messages_committed(batch)

    # -- typing ----------------------------------------------------------------------

    def typing(self, connection: Connection, request: StartTyping) -> None:
        """Forward "is typing" to the others present in the room, at most once per user per
        room every TYPING_FORWARD_SECONDS. Never answered: a TYPING too soon, or for a room the
        connection is not in (or that does not exist, or is not theirs to see), is dropped."""
        user = connection.user
        if not self._hub.is_in(connection, request.room_id) or not self.typing_gate.admit(user.id, request.room_id):
            return
        self._fanout.typing(request.room_id, user.id, encode_server_frame(Typing(request.room_id, user)))

    def _acknowledge(self, connection: Connection, request: SendMessage, future: Acknowledgement) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            committed = future.result()
            frame = ack_frame(committed.message_json(), not committed.is_new, request.client_msg_id, request.request_id)
            connection.deliver(frame)
            return
        rejected: ChatError
        if isinstance(error, WriterClosed | SendTimedOut) or (
            isinstance(error, ChatError) and not isinstance(error, StorageUnavailable)
        ):
            # The server is closing (the client sends again after reconnecting), the database did
            # not answer in time (the writer logged it once for all), or a refusal.
            rejected = error
        else:
            log.error("storing a message from connection %d failed", connection.id, exc_info=error)
            rejected = StorageUnavailable("The message could not be stored; send it again.")
        connection.deliver(error_frame(rejection(rejected, request)))

    # -- presence and history --------------------------------------------------------

    async def enter(self, connection: Connection, request: EnterRoom) -> None:
        room = await self._rooms.get_visible(request.room_id, connection.user.id)
        if request.watch:
            await self._watch(connection, room, request)
            return
        newly_present = self._hub.enter(connection, room.id)
        self._note_direct(room)
        user = connection.user
        limit = HISTORY_DEFAULT_LIMIT if request.after_id is None else SYNC_PAGE
        try:
            (marker, unread, newest, joined), page, changes = await self._db.run(
                queries.enter_room, user.id, room.id, request.after_id, limit, request.after_rev
            )
        except BaseException:
            self._hub.leave(connection, room.id)  # never announced, so nothing to take back
            raise
        reading = Reading(marker, unread)
        if room.is_direct and newest == 0:
            self._direct.expect_first_message(room)
        # Counted on the whole cluster before the member list is read, so the list has them.
        announce = await self._fanout.present(room.id, user, newly_present)
        if newly_present and not self._hub.is_user_present(room.id, user.id):
            # Gone while the cluster counted them (disconnected meanwhile): count them out again.
            self._fanout.absent(room.id, user)
            return
        members = await self._fanout.members(room.id)
        state = RoomState(
            room=self._rooms.view(room, reading, viewer_id=user.id),
            last_message_id=newest,
            members=tuple(members),
            messages=tuple(page.messages),
            has_older=page.more if request.after_id is None else None,
            has_newer=(page.more or (changes is not None and changes.more)) if request.after_id is not None else None,
            request_id=request.request_id,
            changed=None if changes is None else tuple(changes.messages),
            rev=None
            if changes is None or request.after_rev is None
            else caught_up_rev(request.after_rev, page, changes),
        )
        connection.deliver(encode_server_frame(state))
        upto = page.messages[-1].id if page.messages else (request.after_id or 0)
        self._hub.finish_join(connection, room.id, upto)
        if announce:
            self._fanout.announce(room.id, user, entered=True, exclude=connection)
        if joined:
            # The room is now theirs: their other devices start following it too.
            self._markers.announce(user, room.id, reading, exclude=connection)

    async def _watch(self, connection: Connection, room: RoomRecord, request: EnterRoom) -> None:
        """Follow the room's messages without presence: no announcement, not a member, not
        online. The reply is the room with the user's read marker and unread count."""
        was_watching = self._hub.is_watching(connection, room.id)
        self._hub.watch(connection, room.id)
        self._note_direct(room)
        try:
            marker, unread, newest = await self._db.run(queries.room_reading, connection.user.id, room.id)
        except BaseException:
            if not was_watching:
                self._hub.unwatch(connection, room.id)
            raise
        if room.is_direct and newest == 0:
            self._direct.expect_first_message(room)
        # lastMessageId: the newest message the count covers, so a client that also gets the
        # room's messages live counts none of them twice.
        state = RoomState(
            room=self._rooms.view(room, Reading(marker, unread), viewer_id=connection.user.id),
            last_message_id=newest,
            watching=True,
            request_id=request.request_id,
        )
        connection.deliver(encode_server_frame(state))
        # Messages up to ``newest`` are in the count; those after it follow live, once.
        self._hub.finish_join(connection, room.id, newest)

    def _note_direct(self, room: RoomRecord) -> None:
        if room.members is not None:
            self._hub.note_direct_members(room.id, frozenset(member.id for member in room.members))

    async def sync(self, connection: Connection, request: SyncRoom) -> None:
        if request.after_rev is None:
            page = await self._history.page(
                request.room_id, viewer_id=connection.user.id, after=request.after_id, limit=SYNC_PAGE
            )
            reply = SyncPage(request.room_id, tuple(page.messages), page.more, request.request_id)
        else:
            page, changes = await self._history.catch_up(
                request.room_id,
                connection.user.id,
                after=request.after_id,
                after_rev=request.after_rev,
                limit=SYNC_PAGE,
            )
            reply = SyncPage(
                request.room_id,
                tuple(page.messages),
                page.more or changes.more,
                request.request_id,
                changed=tuple(changes.messages),
                rev=caught_up_rev(request.after_rev, page, changes),
            )
        connection.deliver(encode_server_frame(reply))

    def leave(self, connection: Connection, request: LeaveRoom) -> None:
        """End presence (a watch set before stays); with ``unwatch``, end the watch as well."""
        present = self._hub.is_in(connection, request.room_id)
        watching = request.unwatch and self._hub.is_watching(connection, request.room_id)
        if not present and not watching:
            raise NotInRoom(f"You are not in room {request.room_id}.")
        now_absent = present and self._hub.leave(connection, request.room_id)
        if watching:
            self._hub.unwatch(connection, request.room_id)
        reply = self._presence(False, connection, request.room_id, request.request_id)
        connection.deliver(encode_server_frame(reply))
        if now_absent:
            self._fanout.absent(request.room_id, connection.user)

    def connected(self, connection: Connection) -> None:
        self._hub.register(connection)
        self._fanout.connected(connection.user, first_here=len(self._hub.connections_of_user(connection.user.id)) == 1)

    def disconnected(self, connection: Connection) -> None:
        self._limits.connection_closed(connection.id)
        # Watchers hear who left too: their room list's online count stays live.
        for room_id in self._hub.unregister(connection):
            self._fanout.absent(room_id, connection.user)
        self._fanout.disconnected(connection.user, last_here=not self._hub.connections_of_user(connection.user.id))

    def _presence(self, entered: bool, connection: Connection, room_id: int, request_id: str | None = None) -> Presence:
        return Presence(room_id, connection.user, self._fanout.online(room_id), entered, request_id)
