"""Message search in the desktop app, against a real server: Ctrl+F in a room, Ctrl+Shift+F
everywhere, the 2-character minimum, pages, errors, and a result opening its room at the message."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QInputMethodEvent, QPalette
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from gochat.desktop.api import ApiError
from gochat.desktop.app import DesktopApp, create_application
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.search.controller import SearchController
from gochat.desktop.search.model import SearchResultsModel
from gochat.desktop.search.results import ResultDelegate
from gochat.desktop.search.window import HINT, SearchWindow
from gochat.desktop.session import ChatSession
from gochat.protocol import SEARCH_PAGE, Message, MessageDeleted, MessageEdited, Room, RoomKind, User
from gochat.server.runner import ServerThread
from tests.desktop.servers import stop_server
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot, create_room, log_in, open_room, say, texts
from tests.helpers import auth, chat_client, login, unique_name

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
KEYPAD = Qt.KeyboardModifier.KeypadModifier  # an arrow of the keypad, NumLock off


async def _post(server: ServerThread, username: str, room_name: str, contents: list[str]) -> list[int]:
    """Post messages to a room as ``username`` (over its own connection); their ids, in order."""
    async with httpx.AsyncClient(base_url=server.url) as api:
        token = await login(api, username)
        rooms = (await api.get("/api/rooms", params={"limit": 500}, headers=auth(token))).json()
        room_id = next(room["id"] for room in rooms if room["name"] == room_name)
    ids: dict[str, int] = {}
    async with chat_client(server.url, token) as client:
        await client.enter(room_id)
        sent = [uuid.uuid4().hex for _ in contents]
        for client_msg_id, content in zip(sent, contents, strict=True):
            await client.send(2, {"roomId": room_id, "content": content, "clientMsgId": client_msg_id})
        for _ in contents:
            ack = await client.expect(4)
            ids[ack.data["clientMsgId"]] = ack.data["message"]["id"]
    return [ids[client_msg_id] for client_msg_id in sent]


def post(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, server: ServerThread, user: str, room: str, contents: list[str]
) -> list[int]:
    task = qloop.create_task(_post(server, user, room, contents))
    qtbot.waitUntil(task.done, timeout=60000)
    return task.result()


def activate(qtbot: QtBot, window: QWidget) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)


def type_text(qtbot: QtBot, window: SearchWindow, text: str) -> None:
    """Type into the query as a person does: ASCII as keys, anything else as an input method
    commits it (QTest can only synthesise ASCII keys)."""
    if text.isascii():
        qtbot.keyClicks(window.query, text)
        return
    event = QInputMethodEvent()
    event.setCommitString(text)
    QApplication.sendEvent(window.query, event)


def found(window: SearchWindow) -> list[str]:
    return [message.content for message in window.results_model.messages()]


def count_searches(desktop: DesktopApp) -> list[str]:
    """Every search the app sends, as it sends it."""
    sent: list[str] = []
    desktop.search.searching.connect(lambda: sent.append(desktop.search.query))
    return sent


def in_view(chat: ChatWindow, message_id: int) -> bool:
    model = chat.messages_model
    for row in range(model.rowCount()):
        if model.item(row).message_id == message_id:
            rect = chat.view.visualRect(model.index(row))
            return rect.top() >= 0 and rect.bottom() <= chat.view.viewport().height()
    return False


def test_a_direct_room_is_called_by_the_other_person_s_name(qtbot: QtBot) -> None:
    alice, bob = User(1, "alice"), User(2, "鲍勃")
    direct = Room(9, "鲍勃", alice, datetime.now(UTC), kind=RoomKind.DIRECT, members=(alice, bob))
    session = ChatSession()
    search = SearchController(session)
    session.me = alice
    assert search.room_title(direct) == "鲍勃"
    session.me = bob
    assert search.room_title(direct) == "alice"
    assert search.room_title(Room(3, "lobby", alice, datetime.now(UTC))) == "lobby"


@pytest.mark.unthrottled_messages  # the rooms' messages are posted at once
def test_ctrl_f_in_a_room_finds_chinese_inside_a_sentence_and_english_in_another_case_only_there(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    alice = make_desktop()
    name = unique_name("alice")
    log_in(qtbot, alice, server, name)
    create_room(qtbot, alice, "茶馆 ☕")
    create_room(qtbot, alice, "lobby")
    story = "A long story: " + "on and on " * 30 + "until the TEA arrived 🍵 " + "and more words " * 40
    tea_house = ["大家你好呀 😀 今天喝什么茶？", "The Tea is READY 🍵", "nothing to see", story]
    post(qtbot, qloop, server, name, "茶馆 ☕", tea_house)
    post(qtbot, qloop, server, name, "lobby", ["你好 from the lobby", "more tea please"])
    sent = count_searches(alice)

    chat = open_room(qtbot, alice, "茶馆 ☕")
    activate(qtbot, chat)
    qtbot.keyClick(chat.input, Qt.Key.Key_F, CTRL)
    search = alice.search_window
    qtbot.waitUntil(search.isVisible, timeout=WAIT)
    assert search.scope.currentText() == "In 茶馆 ☕"
    assert search.status.text() == HINT
    qtbot.waitUntil(search.query.hasFocus, timeout=WAIT)

    # A Chinese word inside a sentence, only in this room (the lobby has one too).
    type_text(qtbot, search, "你好")
    qtbot.waitUntil(lambda: found(search) == ["大家你好呀 😀 今天喝什么茶？"], timeout=WAIT)
    assert search.results_model.hit(0).spans == [(2, 4)]
    assert search.results_model.hit(0).room_name == "茶馆 ☕"
    qtbot.waitUntil(lambda: search.status.text().startswith("1 message found"), timeout=WAIT)
    screenshot(search, "room-chinese")

    # An English word in another case; typed quickly, it is one request, not one a keystroke.
    search.query.clear()
    asked = len(sent)
    type_text(qtbot, search, "tEA")
    qtbot.waitUntil(lambda: found(search) == [story, "The Tea is READY 🍵"], timeout=WAIT)
    assert sent[asked:] == ["tEA"]
    # A long message is shown from a little before its match, which is highlighted.
    long_hit = search.results_model.hit(0)
    assert long_hit.text.startswith("…")
    assert [long_hit.text[start:end] for start, end in long_hit.spans] == ["TEA"]
    assert search.results_model.hit(1).spans == [(4, 7)]
    screenshot(search, "room-english-other-case")

    # Nothing there: said so.
    search.query.clear()
    type_text(qtbot, search, "coffee")
    qtbot.waitUntil(lambda: search.status.text() == "No messages found.", timeout=WAIT)
    assert found(search) == []
    screenshot(search, "room-nothing-found")


@pytest.mark.unthrottled_messages
def test_ctrl_shift_f_searches_every_room_and_a_result_opens_its_room_at_the_message(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, bob_name)
    create_room(qtbot, alice, "茶馆 ☕")
    create_room(qtbot, alice, "lobby")
    post(qtbot, qloop, server, alice_name, "茶馆 ☕", ["大家你好呀 😀"])
    lobby_ids = post(qtbot, qloop, server, bob_name, "lobby", ["你好 from the lobby 👋", "unrelated"])
    sent = count_searches(alice)

    rooms = alice.rooms_window
    activate(qtbot, rooms)
    screenshot(rooms, "room-list-with-search-messages")
    qtbot.keyClick(rooms.table, Qt.Key.Key_F, CTRL_SHIFT)
    search = alice.search_window
    qtbot.waitUntil(search.isVisible, timeout=WAIT)
    assert search.scope.currentText() == "All rooms"

    # One character: explained at once, and nothing is sent.
    type_text(qtbot, search, "你")
    assert search.status.text() == HINT
    assert "at least 2 characters" in HINT
    screenshot(search, "one-character")
    type_text(qtbot, search, "好")
    qtbot.waitUntil(lambda: found(search) == ["你好 from the lobby 👋", "大家你好呀 😀"], timeout=WAIT)  # newest first
    assert sent == ["你好"]
    room_names = ["lobby", "茶馆 ☕"]
    qtbot.waitUntil(lambda: [search.results_model.hit(r).room_name for r in (0, 1)] == room_names, timeout=WAIT)
    assert search.results_model.hit(0).message.author.username == bob_name
    screenshot(search, "everywhere")

    # Enter on a result opens its room (not open yet) scrolled to the message, highlighted.
    # Down moves into the results, Up from the first back to the query; Enter opens one.
    qtbot.keyClick(search.query, Qt.Key.Key_Down)
    qtbot.waitUntil(search.results.hasFocus, timeout=WAIT)
    qtbot.keyClick(search.results, Qt.Key.Key_Up)
    qtbot.waitUntil(search.query.hasFocus, timeout=WAIT)
    qtbot.keyClick(search.query, Qt.Key.Key_Down)
    qtbot.waitUntil(search.results.hasFocus, timeout=WAIT)
    assert search.results.currentIndex().row() == 0
    qtbot.keyClick(search.results, Qt.Key.Key_Return)
    lobby = next(room for room in alice.rooms.model.rooms() if room.name == "lobby")
    qtbot.waitUntil(lambda: lobby.id in alice.chat_windows, timeout=WAIT)
    chat = alice.chat_windows[lobby.id]
    qtbot.waitUntil(lambda: chat.view.flashing == lobby_ids[0] and in_view(chat, lobby_ids[0]), timeout=WAIT)
    screenshot(chat, "opened-at-result")

    # Ctrl+Shift+F from a chat window searches everywhere too, the query kept.
    activate(qtbot, chat)
    qtbot.keyClick(chat.input, Qt.Key.Key_F, CTRL_SHIFT)
    qtbot.waitUntil(search.isActiveWindow, timeout=WAIT)
    assert search.scope.currentText() == "All rooms"
    assert search.query.text() == "你好"

    # Logging out takes the search away with the account: nothing of it is left for the next one.
    alice.session.spawn(alice.account.logout())
    qtbot.waitUntil(alice.login_window.isVisible, timeout=WAIT)
    assert not search.isVisible()
    assert search.query.text() == ""
    assert found(search) == []


@pytest.mark.unthrottled_messages
def test_results_come_in_pages_and_errors_are_shown_in_the_window(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    alice = make_desktop()
    name = unique_name("alice")
    log_in(qtbot, alice, server, name)
    create_room(qtbot, alice, "many")
    total = SEARCH_PAGE + 12
    ids = post(qtbot, qloop, server, name, "many", [f"found {i} 🐟🐟" for i in range(total)])
    sent = count_searches(alice)

    alice.open_search()
    search = alice.search_window
    qtbot.waitUntil(search.isVisible, timeout=WAIT)
    type_text(qtbot, search, "found")
    qtbot.waitUntil(lambda: len(found(search)) == SEARCH_PAGE, timeout=WAIT)
    qtbot.waitUntil(search.more_button.isVisible, timeout=WAIT)
    assert search.status.text().startswith(f"{SEARCH_PAGE}+ messages found")
    screenshot(search, "first-page")

    # The next page: before the last id shown, then no more.
    qtbot.mouseClick(search.more_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(found(search)) == total, timeout=WAIT)
    assert [m.id for m in search.results_model.messages()] == sorted(ids, reverse=True)
    qtbot.waitUntil(lambda: not search.more_button.isVisible(), timeout=WAIT)
    assert search.status.text().startswith(f"{total} messages found")
    assert sent == ["found"]

    # Scrolling to the end asks for the next page too.
    search.query.clear()
    type_text(qtbot, search, "🐟🐟")
    qtbot.waitUntil(lambda: len(found(search)) == SEARCH_PAGE, timeout=WAIT)
    bar = search.results.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=WAIT)
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: len(found(search)) == total, timeout=WAIT)

    # A room the user cannot read (or that is not there): the server's 404, said in words. The
    # query typed is searched again at once in the place chosen.
    search.search_in(999_999, "gone")
    qtbot.waitUntil(lambda: search.status.property("role") == "error", timeout=WAIT)
    assert "not yours to read" in search.status.text()
    assert found(search) == []
    screenshot(search, "not-found")

    # The server's own 422 (a client that did not check first) reads as words too.
    api = alice.session.api
    assert api is not None
    refused = qloop.create_task(api.search("x"))
    qtbot.waitUntil(refused.done, timeout=WAIT)
    error = refused.exception()
    assert isinstance(error, ApiError)
    assert error.status == 422
    assert "at least 2 characters" in error.message

    # Offline: the window says the server cannot be reached.
    search.search_in(None)
    qtbot.waitUntil(lambda: len(found(search)) == SEARCH_PAGE, timeout=WAIT)
    stop_server(server)
    qtbot.keyClick(search.query, Qt.Key.Key_Return)  # Enter searches again, at once
    qtbot.waitUntil(lambda: search.status.property("role") == "error", timeout=WAIT)
    assert "Cannot reach" in search.status.text()
    screenshot(search, "offline")


@pytest.mark.unthrottled_messages  # the room's messages are posted at once
def test_a_query_shortened_below_2_characters_clears_the_results_shown(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    """Found by a person using the app: shortened to 1 character, the query showed the hint and,
    under it, the previous query's results, as if they matched the new text."""
    alice = make_desktop()
    name = unique_name("alice")
    log_in(qtbot, alice, server, name)
    create_room(qtbot, alice, "tea room")
    rounds = SEARCH_PAGE // 2 + 1  # more than a page of tea
    post(qtbot, qloop, server, name, "tea room", ["tea for two", "green tea", "coffee"] * rounds)
    sent = count_searches(alice)
    alice.open_search()
    search = alice.search_window
    qtbot.waitUntil(search.isVisible, timeout=WAIT)
    type_text(qtbot, search, "tea")
    qtbot.waitUntil(lambda: len(found(search)) == SEARCH_PAGE, timeout=WAIT)
    qtbot.waitUntil(search.more_button.isVisible, timeout=WAIT)

    qtbot.keyClick(search.query, Qt.Key.Key_Backspace)
    qtbot.keyClick(search.query, Qt.Key.Key_Backspace)
    assert search.query.text() == "t"
    assert found(search) == []
    assert search.results_model.rowCount() == 0
    assert search.status.text() == HINT
    assert not search.more_button.isVisible()
    screenshot(search, "shortened-to-one-character")
    # Emptied too (the clear button, or Esc): nothing of the old search stays either.
    qtbot.keyClick(search.query, Qt.Key.Key_Backspace)
    assert found(search) == []
    # Typed on, it searches again.
    type_text(qtbot, search, "coffee")
    qtbot.waitUntil(lambda: found(search) == ["coffee"] * rounds, timeout=WAIT)
    assert sent == ["tea", "coffee"]


