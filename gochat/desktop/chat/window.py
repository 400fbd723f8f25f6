"""A chat window, one per open room: bubbles, members, and an input where Enter sends (or
saves the message being edited), Up on an empty input edits the user's last message, Esc
cancels an edit and Tab completes "@na…" from the room's members and recent authors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from PySide6.QtCore import (
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSettings,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QCloseEvent, QKeyEvent, QResizeEvent, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSlider,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gochat.desktop.chat.bubbletext import tab_stop
from gochat.desktop.chat.completion import Completed, MentionCompleter
from gochat.desktop.chat.message_view import MessageView
from gochat.desktop.chat.models import ItemRole, MemberListModel, MessageListModel
from gochat.desktop.resources import app_icon
from gochat.desktop.state import Item, Kind, Status
from gochat.desktop.windows.item_views import enter_on_current_row, show_menu
from gochat.desktop.windows.status import ConnectionBanner
from gochat.protocol import MESSAGE_MAX, User, ValidationError, validate_content

# Start fetching older messages this close to the top, before the user hits it.
PREFETCH_PIXELS = 40
# The composer shows how long the message is from this many characters on.
COUNTER_FROM = 3500
# The smallest chat window: room for a bubble next to the member list, and a few of them.
MIN_WIDTH, MIN_HEIGHT = 480, 400
# The member list: wide enough for names, never more than a side column when maximised.
MEMBERS_MIN, MEMBERS_DEFAULT, MEMBERS_MAX = 140, 200, 320
# ...and in a small window never more than this share of the width, whatever was chosen.
MEMBERS_SHARE_MAX = 0.4
MESSAGES_MIN_WIDTH = 220
MEMBERS_WIDTH_KEY = "chat/membersWidth"  # the member list's chosen width; 0 when folded away


def utf16_length(text: str) -> int:
    """How many UTF-16 units Qt counts in a text (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


class MessageInput(QPlainTextEdit):
    """Enter sends; Shift+Enter starts a new line; Page Up and Page Down scroll the history above
    (the composer keeps the keyboard, and the history is still within reach). Up in an empty
    composer asks to edit the last message; Esc asks to cancel an edit; Tab after "@na" completes
    a name (through ``complete``), and is an ordinary tab otherwise."""

    sendRequested = Signal()  # noqa: N815
    pageRequested = Signal(bool)  # True: a page up  # noqa: N815
    editLastRequested = Signal()  # noqa: N815
    escapePressed = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.completer = MentionCompleter()
        # The names "@…" may complete to (the window's members and recent authors).
        self.names: Callable[[], list[str]] = list

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key, modifiers = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if key == Qt.Key.Key_Tab and not modifiers and self._complete():
            return
        if key not in (Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Meta):
            self.completer.reset()
        if key == Qt.Key.Key_Escape:
            self.escapePressed.emit()
            return
        if key == Qt.Key.Key_Up and not modifiers and not self.toPlainText():
            self.editLastRequested.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.sendRequested.emit()
            return
        if event.key() in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown) and not event.modifiers():
            self.pageRequested.emit(event.key() == Qt.Key.Key_PageUp)
            return
        super().keyPressEvent(event)

    def _complete(self) -> bool:
        """Tab after "@na": the name in its place (or the next name, Tab after Tab)."""
        text = self.toPlainText()
        cursor = self.textCursor()
        if cursor.hasSelection():
            return False
        # Qt counts UTF-16 units; the completer counts characters (code points).
        before = text.encode("utf-16-le")[: cursor.position() * 2].decode("utf-16-le", errors="ignore")
        done: Completed | None = self.completer.complete(text, len(before), self.names())
        if done is None:
            return False
        edit = QTextCursor(self.document())
        edit.setPosition(utf16_length(text[: done.start]))
        edit.setPosition(utf16_length(text[: done.end]), QTextCursor.MoveMode.KeepAnchor)
        edit.insertText(done.replacement)
        self.setTextCursor(edit)
        return True


