"""A chat window keeps a window of the newest rows once the reader is back at the bottom, and
what it let go loads again, page by page, when they scroll up — without gaps or duplicates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from gochat.desktop.app import DesktopApp
from gochat.desktop.chat.controller import HISTORY_PAGE, KEEP_ROWS
from gochat.desktop.chat.window import ChatWindow
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from tests.desktop.servers import stop_server
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot, log_in, open_room
from tests.helpers import PASSWORD
from tests.seed import seed_room

MESSAGES = 700  # written straight into the database (tests/seed.py)


@pytest.fixture
def long_room(sqlite_settings: Settings) -> Iterator[ServerThread]:
    seed_room(sqlite_settings.database_url, 2, password=PASSWORD, messages=MESSAGES)
    thread = ServerThread(sqlite_settings)
    thread.start()
    yield thread
    stop_server(thread)


def ids(window: ChatWindow) -> list[int]:
    return [i.message_id for i in window.messages_model.timeline.items() if i.message_id is not None]


def scroll_to_top(qtbot: QtBot, desktop: DesktopApp, window: ChatWindow) -> int:
    """Scroll to the top as a reader would; returns how many messages the page it brought added."""
    before = len(ids(window))
    bar = window.view.verticalScrollBar()
    with qtbot.waitSignal(desktop.chat.olderLoaded, timeout=WAIT):
        bar.setValue(0)
    added = len(ids(window)) - before
    if added:
        qtbot.waitUntil(lambda: bar.value() > 0, timeout=WAIT)  # the view keeps the old top in place
    return added


def newest_in_view(window: ChatWindow) -> bool:
    model = window.messages_model
    rect = window.view.visualRect(model.index(model.rowCount() - 1))
    bar = window.view.verticalScrollBar()
    return bar.value() == bar.maximum() and 0 < rect.bottom() <= window.view.viewport().height()


def test_back_at_the_newest_older_rows_go_and_scrolling_up_brings_them_back_without_gaps(
    qtbot: QtBot, make_desktop: MakeDesktop, long_room: ServerThread, screenshot: Shot
) -> None:
    desktop = make_desktop()
    log_in(qtbot, desktop, long_room, "user0", register=False)
    qtbot.waitUntil(lambda: len(desktop.rooms.model.rooms()) == 1, timeout=WAIT)
    chat = open_room(qtbot, desktop, desktop.rooms.model.rooms()[0].name)
    opened = desktop.chat.opened(chat.room_id)
    assert opened is not None
    qtbot.waitUntil(lambda: ids(chat) == list(range(MESSAGES - HISTORY_PAGE + 1, MESSAGES + 1)), timeout=WAIT)
    qtbot.waitUntil(lambda: newest_in_view(chat), timeout=WAIT)

    # Read far back: each time the view reaches the top, the page before it loads above.
    while len(ids(chat)) < 500:
        assert scroll_to_top(qtbot, desktop, chat) == HISTORY_PAGE
    assert ids(chat) == list(range(MESSAGES - 499, MESSAGES + 1))
    screenshot(chat, "read-far-back")

    # Back at the newest, the window lets the older rows go: only the newest KEEP_ROWS stay.
    bar = chat.view.verticalScrollBar()
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: chat.messages_model.rowCount() == KEEP_ROWS, timeout=WAIT)
    assert ids(chat) == list(range(MESSAGES - KEEP_ROWS + 1, MESSAGES + 1))
    assert len(opened.timeline) == KEEP_ROWS
    assert opened.timeline.has_older
    qtbot.waitUntil(lambda: newest_in_view(chat), timeout=WAIT)
    screenshot(chat, "back-at-newest")

    # Scrolling up again brings back what was let go, page by page, to the very first message.
    pages = 0
    while scroll_to_top(qtbot, desktop, chat):
        pages += 1
    assert pages == (MESSAGES - KEEP_ROWS) // HISTORY_PAGE
    assert not opened.timeline.has_older
    assert ids(chat) == list(range(1, MESSAGES + 1))  # no gap, no duplicate
    assert chat.messages_model.rowCount() == MESSAGES
    screenshot(chat, "oldest-again")
