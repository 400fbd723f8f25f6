"""The desktop app driven like a person would, against a real server on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyleOptionViewItem, QWidget
from pytestqt.qtbot import QtBot

from gochat.desktop.app import DesktopApp
from gochat.desktop.chat.delegates import MessageDelegate
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.rooms.model import RoomListModel, RoomRole
from gochat.desktop.state import Item, Kind, Status
from gochat.protocol import NAME_LOOKS_TAKEN
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from tests.desktop.servers import stop_server
from tests.helpers import PASSWORD, unique_name

Shot = Callable[[QWidget, str], Path]
MakeDesktop = Callable[..., DesktopApp]
WAIT = 15000


def address(server: ServerThread) -> str:
    return server.url.removeprefix("http://")


def log_in(qtbot: QtBot, desktop: DesktopApp, server: ServerThread, name: str, *, register: bool = True) -> None:
    window = desktop.login_window
    window.server.setText(address(server))
    window.username.setText(name)
    window.password.setText(PASSWORD)
    qtbot.mouseClick(window.register_button if register else window.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)


def create_room(qtbot: QtBot, desktop: DesktopApp, name: str) -> None:
    rooms = desktop.rooms_window
    rooms.new_name.setText(name)
    qtbot.mouseClick(rooms.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: name in rooms.visible_room_names(), timeout=WAIT)


def open_room(qtbot: QtBot, desktop: DesktopApp, name: str) -> ChatWindow:
    rooms = desktop.rooms_window
    qtbot.waitUntil(lambda: name in rooms.visible_room_names(), timeout=WAIT)
    row = rooms.visible_room_names().index(name)
    index = rooms.proxy.index(row, RoomListModel.NAME)
    rect = rooms.table.visualRect(index)
    qtbot.mouseClick(rooms.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(rooms.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    room_id = index.data(RoomRole).id
    qtbot.waitUntil(lambda: room_id in desktop.chat_windows, timeout=WAIT)
    window = desktop.chat_windows[room_id]
    qtbot.waitUntil(lambda: entered(desktop, room_id), timeout=WAIT)
    return window


def entered(desktop: DesktopApp, room_id: int) -> bool:
    opened = desktop.chat.opened(room_id)
    return opened is not None and opened.entered


def all_sent(window: ChatWindow, count: int) -> bool:
    return len(texts(window)) == count and all(i.status is Status.SENT for i in items(window))


def say(qtbot: QtBot, window: ChatWindow, text: str) -> None:
    window.input.setFocus()
    if text.isascii():
        qtbot.keyClicks(window.input, text)
    else:
        # QTest can only synthesise ASCII keys; Chinese and emoji arrive as committed text,
        # the way an input method delivers them.
        window.input.insertPlainText(text)
    qtbot.keyClick(window.input, Qt.Key.Key_Return)


def items(window: ChatWindow) -> list[Item]:
    return window.messages_model.timeline.items()


def texts(window: ChatWindow) -> list[str]:
    return [i.text for i in items(window) if i.kind is Kind.MESSAGE]


def bubble_side(window: ChatWindow, row: int) -> str:
    """Which half of the view the row's bubble is painted in."""
    delegate = window.view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    option = QStyleOptionViewItem()
    window.view.initViewItemOption(option)
    option.rect = window.view.visualRect(window.messages_model.index(row))
    bubble = delegate.geometry(option, window.messages_model.index(row)).bubble
    assert bubble is not None
    width = window.view.viewport().width()
    at_left, at_right = bubble.left() <= 16, bubble.right() >= width - 16
    assert at_left != at_right, (bubble, width)
    return "right" if at_right else "left"


