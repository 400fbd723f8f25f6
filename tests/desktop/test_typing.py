"""Typing (9) in the desktop: the line under the messages ("bob is typing…") for the others in
the room, gone after the show time or as soon as the typer's message arrives; and what the
user's own composing sends (at most one TYPING every 3 s, only for text they typed). Real
server, real sockets, real windows."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gochat.desktop.app import DesktopApp
from gochat.desktop.chat.window import ChatWindow
from gochat.protocol import TYPING_SEND_SECONDS, StartTyping
from gochat.server.runner import ServerThread
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot, create_room, log_in, open_room, texts
from tests.helpers import unique_name


def three_in_a_room(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, room: str
) -> tuple[tuple[DesktopApp, DesktopApp, DesktopApp], tuple[ChatWindow, ChatWindow, ChatWindow], tuple[str, str]]:
    alice, bob, carol = make_desktop(), make_desktop(), make_desktop()
    alice_name, carol_name = unique_name("张三"), unique_name("carol")
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, unique_name("bob"))
    log_in(qtbot, carol, server, carol_name)
    create_room(qtbot, alice, room)
    windows = (open_room(qtbot, alice, room), open_room(qtbot, bob, room), open_room(qtbot, carol, room))
    qtbot.waitUntil(lambda: windows[1].members.model().rowCount() == 3, timeout=WAIT)
    return (alice, bob, carol), windows, (alice_name, carol_name)


def type_into(qtbot: QtBot, window: ChatWindow, text: str) -> None:
    """Keystrokes (ASCII), or committed text as an input method delivers Chinese."""
    window.input.setFocus()
    if text.isascii():
        qtbot.keyClicks(window.input, text)
    else:
        window.input.insertPlainText(text)


def test_the_others_see_who_is_typing_until_their_message_arrives(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    (_alice, bob, _carol), (a_chat, b_chat, c_chat), (alice_name, carol_name) = three_in_a_room(
        qtbot, make_desktop, server, "打字 typing"
    )
    assert b_chat.typing_line.text() == ""
    view_height, line_height = b_chat.view.height(), b_chat.typing_line.height()

    type_into(qtbot, a_chat, "你好，")
    qtbot.waitUntil(lambda: b_chat.typing_line.text() == f"{alice_name} is typing…", timeout=WAIT)
    type_into(qtbot, c_chat, "hello")
    both = {f"{alice_name} and {carol_name} are typing…", f"{carol_name} and {alice_name} are typing…"}
    qtbot.waitUntil(lambda: b_chat.typing_line.text() in both, timeout=WAIT)
    # The typers themselves see nobody typing: the server never sends their own back, and
    # each sees the other.
    assert a_chat.typing_line.text() == f"{carol_name} is typing…"
    # The line has its own fixed height: the messages above never jump.
    assert (b_chat.view.height(), b_chat.typing_line.height()) == (view_height, line_height)
    screenshot(b_chat, "two-typing")

    qtbot.keyClick(c_chat.input, Qt.Key.Key_Return)  # carol's message arrives: her name goes at once
    qtbot.waitUntil(lambda: texts(b_chat) == ["hello"], timeout=WAIT)
    assert b_chat.typing_line.text() == f"{alice_name} is typing…"
    screenshot(b_chat, "one-typing")
    qtbot.keyClick(a_chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: texts(b_chat) == ["hello", "你好，"], timeout=WAIT)
    assert b_chat.typing_line.text() == ""
    assert bob.chat.typing_names(b_chat.room_id) == []


def test_who_is_typing_goes_by_itself_after_the_show_time(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread
) -> None:
    alice, bob = make_desktop(), make_desktop()
    alice_name = unique_name("alice")
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, unique_name("bob"))
    create_room(qtbot, alice, "quiet typers")
    a_chat, b_chat = open_room(qtbot, alice, "quiet typers"), open_room(qtbot, bob, "quiet typers")
    qtbot.waitUntil(lambda: b_chat.members.model().rowCount() == 2, timeout=WAIT)
    bob.chat.typing_show_seconds = 0.4  # TYPING_SHOW_SECONDS (5 s), shortened for the test

    type_into(qtbot, a_chat, "thinking")
    qtbot.waitUntil(lambda: b_chat.typing_line.text() == f"{alice_name} is typing…", timeout=WAIT)
    # Alice stops typing without sending: the name goes on its own.
    qtbot.waitUntil(lambda: b_chat.typing_line.text() == "", timeout=WAIT)
    assert a_chat.input.toPlainText() == "thinking"
    assert texts(b_chat) == []


def spy_on_typing(desktop: DesktopApp) -> list[StartTyping]:
    """Every TYPING the app sends from now on (still sent to the server), counted the moment it
    is handed to the session."""
    sent: list[StartTyping] = []
    session = desktop.session
    original = session.send_frame

    def send_frame(frame: Any) -> Coroutine[Any, Any, bool]:
        if isinstance(frame, StartTyping):
            sent.append(frame)
        return original(frame)

    session.send_frame = send_frame  # type: ignore[method-assign]
    return sent


def test_composing_sends_typing_at_most_once_every_three_seconds_and_only_for_typed_text(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    room = f"throttle {uuid.uuid4().hex[:6]}"
    create_room(qtbot, alice, room)
    chat = open_room(qtbot, alice, room)
    now = [1000.0]
    alice.chat.clock = lambda: now[0]
    sent = spy_on_typing(alice)

    qtbot.keyClicks(chat.input, "hel")  # three keystrokes within the same moment: one TYPING
    assert [frame.room_id for frame in sent] == [chat.room_id]
    now[0] += TYPING_SEND_SECONDS - 0.1
    qtbot.keyClicks(chat.input, "lo")
    assert len(sent) == 1
    now[0] += 0.1  # 3 s after the first
    qtbot.keyClick(chat.input, Qt.Key.Key_Exclam)
    assert len(sent) == 2

    # Emptying the composer is not composing; nor is text the app puts back (a draft), nor
    # the composer cleared by sending.
    now[0] += 10
    chat.input.selectAll()
    qtbot.keyClick(chat.input, Qt.Key.Key_Backspace)
    assert chat.input.toPlainText() == ""
    chat.set_draft("a draft from last time")
    qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: texts(chat) == ["a draft from last time"], timeout=WAIT)
    assert len(sent) == 2
    # Spaces only are not a message being written.
    qtbot.keyClicks(chat.input, "   ")
    assert len(sent) == 2
    qtbot.keyClicks(chat.input, "x")
    assert len(sent) == 3
    assert {frame.room_id for frame in sent} == {chat.room_id}