class MemberList(QListView):
    """The room's members. Double-click, Enter or the context menu's "Message privately" on
    someone other than the user asks for a direct conversation with them (``directRequested``)."""

    directRequested = Signal(str)  # their username  # noqa: N815

    def __init__(self) -> None:
        super().__init__()
        self.me_id: int | None = None  # the user: never offered a conversation with themselves
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)
        self.doubleClicked.connect(self._ask)

    def member_at(self, index: QModelIndex | QPersistentModelIndex) -> User | None:
        """The member at ``index`` when a conversation may be offered with them."""
        user = index.data(ItemRole) if index.isValid() else None
        return user if isinstance(user, User) and user.id != self.me_id else None

    def _ask(self, index: QModelIndex) -> None:
        user = self.member_at(index)
        if user is not None:
            self.directRequested.emit(user.username)

    def context_menu(self, index: QModelIndex) -> QMenu | None:
        user = self.member_at(index)
        if user is None:
            return None
        menu = QMenu(self)
        menu.addAction("Message privately", lambda: self.directRequested.emit(user.username))
        return menu

    def _show_menu(self, point: QPoint) -> None:
        show_menu(self, self.context_menu(self.indexAt(point)), point)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if enter_on_current_row(self, event):
            self._ask(self.currentIndex())
            return
        super().keyPressEvent(event)