def test_two_people_register_create_open_and_chat(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    screenshot(alice.login_window, "login-empty")
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, bob_name)
    assert alice_name in alice.rooms_window.who.text()
    assert address(server) in alice.rooms_window.who.text()

    create_room(qtbot, alice, "闲聊 ☕ 茶馆")
    # Bob's list is live: the room alice made appears by itself.
    qtbot.waitUntil(lambda: "闲聊 ☕ 茶馆" in bob.rooms_window.visible_room_names(), timeout=WAIT)
    screenshot(bob.rooms_window, "room-list")

    a_chat = open_room(qtbot, alice, "闲聊 ☕ 茶馆")
    b_chat = open_room(qtbot, bob, "闲聊 ☕ 茶馆")
    qtbot.waitUntil(lambda: len(a_chat.members.model().members()) == 2, timeout=WAIT)  # type: ignore[attr-defined]
    say(qtbot, a_chat, "你好 bob! 😀 <b>hi</b>")
    qtbot.waitUntil(lambda: texts(b_chat) == ["你好 bob! 😀 <b>hi</b>"], timeout=WAIT)
    say(qtbot, b_chat, "Hi alice " + "loooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooong word")
    for window in (a_chat, b_chat):
        qtbot.waitUntil(lambda w=window: all_sent(w, 2), timeout=WAIT)  # type: ignore[misc]
        assert texts(window)[0] == "你好 bob! 😀 <b>hi</b>"
    messages_a = [i for i in items(a_chat) if i.kind is Kind.MESSAGE]
    assert [m.mine for m in messages_a] == [True, False]
    rows_a = [r for r in range(a_chat.messages_model.rowCount()) if a_chat.messages_model.item(r).kind is Kind.MESSAGE]
    assert [bubble_side(a_chat, r) for r in rows_a] == ["right", "left"]
    rows_b = [r for r in range(b_chat.messages_model.rowCount()) if b_chat.messages_model.item(r).kind is Kind.MESSAGE]
    assert [bubble_side(b_chat, r) for r in rows_b] == ["left", "right"]
    screenshot(a_chat, "chat-alice")
    screenshot(b_chat, "chat-bob")


