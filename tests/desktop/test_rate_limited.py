"""The desktop honours the server's rate limit by itself: a SEND answered rate_limited goes again
after retryAfter, in order, and nothing alarming is shown (a real server with a tiny limit)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from gochat.desktop.app import DesktopApp
from gochat.desktop.state import Status
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from tests.desktop.servers import stop_server
from tests.desktop.test_desktop import WAIT, all_sent, create_room, log_in, open_room, texts
from tests.helpers import unique_name


@pytest.fixture
def strict_server(sqlite_settings: Settings, qloop: asyncio.AbstractEventLoop) -> Iterator[ServerThread]:
    """Three messages at once, then two a second: far below what the test sends."""
    thread = ServerThread(dataclasses.replace(sqlite_settings, message_rate=2, message_burst=3))
    thread.start()
    yield thread
    stop_server(thread)


def test_messages_refused_for_speed_are_sent_again_after_the_wait_in_order_without_alarm(
    qtbot: QtBot, make_desktop: Callable[..., DesktopApp], strict_server: ServerThread
) -> None:
    alice = make_desktop()
    shown: list[str] = []
    alice.session.errorShown.connect(shown.append)
    log_in(qtbot, alice, strict_server, unique_name("alice"))
    create_room(qtbot, alice, "fast typist")
    chat = open_room(qtbot, alice, "fast typist")
    opened = alice.chat.opened(chat.room_id)
    assert opened is not None
    typed = [f"line {n}" for n in range(8)]
    for text in typed:  # faster than the limit: the server refuses most of them at first
        alice.chat.send(chat.room_id, text)
    failed: list[str] = []

    def every_one_sent() -> bool:
        failed.extend(i.text for i in opened.timeline.pending if i.status is Status.FAILED)
        return all_sent(chat, len(typed))

    qtbot.waitUntil(every_one_sent, timeout=WAIT)
    assert texts(chat) == typed  # stored (ids) in the order typed
    assert failed == []  # never shown as failed
    assert shown == []  # and no error message
