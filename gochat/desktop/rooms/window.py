"""The room-list window (the seed's home): rooms, search, order, New room, who is logged in.

The rooms are pages of the server's list: the search box and the order choice ask the app for
another list (``viewChanged``), scrolling near the end for the next page (``moreWanted``); what
is loaded is filtered at once as the user types, by the server's own rule, while the server is
asked. It is the app's main window: closing it quits (the app decides, through ``close_guard``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import (
    QItemSelectionModel,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gochat.desktop.direct import DirectList
from gochat.desktop.hosting.window import HostingPanel
from gochat.desktop.resources import app_icon
from gochat.desktop.rooms.direct_view import DirectView
from gochat.desktop.rooms.model import DirectListModel, MutedRole, RoomListModel, RoomRole
from gochat.desktop.state import UnreadCounts
from gochat.desktop.windows.item_views import enter_on_current_row, show_menu
from gochat.desktop.windows.labels import error_label
from gochat.desktop.windows.search_field import SearchField
from gochat.desktop.windows.status import ConnectionBanner
from gochat.protocol import Room, RoomSort, room_name_matches

# The room list's columns other than the name fit their contents up to this many characters.
FITTED_CHARS = 24
# The server is asked for a search once typing has paused this long (the rooms loaded are
# filtered at every keystroke).
SEARCH_PAUSE_MS = 250
# The next page is asked for when the list is scrolled within this many rows of its end.
MORE_WITHIN_ROWS = 20
# The orders offered, as the server sorts: the first is the default.
SORTS = (("Recent activity", RoomSort.ACTIVITY), ("Name", RoomSort.NAME), ("Oldest first", RoomSort.CREATED))
# The "Direct messages" column beside the rooms: its width at first, and its bounds.
DIRECT_MIN, DIRECT_DEFAULT, DIRECT_MAX = 120, 190, 320


class RoomFilter(QSortFilterProxyModel):
    """Shows the rooms whose name contains the search, by the server's rule (case-folded, so
    what is shown at once agrees with the page the server sends next)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._query = ""

    def set_query(self, query: str) -> None:
        if not hasattr(self, "beginFilterChange"):  # Qt before 6.10
            self._query = query
            self.invalidateRowsFilter()
            return
        self.beginFilterChange()
        self._query = query
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        if not self._query:
            return True
        room: Room = self.sourceModel().index(source_row, RoomListModel.NAME, source_parent).data(RoomRole)
        return room_name_matches(room.name, self._query)


class RoomTable(QTableView):
    """Signals: ``activatedRoom(room_id)`` (Enter on a row); ``muteToggled(room_id, muted)``
    (from the row's context menu)."""

    activatedRoom = Signal(int)  # noqa: N815
    muteToggled = Signal(int, bool)  # noqa: N815

    def __init__(self) -> None:
        super().__init__()
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)

    def context_menu(self, index: QModelIndex) -> QMenu | None:
        """The menu of the room at ``index`` (Open; Mute or Unmute notifications)."""
        if not index.isValid():
            return None
        room: Room = index.data(RoomRole)
        muted = bool(index.data(MutedRole))
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.activatedRoom.emit(room.id))
        toggle = menu.addAction("Mute notifications")
        toggle.setCheckable(True)
        toggle.setChecked(muted)
        toggle.toggled.connect(lambda on: self.muteToggled.emit(room.id, on))
        return menu

    def _show_menu(self, point: QPoint) -> None:
        show_menu(self, self.context_menu(self.indexAt(point)), point)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if enter_on_current_row(self, event):
            self.activatedRoom.emit(self.currentIndex().data(RoomRole).id)
            return
        menu_key = event.key() == Qt.Key.Key_Menu or (
            event.key() == Qt.Key.Key_F10 and event.modifiers() == Qt.KeyboardModifier.ShiftModifier
        )
        if menu_key and self.currentIndex().isValid():
            # The keyboard's way to the context menu: shown at the current row, not the pointer.
            self._show_menu(self.visualRect(self.currentIndex()).center())
            return
        super().keyPressEvent(event)


