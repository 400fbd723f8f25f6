"""The search window: find messages in one room (Ctrl+F in its chat window) or in every room
(Ctrl+Shift+F), newest first; a result opens its room at the message. It shows and asks; the
search itself is the SearchController's."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gochat.desktop.resources import app_icon
from gochat.desktop.search.model import HitRole, SearchResultsModel
from gochat.desktop.search.results import ResultDelegate
from gochat.desktop.windows.item_views import enter_on_current_row
from gochat.desktop.windows.search_field import SearchField
from gochat.desktop.windows.status import ConnectionBanner
from gochat.protocol import SEARCH_MIN_CHARS, ValidationError, validate_search_query

# Searching as you type: the server is asked once typing has paused this long (never once a
# keystroke); Enter asks at once.
SEARCH_PAUSE_MS = 350
# The next page is asked for when the list is scrolled within this many pixels of its end.
MORE_WITHIN_PIXELS = 60
EVERYWHERE = 0  # the scope choice's data for "every room"

HINT = f"Type at least {SEARCH_MIN_CHARS} characters to search: a word, part of one, or a Chinese word (你好)."


class ResultList(QListView):
    """Enter opens the current result (double-click too); Up on the first goes back to the query."""

    activatedRow = Signal(QModelIndex)  # noqa: N815
    leftAtTop = Signal()  # noqa: N815

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if enter_on_current_row(self, event):
            self.activatedRow.emit(self.currentIndex())
            return
        up = event.key() == Qt.Key.Key_Up and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if up and self.currentIndex().row() <= 0:
            self.leftAtTop.emit()
            return
        super().keyPressEvent(event)


class SearchWindow(QWidget):
    """Signals: ``searchRequested(query, room_id)`` (room_id 0: every room) once typing pauses or
    on Enter, only for a query long enough; ``clearRequested()`` the query is no longer one to
    search (shortened below the minimum, or too long): the results of the one before must go, so
    nobody takes them for matches of the new text; ``moreRequested()`` the next page (Load more,
    or the list scrolled to its end); ``openRequested(room_id, message_id)`` a result activated."""

    searchRequested = Signal(str, int)  # noqa: N815
    clearRequested = Signal()  # noqa: N815
    moreRequested = Signal()  # noqa: N815
    openRequested = Signal(int, int)  # noqa: N815

    def __init__(self, results: SearchResultsModel) -> None:
        super().__init__()
        self.setWindowTitle("Search messages — gochat")
        self.setWindowIcon(app_icon())
        self.setMinimumSize(420, 360)
        self.resize(640, 620)
        self.results_model = results
        # What was last asked for, so an unchanged query (a pause after an arrow key) asks nothing.
        self._asked: tuple[str, int] | None = None
        self._more = False

        title = QLabel("Search messages")
        title.setProperty("role", "title")
        self.banner = ConnectionBanner()
        self.query = SearchField()
        self.query.setPlaceholderText("Search messages…")
        self.query.setClearButtonEnabled(True)
        self.scope = QComboBox()
        self.scope.setToolTip("Where to search")
        self.scope.addItem("All rooms", EVERYWHERE)
        self.status = QLabel(HINT)
        self.status.setProperty("role", "muted")
        self.status.setWordWrap(True)
        self.results = ResultList()
        self.results.setModel(results)
        self.results.setItemDelegate(ResultDelegate(self.results))
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.results.setUniformItemSizes(False)
        self.results.setWordWrap(True)
        self.results.setResizeMode(QListView.ResizeMode.Adjust)
        self.more_button = QPushButton("Load more")
        self.more_button.hide()

        query_row = QHBoxLayout()
        query_row.addWidget(self.query, 1)
        query_row.addWidget(self.scope)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(8)
        layout.addWidget(title)
        layout.addWidget(self.banner)
        layout.addLayout(query_row)
        layout.addWidget(self.status)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.more_button)

        self._search_soon = QTimer(self)
        self._search_soon.setSingleShot(True)
        self._search_soon.setInterval(SEARCH_PAUSE_MS)
        self._search_soon.timeout.connect(self._ask)
        self.query.textEdited.connect(self._typed)
        self.query.returnPressed.connect(self._ask_now)
        self.query.listKeyPressed.connect(self._enter_list)
        self.scope.currentIndexChanged.connect(lambda _index: self._ask_now())
        self.results.doubleClicked.connect(self._open)
        self.results.activatedRow.connect(self._open)
        self.results.leftAtTop.connect(self.focus_query)
        self.more_button.clicked.connect(self.moreRequested)
        bar = self.results.verticalScrollBar()
        bar.valueChanged.connect(self._maybe_more)
        bar.rangeChanged.connect(self._maybe_more)

    # -- where to search ---------------------------------------------------------------

    def search_in(self, room_id: int | None, room_name: str = "") -> None:
        """Search one room (its name offered beside "All rooms") or everywhere; the query is kept
        and searched again in the new place, ready to be typed over."""
        self.scope.blockSignals(True)
        while self.scope.count() > 1:
            self.scope.removeItem(1)
        if room_id is not None:
            self.scope.addItem(f"In {room_name}", room_id)
            self.scope.setCurrentIndex(1)
        else:
            self.scope.setCurrentIndex(0)
        self.scope.blockSignals(False)
        self.focus_query()
        if self.query.text().strip():
            self._ask_now()

    def reset(self) -> None:
        """Logged out: nothing of that account's searching stays for the next one to see."""
        self._search_soon.stop()
        self._asked = None
        self.query.clear()
        self.search_in(None)
        self._set_more(False)
        self._say(HINT, error=False)

    def focus_query(self) -> None:
        self.query.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.query.selectAll()

    def room_id(self) -> int:
        """The room searched (0: every room)."""
        return int(self.scope.currentData() or EVERYWHERE)

    # -- asking --------------------------------------------------------------------------

    def _typed(self, text: str) -> None:
        if self._explain(text):
            self._search_soon.start()

    def _explain(self, text: str) -> bool:
        """Say why a query is not searched yet (too short, too long), before anything is sent;
        True when it may be."""
        self._search_soon.stop()
        try:
            validate_search_query(text)
        except ValidationError as error:
            self._asked = None
            self._set_more(False)
            self.clearRequested.emit()
            self._say(HINT if not text.strip() or len(text.strip()) < SEARCH_MIN_CHARS else error.message, error=False)
            return False
        return True

    def _ask_now(self) -> None:
        if self._explain(self.query.text()):
            self._asked = None  # Enter searches again, even for the same words
            self._ask()

    def _ask(self) -> None:
        asked = (self.query.text().strip(), self.room_id())
        if asked == self._asked:
            return
        self._asked = asked
        self.searchRequested.emit(*asked)

    # -- what the controller says ----------------------------------------------------------

    def show_searching(self) -> None:
        self._set_more(False)
        self._say("Searching…", error=False)

    def show_results(self, shown: int, more: bool) -> None:
        self._set_more(more)
        if shown == 0:
            self._say("No messages found.", error=False)
        else:
            words = "message" if shown == 1 else "messages"
            # Enter in the query searches again: a result opens from the list.
            self._say(
                f"{shown}{'+' if more else ''} {words} found, newest first. "
                "Double-click a result or press Enter on it to open it (Down moves into the list).",
                error=False,
            )
        self._maybe_more()

    def show_error(self, message: str) -> None:
        self._asked = None  # the same search may be asked for again (once back online)
        self.more_button.setEnabled(True)
        self._say(message, error=True)

    def _say(self, text: str, *, error: bool) -> None:
        self.status.setText(text)
        role = "error" if error else "muted"
        if self.status.property("role") != role:
            self.status.setProperty("role", role)
            self.status.style().unpolish(self.status)
            self.status.style().polish(self.status)

    def _set_more(self, more: bool) -> None:
        self._more = more
        self.more_button.setVisible(more)
        self.more_button.setEnabled(True)

    def _maybe_more(self) -> None:
        """Scrolled to the end with more to come: the next page (the controller asks once)."""
        bar = self.results.verticalScrollBar()
        if self._more and bar.maximum() > 0 and bar.value() >= bar.maximum() - MORE_WITHIN_PIXELS:
            self.moreRequested.emit()

    # -- results -------------------------------------------------------------------------

    def _enter_list(self, _key: int) -> None:
        if self.results_model.rowCount() == 0:
            return
        self.results.setFocus(Qt.FocusReason.OtherFocusReason)
        if not self.results.currentIndex().isValid():
            self.results.setCurrentIndex(self.results_model.index(0))

    def _open(self, index: QModelIndex) -> None:
        hit = index.data(HitRole)
        if hit is not None:
            self.openRequested.emit(hit.message.room_id, hit.message.id)