class HeldSearch:
    """A RestApi stand-in whose search answers when the test says."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[list[Message]] = asyncio.get_event_loop().create_future()
        self.answered = False

    async def search(self, query: str, *, room_id: int | None = None, before: int | None = None) -> list[Message]:
        page = await self.answer
        self.answered = True  # the rest of the page's handling runs in this same step
        return page


def test_a_page_on_its_way_for_a_search_cleared_is_dropped(qtbot: QtBot, qloop: asyncio.AbstractEventLoop) -> None:
    """The query shortened while its search is on its way: the page, arriving after, is not shown."""
    session = ChatSession()
    search = SearchController(session)
    api = HeldSearch()
    session.api = api  # type: ignore[assignment]
    loaded: list[int] = []
    search.pageLoaded.connect(lambda shown, _more: loaded.append(shown))
    assert search.search("tea")
    search.clear()
    api.answer.set_result([Message(7, 1, User(1, "alice"), "tea for two", datetime.now(UTC))])
    qtbot.waitUntil(lambda: api.answered, timeout=WAIT)
    assert search.model.rowCount() == 0
    assert loaded == []
    assert not search.has_more
    assert not search.load_more()  # nothing to page: no search now


@pytest.mark.unthrottled_messages  # 300 messages posted at once
def test_a_result_far_back_opens_the_room_scrolled_to_it_and_the_window_works_on(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    alice = make_desktop()
    name = unique_name("alice")
    log_in(qtbot, alice, server, name)
    create_room(qtbot, alice, "长谈 long talk")
    contents = [f"message {i}" for i in range(1, 301)]
    contents[4] = "message 5: the needle 针 🪡 we look for"
    ids = post(qtbot, qloop, server, name, "长谈 long talk", contents)
    needle = ids[4]

    # The room is open at its newest messages.
    chat = open_room(qtbot, alice, "长谈 long talk")
    qtbot.waitUntil(lambda: texts(chat)[-1] == "message 300", timeout=WAIT)
    assert needle not in {item.message_id for item in chat.messages_model.timeline.items()}

    activate(qtbot, chat)
    qtbot.keyClick(chat.input, Qt.Key.Key_F, CTRL)
    search = alice.search_window
    qtbot.waitUntil(search.isVisible, timeout=WAIT)
    type_text(qtbot, search, "针")
    type_text(qtbot, search, " 🪡")
    qtbot.waitUntil(lambda: [m.id for m in search.results_model.messages()] == [needle], timeout=WAIT)
    screenshot(search, "needle")

    # Double-click: the room's window comes forward with the history back to message 5 loaded
    # (without a gap), scrolled to it, highlighted.
    rect = search.results.visualRect(search.results_model.index(0))
    qtbot.mouseClick(search.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(search.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: chat.view.flashing == needle and in_view(chat, needle), timeout=WAIT)
    loaded = [item.message_id for item in chat.messages_model.timeline.items() if item.message_id is not None]
    assert loaded[0] <= needle
    assert loaded == [i for i in ids if i >= loaded[0]]  # no gap, no duplicate, up to the newest
    screenshot(chat, "far-back-highlighted")
    qtbot.waitUntil(lambda: chat.view.flashing is None, timeout=WAIT)  # the highlight fades away

    # The window works on: scrolling up loads what is older still, sending shows at the bottom.
    bar = chat.view.verticalScrollBar()
    bar.setValue(0)
    qtbot.waitUntil(lambda: chat.messages_model.timeline.oldest_id == ids[0], timeout=WAIT)
    say(qtbot, chat, "found it 🎉")
    qtbot.waitUntil(lambda: texts(chat)[-1] == "found it 🎉", timeout=WAIT)
    chat.jump_to_newest()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=WAIT)
    screenshot(chat, "working-on")


def search_window_with_results(qtbot: QtBot, contents: list[str]) -> SearchWindow:
    """The search window on its own, showing ``contents`` as results of "tea" (no server)."""
    create_application([])  # the app's style, as the user sees it
    model = SearchResultsModel()
    model.reset("tea")
    alice, now = User(1, "alice"), datetime.now(UTC)
    model.extend([Message(100 - i, 3, alice, content, now) for i, content in enumerate(contents)])
    window = SearchWindow(model)
    qtbot.addWidget(window)
    window.show()
    activate(qtbot, window)
    window.focus_query()
    return window


def test_the_keypad_s_arrows_move_between_query_and_results_as_the_arrows_do(qtbot: QtBot, screenshot: Shot) -> None:
    """With NumLock off the keypad's arrows come with KeypadModifier: they are the arrows (as in
    the room list's search box, the same field); an arrow with another modifier stays in the query."""
    window = search_window_with_results(qtbot, ["tea one", "tea two", "tea three"])
    qtbot.keyClick(window.query, Qt.Key.Key_Down, SHIFT)
    assert window.query.hasFocus()
    qtbot.keyClick(window.query, Qt.Key.Key_Down, KEYPAD)
    qtbot.waitUntil(window.results.hasFocus, timeout=WAIT)
    assert window.results.currentIndex().row() == 0
    qtbot.keyClick(window.results, Qt.Key.Key_Down, KEYPAD)
    assert window.results.currentIndex().row() == 1
    screenshot(window, "keypad-down-in-results")
    qtbot.keyClick(window.results, Qt.Key.Key_Up, KEYPAD)
    assert window.results.currentIndex().row() == 0
    qtbot.keyClick(window.results, Qt.Key.Key_Up, KEYPAD)  # up from the first: back to the query
    qtbot.waitUntil(window.query.hasFocus, timeout=WAIT)
    # The room list's keys, all four, arrows or keypad.
    for key in (Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
        for modifier in (Qt.KeyboardModifier.NoModifier, KEYPAD):
            window.focus_query()
            qtbot.keyClick(window.query, key, modifier)
            qtbot.waitUntil(window.results.hasFocus, timeout=WAIT)


def test_the_status_line_says_what_enter_does_where(qtbot: QtBot, screenshot: Shot) -> None:
    """Found by a person using the app: the status line said "Enter opens one" while Enter in
    the query searched again. It now says how a result opens, and that is what happens."""
    window = search_window_with_results(qtbot, ["tea one", "tea two"])
    window.query.setText("tea")
    window.show_results(2, more=False)
    status = window.status.text()
    assert status.startswith("2 messages found, newest first.")
    assert "Enter opens one" not in status
    assert "Double-click a result or press Enter on it to open it (Down moves into the list)." in status
    screenshot(window, "status-says-how-to-open")
    searched: list[tuple[str, int]] = []
    opened: list[tuple[int, int]] = []
    window.searchRequested.connect(lambda query, room_id: searched.append((query, room_id)))
    window.openRequested.connect(lambda room_id, message_id: opened.append((room_id, message_id)))
    # Enter in the query searches (again, at once); it opens nothing.
    qtbot.keyClick(window.query, Qt.Key.Key_Return)
    assert searched == [("tea", 0)]
    assert opened == []
    # Down, then Enter on a result, opens it; so does a double-click.
    qtbot.keyClick(window.query, Qt.Key.Key_Down)
    qtbot.waitUntil(window.results.hasFocus, timeout=WAIT)
    qtbot.keyClick(window.results, Qt.Key.Key_Return)
    assert opened == [(3, 100)]
    rect = window.results.visualRect(window.results_model.index(1))
    qtbot.mouseClick(window.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(window.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened == [(3, 100), (3, 99)]


def test_a_message_found_again_by_other_words_has_those_words_highlighted(qtbot: QtBot) -> None:
    """Found in a trial: "大家你好呀 hello" found by 你好, then by hello, still had 你好
    highlighted (the laid-out text was kept by message and text, not by what it highlights)."""
    message = Message(1, 3, User(1, "alice"), "大家你好呀 😀 hello everyone", datetime.now(UTC))
    model = SearchResultsModel()
    delegate = ResultDelegate()

    def highlighted(query: str) -> list[str]:
        model.reset(query)
        model.extend([message])
        hit = model.hit(0)
        layout, _height = delegate._layout(hit, QFont(), 400, QPalette())
        return [_qt_slice(hit.text, r.start, r.length) for r in layout.formats()]

    assert highlighted("你好") == ["你好"]
    assert highlighted("HELLO") == ["hello"]


def _qt_slice(text: str, start: int, length: int) -> str:
    """``text[start : start + length]`` as Qt counts positions: in UTF-16 units (an emoji is two)."""
    return text.encode("utf-16-le")[start * 2 : (start + length) * 2].decode("utf-16-le")


def test_words_after_an_emoji_are_highlighted_where_qt_draws_them(qtbot: QtBot) -> None:
    """Found in a trial on a real X display: "hi bob 👋 收到了" found by 收到 had " 收" highlighted,
    one place too early: the spans count characters, QTextLayout counts UTF-16 units, and the
    emoji before the words is two of those. A long message's cut (three lines, then "…") is
    counted in UTF-16 units too, and cuts between characters, never inside an emoji."""
    model = SearchResultsModel()
    delegate = ResultDelegate()

    def highlighted(content: str, query: str, width: int = 400) -> tuple[list[str], str]:
        model.reset(query)
        model.extend([Message(1, 3, User(1, "alice"), content, datetime.now(UTC))])
        hit = model.hit(0)
        layout, _height = delegate._layout(hit, QFont(), width, QPalette())
        return [_qt_slice(layout.text(), r.start, r.length) for r in layout.formats()], layout.text()

    assert highlighted("hi bob 👋 收到了", "收到")[0] == ["收到"]
    assert highlighted("😀😀😀 hello 🎉 hello", "HELLO")[0] == ["hello", "hello"]
    # Many emoji before the words, wrapped onto more than three lines: cut, the words still found.
    long = "🎉" * 120 + " 收到 " + "😀" * 300
    words, shown = highlighted(long, "收到", width=200)
    assert shown.endswith("…")
    assert "\ufffd" not in shown
    assert words == ["收到"]


def test_results_follow_edits_and_a_deleted_message_leaves_them(qtbot: QtBot) -> None:
    """Found in a trial: alice deleted the message her search had found, and the search window
    went on showing its text (MESSAGE_DELETED did not reach the results)."""
    session = ChatSession()
    search = SearchController(session)
    carol = User(3, "carol")
    now = datetime.now(UTC)
    search.model.reset("ancient")
    search.model.extend(
        [
            Message(9, 1, carol, "很久以前：老地方见 ancient marker 上海", now),
            Message(8, 1, carol, "an ancient one", now),
            Message(7, 1, carol, "ancient history", now),
        ]
    )
    session._on_frame(MessageEdited(Message(8, 1, carol, "an ANCIENT one, edited", now, edited_at=now)))
    session._on_frame(MessageDeleted(1, 9, carol, rev=20))
    assert found_texts(search) == ["an ANCIENT one, edited", "ancient history"]
    assert search.model.hit(0).spans == [(3, 10)]
    # Edited so that the words are gone: as a new search would not find it, it goes.
    session._on_frame(MessageEdited(Message(7, 1, carol, "modern history", now, edited_at=now)))
    assert found_texts(search) == ["an ANCIENT one, edited"]
    # A message not listed changes nothing.
    session._on_frame(MessageDeleted(1, 99, carol, rev=21))
    assert found_texts(search) == ["an ANCIENT one, edited"]


def found_texts(search: SearchController) -> list[str]:
    return [message.content for message in search.model.messages()]
