"""The session hands typed server frames to the feature controllers: no server, no socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtWidgets import QApplication

from gochat.desktop.chat.controller import ChatController
from gochat.desktop.rooms.controller import RoomsController
from gochat.desktop.session import ChatSession
from gochat.protocol import MessagePosted, UnknownFrame, User, decode_server_frame

FRAMES = Path(__file__).resolve().parents[1] / "data" / "frames"
BOB = User(2, "bob")  # the samples' messages are alice's (user 1): bob is the one reading


def controllers() -> tuple[ChatSession, RoomsController, ChatController]:
    session = ChatSession()
    session.me = BOB
    rooms = RoomsController(session, session)
    return session, rooms, ChatController(session, rooms, session)


def test_every_sample_server_frame_reaches_the_controllers(qapp: QApplication) -> None:
    """The documented server frames, decoded once, update the room list and its counts."""
    session, rooms, _chat = controllers()
    for path in sorted(FRAMES.glob("*-server-*.json")):
        session._on_frame(decode_server_frame(path.read_text(encoding="utf-8")))
    room = rooms.room(3)
    assert room is not None  # ROOM_CREATED
    assert room.name == "闲聊 ☕"
    assert rooms.unread.last_read_id(3) == 41  # READ, last
    assert rooms.unread.get(3) == 0


def test_a_message_in_a_followed_room_with_no_window_is_counted_and_notified(qapp: QApplication) -> None:
    """MessagePosted for a room whose window is closed: one unread, one notification, once."""
    session, rooms, _chat = controllers()
    notified: list[tuple[int, int, str, str]] = []
    rooms.notify.connect(lambda *args: notified.append(args))
    rooms.unread.reset(3, last_read_id=40, unread=0, counted_upto=40)
    frame = decode_server_frame((FRAMES / "08-server-message.json").read_text(encoding="utf-8"))
    assert isinstance(frame, MessagePosted)
    session._on_frame(frame)
    session._on_frame(frame)  # delivered twice (watching and present): counted once
    assert rooms.unread.get(3) == 1
    # The sample mentions bob (issue 13): the notification says so.
    assert notified == [(3, 41, "alice mentioned you in room 3", "<b>hi</b> 你好 @bob 😀")]


def test_a_frame_of_a_newer_server_is_ignored(qapp: QApplication) -> None:
    """A msgType the desktop does not know arrives as UnknownFrame and changes nothing."""
    session, rooms, _chat = controllers()
    frame = decode_server_frame('{"msgType": 99, "data": {"roomId": 3}}')
    assert isinstance(frame, UnknownFrame)
    session._on_frame(frame)
    assert rooms.model.rooms() == []
    assert rooms.unread.rooms == {}


def test_a_shut_down_session_runs_nothing_more_even_without_a_loop(qapp: QApplication) -> None:
    # A window of an app that was shut down may still get a last event from Qt (a scroll to its
    # top asks for older messages) after the app's loop is gone: nothing runs, nothing raises.
    session = ChatSession()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(session.shutdown())
    finally:
        loop.close()
    ran: list[bool] = []

    async def work() -> None:
        ran.append(True)

    coroutine = work()
    assert session.spawn(coroutine) is None
    assert coroutine.cr_frame is None  # closed, so never "never awaited"
    assert ran == []
