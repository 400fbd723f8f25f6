"""RoomsController: the room list (pages of the server's, searched and sorted by the server), the
user's own rooms (followed), the direct rooms ("Direct messages": listed, followed, started),
finding people, creating rooms, unread counts and muting."""

from __future__ import annotations

import logging
from collections import OrderedDict

from PySide6.QtCore import QObject, QTimer, Signal

from gochat.desktop.api import ApiError, RestApi
from gochat.desktop.direct import DirectList
from gochat.desktop.rooms.model import DirectListModel, RoomListModel
from gochat.desktop.session import ChatSession
from gochat.desktop.state import UnreadCounts
from gochat.protocol import (
    ROOMS_DEFAULT_LIMIT,
    ROOMS_MAX_LIMIT,
    USERNAME_MAX,
    Ack,
    Mentioned,
    Message,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    Person,
    Presence,
    ReadMoved,
    Room,
    RoomCreated,
    RoomSort,
    RoomState,
    User,
    room_name_matches,
    username_key,
    validate_room_name,
)
from gochat.protocol import ValidationError as InputError

log = logging.getLogger(__name__)

# Reading moves the server's marker at most this often per room (a busy room read live would
# otherwise cost a request per message).
READ_REPORT_MS = 400
# Rooms per page of the list shown (the server's default page); the user's own rooms, which are
# all loaded to be followed, come as many at once as the server gives.
PAGE = ROOMS_DEFAULT_LIMIT
MINE_PAGE = ROOMS_MAX_LIMIT
# Messages notified lately, so one message is notified once: a watched room's message that
# mentions the user comes both as the room's message and as MENTIONED (12), in either order.
NOTIFIED_KEPT = 500
# At each (re)connect, whether the other person is online is asked (GET /api/users) for this many
# of the most recent direct rooms; the others' dots light up when that person enters the room or
# writes in it.
ONLINE_CHECKS = 30