class ChatWindow(QWidget):
    """Signals besides the obvious: ``composing(room_id)``, the user changed the text in the
    composer and there is text (not when the window itself puts a draft back or clears it);
    ``directRequested(username)``, the user asked to write privately to a member;
    ``editRequested(room_id, message_id, text)`` saves an edit; ``deleteRequested(room_id,
    message_id)`` asks to delete a message (the app asks first)."""

    sendRequested = Signal(int, str)  # noqa: N815
    editRequested = Signal(int, int, str)  # noqa: N815
    deleteRequested = Signal(int, int)  # noqa: N815
    olderRequested = Signal(int)  # noqa: N815
    retryRequested = Signal(int, str)  # noqa: N815
    # A message older than what is loaded is to be shown: load the history back to it (room, id).
    reachRequested = Signal(int, int)  # noqa: N815
    # The view rests at the newest message: older rows may be let go (they load again on scrolling up).
    atNewest = Signal(int)  # noqa: N815
    composing = Signal(int)
    directRequested = Signal(str)  # noqa: N815
    closed = Signal(int)

    def __init__(
        self,
        room_id: int,
        title: str,
        messages: MessageListModel,
        members: MemberListModel,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__()
        self.room_id = room_id
        self.settings = settings
        # Until the room's state arrives (set_loaded): no count of members, "Loading messages…".
        self._loading = True
        # The name isolated (U+2068 … U+2069): a right-to-left name must not pull " — gochat" into
        # its own direction and scramble the title.
        self.setWindowTitle(f"\u2068{title}\u2069 — gochat")
        self.setWindowIcon(app_icon())
        self.setMinimumSize(MIN_WIDTH, MIN_HEIGHT)
        self.resize(820, 600)

        self.banner = ConnectionBanner()
        heading = QLabel(title)
        heading.setProperty("role", "title")
        heading.setTextFormat(Qt.TextFormat.PlainText)
        # A long name (up to 64 characters) wraps instead of widening the window past the screen;
        # a right-to-left one stays at the left edge, like every heading.
        heading.setWordWrap(True)
        heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        heading.setAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignAbsolute | Qt.AlignmentFlag.AlignVCenter
        )
        heading.setToolTip(title)
        self.heading = heading

        self.messages_model = messages
        self.view = MessageView()
        self.view.setModel(messages)
        self.view.setMinimumWidth(MESSAGES_MIN_WIDTH)
        self.view.clicked.connect(self._clicked)
        # Shown over the view: while the room's history loads, or when it has none.
        self.placeholder = QLabel(self.view.viewport())
        self.placeholder.setProperty("role", "muted")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        # Over the view's bottom edge while the reader is scrolled up and new messages arrive.
        self.jump_button = QPushButton(self.view)
        self.jump_button.setObjectName("jump")
        self.jump_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.jump_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the composer keeps the keyboard
        self.jump_button.setToolTip("Scroll to the newest message")
        self.jump_button.setStyleSheet(
            "QPushButton#jump { background: #2f6feb; color: white; border: none; border-radius: 13px;"
            " padding: 4px 16px; min-height: 18px; font-weight: 600; }"
            " QPushButton#jump:hover { background: #1f5fdb; }"
        )
        self.jump_button.hide()
        self.jump_button.clicked.connect(self.jump_to_newest)
        self._new_below = 0
        self.view.resized.connect(self._place_overlays)

        self.members_title = QLabel("Online")
        self.members_title.setProperty("role", "muted")
        self.members_model = members
        self.members = MemberList()
        self.members.setModel(members)
        self.members.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.members.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.members.setToolTip("Double-click someone to message them privately")
        self.members.directRequested.connect(self.directRequested)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.members_title)
        side_layout.addWidget(self.members)
        side.setMinimumWidth(MEMBERS_MIN)
        side.setMaximumWidth(MEMBERS_MAX)
        members.modelReset.connect(self._count_members)
        self._count_members()

        # The member list keeps its width when the window grows (a maximised window gives the
        # room to the messages); the user may drag it, or fold it away, and that is remembered.
        self.splitter = splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setCollapsible(0, False)
        self._members_width = self._remembered_members_width()
        splitter.setSizes([620, self._members_width])
        splitter.splitterMoved.connect(self._members_dragged)

        # Who is typing, under the messages. Always its one line high, empty or not, so the
        # messages above never jump when someone starts or stops typing.
        self.typing_line = QLabel()
        self.typing_line.setObjectName("typingLine")
        self.typing_line.setProperty("role", "muted")
        self.typing_line.setTextFormat(Qt.TextFormat.PlainText)
        italic = self.typing_line.font()
        italic.setItalic(True)
        self.typing_line.setFont(italic)
        self.typing_line.setFixedHeight(self.typing_line.fontMetrics().height() + 2)
        self.typing_line.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

        self.input = MessageInput()
        self.input.setPlaceholderText("Write a message — Enter sends, Shift+Enter for a new line")
        self.input.setFixedHeight(72)
        self.input.setTabStopDistance(tab_stop(self.input.font()))
        self.view.typing_target = self.input
        self.send_button = QPushButton("Send")
        self.send_button.setProperty("primary", True)
        self.send_button.setEnabled(False)
        # How long the message is, near and over the limit; and what to do about it.
        self.counter = QLabel()
        self.counter.setProperty("role", "muted")
        self.counter.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.counter.hide()
        self.limit_note = QLabel()
        self.limit_note.setProperty("role", "error")
        self.limit_note.setWordWrap(True)
        self.limit_note.hide()
        # A word about something that did not happen (a link no browser could open).
        self.notice = QLabel()
        self.notice.setProperty("role", "muted")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.setInterval(8000)
        self._notice_timer.timeout.connect(self.notice.hide)
        self.view.linkNotOpened.connect(
            lambda url: self.show_notice(f"No web browser could open {url}; the link was copied instead.")
        )
        # While a message is being edited: which, how to get out, and what went wrong saving it.
        self.edit_bar = QWidget()
        self.edit_bar.setObjectName("editBar")
        self.edit_label = QLabel("Editing message — Esc to cancel")
        self.edit_label.setProperty("role", "info")
        self.edit_error = QLabel()
        self.edit_error.setProperty("role", "error")
        self.edit_error.setWordWrap(True)
        self.edit_error.hide()
        self.edit_cancel = QPushButton("Cancel")
        self.edit_cancel.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the composer keeps the keyboard
        self.edit_cancel.clicked.connect(self.cancel_edit)
        bar_row = QHBoxLayout(self.edit_bar)
        bar_row.setContentsMargins(0, 0, 0, 0)
        bar_row.addWidget(self.edit_label)
        bar_row.addWidget(self.edit_error, 1)
        bar_row.addStretch(0)
        bar_row.addWidget(self.edit_cancel)
        self.edit_bar.hide()
        # The message being edited, the draft typed before (back on Esc or once saved), and
        # whether the edit is on its way to the server.
        self._editing: int | None = None
        self._draft_before_edit = ""
        self._saving = False
        # Who may edit or delete a message (the app asks the chat controller: the author; the
        # room's creator and a server admin may delete).
        self.may_edit: Callable[[Item], bool] = lambda item: item.mine and not item.deleted
        self.may_delete: Callable[[Item], bool] = lambda item: item.mine and not item.deleted
        self.view.menu_extensions.append(self._message_menu)
        self.input.names = self.mention_names
        send_column = QVBoxLayout()
        send_column.setSpacing(4)
        send_column.addStretch(1)
        send_column.addWidget(self.counter)
        send_column.addWidget(self.send_button)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input, 1)
        input_row.addLayout(send_column)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(8)
        # The title row; the app adds its window buttons (Rooms) at its end.
        self.header = QHBoxLayout()
        self.header.addWidget(heading, 1)
        layout.addLayout(self.header)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.typing_line)
        layout.addWidget(self.edit_bar)
        layout.addLayout(input_row)
        layout.addWidget(self.limit_note)
        layout.addWidget(self.notice)

        self.input.textChanged.connect(self._update_send_button)
        # Text put in by the window itself (a draft back, the composer cleared after sending) is
        # not the user composing.
        self._setting_text = False
        self.input.textChanged.connect(self._text_changed)
        self.input.sendRequested.connect(self._send)
        self.input.pageRequested.connect(self._page)
        self.input.editLastRequested.connect(self.edit_last)
        self.input.escapePressed.connect(self.cancel_edit)
        self.send_button.clicked.connect(self._send)
        # A row changed in place (edited, deleted): no layout of its old text is kept.
        messages.dataChanged.connect(self.view.delegate.forget_layouts)
        messages.dataChanged.connect(self._check_edited_message)

        # Keep the view where the user left it: at the bottom for new messages; on the same
        # message when older pages are inserted above.
        self._stick_to_bottom = True
        # The message at the top of the view, and how far above the edge it was, while older
        # rows are inserted above it.
        self._anchor: tuple[QPersistentModelIndex, int] | None = None
        self._older_requested = False
        # Said on the next turn of the loop, never from inside a scroll or layout in progress
        # (rows removed there would pull the ground from under the view), and once per turn.
        self._at_newest = QTimer(self)
        self._at_newest.setSingleShot(True)
        self._at_newest.setInterval(0)
        self._at_newest.timeout.connect(self._tell_at_newest)
        bar = self.view.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)
        messages.rowsAboutToBeInserted.connect(self._rows_about_to_be_inserted)
        messages.rowsInserted.connect(self._rows_inserted)
        messages.rowsRemoved.connect(self._update_placeholder)
        messages.modelReset.connect(self._update_placeholder)
        # "Today" becomes "Yesterday" at midnight: repaint the day separators then.
        self._midnight = QTimer(self)
        self._midnight.setSingleShot(True)
        self._midnight.timeout.connect(self._new_day)
        self._arm_midnight()
        self.set_loading(True)
        # A message to bring into view once it is loaded (a search result or a notification was
        # clicked), and whether the history back to it was asked for already.
        self._jump_to: int | None = None
        self._jump_asked = False
        messages.rowsInserted.connect(self._try_jump)
        self.input.setFocus()

    # -- input -------------------------------------------------------------------------

    def _update_send_button(self) -> None:
        text = self.input.toPlainText()
        length = len(text)  # characters (code points), as the server counts them
        over = length - MESSAGE_MAX
        self.send_button.setEnabled(bool(text.strip()) and over <= 0)
        self.counter.setVisible(length >= COUNTER_FROM)
        if length >= COUNTER_FROM:
            self.counter.setText(f"{_number(length)} / {_number(MESSAGE_MAX)}")
            self._set_role(self.counter, "error" if over > 0 else "muted")
        if over > 0:
            self.limit_note.setText(
                f"Too long to send: remove {_number(over)} {'character' if over == 1 else 'characters'}"
                f" (a message can be at most {_number(MESSAGE_MAX)})."
            )
        self.limit_note.setVisible(over > 0)

    def _text_changed(self) -> None:
        # Fixing a message already sent is not "typing…" a new one.
        if not self._setting_text and self._editing is None and self.input.toPlainText().strip():
            self.composing.emit(self.room_id)

    def set_me(self, user: User) -> None:
        """Who the user is: the member list never offers a conversation with themselves."""
        self.members.me_id = user.id

    def show_typing(self, line: str) -> None:
        """Who is typing ("bob is typing…"), or "" when nobody is."""
        self.typing_line.setText(line)
        self.typing_line.setToolTip(line)

    @staticmethod
    def _set_role(label: QLabel, role: str) -> None:
        if label.property("role") != role:
            label.setProperty("role", role)
            label.style().unpolish(label)
            label.style().polish(label)

    def _send(self) -> None:
        """Send what is typed (or save the edit); it leaves the composer only once it is
        accepted for sending (the session checks it again)."""
        text = self.input.toPlainText()
        try:
            validate_content(text)
        except ValidationError as error:
            if text.strip() and len(text) <= MESSAGE_MAX:  # too long is said by the counter already
                self.limit_note.setText(error.message)
                self.limit_note.show()
            return
        if self._editing is not None:
            self._save_edit(self._editing, text)
            return
        self._setting_text = True
        try:
            self.input.clear()
        finally:
            self._setting_text = False
        self._stick_to_bottom = True
        self.sendRequested.emit(self.room_id, text)

    # -- editing and deleting ----------------------------------------------------------------

    @property
    def editing(self) -> int | None:
        """The id of the message being edited in the composer, if any."""
        return self._editing

    def mention_names(self) -> list[str]:
        """Whom "@…" completes to: the newest authors first, then the members; never the user."""
        timeline = self.messages_model.timeline
        me = timeline.me.id if timeline.me is not None else None
        people = [*timeline.recent_authors(), *self.members_model.members()]
        return [user.username for user in people if user.id != me]

    def _message_menu(self, menu: QMenu, item: Item) -> None:
        """Edit and Delete in a message's context menu, for whoever may."""
        message_id = item.message_id
        if item.kind is not Kind.MESSAGE or message_id is None:
            return
        if self.may_edit(item):
            menu.addAction("Edit").triggered.connect(lambda: self.begin_edit(message_id))
        if self.may_delete(item):
            menu.addAction("Delete…").triggered.connect(lambda: self.deleteRequested.emit(self.room_id, message_id))

    def edit_last(self) -> None:
        """Up in an empty composer: edit the user's last message in this room (not a deleted one)."""
        item = self.messages_model.timeline.last_own_message()
        if item is not None and item.message_id is not None and self.may_edit(item):
            self.begin_edit(item.message_id)

    def begin_edit(self, message_id: int) -> None:
        """The message's text goes into the composer, with a bar saying so; what was typed
        before waits, and comes back on Esc or once the edit is saved."""
        item = self.messages_model.timeline.message(message_id)
        if item is None or not self.may_edit(item):
            return
        if self._editing is None:
            self._draft_before_edit = self.input.toPlainText()
        self._editing = message_id
        self._saving = False
        self.view.delegate.editing_id = message_id
        self.view.viewport().update()
        model = self.messages_model
        for row in range(model.rowCount() - 1, -1, -1):
            if model.item(row).message_id == message_id:
                self.view.scrollTo(model.index(row), QAbstractItemView.ScrollHint.EnsureVisible)
                break
        self._setting_text = True  # the message's text put in is not the user composing
        try:
            self.input.setPlainText(item.text)
        finally:
            self._setting_text = False
        self.input.moveCursor(QTextCursor.MoveOperation.End)
        self.edit_label.setText("Editing message — Esc to cancel")
        self.edit_error.hide()
        self.edit_bar.show()
        self.send_button.setText("Save")
        self.input.setFocus()

    def cancel_edit(self) -> None:
        """Esc (or Cancel): the message stays as it was, the draft from before is back."""
        if self._editing is None:
            return
        self._end_edit()

    def _end_edit(self) -> None:
        self._editing = None
        self._saving = False
        self.view.delegate.editing_id = None
        self.view.viewport().update()
        self.edit_bar.hide()
        self.send_button.setText("Send")
        self.set_draft(self._draft_before_edit)
        self._draft_before_edit = ""
        self.input.setFocus()

    def _save_edit(self, message_id: int, text: str) -> None:
        if self._saving:
            return  # Enter again while the first is on its way
        item = self.messages_model.timeline.message(message_id)
        if item is not None and item.text == text:
            self._end_edit()  # nothing changed: nothing to send
            return
        self._saving = True
        self.edit_label.setText("Saving…")
        self.edit_error.hide()
        self.editRequested.emit(self.room_id, message_id, text)

    def edit_finished(self, message_id: int, error: str) -> None:
        """The server stored the edit (the draft from before is back) or refused it (said in
        the bar; what was typed stays, to fix or to cancel)."""
        if message_id != self._editing:
            return
        if not error:
            self._end_edit()
            return
        self._saving = False
        self.edit_label.setText("Editing message — Esc to cancel")
        self.edit_error.setText(f"Not saved: {error}")
        self.edit_error.show()

    def _check_edited_message(self) -> None:
        """The message being edited was deleted meanwhile (by a moderator, or on another
        device): there is nothing left to edit."""
        if self._editing is None:
            return
        item = self.messages_model.timeline.message(self._editing)
        if item is None or item.deleted:
            self._end_edit()
            self.show_notice("The message you were editing was deleted.")

    def _clicked(self, index: QModelIndex) -> None:
        item: Item = index.data(ItemRole)
        if item.status is Status.FAILED and item.client_msg_id is not None:
            self.retryRequested.emit(self.room_id, item.client_msg_id)

    def _count_members(self) -> None:
        if self._loading:
            self.members_title.setText("Online")  # not "Online — 0" before the room's state arrives
            return
        count = self.members.model().rowCount()
        self.members_title.setText(f"Online — {count}")

    # -- loading -----------------------------------------------------------------------

    def set_loading(self, loading: bool) -> None:
        """While the room's history and members are on their way: "Loading messages…" in the
        view and no member count."""
        self._loading = loading
        self._count_members()
        self._update_placeholder()

    def set_loaded(self) -> None:
        self.set_loading(False)

    @property
    def loading(self) -> bool:
        """The room's state has not arrived since the window opened."""
        return self._loading

    def _update_placeholder(self) -> None:
        if self._loading:
            self.placeholder.setText("Loading messages…")
        elif self.messages_model.rowCount() == 0:
            self.placeholder.setText("No messages yet. Say hello!")
        self.placeholder.setVisible(self._loading or self.messages_model.rowCount() == 0)
        self._place_overlays()

    def _place_overlays(self) -> None:
        viewport = self.view.viewport()
        self.placeholder.setGeometry(0, 0, viewport.width(), viewport.height())
        hint = self.jump_button.sizeHint()
        view = self.view.rect()
        self.jump_button.setGeometry(
            view.center().x() - hint.width() // 2, view.bottom() - hint.height() - 14, hint.width(), hint.height()
        )

    # -- member list width -------------------------------------------------------------

    def _remembered_members_width(self) -> int:
        value = self.settings.value(MEMBERS_WIDTH_KEY) if self.settings is not None else None
        try:
            width = int(str(value)) if value is not None else MEMBERS_DEFAULT
        except ValueError:
            width = MEMBERS_DEFAULT
        return 0 if width <= 0 else min(max(width, MEMBERS_MIN), MEMBERS_MAX)

    def _members_dragged(self) -> None:
        """The user chose the member list's width (or folded it away): keep it, for every chat window."""
        self._members_width = self.splitter.sizes()[1]
        if self.settings is not None:
            self.settings.setValue(MEMBERS_WIDTH_KEY, self._members_width)

    def _fit_members(self) -> None:
        """The chosen width, but in a small window the messages come first."""
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if total <= 0:
            return
        side = (
            0
            if self._members_width == 0
            else min(self._members_width, max(MEMBERS_MIN, int(total * MEMBERS_SHARE_MAX)))
        )
        if sizes[1] != side:
            self.splitter.setSizes([total - side, side])

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_members()

    # -- day separators ------------------------------------------------------------------

    def _arm_midnight(self) -> None:
        now = datetime.now()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
        self._midnight.start(int((midnight - now).total_seconds() * 1000) + 1000)

    def _new_day(self) -> None:
        self.view.viewport().update()
        self._arm_midnight()

    def _page(self, up: bool) -> None:
        action = (
            QAbstractSlider.SliderAction.SliderPageStepSub if up else QAbstractSlider.SliderAction.SliderPageStepAdd
        )
        self.view.verticalScrollBar().triggerAction(action)

    def draft(self) -> str:
        """What is typed and not sent (while editing, what was typed before the edit began: a
        message's text is not a draft, and must not outlive an edit or a deletion on disk)."""
        return self._draft_before_edit if self.editing is not None else self.input.toPlainText()

    def set_draft(self, text: str) -> None:
        """Put back what was typed (and not sent) when the room was last open; the cursor at its end."""
        self._setting_text = True
        try:
            self.input.setPlainText(text)
        finally:
            self._setting_text = False
        self.input.moveCursor(QTextCursor.MoveOperation.End)

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()
        self._notice_timer.start()

    # -- jumping to the newest -----------------------------------------------------------

    def jump_to_newest(self) -> None:
        self._stick_to_bottom = True
        self.view.scrollToBottom()
        self._forget_new()

    def _forget_new(self) -> None:
        self._new_below = 0
        self.jump_button.hide()

    def _count_new(self, first: int, last: int) -> None:
        """Messages from others arriving below while the reader is scrolled up."""
        new = sum(
            1
            for row in range(first, last + 1)
            if (item := self.messages_model.item(row)).kind is Kind.MESSAGE and not item.mine
        )
        if new:
            self._new_below += new
            self.jump_button.setText(f"↓ {self._new_below} new")
            self.jump_button.adjustSize()
            self._place_overlays()
            self.jump_button.show()
            self.jump_button.raise_()

    # -- scrolling ---------------------------------------------------------------------

    def _scrolled(self, value: int) -> None:
        bar = self.view.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - 4
        if self._stick_to_bottom and self._new_below:
            self._forget_new()
        if self._stick_to_bottom and not self._at_newest.isActive():
            self._at_newest.start()
        if value <= PREFETCH_PIXELS and bar.maximum() > 0 and not self._older_requested:
            self._older_requested = True
            self.olderRequested.emit(self.room_id)

    def _tell_at_newest(self) -> None:
        if self._stick_to_bottom and self._anchor is None:
            self.atNewest.emit(self.room_id)

    def older_loaded(self) -> None:
        self._older_requested = False
        self._try_jump()

    # -- going to a message --------------------------------------------------------------

    def reveal_unread_line(self) -> None:
        """Just opened: when what is new does not fit below the "New messages" line, start there
        instead of at the bottom, so the user reads on from where they left off."""
        model = self.messages_model
        for row in range(model.rowCount()):
            if model.item(row).kind is Kind.UNREAD_LINE:
                index = QPersistentModelIndex(model.index(row))
                QTimer.singleShot(0, lambda index=index: self._reveal(index))
                return

    def _reveal(self, index: QPersistentModelIndex) -> None:
        if not index.isValid() or self.view.flashing is not None or self._jump_to is not None:
            return  # the window was opened at a message (a search result): it stays there
        rect = self.view.visualRect(self.messages_model.index(index.row()))
        if rect.top() >= 0:
            return  # already in view with the newest: nothing to scroll past
        self._stick_to_bottom = False
        self.view.scrollTo(self.messages_model.index(index.row()), QAbstractItemView.ScrollHint.PositionAtTop)
        QTimer.singleShot(0, lambda: self._count_new_out_of_view(index))

    def _count_new_out_of_view(self, line: QPersistentModelIndex) -> None:
        """Opened at the "New messages" line: the new messages below the view are what the jump
        button counts, as if they had arrived while the reader was scrolled up."""
        if not line.isValid() or self._stick_to_bottom:
            return
        model = self.messages_model
        bottom = self.view.viewport().height()
        below = [
            row
            for row in range(line.row() + 1, model.rowCount())
            if self.view.visualRect(model.index(row)).bottom() > bottom
        ]
        if below:
            self._count_new(below[0], below[-1])

    def show_message(self, message_id: int) -> None:
        """Bring a message into view and highlight it for a moment (a search result or a
        notification led here); when it is older than what is loaded, the history back to it is
        asked for first (reachRequested, in one go rather than page by page)."""
        self._jump_to = message_id
        self._jump_asked = False
        self._try_jump()

    def _try_jump(self) -> None:
        target = self._jump_to
        if target is None:
            return
        model = self.messages_model
        timeline = model.timeline
        for row in range(model.rowCount() - 1, -1, -1):
            if model.item(row).message_id == target:
                self._jump_to = None
                self._stick_to_bottom = row == model.rowCount() - 1
                index = QPersistentModelIndex(model.index(row))
                QTimer.singleShot(0, lambda index=index: self._scroll_to(index, target))
                return
        oldest = timeline.oldest_id
        if oldest is None or self._older_requested:
            return  # the room's state, or a page, is on its way: looked at again when it is here
        if oldest > target and timeline.has_older and not self._jump_asked:
            self._jump_asked = True
            self._older_requested = True
            self.reachRequested.emit(self.room_id, target)
            return
        self._jump_to = None
        if oldest <= target:
            self.show_notice("That message is not there any more: it was deleted.")
        else:
            self.show_notice("That message is too far back to load at once: scroll up to reach it.")

    def _scroll_to(self, index: QPersistentModelIndex, message_id: int) -> None:
        if index.isValid():
            self.view.scrollTo(self.messages_model.index(index.row()), QAbstractItemView.ScrollHint.PositionAtCenter)
            self.view.flash_message(message_id)

    def _rows_about_to_be_inserted(self, _parent: QModelIndex, first: int, _last: int) -> None:
        if first == 0 and self.messages_model.rowCount() > 0 and not self._stick_to_bottom and self._anchor is None:
            top = self.view.indexAt(QPoint(4, 4))
            if top.isValid():
                # Where its content starts: below its day separator, which goes when the page
                # above brings more of that day.
                content = self.view.visualRect(top).top() + self._day_header_height(top)
                self._anchor = (QPersistentModelIndex(top), content)

    def _day_header_height(self, index: QModelIndex) -> int:
        return self.view.delegate.day_header_height(self.view.row_option(index), index)

    def _rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        self._update_placeholder()
        if self._anchor is not None:
            QTimer.singleShot(0, self._restore_anchor)
        elif self._stick_to_bottom:
            QTimer.singleShot(0, self.view.scrollToBottom)
        elif first > 0:  # not a page of older history above
            self._count_new(first, last)

    def _restore_anchor(self) -> None:
        if self._anchor is None:
            return
        anchor, content = self._anchor
        self._anchor = None
        if anchor.isValid():
            index = self.messages_model.index(anchor.row())
            self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
            bar = self.view.verticalScrollBar()
            bar.setValue(bar.value() - (content - self._day_header_height(index)))

    def _range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick_to_bottom and self._anchor is None:
            self.view.verticalScrollBar().setValue(maximum)

    # -- window state ------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self._midnight.stop()
        self.closed.emit(self.room_id)
        super().closeEvent(event)


def _number(value: int) -> str:
    """A count in the user's locale, with its thousands separator ("3,612"; "3.612" in German)."""
    locale = QLocale()
    locale.setNumberOptions(locale.numberOptions() & ~QLocale.NumberOption.OmitGroupSeparator)
    return locale.toString(value)