def test_member_list_and_system_lines_follow_enter_and_leave(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    bob_name = unique_name("bob")
    log_in(qtbot, bob, server, bob_name)
    create_room(qtbot, alice, "members")
    a_chat = open_room(qtbot, alice, "members")
    members = a_chat.members.model()
    assert members.rowCount() == 1
    b_chat = open_room(qtbot, bob, "members")
    qtbot.waitUntil(lambda: members.rowCount() == 2, timeout=WAIT)
    qtbot.waitUntil(lambda: any(i.text == f"{bob_name} entered" for i in items(a_chat)), timeout=WAIT)
    assert a_chat.members_title.text() == "Online — 2"
    screenshot(a_chat, "bob-entered")
    b_chat.close()
    qtbot.waitUntil(lambda: members.rowCount() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: any(i.text == f"{bob_name} left" for i in items(a_chat)), timeout=WAIT)
    screenshot(a_chat, "bob-left")


def test_input_enter_sends_shift_enter_breaks_line_and_send_needs_text(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "typing")
    chat = open_room(qtbot, alice, "typing")
    assert not chat.send_button.isEnabled()
    qtbot.keyClicks(chat.input, "   ")
    assert not chat.send_button.isEnabled()
    qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    assert texts(chat) == []
    chat.input.clear()
    qtbot.keyClicks(chat.input, "line one")
    qtbot.keyClick(chat.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(chat.input, "line two")
    assert chat.send_button.isEnabled()
    qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: texts(chat) == ["line one\nline two"], timeout=WAIT)
    assert chat.input.toPlainText() == ""


async def _post_many(server: ServerThread, token_owner: str, room_name: str, count: int) -> None:
    from tests.helpers import auth, chat_client, login

    async with httpx.AsyncClient(base_url=server.url) as api:
        token = await login(api, token_owner)
        rooms = (await api.get("/api/rooms", headers=auth(token))).json()
        room_id = next(r["id"] for r in rooms if r["name"] == room_name)
    async with chat_client(server.url, token) as c:
        await c.enter(room_id)
        for i in range(count):
            await c.send(2, {"roomId": room_id, "content": f"history {i}"})
        for _ in range(count):
            await c.expect(4)


@pytest.mark.unthrottled_messages  # 130 messages of history posted at once
def test_history_shows_on_opening_and_older_pages_load_on_scroll_without_jumping(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    alice = make_desktop()
    alice_name = unique_name("alice")
    log_in(qtbot, alice, server, alice_name)
    create_room(qtbot, alice, "long history")
    task = qloop.create_task(_post_many(server, alice_name, "long history", 130))
    qtbot.waitUntil(task.done, timeout=60000)
    task.result()

    bob = make_desktop()
    log_in(qtbot, bob, server, unique_name("bob"))
    chat = open_room(qtbot, bob, "long history")
    qtbot.waitUntil(lambda: len(texts(chat)) == 50, timeout=WAIT)
    assert texts(chat) == [f"history {i}" for i in range(80, 130)]
    bar = chat.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=WAIT)
    screenshot(chat, "history-newest")

    # Scroll to the top: the next page loads, and the message that was on top stays in view.
    top_item = chat.messages_model.item(0)
    assert top_item.text == "history 80"
    bar.setValue(0)
    qtbot.waitUntil(lambda: len(texts(chat)) == 100, timeout=WAIT)
    qtbot.wait(100)
    new_row = chat.messages_model.timeline.items().index(top_item)
    rect = chat.view.visualRect(chat.messages_model.index(new_row))
    assert 0 <= rect.top() <= chat.view.viewport().height() // 2, rect
    assert texts(chat)[0] == "history 30"
    bar.setValue(0)
    qtbot.waitUntil(lambda: len(texts(chat)) == 130, timeout=WAIT)
    assert texts(chat) == [f"history {i}" for i in range(130)]
    screenshot(chat, "history-scrolled-back")


def test_background_room_counts_unread_and_notifies(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    alice_name = unique_name("alice")
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, unique_name("bob"))
    create_room(qtbot, alice, "quiet room")
    a_chat = open_room(qtbot, alice, "quiet room")
    b_chat = open_room(qtbot, bob, "quiet room")
    room_id = b_chat.room_id
    # Bob's window is open but not on screen.
    b_chat.showMinimized()
    qtbot.waitUntil(lambda: not bob.chat.is_visible(room_id), timeout=WAIT)
    say(qtbot, a_chat, "are you there?")
    qtbot.waitUntil(lambda: bob.rooms.model.unread(room_id) == 1, timeout=WAIT)
    row = bob.rooms.model.row_of(room_id)
    assert bob.rooms.model.index(row, RoomListModel.UNREAD).data() == "1"  # type: ignore[arg-type]
    assert [n.text for n in bob.notifier.shown] == ["are you there?"]
    assert alice_name in bob.notifier.shown[0].title
    screenshot(bob.rooms_window, "unread")
    # Looking at the room clears it; Alice's own message never counted for her.
    b_chat.showNormal()
    qtbot.waitUntil(lambda: bob.rooms.model.unread(room_id) == 0, timeout=WAIT)
    assert alice.rooms.model.unread(room_id) == 0
    assert alice.notifier.shown == []


def test_logout_returns_to_the_login_window(qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "bye")
    open_room(qtbot, alice, "bye")
    qtbot.mouseClick(alice.rooms_window.logout_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(alice.login_window.isVisible, timeout=WAIT)
    assert not alice.rooms_window.isVisible()
    assert alice.chat_windows == {}
    assert alice.login_window.password.text() == ""


def test_readable_errors_for_taken_name_wrong_password_and_unreachable_server(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    first = make_desktop()
    name = unique_name("taken")
    log_in(qtbot, first, server, name)

    desktop = make_desktop()
    window = desktop.login_window
    window.server.setText(address(server))
    window.username.setText(name.upper())
    window.password.setText(PASSWORD)
    qtbot.mouseClick(window.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.errors["username"].text() == "That username is taken.", timeout=WAIT)
    assert window.errors["username"].isVisible()
    screenshot(window, "error-name-taken")

    window.username.setText(name)
    window.password.setText("not the password")
    qtbot.keyClick(window.password, Qt.Key.Key_Return)  # Enter submits
    qtbot.waitUntil(lambda: window.errors["password"].text() == "Wrong username or password.", timeout=WAIT)
    assert not window.errors["username"].isVisible()
    screenshot(window, "error-wrong-password")

    window.server.setText("127.0.0.1:1")
    qtbot.mouseClick(window.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.errors["server"].text() == "Cannot reach 127.0.0.1:1.", timeout=WAIT)
    assert not window.busy.isVisible()
    assert window.login_button.isEnabled()
    screenshot(window, "error-unreachable")


def test_registering_a_look_alike_of_a_name_says_so_not_that_the_name_is_taken(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    """Before: every 409 at registration read "That name is taken." — for a name nobody has (a
    look-alike of one that exists), which leaves a person puzzled. The server's words say why."""
    first = make_desktop()
    name = unique_name("victim")
    log_in(qtbot, first, server, name)

    desktop = make_desktop()
    window = desktop.login_window
    window.server.setText(address(server))
    window.username.setText(name.replace("t", "\N{LATIN SMALL LETTER T WITH DOT BELOW}", 1))
    window.password.setText(PASSWORD)
    qtbot.mouseClick(window.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.errors["username"].isVisible(), timeout=WAIT)
    assert window.errors["username"].text().startswith("That username looks too much like an existing one")
    assert desktop.session.me is None
    screenshot(window, "error-name-looks-taken")


def test_creating_an_account_that_looks_like_another_says_so_not_wrong_password(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, make_desktop: MakeDesktop, server: ServerThread
) -> None:
    """The account offered on one's own server (register_and_login): a 409 for a name taken
    exactly means the account exists, so the password was wrong; a look-alike's 409 does not."""
    first = make_desktop()
    name = unique_name("victim")
    log_in(qtbot, first, server, name)
    desktop = make_desktop()
    shown: list[tuple[str, str]] = []
    desktop.account.loginFailed.connect(lambda field, message: shown.append((field, message)))

    look_alike = name.replace("t", "\N{LATIN SMALL LETTER T WITH DOT BELOW}", 1)
    for typed, said in ((look_alike, NAME_LOOKS_TAKEN), (name, "Wrong username or password.")):
        attempt = qloop.create_task(desktop.account.register_and_login(server.url, typed, "not the password"))
        qtbot.waitUntil(attempt.done, timeout=WAIT)
        assert attempt.result() is False
        assert shown[-1][1] == said
    assert desktop.session.me is None


def test_html_is_shown_as_the_characters_typed(qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "<i>markup</i>")
    chat = open_room(qtbot, alice, "<i>markup</i>")
    say(qtbot, chat, "<b>hi</b>")
    qtbot.waitUntil(lambda: texts(chat) == ["<b>hi</b>"], timeout=WAIT)
    assert chat.messages_model.index(0).data() == "<b>hi</b>"
    assert "<i>markup</i>" in chat.windowTitle()


def test_server_restart_mid_chat_loses_and_doubles_nothing(
    qtbot: QtBot, make_desktop: MakeDesktop, sqlite_settings: Settings, screenshot: Shot
) -> None:
    server = ServerThread(sqlite_settings)
    server.start()
    port = server.port
    try:
        alice, bob = make_desktop(), make_desktop()
        log_in(qtbot, alice, server, unique_name("alice"))
        log_in(qtbot, bob, server, unique_name("bob"))
        create_room(qtbot, alice, "resilient")
        a_chat = open_room(qtbot, alice, "resilient")
        b_chat = open_room(qtbot, bob, "resilient")
        say(qtbot, a_chat, "before")
        qtbot.waitUntil(lambda: texts(b_chat) == ["before"], timeout=WAIT)

        stop_server(server)
        qtbot.waitUntil(a_chat.banner.isVisible, timeout=WAIT)
        qtbot.waitUntil(bob.rooms_window.banner.isVisible, timeout=WAIT)
        say(qtbot, a_chat, "while down 1")
        say(qtbot, a_chat, "while down 2")
        # Shown at once, as pending.
        assert [(i.text, i.status) for i in items(a_chat)][-2:] == [
            ("while down 1", Status.PENDING),
            ("while down 2", Status.PENDING),
        ]
        screenshot(a_chat, "offline-pending")

        server = ServerThread(_same_port(sqlite_settings, port))
        server.start()
        expected = ["before", "while down 1", "while down 2"]
        for window in (a_chat, b_chat):
            qtbot.waitUntil(lambda w=window: texts(w) == expected, timeout=30000)  # type: ignore[misc]
        qtbot.waitUntil(lambda: all(i.status is Status.SENT for i in items(a_chat)), timeout=WAIT)
        assert not a_chat.banner.isVisible()
        say(qtbot, b_chat, "after")
        for window in (a_chat, b_chat):
            qtbot.waitUntil(lambda w=window: texts(w) == [*expected, "after"], timeout=WAIT)  # type: ignore[misc]
        screenshot(a_chat, "reconnected")
    finally:
        stop_server(server)


def test_a_room_list_that_cannot_be_refreshed_says_why(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    errors: list[str] = []
    alice.session.errorShown.connect(errors.append)
    stop_server(server)
    refreshing = qloop.create_task(alice.rooms.refresh())
    qtbot.waitUntil(refreshing.done, timeout=WAIT)
    refreshing.result()
    assert errors
    assert address(server) in errors[-1]


def _same_port(settings: Settings, port: int | None) -> Settings:
    assert port is not None
    return Settings(host=settings.host, port=port, database_url=settings.database_url)


def test_room_search_filters_as_you_type_and_new_room_validates(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    for name in ("Coffee", "Tea 茶", "Cocoa"):
        create_room(qtbot, alice, name)
    rooms = alice.rooms_window
    qtbot.keyClicks(rooms.search, "co")
    # Filtered at once from what the list holds; then the server's page for the search arrives in
    # the list's order (recent activity: rooms without messages newest first).
    assert sorted(rooms.visible_room_names()) == ["Cocoa", "Coffee"]
    qtbot.waitUntil(lambda: rooms.visible_room_names() == ["Cocoa", "Coffee"])
    qtbot.keyClicks(rooms.search, "f")
    assert rooms.visible_room_names() == ["Coffee"]
    screenshot(rooms, "search")
    # Cleared: the list holds the server's page for "co" until its page for no search comes (after
    # the pause), with every room.
    rooms.search.clear()
    qtbot.waitUntil(lambda: sorted(rooms.visible_room_names()) == ["Cocoa", "Coffee", "Tea 茶"], timeout=WAIT)

    rooms.new_name.setText("   ")
    qtbot.mouseClick(rooms.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(rooms.new_error.isVisible, timeout=WAIT)
    assert rooms.new_error.text() == "The room name cannot be empty or only spaces."
    rooms.new_name.setText("coffee")
    qtbot.keyClick(rooms.new_name, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: rooms.new_error.text() == "A room with that name exists already.", timeout=WAIT)
    screenshot(rooms, "new-room-error")

    # Enter on a selected row opens it.
    rooms.table.setFocus()
    rooms.table.selectRow(1)
    qtbot.keyClick(rooms.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(alice.chat_windows) == 1, timeout=WAIT)


def test_a_failed_message_is_marked_and_retried_by_a_click(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    from gochat.protocol import ErrorFrame

    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "flaky")
    chat = open_room(qtbot, alice, "flaky")
    opened = alice.chat.opened(chat.room_id)
    assert opened is not None
    # Typed while the connection is not in the room, then refused by the server.
    opened.entered = False
    say(qtbot, chat, "try me")
    [pending] = opened.timeline.pending
    error = ErrorFrame("unavailable", "The message could not be stored.", client_msg_id=pending.client_msg_id)
    alice.session._on_frame(error)
    assert opened.timeline.pending[0].status is Status.FAILED
    screenshot(chat, "failed-message")
    opened.entered = True
    row = len(opened.timeline) - 1
    rect = chat.view.visualRect(chat.messages_model.index(row))
    qtbot.mouseClick(chat.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: all_sent(chat, 1), timeout=WAIT)
    assert texts(chat) == ["try me"]


def test_dark_palette_stays_readable(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = app.palette()
    dark = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, "#1e2126"),
        (QPalette.ColorRole.WindowText, "#e6e6e6"),
        (QPalette.ColorRole.Base, "#16181c"),
        (QPalette.ColorRole.AlternateBase, "#1f2329"),
        (QPalette.ColorRole.Text, "#e6e6e6"),
        (QPalette.ColorRole.Button, "#2a2e35"),
        (QPalette.ColorRole.ButtonText, "#e6e6e6"),
        (QPalette.ColorRole.Mid, "#555a63"),
        (QPalette.ColorRole.PlaceholderText, "#9aa0a6"),
    ):
        dark.setColor(role, QColor(color))
    app.setPalette(dark)
    try:
        alice, bob = make_desktop(), make_desktop()
        log_in(qtbot, alice, server, unique_name("alice"))
        log_in(qtbot, bob, server, unique_name("bob"))
        create_room(qtbot, alice, "night 夜")
        a_chat = open_room(qtbot, alice, "night 夜")
        b_chat = open_room(qtbot, bob, "night 夜")
        say(qtbot, a_chat, "still readable?")
        say(qtbot, b_chat, "yes 🌙")
        qtbot.waitUntil(lambda: all_sent(a_chat, 2), timeout=WAIT)
        screenshot(a_chat, "dark-chat")
        screenshot(alice.rooms_window, "dark-rooms")
        screenshot(alice.login_window, "dark-login")
    finally:
        app.setPalette(original)


def test_the_app_opens_on_the_login_window(qtbot: QtBot, make_desktop: MakeDesktop, screenshot: Shot) -> None:
    """What `make run` (python -m gochat.desktop) shows first."""
    from PySide6.QtWidgets import QApplication

    desktop = make_desktop()
    assert desktop.login_window.isVisible()
    assert not desktop.rooms_window.isVisible()
    assert QApplication.windowIcon().isNull() is False
    assert desktop.login_window.login_button.isDefault()
    screenshot(desktop.login_window, "startup")
