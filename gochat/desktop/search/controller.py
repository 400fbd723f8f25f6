"""SearchController: message search (``GET /api/search``) for the search window: a search in
one room or everywhere, its pages, and the names of the rooms its results are in."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from gochat.desktop.api import ApiError, RestApi
from gochat.desktop.search.model import SearchResultsModel
from gochat.desktop.session import ChatSession
from gochat.protocol import SEARCH_PAGE, MessageDeleted, MessageEdited, Room, validate_search_query
from gochat.protocol import ValidationError as InputError


class SearchController(QObject):
    """The results of the last search (``model``, newest first) and the next page of them.

    A search replaces the one before: a page that arrives for an older search (the user typed
    on) is dropped.

    Signals:
        searching(): a search was sent; the results are cleared until its first page comes.
        pageLoaded(shown: int, more: bool): a page arrived; ``shown`` results are listed in all,
            and ``more`` says an older page may hold more (load_more asks for it).
        failed(message: str): the search could not be made (too short, offline, a room the
            user cannot read); the message is for a person.
    """

    searching = Signal()
    pageLoaded = Signal(int, bool)  # noqa: N815 - Qt naming
    failed = Signal(str)

    def __init__(self, session: ChatSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = SearchResultsModel()
        # A room the app knows already (the room list's); the app sets it. Others are asked for.
        self.known_room: Callable[[int], Room | None] = lambda _room_id: None
        self.query = ""
        self.room_id: int | None = None  # None: every room
        self.has_more = False
        self._loading = False
        self._search = 0  # counts searches: a page for an earlier one is dropped
        self._rooms: dict[int, Room] = {}  # rooms of results, asked for by id
        # Results are what the rooms hold now: an edit shows, a deletion takes its text away.
        session.on_frame(MessageEdited, lambda f: self.model.edited(f.message))
        session.on_frame(MessageDeleted, lambda f: self.model.removed(f.id))
        session.closed.connect(self._forget)

    def search(self, query: str, room_id: int | None = None) -> bool:
        """Search for ``query`` in ``room_id`` (None: everywhere). A query under the minimum
        is explained (failed) and not sent. False when nothing was sent."""
        try:
            query = validate_search_query(query)
        except InputError as error:
            self.failed.emit(error.message)
            return False
        api = self.session.api
        if api is None:
            return False
        self._search += 1
        self.query, self.room_id = query, room_id
        self.has_more = False
        self._loading = True
        self.model.reset(query)
        self.searching.emit()
        self.session.spawn(self._page(api, self._search, None))
        return True

    def clear(self) -> None:
        """No search now (the query was shortened below the minimum): the last one's results go,
        and a page still on its way for it is dropped."""
        self._search += 1
        self.query = ""
        self.has_more = self._loading = False
        self.model.reset("")

    def load_more(self) -> bool:
        """The page older than the results listed, unless one is on its way or there is none."""
        api = self.session.api
        if api is None or self._loading or not self.has_more:
            return False
        self._loading = True
        self.session.spawn(self._page(api, self._search, self.model.last_id))
        return True

    async def _page(self, api: RestApi, search: int, before: int | None) -> None:
        try:
            page = await api.search(self.query, room_id=self.room_id, before=before)
        except ApiError as error:
            if search == self._search:
                self._loading = False
                self.failed.emit(error.message)
            return
        if search != self._search or self.session.api is not api:
            return  # the user searched for something else meanwhile, or logged out
        self._loading = False
        self.has_more = len(page) >= SEARCH_PAGE
        self.model.extend(page)
        self.pageLoaded.emit(self.model.rowCount(), self.has_more)
        await self._name_rooms(api, sorted({message.room_id for message in page}))

    async def _name_rooms(self, api: RestApi, room_ids: list[int]) -> None:
        """Each result shows its room's name: known ones at once, others asked for (once)."""
        for room_id in room_ids:
            room = self.room(room_id)
            if room is None:
                try:
                    room = await api.room(room_id)
                except ApiError:
                    continue  # it keeps "room N"; opening it will say what is wrong
                if self.session.api is not api:
                    return
                self._rooms[room_id] = room
            self.model.set_room_name(room_id, self.room_title(room))

    def room(self, room_id: int) -> Room | None:
        """A room the search has met (the app's, or asked for by a result)."""
        return self.known_room(room_id) or self._rooms.get(room_id)

    def room_title(self, room: Room) -> str:
        """How a room is called to this user: a direct room by the other person's name."""
        me = self.session.me
        if room.is_direct and me is not None:
            peer = room.peer_of(me.id)
            if peer is not None:
                return peer.username
        return room.name

    def _forget(self) -> None:
        self._search += 1
        self.query, self.room_id = "", None
        self.has_more = self._loading = False
        self._rooms.clear()
        self.model.forget()