class RoomListWindow(QMainWindow):
    """Signals besides the obvious: ``viewChanged(query, sort)``, the search (as typed) or the
    order changed (a RoomSort value); ``moreWanted()``, the list is scrolled near its end and
    more rooms match than are loaded; ``peopleRequested()``, the user wants to find someone to
    write to. A direct room picked in the "Direct messages" column is ``openRequested`` too."""

    openRequested = Signal(int)  # noqa: N815
    createRequested = Signal(str)  # noqa: N815
    logoutRequested = Signal()  # noqa: N815
    logoutEverywhereRequested = Signal()  # noqa: N815 - every login of this user, every device
    muteRequested = Signal(int, bool)  # room id, muted  # noqa: N815
    viewChanged = Signal(str, str)  # noqa: N815
    moreWanted = Signal()  # noqa: N815
    peopleRequested = Signal()  # noqa: N815

    def __init__(self, rooms: RoomListModel, directs: DirectListModel | None = None) -> None:
        super().__init__()
        self.setWindowTitle("gochat — rooms")
        self.setWindowIcon(app_icon())
        self.resize(960, 540)

        self.who = QLabel()
        self.who.setProperty("role", "muted")
        self.logout_button = QPushButton("Log out")
        # The account's menu: what is done rarely, kept off the header.
        self.account_menu = QMenu(self)
        self.logout_everywhere = self.account_menu.addAction("Log out everywhere…")
        self.logout_everywhere.setToolTip("End every login of this account, on every device")
        self.account_button = QToolButton()
        self.account_button.setText("⋯")
        self.account_button.setToolTip("Account")
        self.account_button.setAccessibleName("Account")
        self.account_button.setMenu(self.account_menu)
        self.account_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        header = QHBoxLayout()
        title = QLabel("Rooms")
        title.setProperty("role", "title")
        header.addWidget(title)
        header.addStretch()
        header.addWidget(self.who)
        header.addWidget(self.logout_button)
        header.addWidget(self.account_button)

        self.banner = ConnectionBanner()
        self.hosting = HostingPanel()
        # Asked before the window closes (quitting while hosting); False keeps it open.
        self.close_guard: Callable[[], bool] | None = None

        self.search = SearchField()
        self.search.setPlaceholderText("Search rooms…")
        self.search.setClearButtonEnabled(True)
        self.sort_choice = QComboBox()
        self.sort_choice.setToolTip("The order rooms are listed in")
        for label, sort in SORTS:
            self.sort_choice.addItem(label, sort.value)
        self.sort_choice.currentIndexChanged.connect(self._ask_for_view)
        self.count = QLabel()
        self.count.setProperty("role", "muted")
        # Wide enough for large counts, so the search box does not change width as they change.
        self.count.setMinimumWidth(self.count.fontMetrics().horizontalAdvance("88,888 of 88,888"))
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # How many rooms match, of how many loaded; whether scrolling down should load more.
        self._more = False
        self._search_soon = QTimer(self)
        self._search_soon.setSingleShot(True)
        self._search_soon.setInterval(SEARCH_PAUSE_MS)
        self._search_soon.timeout.connect(self._ask_for_view)
        self.rooms = rooms
        self.proxy = RoomFilter(self)
        self.proxy.setSourceModel(rooms)
        # Each column sorts by what it means (numbers as numbers, dates as dates, names ignoring
        # case), not by the text shown; equal keys keep the creation order.
        self.proxy.setSortRole(RoomListModel.SORT_ROLE)
        self.proxy.setSortLocaleAware(True)
        # The room the user picked, by id: it stays picked while a search hides it, and is
        # selected again when the search (or a refresh of the list) brings it back.
        self._picked_room: int | None = None
        self.search.textChanged.connect(self._filter)
        self.search.listKeyPressed.connect(self._enter_list)
        self.search.returnPressed.connect(self._open_from_search)

        self.table = RoomTable()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        header_view = self.table.horizontalHeader()
        header_view.setSectionResizeMode(RoomListModel.NAME, QHeaderView.ResizeMode.Stretch)
        # Clicking a header sorts the rooms loaded by it, clicking again reverses, a third click
        # returns to the server's order (the order choice's: the order before any sorting).
        header_view.setSortIndicatorClearable(True)
        header_view.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        scroll = self.table.verticalScrollBar()
        scroll.valueChanged.connect(self._maybe_more)
        scroll.rangeChanged.connect(self._maybe_more)
        # The other columns fit their contents, measured when the list of rooms changes and
        # widened for a changed cell that no longer fits. Not ResizeToContents: with it, every
        # change of one cell (an unread count, once per incoming message) measured every row of
        # every such column again, in Python through the proxy: 37 ms a message with 150 rooms.
        # Fitted once per turn of the loop however many rooms came (rooms created one by one); not
        # on re-sorting, which moves rows without changing what they hold.
        self._fit_soon = QTimer(self)
        self._fit_soon.setSingleShot(True)
        self._fit_soon.setInterval(0)
        self._fit_soon.timeout.connect(self._fit_columns)
        for change in (self.proxy.modelReset, self.proxy.rowsInserted, self.proxy.rowsRemoved):
            change.connect(self._rooms_changed)
        self.proxy.dataChanged.connect(self._widen_columns)
        self.table.doubleClicked.connect(self._open_index)
        self.table.activatedRoom.connect(self.openRequested)
        self.table.muteToggled.connect(self.muteRequested)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.proxy.modelReset.connect(self._reselect)
        self.proxy.layoutChanged.connect(self._reselect)

        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("New room name")
        self.new_button = QPushButton("New room")
        self.new_button.setProperty("primary", True)
        self.new_error = error_label()
        new_row = QHBoxLayout()
        new_row.addWidget(self.new_name, 1)
        new_row.addWidget(self.new_button)
        self.new_button.clicked.connect(self._create)
        self.new_name.returnPressed.connect(self._create)
        self.logout_button.clicked.connect(self.logoutRequested)
        self.logout_everywhere.triggered.connect(self.logoutEverywhereRequested)

        # Direct messages: a column of their own at the left, newest conversation first.
        self.directs = directs or DirectListModel(DirectList(), UnreadCounts(), set())
        self.direct_view = DirectView()
        self.direct_view.setModel(self.directs)
        self.direct_view.setAccessibleName("Direct messages")
        self.direct_view.activatedRoom.connect(self.openRequested)
        self.direct_view.muteToggled.connect(self.muteRequested)
        self.people_button = QToolButton()
        self.people_button.setText("＋")
        self.people_button.setToolTip("Message someone: find a person by name")
        self.people_button.setAccessibleName("Message someone")
        self.people_button.clicked.connect(self.peopleRequested)
        self.direct_empty = QLabel("No conversations yet. Double-click someone in a room, or press ＋.")
        self.direct_empty.setProperty("role", "muted")
        self.direct_empty.setWordWrap(True)
        for change in (self.directs.modelReset, self.directs.rowsInserted, self.directs.rowsRemoved):
            change.connect(self._directs_changed)
        direct_title = QLabel("Direct messages")
        direct_title.setProperty("role", "muted")
        direct_header = QHBoxLayout()
        direct_header.addWidget(direct_title, 1)
        direct_header.addWidget(self.people_button)
        direct_part = QWidget()
        direct_part.setMinimumWidth(DIRECT_MIN)
        direct_part.setMaximumWidth(DIRECT_MAX)
        direct_layout = QVBoxLayout(direct_part)
        direct_layout.setContentsMargins(0, 0, 0, 0)
        direct_layout.setSpacing(6)
        direct_layout.addLayout(direct_header)
        direct_layout.addWidget(self.direct_view, 1)
        direct_layout.addWidget(self.direct_empty, 1, Qt.AlignmentFlag.AlignTop)
        self._directs_changed()

        rooms_part = QWidget()
        rooms_layout = QVBoxLayout(rooms_part)
        rooms_layout.setContentsMargins(0, 0, 0, 0)
        rooms_layout.setSpacing(10)
        # The app adds its buttons at the end (Search messages).
        self.search_row = search_row = QHBoxLayout()
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.sort_choice)
        search_row.addWidget(self.count)
        rooms_layout.addLayout(search_row)
        rooms_layout.addWidget(self.table, 1)
        rooms_layout.addLayout(new_row)
        rooms_layout.addWidget(self.new_error)

        self.splitter = QSplitter()
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(direct_part)
        self.splitter.addWidget(rooms_part)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([DIRECT_DEFAULT, 960 - DIRECT_DEFAULT])

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(10)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addWidget(self.hosting)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

    def _directs_changed(self) -> None:
        """With no conversation yet, a word on how to start one instead of an empty box."""
        empty = self.directs.rowCount() == 0
        self.direct_empty.setVisible(empty)
        self.direct_view.setVisible(not empty)

    _FITTED = (RoomListModel.CREATOR, RoomListModel.CREATED, RoomListModel.ONLINE, RoomListModel.UNREAD)

    def _widest(self, column: int) -> int:
        """A fitted column's limit, so that a very long name elides instead of squeezing the
        room names out of sight: its header, or FITTED_CHARS characters, whichever is wider."""
        header = self.table.horizontalHeader().sectionSizeHint(column)
        return max(header, FITTED_CHARS * self.table.fontMetrics().averageCharWidth())

    def _rooms_changed(self) -> None:
        self._fit_soon.start()

    def _fit_columns(self) -> None:
        for column in self._FITTED:
            self.table.resizeColumnToContents(column)
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), self._widest(column)))

    def _widen_columns(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        for row in range(top_left.row(), bottom_right.row() + 1):
            for column in range(top_left.column(), bottom_right.column() + 1):
                if column not in self._FITTED:
                    continue
                needed = self.table.sizeHintForIndex(self.proxy.index(row, column)).width()
                if needed > self.table.columnWidth(column):
                    self.table.setColumnWidth(column, min(needed, self._widest(column)))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.close_guard is not None and not self.close_guard():
            event.ignore()
            return
        super().closeEvent(event)

    # -- search, selection and the keyboard -------------------------------------------------

    def _filter(self, text: str) -> None:
        self.proxy.set_query(text)
        self._reselect()
        self._search_soon.start()

    def _ask_for_view(self) -> None:
        self._search_soon.stop()
        self.viewChanged.emit(self.search.text(), self.sort())

    def sort(self) -> str:
        """The order chosen (a RoomSort value)."""
        return str(self.sort_choice.currentData())

    def set_sort(self, sort: str) -> None:
        """Choose an order (a RoomSort value; one the list does not offer is ignored)."""
        index = self.sort_choice.findData(sort)
        if index >= 0:
            self.sort_choice.setCurrentIndex(index)

    def show_count(self, shown: int, total: int) -> None:
        """The list holds ``shown`` of the ``total`` rooms that match: said, and more loaded when
        the list is scrolled near its end (or when it does not fill the view)."""
        locale = QLocale()
        self.count.setText(
            f"{locale.toString(total)} rooms"
            if shown >= total
            else f"{locale.toString(shown)} of {locale.toString(total)}"
        )
        self._more = shown < total
        QTimer.singleShot(0, self, self._maybe_more)  # once the view has laid the new rows out

    def _maybe_more(self) -> None:
        scroll = self.table.verticalScrollBar()
        near = MORE_WITHIN_ROWS
        if self.table.verticalScrollMode() == QAbstractItemView.ScrollMode.ScrollPerPixel:
            near *= max(1, self.table.verticalHeader().defaultSectionSize())
        # Not while a search waits to be asked: the pages loaded so far are of the old list, and
        # a search that hides most of them would otherwise page in all of it before it is asked.
        if self._more and not self._search_soon.isActive() and scroll.maximum() - scroll.value() <= near:
            self.moreWanted.emit()

    def _selection_changed(self) -> None:
        # Only a choice made in the list counts. A search that hides the selected row makes the
        # view select a neighbour (single selection keeps one row selected); that is no choice,
        # and _reselect puts the selection right once the search has applied.
        if self.table.hasFocus():
            room = self.selected_room()
            self._picked_room = room.id if room is not None else None

    def _reselect(self) -> None:
        """Select the picked room if it is shown, and nothing while the search hides it."""
        row = self.proxy_row_of(self._picked_room) if self._picked_room is not None else None
        if row is None:
            self.table.clearSelection()
        elif self.selected_room() is None or self.selected_room() != self.proxy.index(row, 0).data(RoomRole):
            self._select_row(row)

    def _select_row(self, row: int) -> None:
        index = self.proxy.index(row, RoomListModel.NAME)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.table.selectionModel().setCurrentIndex(index, flags)
        self.table.scrollTo(index)
        self._picked_room = index.data(RoomRole).id

    def proxy_row_of(self, room_id: int) -> int | None:
        """The row a room is shown at, or None while the search hides it."""
        source_row = self.rooms.row_of(room_id)
        if source_row is None:
            return None
        index = self.proxy.mapFromSource(self.rooms.index(source_row, RoomListModel.NAME))
        return index.row() if index.isValid() else None

    def selected_room(self) -> Room | None:
        """The selected room, if one is selected and shown."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(RoomRole) if rows else None

    def _enter_list(self, _key: int) -> None:
        """Down, Up, Page Down or Page Up in the search box: into the list, on the selected room,
        or on the first room shown when none is selected."""
        if self.proxy.rowCount() == 0:
            return
        if self.selected_room() is None:
            self._select_row(0)
        self.table.setFocus(Qt.FocusReason.TabFocusReason)

    def _open_from_search(self) -> None:
        """Enter in the search box opens the selected room; with none selected, the only room
        shown, or else the first room shown is selected (in the list) for the next Enter."""
        room = self.selected_room()
        if room is None and self.proxy.rowCount() == 1:
            room = self.proxy.index(0, RoomListModel.NAME).data(RoomRole)
        if room is not None:
            self.openRequested.emit(room.id)
        elif self.proxy.rowCount() > 1:
            self._enter_list(Qt.Key.Key_Down)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def set_identity(self, username: str, server: str) -> None:
        self.who.setText(f"{username} @ {server}")

    def _open_index(self, index: QModelIndex) -> None:
        self.openRequested.emit(index.data(RoomRole).id)

    def _create(self) -> None:
        self.new_error.hide()
        self.createRequested.emit(self.new_name.text())

    def show_create_error(self, message: str) -> None:
        self.new_error.setText(message)
        self.new_error.show()

    def room_created(self) -> None:
        self.new_name.clear()
        self.new_error.hide()

    def visible_room_names(self) -> list[str]:
        return [self.proxy.index(row, RoomListModel.NAME).data() for row in range(self.proxy.rowCount())]
