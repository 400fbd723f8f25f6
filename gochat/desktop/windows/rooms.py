"""The room-list window (the seed's home): rooms, search, New room, who is logged in."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gochat.desktop.models import RoomListModel, RoomRole
from gochat.desktop.resources import app_icon
from gochat.desktop.windows.host import HostingPanel
from gochat.desktop.windows.login import error_label
from gochat.desktop.windows.status import ConnectionBanner

# The room list's columns other than the name fit their contents up to this many characters.
FITTED_CHARS = 24


class RoomTable(QTableView):
    activatedRoom = Signal(int)  # noqa: N815

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.activatedRoom.emit(self.currentIndex().data(RoomRole).id)
            return
        super().keyPressEvent(event)


class RoomListWindow(QMainWindow):
    openRequested = Signal(int)  # noqa: N815
    createRequested = Signal(str)  # noqa: N815
    logoutRequested = Signal()  # noqa: N815

    def __init__(self, rooms: RoomListModel) -> None:
        super().__init__()
        self.setWindowTitle("gochat — rooms")
        self.setWindowIcon(app_icon())
        self.resize(760, 520)

        self.who = QLabel()
        self.who.setProperty("role", "muted")
        self.logout_button = QPushButton("Log out")
        header = QHBoxLayout()
        title = QLabel("Rooms")
        title.setProperty("role", "title")
        header.addWidget(title)
        header.addStretch()
        header.addWidget(self.who)
        header.addWidget(self.logout_button)

        self.banner = ConnectionBanner()
        self.hosting = HostingPanel()
        # Asked before the window closes (quitting while hosting); False keeps it open.
        self.close_guard: Callable[[], bool] | None = None

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search rooms…")
        self.search.setClearButtonEnabled(True)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(rooms)
        self.proxy.setFilterKeyColumn(RoomListModel.NAME)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)

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

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(10)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addWidget(self.hosting)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addLayout(new_row)
        layout.addWidget(self.new_error)
        self.setCentralWidget(central)

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
