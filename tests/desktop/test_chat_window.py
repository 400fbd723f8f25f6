"""One chat window as a person uses it (issue 10, points 1, 4, 5, 7, 13 and 19): the composer near
and over the length limit, text shown exactly as typed, day separators, selecting and copying,
links and the context menu, the window's size and member list, loading, and jumping to the newest."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, QLocale, QPoint, QSettings, Qt, QUrl
from PySide6.QtGui import QFontMetricsF, QGuiApplication, QPainter, QTextCursor
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem
from pytestqt.qtbot import QtBot
from sqlalchemy import Table, insert

from gochat.desktop.chat.delegates import MessageDelegate
from gochat.desktop.chat.models import MemberListModel, MessageListModel
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.rooms.model import RoomListModel, RoomRole
from gochat.desktop.state import Kind, Status, Timeline
from gochat.protocol import MESSAGE_MAX, Message, User
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from gochat.server.store import models
from gochat.server.store.database import Database
from tests.desktop.servers import stop_server
from tests.desktop.test_desktop import (
    WAIT,
    MakeDesktop,
    Shot,
    all_sent,
    create_room,
    items,
    log_in,
    open_room,
    say,
    texts,
)
from tests.helpers import PASSWORD, auth, chat_client, login, unique_name
from tests.seed import seed_room

ME = User(1, "me")
YOU = User(2, "amira")


def wire(message_id: int, when: datetime, text: str, author: User = YOU) -> Message:
    """A message as the server sends it, decoded as the desktop decodes it."""
    return Message.from_wire(
        {
            "id": message_id,
            "roomId": 1,
            "author": {"id": author.id, "username": author.username},
            "content": text,
            "createdAt": when.astimezone(UTC).isoformat(),
        }
    )


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute)).astimezone()


def window_over(qtbot: QtBot, messages: list[Message], settings: QSettings | None = None) -> ChatWindow:
    """A chat window over a timeline built directly (no server), loaded and shown."""
    timeline = Timeline(me=ME)
    model = MessageListModel(timeline)
    model.apply(timeline.add_history(messages))
    window = ChatWindow(1, "Design 设计", model, MemberListModel(), settings)
    qtbot.addWidget(window)
    window.set_loaded()
    window.show()
    qtbot.waitExposed(window)
    return window


def row_option(window: ChatWindow, row: int) -> QStyleOptionViewItem:
    option = QStyleOptionViewItem()
    window.view.initViewItemOption(option)
    option.rect = window.view.visualRect(window.messages_model.index(row))
    return option


def delegate_of(window: ChatWindow) -> MessageDelegate:
    delegate = window.view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    return delegate


def row_of(window: ChatWindow, text: str) -> int:
    return next(r for r in range(window.messages_model.rowCount()) if window.messages_model.item(r).text == text)


def scrolled_to_bottom(window: ChatWindow) -> bool:
    bar = window.view.verticalScrollBar()
    return bar.value() == bar.maximum()


# -- point 1: the composer near and over the limit ------------------------------------------------


def test_a_message_over_the_limit_stays_in_the_composer_with_a_live_counter_and_send_disabled(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "long letters")
    chat = open_room(qtbot, alice, "long letters")
    errors: list[str] = []
    alice.session.errorShown.connect(errors.append)

    # Over the limit: Enter does nothing, and nothing typed is lost.
    too_long = ("All work and no play makes Jack a dull boy. 你好 😀\n" * 100)[: MESSAGE_MAX + 12]
    chat.input.setFocus()
    chat.input.insertPlainText(too_long)
    qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    assert chat.input.toPlainText() == too_long
    qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
    assert chat.input.toPlainText() == too_long
    assert texts(chat) == []
    assert not chat.send_button.isEnabled()
    # Said next to the composer, not in the room list's status bar.
    assert errors == []
    assert chat.counter.isVisible()
    assert chat.counter.text() == "4,012 / 4,000"
    assert chat.counter.property("role") == "error"
    assert chat.limit_note.isVisible()
    assert chat.limit_note.text() == "Too long to send: remove 12 characters (a message can be at most 4,000)."
    screenshot(chat, "over-the-limit")

    # Shortened to just under: the counter is still there, quiet; Send is back.
    cursor = chat.input.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    for _ in range(400):
        cursor.deletePreviousChar()
    chat.input.setTextCursor(cursor)
    typed = chat.input.toPlainText()
    assert len(typed) == 3612
    assert chat.counter.text() == "3,612 / 4,000"
    assert chat.counter.property("role") == "muted"
    assert not chat.limit_note.isVisible()
    assert chat.send_button.isEnabled()
    screenshot(chat, "near-the-limit")

    # Short messages show no counter; exactly the limit is sent and only then cleared.
    chat.input.setPlainText("x" * (MESSAGE_MAX - 1))
    chat.input.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(chat.input, "y")
    assert chat.counter.text() == "4,000 / 4,000"
    assert chat.send_button.isEnabled()
    qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    assert chat.input.toPlainText() == ""
    assert not chat.counter.isVisible()
    qtbot.waitUntil(
        lambda: [(i.text, i.status) for i in items(chat)] == [("x" * 3999 + "y", Status.SENT)], timeout=WAIT
    )
    chat.input.setPlainText(typed)
    qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(texts(chat)) == 2 and texts(chat)[1] == typed, timeout=WAIT)
    assert errors == []


# -- point 4: text exactly as typed ---------------------------------------------------------------

THREE_LINES = "line one\nline two\nline three"
SPACES_AND_TAB = "a    b c\ttab"
LONG_URL = "https://example.com/" + "averyveryverylongpathsegment" * 6 + "?q=1"
MIXED = "שלום, מה נשמע?\nThe meeting is at 10:00\nمرحبا بكم في الغرفة"
CHINESE_EMOJI = "你好，世界！今天下午三点开会 😀🎉"


def test_bubbles_show_line_breaks_spaces_tabs_long_urls_and_right_to_left_text_live_and_in_history(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    log_in(qtbot, bob, server, unique_name("bob"))
    create_room(qtbot, alice, "as typed")
    a_chat = open_room(qtbot, alice, "as typed")
    b_chat = open_room(qtbot, bob, "as typed")
    say(qtbot, a_chat, "one line")
    # Shift+Enter between lines, as a person types them.
    a_chat.input.setFocus()
    for number, line in enumerate(THREE_LINES.split("\n")):
        if number:
            qtbot.keyClick(a_chat.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        qtbot.keyClicks(a_chat.input, line)
    qtbot.keyClick(a_chat.input, Qt.Key.Key_Return)
    for text in (SPACES_AND_TAB, LONG_URL, MIXED, CHINESE_EMOJI):
        a_chat.input.setPlainText(text)
        qtbot.keyClick(a_chat.input, Qt.Key.Key_Return)
    sent = ["one line", THREE_LINES, SPACES_AND_TAB, LONG_URL, MIXED, CHINESE_EMOJI]
    for window in (a_chat, b_chat):
        qtbot.waitUntil(lambda w=window: texts(w) == sent, timeout=WAIT)  # type: ignore[misc]
    qtbot.waitUntil(lambda: all(i.status is Status.SENT for i in items(a_chat)), timeout=WAIT)
    # History: a third window opened afterwards gets them from the server.
    carol = make_desktop()
    log_in(qtbot, carol, server, unique_name("carol"))
    c_chat = open_room(qtbot, carol, "as typed")
    qtbot.waitUntil(lambda: texts(c_chat) == sent, timeout=WAIT)

    for window in (a_chat, b_chat, c_chat):
        window.resize(760, 900)
        qtbot.waitUntil(lambda w=window: scrolled_to_bottom(w), timeout=WAIT)  # type: ignore[misc]
        QApplication.processEvents()
        view = window.view
        line_h = QFontMetricsF(view.font()).lineSpacing()
        # Three lines take two more lines' height than one (rows of the same author, after the first).
        one = view.visualRect(window.messages_model.index(row_of(window, SPACES_AND_TAB)))
        three = view.visualRect(window.messages_model.index(row_of(window, THREE_LINES)))
        assert three.height() - one.height() >= 2 * line_h - 1, (one, three)

        from gochat.desktop.chat.bubbletext import cursor_x, tab_stop  # new in this change

        delegate = delegate_of(window)
        laid = delegate.geometry(
            row_option(window, row_of(window, THREE_LINES)), window.messages_model.index(row_of(window, THREE_LINES))
        )
        assert laid.text is not None
        assert [p.text for p in laid.text.paragraphs] == ["line one", "line two", "line three"]
        assert [p.layout.lineCount() for p in laid.text.paragraphs] == [1, 1, 1]

        # The four spaces are four spaces wide, and the tab reaches the next tab stop.
        row = row_of(window, SPACES_AND_TAB)
        laid = delegate.geometry(row_option(window, row), window.messages_model.index(row))
        assert laid.text is not None
        line = laid.text.paragraphs[0].layout.lineAt(0)
        space = QFontMetricsF(view.font()).horizontalAdvance(" ")
        assert cursor_x(line, 5) - cursor_x(line, 1) == pytest.approx(4 * space, abs=0.5)
        stop = tab_stop(view.font())
        x_of_tab = cursor_x(line, SPACES_AND_TAB.index("tab"))
        assert x_of_tab > cursor_x(line, SPACES_AND_TAB.index("\t"))
        assert x_of_tab / stop == pytest.approx(round(x_of_tab / stop), abs=0.02)

        # The long URL wraps inside its bubble, which stays inside the row.
        row = row_of(window, LONG_URL)
        option = row_option(window, row)
        laid = delegate.geometry(option, window.messages_model.index(row))
        assert laid.text is not None
        assert laid.bubble is not None
        assert laid.text.paragraphs[0].layout.lineCount() >= 2
        assert option.rect.left() <= laid.bubble.left()
        assert laid.bubble.right() <= option.rect.right()
        assert [(link.start, link.end, link.url) for link in laid.text.links] == [(0, len(LONG_URL), LONG_URL)]

        # Hebrew and Arabic paragraphs run right to left, flush with the bubble's right edge;
        # the English line between them left to right, flush left.
        row = row_of(window, MIXED)
        laid = delegate.geometry(row_option(window, row), window.messages_model.index(row))
        assert laid.text is not None
        hebrew, english, arabic = laid.text.paragraphs
        assert (hebrew.right_to_left, english.right_to_left, arabic.right_to_left) == (True, False, True)
        for paragraph in (hebrew, arabic):
            rect = paragraph.layout.lineAt(0).naturalTextRect()
            assert abs(rect.right() - laid.text.width) <= 2, (rect, laid.text.width)
            # The first letter typed is the rightmost one.
            assert cursor_x(paragraph.layout.lineAt(0), 0) >= rect.right() - 1
        assert english.layout.lineAt(0).naturalTextRect().left() == 0
    screenshot(a_chat, "as-typed-mine")
    screenshot(b_chat, "as-typed-theirs")
    screenshot(c_chat, "as-typed-history")


# -- point 5: day separators and the full date on hover --------------------------------------------


@pytest.fixture
def three_day_room(sqlite_settings: Settings) -> Iterator[ServerThread]:
    """A server whose room has messages from three local days, written straight into its SQLite file
    (two days ago, yesterday up to 23:59, today from 00:01)."""
    seed_room(sqlite_settings.database_url, 2, password=PASSWORD)
    database = Database(sqlite_settings.database_url)
    today = date.today()
    moments = [
        (local(today - timedelta(days=2), 9, 15), "Two days ago, 09:15"),
        (local(today - timedelta(days=2), 18, 0), "Still two days ago"),
        (local(today - timedelta(days=1), 12, 30), "Yesterday lunch"),
        (local(today - timedelta(days=1), 23, 59), "Just before midnight"),
        (local(today, 0, 1), "Just after midnight"),
        (local(today, 0, 2), "Same day, same author"),
    ]
    with database.sessions.begin() as session:
        user_ids = [u.id for u in session.query(models.User).order_by(models.User.id)]
        room_id = session.query(models.Room).one().id
    table = models.Message.__table__
    assert isinstance(table, Table)
    with database.engine.begin() as connection:
        connection.execute(
            insert(table),
            [
                {
                    "user_id": user_ids[1],
                    "room_id": room_id,
                    "content": text,
                    "created_at": when.astimezone(UTC).replace(tzinfo=None),
                    "updated_at": when.astimezone(UTC).replace(tzinfo=None),
                }
                for when, text in moments
            ],
        )
    database.close()
    thread = ServerThread(sqlite_settings)
    thread.start()
    yield thread
    stop_server(thread)


def test_day_separators_before_each_local_day_today_yesterday_and_full_date_on_hover(
    qtbot: QtBot, make_desktop: MakeDesktop, three_day_room: ServerThread, screenshot: Shot
) -> None:
    desktop = make_desktop()
    log_in(qtbot, desktop, three_day_room, "user0", register=False)
    qtbot.waitUntil(lambda: len(desktop.rooms.model.rooms()) == 1, timeout=WAIT)
    chat = open_room(qtbot, desktop, desktop.rooms.model.rooms()[0].name)
    qtbot.waitUntil(lambda: len(texts(chat)) == 6, timeout=WAIT)
    chat.resize(700, 900)
    QApplication.processEvents()
    model = chat.messages_model
    today = date.today()

    # Every message tells its full date and time on hover.
    first = model.item(0)
    expected = QLocale().toString(QDate(today - timedelta(days=2)), QLocale.FormatType.LongFormat) + " 09:15:00"
    assert model.index(0).data(Qt.ItemDataRole.ToolTipRole) == expected
    assert first.text == "Two days ago, 09:15"

    # A separator above the first message of each day, and only there: those rows are taller by it.
    delegate = delegate_of(chat)
    labels = [delegate.day_label_at(model.index(row)) for row in range(model.rowCount())]
    two_days_ago = QLocale().toString(QDate(today - timedelta(days=2)), QLocale.FormatType.LongFormat)
    assert labels == [two_days_ago, None, "Yesterday", None, "Today", None]
    heights = [chat.view.visualRect(model.index(row)).height() for row in range(model.rowCount())]
    header = delegate.day_header_height(row_option(chat, 0), model.index(0))
    assert header > 0
    # Same author throughout: the name shows again after each separator, so those rows differ by
    # the separator and the name.
    assert heights[2] > heights[3]
    assert heights[4] > heights[5]
    screenshot(chat, "three-days")

    # Just after midnight the same rows read one day on: computed when painted, not when loaded.
    delegate.today = lambda: today + timedelta(days=1)
    labels = [delegate.day_label_at(model.index(row)) for row in range(model.rowCount())]
    day_before = QLocale().toString(QDate(today - timedelta(days=1)), QLocale.FormatType.LongFormat)
    assert labels == [two_days_ago, None, day_before, None, "Yesterday", None]
    chat.view.viewport().update()
    screenshot(chat, "three-days-after-midnight")


# -- point 7: selecting, copying, links, the context menu -----------------------------------------

PLAIN = "Selecting words from this bubble"
WITH_LINKS = "Docs: https://doc.qt.io/qt-6/ and www.example.com."


def char_point(window: ChatWindow, row: int, position: int) -> QPoint:
    """Where a character of a one-line message of mine is drawn (its left edge, mid-line)."""
    from gochat.desktop.chat.delegates import PADDING

    item = window.messages_model.item(row)
    bubble = delegate_of(window).geometry(row_option(window, row), window.messages_model.index(row)).bubble
    assert bubble is not None
    metrics = QFontMetricsF(window.view.font())
    x = bubble.left() + PADDING + metrics.horizontalAdvance(item.text[:position])
    return QPoint(round(x) + 1, bubble.top() + PADDING + round(metrics.height() / 2))


def test_select_part_of_a_bubble_copy_it_open_links_and_the_context_menu(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "copy me")
    chat = open_room(qtbot, alice, "copy me")
    for text in ("first", PLAIN, "<b>hi</b> stays as typed", WITH_LINKS):
        say(qtbot, chat, text)
    qtbot.waitUntil(lambda: len(texts(chat)) == 4 and all(i.status is Status.SENT for i in items(chat)), timeout=WAIT)
    chat.resize(900, 560)
    qtbot.waitUntil(lambda: scrolled_to_bottom(chat), timeout=WAIT)
    QApplication.processEvents()
    opened: list[QUrl] = []
    chat.view.open_url = opened.append  # type: ignore[attr-defined,unused-ignore]
    viewport = chat.view.viewport()
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("nothing yet")

    # Drag across "words" in the second message, then Ctrl+C.
    row = row_of(chat, PLAIN)
    start, end = PLAIN.index("words"), PLAIN.index("words") + len("words")
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=char_point(chat, row, start))
    qtbot.mouseMove(viewport, char_point(chat, row, start + 2))
    qtbot.mouseMove(viewport, char_point(chat, row, end))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=char_point(chat, row, end))
    qtbot.keyClick(chat.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == "words"
    screenshot(chat, "selection-copied")

    # Typing after reading goes to the composer.
    qtbot.keyClicks(chat.view, "ok")
    assert chat.input.toPlainText() == "ok"
    assert chat.input.hasFocus()

    # Clicking a link opens it (in the system browser: replaced here); "www." gets its scheme.
    links_row = row_of(chat, WITH_LINKS)
    at_link = char_point(chat, links_row, WITH_LINKS.index("doc.qt.io"))
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at_link)
    assert [url.toString() for url in opened] == ["https://doc.qt.io/qt-6/"]
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=char_point(chat, links_row, WITH_LINKS.index("example")))
    assert opened[-1].toString() == "http://www.example.com"
    # The text around a link is plain: clicking it opens nothing.
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=char_point(chat, links_row, 1))
    assert len(opened) == 2
    # HTML is the characters typed.
    html = delegate_of(chat).geometry(row_option(chat, 2), chat.messages_model.index(2))
    assert html.text is not None
    assert html.text.text == "<b>hi</b> stays as typed"
    assert html.text.links == []

    # Selecting across messages copies each one's selected text, a line each.
    first = row_of(chat, "first")
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=char_point(chat, first, 2))
    qtbot.mouseMove(viewport, char_point(chat, row, 4))
    qtbot.mouseMove(viewport, char_point(chat, row, 9))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=char_point(chat, row, 9))
    qtbot.keyClick(chat.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == "rst\nSelecting"

    # Double-click selects a word; the context menu copies the selection, the message, its link.
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=char_point(chat, row, PLAIN.index("bubble") + 2))
    assert chat.view.selected_text() == "bubble"
    menu = chat.view.context_menu(char_point(chat, row, PLAIN.index("bubble") + 2))
    assert menu is not None
    # Issue 13: the author's own message also offers Edit and Delete.
    assert [a.text() for a in menu.actions()] == ["Copy", "Copy text", "Edit", "Delete…"]
    menu.actions()[1].trigger()
    assert clipboard.text() == PLAIN
    menu.deleteLater()

    # A click ends the selection.
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=char_point(chat, links_row, 1))
    assert chat.view.selected_text() == ""
    menu = chat.view.context_menu(char_point(chat, links_row, WITH_LINKS.index("example")))
    assert menu is not None
    assert [a.text() for a in menu.actions()] == ["Copy text", "Open link", "Copy link", "Edit", "Delete…"]
    # Later features add their entries through menu_extensions.
    chat.view.menu_extensions.append(lambda more, item: more.addAction(f"Reply to {item.author.username}"))  # type: ignore[union-attr]
    menu.deleteLater()
    menu = chat.view.context_menu(char_point(chat, links_row, 2))
    assert menu is not None
    assert [a.text() for a in menu.actions()][-1].startswith("Reply to alice")
    menu.popup(chat.view.viewport().mapToGlobal(char_point(chat, links_row, 2)))
    qtbot.waitExposed(menu)
    menu_shot = screenshot(menu, "context-menu")
    # The menu over the window, as a person sees it.
    picture = chat.grab()
    painter = QPainter(picture)
    painter.drawPixmap(chat.mapFromGlobal(menu.pos()), menu.grab())
    painter.end()
    assert picture.save(str(menu_shot.parent / "context-menu-over-window.png"))
    [copy_link] = [a for a in menu.actions() if a.text() == "Copy link"]
    copy_link.trigger()
    assert clipboard.text() == "https://doc.qt.io/qt-6/"
    menu.close()
    menu.deleteLater()


def test_selection_in_one_bubble_is_painted_and_survives_older_rows_loading_above(
    qtbot: QtBot, screenshot: Shot
) -> None:
    today = date.today()
    messages = [wire(i, local(today, 8, i), f"message number {i}") for i in range(10, 20)]
    window = window_over(qtbot, messages)
    view = window.view
    view.select_text(5, 8, 14)
    assert view.selected_text() == "number"
    assert view.selection_in_row(5) == (8, 14)
    assert view.selection_in_row(4) is None
    # Older rows inserted above move the selection with its message.
    timeline = window.messages_model.timeline
    window.messages_model.apply(timeline.add_history([wire(i, local(today, 7, i), f"older {i}") for i in range(1, 4)]))
    assert view.selection_in_row(8) == (8, 14)
    assert view.selected_text() == "number"
    view.select_all_text()
    assert view.selected_text().splitlines()[0] == "older 1"
    screenshot(window, "all-selected")


# -- point 13: sizes, the member list, loading -----------------------------------------------------


def test_minimum_size_fits_bubbles_member_list_keeps_a_sensible_remembered_width_and_loading_shows(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, tmp_path: Path, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    log_in(qtbot, bob, server, unique_name("bob"))
    create_room(qtbot, alice, "sizes")
    a_chat = open_room(qtbot, alice, "sizes")
    for text in ("short", "a failing one", LONG_URL, "w" * 300, "word " * 80):
        say(qtbot, a_chat, text)
    qtbot.waitUntil(lambda: len(texts(a_chat)) == 5, timeout=WAIT)

    # Opening a room: "Loading messages…" and no member count until its state arrives.
    rooms = bob.rooms_window
    qtbot.waitUntil(lambda: "sizes" in rooms.visible_room_names(), timeout=WAIT)
    index = rooms.proxy.index(rooms.visible_room_names().index("sizes"), RoomListModel.NAME)
    room_id = index.data(RoomRole).id
    rect = rooms.table.visualRect(index)
    qtbot.mouseClick(rooms.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(rooms.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    b_chat = bob.chat_windows[room_id]
    assert b_chat.members_title.text() == "Online"
    assert b_chat.placeholder.isVisible()
    assert b_chat.placeholder.text() == "Loading messages…"
    screenshot(b_chat, "loading")
    qtbot.waitUntil(lambda: not b_chat.placeholder.isVisible(), timeout=WAIT)
    assert b_chat.members_title.text() == "Online — 2"
    qtbot.waitUntil(lambda: len(texts(b_chat)) == 5, timeout=WAIT)

    # A message of alice's that failed, with the long footer, for the narrow window.
    opened = alice.chat.opened(a_chat.room_id)
    assert opened is not None
    opened.entered = False
    say(qtbot, a_chat, "not sent, and a long footer")
    [pending] = opened.timeline.pending
    opened.messages.apply(opened.timeline.mark_failed(pending.client_msg_id or ""))
    opened.entered = True

    # At the smallest size every bubble (and its name) stays inside its row.
    for window in (a_chat, b_chat):
        assert window.minimumWidth() >= 400
        assert window.minimumHeight() >= 300
        window.resize(window.minimumSize())
        qtbot.waitUntil(lambda w=window: w.size() == w.minimumSize(), timeout=WAIT)  # type: ignore[misc]
        QApplication.processEvents()
        viewport_w = window.view.viewport().width()
        delegate = delegate_of(window)
        for row in range(window.messages_model.rowCount()):
            if window.messages_model.item(row).kind is not Kind.MESSAGE:
                continue
            laid = delegate.geometry(row_option(window, row), window.messages_model.index(row))
            assert laid.bubble is not None
            assert laid.bubble.left() >= 0
            assert laid.bubble.right() < viewport_w, (row, laid.bubble, viewport_w)
            assert laid.text is not None
            assert laid.text.width <= laid.bubble.width()
    screenshot(a_chat, "minimum-size-mine")
    screenshot(b_chat, "minimum-size-theirs")

    # Maximised (a big screen): the member list keeps a side column's width, the messages get the rest.
    b_chat.resize(1600, 1000)
    QApplication.processEvents()
    members_w = b_chat.splitter.sizes()[1]
    assert 160 <= members_w <= 260, b_chat.splitter.sizes()
    screenshot(b_chat, "maximised")

    # Dragging the splitter is remembered in the settings the window was given.
    settings = QSettings(str(tmp_path / "chat.ini"), QSettings.Format.IniFormat)
    window = window_over(qtbot, [wire(1, datetime.now(UTC), "hello")], settings)
    window.resize(900, 600)
    QApplication.processEvents()
    handle = window.splitter.handle(1)
    centre = handle.rect().center()
    qtbot.mousePress(handle, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(handle, centre - QPoint(60, 0))
    qtbot.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=centre - QPoint(60, 0))
    dragged = window.splitter.sizes()[1]
    assert dragged > 200
    window.close()
    again = window_over(qtbot, [wire(1, datetime.now(UTC), "hello")], settings)
    again.resize(900, 600)
    QApplication.processEvents()
    assert abs(again.splitter.sizes()[1] - dragged) <= 2, (again.splitter.sizes(), dragged)
    # In a small window the chosen width gives way to the messages (and comes back when it grows).
    again.resize(again.minimumSize())
    qtbot.waitUntil(lambda: again.size() == again.minimumSize(), timeout=WAIT)
    messages_w, members_w = again.splitter.sizes()
    assert members_w <= 0.4 * (messages_w + members_w) + 1
    assert messages_w >= 260
    screenshot(again, "minimum-size-after-widening-the-member-list")
    again.resize(900, 600)
    qtbot.waitUntil(lambda: abs(again.splitter.sizes()[1] - dragged) <= 2, timeout=WAIT)


# -- point 19: jump to the newest -----------------------------------------------------------------


async def _post(server: ServerThread, username: str, room_name: str, contents: list[str]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=server.url) as api:
        token = await login(api, username)
        rooms = (await api.get("/api/rooms", headers=auth(token))).json()
        room_id = next(r["id"] for r in rooms if r["name"] == room_name)
    async with chat_client(server.url, token) as client:
        await client.enter(room_id)
        for content in contents:
            await client.say(room_id, content)


def test_scrolled_up_new_messages_show_a_jump_to_newest_button_with_their_count(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    alice_name = unique_name("alice")
    alice, bob = make_desktop(), make_desktop()
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, unique_name("bob"))
    create_room(qtbot, alice, "busy")
    task = qloop.create_task(_post(server, alice_name, "busy", [f"earlier {i}" for i in range(30)]))
    qtbot.waitUntil(task.done, timeout=60000)
    task.result()
    chat = open_room(qtbot, bob, "busy")
    qtbot.waitUntil(lambda: len(texts(chat)) == 30, timeout=WAIT)
    chat.resize(640, 520)
    bar = chat.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and scrolled_to_bottom(chat), timeout=WAIT)

    # Reading further up while three arrive: the view stays put, the button counts them.
    bar.setValue(bar.maximum() // 3)
    kept = bar.value()
    task = qloop.create_task(_post(server, alice_name, "busy", ["new 1", "new 2", "new 3"]))
    qtbot.waitUntil(task.done, timeout=WAIT)
    task.result()
    qtbot.waitUntil(lambda: len(texts(chat)) == 33, timeout=WAIT)
    qtbot.waitUntil(lambda: chat.jump_button.isVisible() and chat.jump_button.text() == "↓ 3 new", timeout=WAIT)
    assert bar.value() == kept
    screenshot(chat, "jump-to-newest")

    # Clicking it goes to the newest and it goes away.
    qtbot.mouseClick(chat.jump_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: scrolled_to_bottom(chat) and not chat.jump_button.isVisible(), timeout=WAIT)
    model = chat.messages_model
    newest = chat.view.visualRect(model.index(model.rowCount() - 1))
    assert newest.bottom() <= chat.view.viewport().height()

    # At the bottom, new messages just arrive: no button.
    task = qloop.create_task(_post(server, alice_name, "busy", ["hello bob"]))
    qtbot.waitUntil(task.done, timeout=WAIT)
    task.result()
    qtbot.waitUntil(lambda: texts(chat)[-1] == "hello bob", timeout=WAIT)
    assert not chat.jump_button.isVisible()

    # Scrolled up again, one arrives; scrolling down by hand hides the button too.
    bar.setValue(bar.maximum() // 3)
    task = qloop.create_task(_post(server, alice_name, "busy", ["one more"]))
    qtbot.waitUntil(task.done, timeout=WAIT)
    task.result()
    qtbot.waitUntil(lambda: chat.jump_button.isVisible() and chat.jump_button.text() == "↓ 1 new", timeout=WAIT)
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: not chat.jump_button.isVisible(), timeout=WAIT)


def test_own_messages_and_presence_lines_do_not_count_as_new(qtbot: QtBot) -> None:
    today = date.today()
    window = window_over(qtbot, [wire(i, local(today, 8, i % 60), f"m {i}\nsecond line") for i in range(1, 40)])
    bar = window.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=WAIT)
    bar.setValue(0)
    timeline = window.messages_model.timeline
    window.messages_model.apply(timeline.add_system("amira left"))
    window.messages_model.apply(timeline.add_history([wire(50, datetime.now(UTC), "mine", author=ME)]))
    assert not window.jump_button.isVisible()
    window.messages_model.apply(timeline.add_history([wire(51, datetime.now(UTC), "theirs")]))
    assert window.jump_button.isVisible()
    assert window.jump_button.text() == "↓ 1 new"


def test_links_are_found_as_people_paste_them_and_everything_else_stays_text() -> None:
    from gochat.desktop.chat.links import find_links

    def found(text: str) -> list[tuple[str, str]]:
        return [(text[link.start : link.end], link.url) for link in find_links(text)]

    assert found("see https://example.com/a?b=1.") == [("https://example.com/a?b=1", "https://example.com/a?b=1")]
    assert found("(www.qt.io), or HTTP://X.ORG!") == [
        ("www.qt.io", "http://www.qt.io"),
        ("HTTP://X.ORG", "HTTP://X.ORG"),
    ]
    assert found("https://en.wikipedia.org/wiki/Qt_(software)") == [
        ("https://en.wikipedia.org/wiki/Qt_(software)", "https://en.wikipedia.org/wiki/Qt_(software)")
    ]
    assert found('<a href="https://evil.example">x</a>') == [("https://evil.example", "https://evil.example")]
    assert found("http:// alone, www. alone, xhttp://no, mailto:a@b.c, <b>hi</b>") == []
    assert found("链接：https://例子.测试/路径 😀") == [("https://例子.测试/路径", "https://例子.测试/路径")]


def test_a_long_or_right_to_left_room_name_neither_widens_the_window_nor_scrambles_its_title(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    long_name = "A room with a long name that goes on and on, sixty-four chars!!"[:64]
    create_room(qtbot, alice, long_name)
    chat = open_room(qtbot, alice, long_name)
    screen = chat.screen().availableGeometry()
    assert chat.frameGeometry().width() <= screen.width()
    assert chat.width() < 1000  # before: 1,598 px, the whole heading on one line
    assert chat.heading.toolTip() == long_name
    screenshot(chat, "long-name")
    rtl = "שלום 🎉 room"
    create_room(qtbot, alice, rtl)
    rtl_chat = open_room(qtbot, alice, rtl)
    # Isolated, the name keeps its own direction and " — gochat" stays at the end.
    assert rtl_chat.windowTitle() == f"\u2068{rtl}\u2069 — gochat"
    assert rtl_chat.heading.alignment() & Qt.AlignmentFlag.AlignLeft
    screenshot(rtl_chat, "right-to-left-name")


def test_a_link_no_browser_can_open_is_copied_and_said(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    """Before: nothing visible happened (a line on stderr only)."""
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "links")
    chat = open_room(qtbot, alice, "links")
    opened: list[str] = []
    chat.view.open_url = lambda url: opened.append(url.toString()) is not None  # no browser: False
    say(qtbot, chat, "see https://example.org/x")
    qtbot.waitUntil(lambda: all_sent(chat, 1), timeout=WAIT)
    menu = chat.view.context_menu(chat.view.visualRect(chat.messages_model.index(0)).center())
    assert menu is not None
    [open_link] = [action for action in menu.actions() if action.text() == "Open link"]
    open_link.trigger()
    assert opened == ["https://example.org/x"]
    assert QApplication.clipboard().text() == "https://example.org/x"
    assert chat.notice.isVisible()
    assert chat.notice.text() == "No web browser could open https://example.org/x; the link was copied instead."
    screenshot(chat, "no-browser")