class RoomsController(QObject):
    """The room list (``model``: the pages loaded so far of the rooms matching ``query``, in
    ``sort`` order) and what the user has read of each room (``unread``), kept live by the
    session's frames. The user's own rooms (a read marker) are all loaded at every (re)connect,
    whatever the list shows, and followed on every connection; ``known`` holds every room met.

    Signals:
        roomCreated(room: Room): the user created ``room`` (it is in the list already).
        roomCreateFailed(message: str): creating a room was refused (bad name, taken, offline).
        notify(room_id: int, message_id: int, title: str, text: str): a message the user has
            not seen arrived in a room of theirs that is not muted, or a message mentions the
            user (muted room or not, theirs or not); once per message.
        messageRevised(room_id: int, message_id: int, text: str): a message was edited (its
            new text) or deleted (""): what was notified of it must not keep the old text.
        listChanged(shown: int, total: int): the list holds ``shown`` rooms of the ``total`` that
            match its search (a page arrived, a room was created, the search or order changed).
        directStarted(room: Room): the direct room the user asked for (POST /api/dms) is ready:
            its window should open.
        directFailed(message: str): starting a direct conversation was refused (no such person,
            offline...): said where the user asked.
        peopleFound(query: str, people: list[Person]): people whose name contains ``query``
            (the user left out).
        peopleFailed(query: str, message: str): looking for people failed.
    """

    roomCreated = Signal(object)  # noqa: N815 - Qt naming
    roomCreateFailed = Signal(str)  # noqa: N815
    notify = Signal(int, int, str, str)
    listChanged = Signal(int, int)  # noqa: N815
    messageRevised = Signal(int, int, str)  # noqa: N815
    directStarted = Signal(object)  # noqa: N815
    directFailed = Signal(str)  # noqa: N815
    peopleFound = Signal(str, list)  # noqa: N815
    peopleFailed = Signal(str, str)  # noqa: N815

    def __init__(self, session: ChatSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.unread = UnreadCounts()
        self.model = RoomListModel(self.unread)
        # Rooms whose notifications the user turned off (the app keeps them in its settings);
        # the room list shows the same set.
        self.muted: set[int] = self.model.muted
        # The user's direct rooms (never in the room list's pages): always followed.
        self.direct = DirectList()
        self.direct_model = DirectListModel(self.direct, self.unread, self.muted)
        # Every room met (pages, the user's own, created): what opening a room or a notification
        # needs to know of a room the list does not show.
        self.known: dict[int, Room] = {}
        # What the list shows: rooms whose name contains ``query``, in ``sort`` order.
        self.query = ""
        self.sort = RoomSort.ACTIVITY
        self.total = 0  # how many rooms match, by the server's last page
        self._offset = 0  # rooms received for this view: the next page starts there
        self._view = 0  # counts changes of view (and logins): a page for an older one is dropped
        self._resets = 0  # counts first pages shown: a next page asked for before one is dropped
        self._loading_more = False
        self._reads_due: set[int] = set()
        self._notified: OrderedDict[int, None] = OrderedDict()
        self._read_report = QTimer(self)
        self._read_report.setSingleShot(True)
        self._read_report.setInterval(READ_REPORT_MS)
        self._read_report.timeout.connect(self._report_reads)
        session.on_frame(
            RoomState, lambda f: self._reading(f.room_id, f.last_read_id, f.unread, counted_upto=f.last_message_id)
        )
        session.on_frame(ReadMoved, lambda f: self._reading(f.room_id, f.last_read_id, f.unread))
        session.on_frame(Presence, self._presence)
        session.on_frame(RoomCreated, lambda f: self._room_created(f.room))
        session.on_frame(Mentioned, self._mentioned)
        session.on_frame(MessageEdited, lambda f: self._revised(f.message.room_id, f.message.id, f.message.content))
        session.on_frame(MessageDeleted, lambda f: self._revised(f.room_id, f.id, "", deleted=True))
        session.on_frame(MessagePosted, lambda f: self._activity(f.message))
        session.on_frame(Ack, lambda f: self._activity(f.message))
        session.on_reconnect(self.refresh)
        session.follows(self._rooms_with_marker)
        session.follows(self.direct.room_ids)
        session.closed.connect(self._forget)

    @property
    def has_more(self) -> bool:
        """More rooms match than the list holds (scrolling down loads them)."""
        return self._offset < self.total

    async def refresh(self) -> None:
        """Load the user's own rooms and the list's first page (at login and after every
        reconnect; the session follows the user's rooms after this)."""
        api = self.session.api
        if api is None:
            return
        try:
            mine = await self._all_mine(api)
        except ApiError as error:
            if self.session.api is api:  # not about a login that ended meanwhile
                self.session.errorShown.emit(error.message)
            return
        for room in mine:
            self.known[room.id] = room
            self.unread.reset(room.id, room.last_read_id, room.unread)
        # Before the first page: the app reopens the rooms open at the last quit once the list
        # has loaded, and a direct room among them must be known by then.
        await self._load_direct(api)
        await self._first_page(api)
        self.session.spawn(self._check_online(api, [e.peer for e in self.direct.ordered()[:ONLINE_CHECKS]]))

    async def _all_mine(self, api: RestApi) -> list[Room]:
        rooms: list[Room] = []
        while True:
            page = await api.rooms(mine=True, offset=len(rooms), limit=MINE_PAGE)
            rooms += page.rooms
            if not page.rooms or len(rooms) >= page.total:
                return rooms

    def set_view(self, query: str, sort: RoomSort) -> None:
        """The user searched or chose another order: the list starts again from its first page.
        The text is the user's, kept as typed (the window never has it rewritten)."""
        if (query, sort) == (self.query, self.sort):
            return
        self.query, self.sort = query, sort
        self._view += 1  # a page of the old view on its way is not this view's
        api = self.session.api
        if api is not None:
            self.session.spawn(self._first_page(api))

    async def _first_page(self, api: RestApi) -> None:
        view = self._view
        try:
            page = await api.rooms(query=self.query, sort=self.sort, limit=PAGE)
        except ApiError as error:
            if view == self._view:
                self.session.errorShown.emit(error.message)
            return
        if view != self._view or self.session.api is not api:
            return  # the user typed on, or logged out, while it came
        self._take(page.rooms)
        self._resets += 1
        self._loading_more = False
        self._offset, self.total = len(page.rooms), page.total
        self.model.reset(page.rooms)
        self.listChanged.emit(self.model.rowCount(), self.total)

    def load_more(self) -> None:
        """The next page of the list, unless one is on its way or there is no more."""
        api = self.session.api
        if api is None or self._loading_more or not self.has_more:
            return
        self._loading_more = True
        self.session.spawn(self._next_page(api, (self._view, self._resets)))

    async def _next_page(self, api: RestApi, asked: tuple[int, int]) -> None:
        try:
            page = await api.rooms(query=self.query, sort=self.sort, offset=self._offset, limit=PAGE)
        except ApiError as error:
            if asked == (self._view, self._resets):
                self._loading_more = False
                self.session.errorShown.emit(error.message)
            return
        if asked != (self._view, self._resets) or self.session.api is not api:
            return  # the list started again meanwhile (another search, a reconnect)
        self._loading_more = False
        self._take(page.rooms)
        self._offset += len(page.rooms)
        # Rooms matching come and go while the user scrolls: the newest total counts, and an
        # empty page means the end, whatever an older total said.
        self.total = page.total if page.rooms else self._offset
        self.model.extend(page.rooms)
        self.listChanged.emit(self.model.rowCount(), self.total)

    def _take(self, rooms: list[Room]) -> None:
        """Rooms of a page: known; their counts are the server's unless the room is followed,
        whose count is kept live (by watching) and is newer than the page."""
        for room in rooms:
            self.known[room.id] = room
            if self.unread.last_read_id(room.id) is None:
                self.unread.reset(room.id, room.last_read_id, room.unread)

    def _room_created(self, room: Room) -> None:
        """ROOM_CREATED: shown at the end of the list when it matches the search (the next page
        may carry it again: rows are merged by id). A direct room (someone wrote to the user for
        the first time) goes to the direct messages, never to the list."""
        if room.is_direct:
            if self._direct_met(room) and self.session.api is not None:
                self.session.spawn(self._first_direct_message(room))
            return
        self.known[room.id] = room
        if room_name_matches(room.name, self.query) and self.model.row_of(room.id) is None:
            self.model.upsert(room)
            self.total += 1
            self.listChanged.emit(self.model.rowCount(), self.total)

    async def create_room(self, name: str) -> Room | None:
        try:
            validate_room_name(name)
        except InputError as error:
            self.roomCreateFailed.emit(error.message)
            return None
        api = self.session.api
        if api is None:
            return None
        try:
            room = await api.create_room(name)
        except ApiError as error:
            self.roomCreateFailed.emit(error.message)
            return None
        self.known[room.id] = room
        if self.model.row_of(room.id) is None:
            self.model.upsert(room)
            self.total += 1
            self.listChanged.emit(self.model.rowCount(), self.total)
        self.roomCreated.emit(room)
        return room

    def room(self, room_id: int) -> Room | None:
        """A room the app has met (listed, the user's own, created), shown in the list or not."""
        return self.known.get(room_id)

    def remember(self, room: Room) -> None:
        """A room met outside the list (a search result's), so that it can be opened."""
        self.known.setdefault(room.id, room)

    def set_online(self, room_id: int, online: int) -> None:
        self.model.set_online(room_id, online)

    # -- muting --------------------------------------------------------------------------

    def set_muted(self, room_id: int, muted: bool) -> None:
        if muted:
            self.muted.add(room_id)
        else:
            self.muted.discard(room_id)
        self.model.room_changed(room_id)
        self.direct_model.room_changed(room_id)

    def set_muted_rooms(self, rooms: set[int]) -> None:
        """The account's muted rooms, as kept (at login)."""
        self.muted.clear()
        self.muted.update(rooms)
        for room_id in rooms:
            self.model.room_changed(room_id)
            self.direct_model.room_changed(room_id)

    # -- unread counts -------------------------------------------------------------------

    def arrived(self, message: Message, *, seen: bool) -> None:
        """A new message: unread count and notification, unless the user sees it (``seen``: its
        window is on screen) or wrote it."""
        room_id, author, me = message.room_id, message.author, self.session.me
        mine = me is not None and author.id == me.id
        if not self.unread.arrived(room_id, message.id, seen=seen, mine=mine):
            return
        self._unread_changed(room_id)
        mentions_me = me is not None and any(user.id == me.id for user in message.mentions)
        if room_id in self.muted and not mentions_me:
            return  # muting quiets a room, not someone calling the user by name
        self._notify_once(message, self.room(room_id), mentions_me=mentions_me)

    def _notify_once(self, message: Message, room: Room | None, *, mentions_me: bool) -> None:
        if message.id in self._notified:
            return
        self._notified[message.id] = None
        while len(self._notified) > NOTIFIED_KEPT:
            self._notified.popitem(last=False)
        author = message.author.username
        if room is not None and room.is_direct:
            title = f"{author} — direct message"
        else:
            name = room.name if room is not None else f"room {message.room_id}"
            title = f"{author} mentioned you in {name}" if mentions_me else f"{author} in {name}"
        self.notify.emit(message.room_id, message.id, title, message.content)

    def _notify(self, message: Message) -> None:
        me = self.session.me
        mentions_me = me is not None and any(user.id == me.id for user in message.mentions)
        self._notify_once(message, self.room(message.room_id), mentions_me=mentions_me)

    def _mentioned(self, frame: Mentioned) -> None:
        """MENTIONED: someone called the user by name in a room the user is not in; notified even
        when that room's window is closed (and the room muted), and once, however it came."""
        message, me = frame.message, self.session.me
        if me is None or message.author.id == me.id or message.id in self._notified:
            return
        room = self.room(message.room_id)
        if room is None:
            # A room never met (not on a page loaded, not the user's): its name first, so the
            # notification says where, and a click can open it.
            self.session.spawn(self._mentioned_in_unknown_room(message))
            return
        self._notify_once(message, room, mentions_me=True)

    async def _mentioned_in_unknown_room(self, message: Message) -> None:
        api = self.session.api
        room: Room | None = None
        if api is not None:
            try:
                room = await api.room(message.room_id)
            except ApiError as error:
                log.info("could not look up room %d: %s", message.room_id, error.message)
        if room is not None:
            self.known.setdefault(room.id, room)
        self._notify_once(message, room, mentions_me=True)

    def read_upto(self, room_id: int, newest: int) -> None:
        """The user has seen the room up to ``newest``: the count goes, the server hears soon."""
        if newest and self.unread.read(room_id, newest):
            self._unread_changed(room_id)
            self._reads_due.add(room_id)
            if not self._read_report.isActive():
                self._read_report.start()

    def _report_reads(self) -> None:
        due, self._reads_due = self._reads_due, set()
        for room_id in due:
            upto = self.unread.last_read_id(room_id)
            if upto is not None:
                self.session.spawn(self._post_read(room_id, upto))

    async def _post_read(self, room_id: int, upto: int) -> None:
        api = self.session.api
        if api is None:
            return
        try:
            await api.mark_read(room_id, upto)
        except ApiError as error:
            # Not worth a message: the count corrects itself at the next read or reconnect.
            log.info("could not report reading room %d: %s", room_id, error.message)

    # -- frames ----------------------------------------------------------------------------

    def _reading(self, room_id: int, last_read: int | None, unread: int, counted_upto: int | None = None) -> None:
        """The server's count for a room (ROOM_STATE; READ: read on another device, or our marker
        was made); a room with a marker is followed."""
        self.unread.reset(room_id, last_read, unread, counted_upto)
        self._unread_changed(room_id)
        if last_read is not None and self.session.online:
            self.session.watch(room_id)

    def _unread_changed(self, room_id: int) -> None:
        self.model.unread_changed(room_id)
        self.direct_model.room_changed(room_id)

    def _rooms_with_marker(self) -> set[int]:
        """The user's rooms: those with a read marker, listed or not."""
        return {room_id for room_id, reading in self.unread.rooms.items() if reading.last_read_id is not None}

    def _forget(self) -> None:
        self.unread.rooms.clear()
        self._reads_due.clear()
        self._notified.clear()
        self.known.clear()
        self.direct.clear()
        self.direct_model.refresh()
        self._view += 1
        self._offset = self.total = 0
        self._loading_more = False
        self.model.reset([])
        self.listChanged.emit(0, 0)

    # -- direct messages -----------------------------------------------------------------

    async def _load_direct(self, api: RestApi) -> None:
        """``GET /api/dms``: the direct rooms, their counts and newest messages (at every connect)."""
        try:
            conversations = await api.direct_rooms()
        except ApiError as error:
            if error.status == 404:  # a server from before direct messages: none to show
                log.info("the server has no direct messages (GET /api/dms: 404)")
            elif self.session.api is api:
                self.session.errorShown.emit(error.message)
            return
        if self.session.api is not api:
            return
        for conversation in conversations:
            room = conversation.room
            self.known[room.id] = room
            self.unread.reset(room.id, room.last_read_id, room.unread)
        self.direct.load(conversations)
        self.direct_model.refresh()

    def _direct_met(self, room: Room) -> bool:
        """A direct room started by the user, or announced (ROOM_CREATED): listed, counted and
        followed from now on. True when it is new to the list."""
        me = self.session.me
        if me is None:
            return False
        self.known[room.id] = room
        new = self.direct.add(room, me)
        if new:
            self.unread.reset(room.id, room.last_read_id, room.unread)
            self.direct_model.refresh()
        if self.session.online:
            self.session.watch(room.id)
        return new

    async def _first_direct_message(self, room: Room) -> None:
        """Someone wrote to the user for the first time: that message, for the list's preview and
        the notification (ROOM_CREATED carries the room, not the message)."""
        api = self.session.api
        if api is None:
            return
        try:
            newest = await api.history(room.id, limit=1)
        except ApiError as error:
            log.info("could not load the first direct message of room %d: %s", room.id, error.message)
            return
        if not newest or self.session.api is not api:
            return
        message = newest[-1]
        self._activity(message)
        me = self.session.me
        if me is not None and message.author.id != me.id and room.id not in self.muted:
            self._notify(message)

    def _activity(self, message: Message) -> None:
        """A message stored (seen live, or the user's own acknowledged): a direct room moves up,
        and its author is evidently online."""
        if self.direct.message(message):
            me = self.session.me
            if me is not None and message.author.id != me.id:
                self.direct.set_online(message.author.id, True)
            self.direct_model.refresh()

    def _revised(self, room_id: int, message_id: int, text: str, deleted: bool = False) -> None:
        """A message edited or deleted: a direct room's row showing it shows the change, and the
        notification of it is revised."""
        if self.direct.revise(room_id, message_id, text, deleted):
            self.direct_model.room_changed(room_id)
        self.messageRevised.emit(room_id, message_id, text)

    def _presence(self, frame: Presence) -> None:
        self.model.set_online(frame.room_id, frame.online)
        # Whichever room it is in: someone entering a room is connected, and leaving one may
        # mean they went, for every conversation with them (not only their direct room).
        if not any(entry.peer.id == frame.user.id for entry in self.direct.ordered()):
            return
        if frame.entered:
            for room_id in self.direct.set_online(frame.user.id, True):
                self.direct_model.room_changed(room_id)
        elif self.session.api is not None:
            # Leaving the room is not leaving gochat: ask whether they are still connected.
            self.session.spawn(self._check_online(self.session.api, [frame.user]))

    async def _check_online(self, api: RestApi, people: list[User]) -> None:
        """Whether each of these people is connected anywhere (GET /api/users, by their name)."""
        for person in people:
            try:
                found = await api.people(person.username[:USERNAME_MAX])
            except ApiError as error:
                log.info("could not ask whether %s is online: %s", person.username, error.message)
                return
            if self.session.api is not api:
                return
            online = any(p.user.id == person.id and p.online for p in found)
            for room_id in self.direct.set_online(person.id, online):
                self.direct_model.room_changed(room_id)

    async def start_direct(self, username: str) -> Room | None:
        """The direct room with ``username`` (POST /api/dms: made the first time, the same room
        after): listed and followed, then directStarted opens its window; directFailed says why not."""
        api, me = self.session.api, self.session.me
        name = username.strip()
        if api is None or me is None or not name:
            return None
        if username_key(name) == username_key(me.username):
            self.directFailed.emit("That is you: choose someone else to write to.")
            return None
        try:
            room = await api.start_direct(name)
        except ApiError as error:
            if error.status == 404:
                self.directFailed.emit(f"There is no one called {name} on this server.")
            else:
                self.directFailed.emit(error.message)
            return None
        if self.session.api is not api:
            return None
        if self._direct_met(room):
            # New to the column: the other person may well be connected without being in the
            # room (nobody has written there yet), so ask rather than show them offline.
            peer = room.peer_of(me.id)
            if peer is not None:
                self.session.spawn(self._check_online(api, [peer]))
        self.directStarted.emit(room)
        return room

    async def find_people(self, query: str) -> list[Person]:
        """People whose name contains ``query`` (GET /api/users), the user left out: peopleFound,
        or peopleFailed with the reason. Their online state also lights the direct rooms' dots."""
        api, me = self.session.api, self.session.me
        text = query.strip()[:USERNAME_MAX]
        if api is None or me is None or not text:
            self.peopleFound.emit(query, [])
            return []
        try:
            found = await api.people(text)
        except ApiError as error:
            self.peopleFailed.emit(query, error.message)
            return []
        if self.session.api is not api:
            return []
        for person in found:
            for room_id in self.direct.set_online(person.user.id, person.online):
                self.direct_model.room_changed(room_id)
        people = [person for person in found if person.user.id != me.id]
        self.peopleFound.emit(query, people)
        return people
