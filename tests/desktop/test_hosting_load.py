"""The hosting app keeps up with its own busy room (issue 10, point 15).

What made it fall behind was not the server in the process: each message in a room whose window
is not the active one changes that room's unread count, and the room list measured every cell of
four columns again for it (ResizeToContents), calling the model's data() from Python for every
room. The figures are in `make bench` (bench/hosting.py); these tests hold the mechanism.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from gochat.desktop.app import create_application
from gochat.desktop.rooms.model import Index, RoomListModel
from gochat.desktop.rooms.window import RoomListWindow
from gochat.desktop.state import UnreadCounts
from gochat.protocol import Room, User
from gochat.server.embedded import EmbeddedServer, free_port
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot, create_room, open_room, texts
from tests.desktop.test_hosting import open_host_dialog, start_hosting
from tests.helpers import auth, chat_client, register_and_login, unique_name

OTHER_ROOMS = 120
MESSAGES = 60


class MeasuringDelegate(QStyledItemDelegate):
    """The room table's own delegate, counting how often a cell is measured."""

    def __init__(self) -> None:
        super().__init__()
        self.measured = 0

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802 - Qt's name
        self.measured += 1
        return super().sizeHint(option, index)


async def _make_rooms(url: str, count: int) -> str:
    """Another person's rooms on the hosted server; returns their token."""
    async with httpx.AsyncClient(base_url=url) as api:
        token, _ = await register_and_login(api)
        for n in range(count):
            response = await api.post("/api/rooms", json={"name": f"side room {n}"}, headers=auth(token))
            assert response.status_code == 201, response.text
    return token


async def _flood(url: str, token: str, room_id: int, count: int) -> None:
    async with chat_client(url, token) as client:
        await client.send(1, {"roomId": room_id})
        await client.expect(6)
        for n in range(count):
            await client.send(2, {"roomId": room_id, "content": f"flood {n}", "clientMsgId": f"flood-{n}"})
        for _ in range(count):
            await client.expect(4)


@pytest.fixture
def unthrottled_hosting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hosted server without its message and room-creation limits: this test makes 120 rooms
    and floods a room at once, far beyond what people do (tests/abuse tests the limits)."""
    original = EmbeddedServer.for_desktop

    def for_desktop(**options: Any) -> EmbeddedServer:
        server = original(**options)
        server.settings = dataclasses.replace(server.settings, message_rate=0, room_create_per_minute=0)
        return server

    monkeypatch.setattr(EmbeddedServer, "for_desktop", for_desktop)


@pytest.mark.usefixtures("unthrottled_hosting")
def test_the_hosting_app_keeps_up_with_its_busy_room_whatever_the_room_list_holds(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    data_home: Path,
    qloop: asyncio.AbstractEventLoop,
    screenshot: Shot,
) -> None:
    host = make_desktop()
    dialog = open_host_dialog(qtbot, host, unique_name("host"))
    start_hosting(qtbot, host, dialog, free_port("127.0.0.1"), others=False)
    assert host.hosting.server is not None
    url = f"http://{host.hosting.server.address}"
    create_room(qtbot, host, "busy")
    task = qloop.create_task(_make_rooms(url, OTHER_ROOMS))
    qtbot.waitUntil(task.done, timeout=60000)
    sender = task.result()
    rooms = host.rooms.model
    qtbot.waitUntil(lambda: rooms.rowCount() == OTHER_ROOMS + 1, timeout=WAIT)
    chat = open_room(qtbot, host, "busy")
    # The host looks at the room list with the chat window open but minimised, so each message
    # raises the room's unread count there: the path that fell behind.
    chat.showMinimized()
    qtbot.waitUntil(lambda: not host.chat.is_visible(chat.room_id), timeout=WAIT)
    host.rooms_window.activateWindow()

    measuring = MeasuringDelegate()
    host.rooms_window.table.setItemDelegate(measuring)
    flood = qloop.create_task(_flood(url, sender, chat.room_id, MESSAGES))
    qtbot.waitUntil(lambda: len(texts(chat)) == MESSAGES, timeout=60000)
    qtbot.waitUntil(flood.done, timeout=WAIT)
    flood.result()
    qtbot.waitUntil(lambda: rooms.unread(chat.room_id) == MESSAGES, timeout=WAIT)
    qtbot.wait(50)  # what the room list does after the last change belongs to the flood too
    # Showing a changed count measures that cell, however many rooms are listed (before: every
    # cell of the four fitted columns, in every room, for each message).
    assert measuring.measured <= 2 * MESSAGES, f"{measuring.measured} cells measured for {MESSAGES} messages"
    row = rooms.row_of(chat.room_id)
    assert row is not None
    assert rooms.index(row, RoomListModel.UNREAD).data() == str(MESSAGES)
    screenshot(host.rooms_window, "room-list-while-flooded")


def _room(room_id: int, creator: str) -> Room:
    return Room(room_id, f"room {room_id}", User(room_id, creator), datetime(2026, 11, 30, 9, 15, tzinfo=UTC))


FITTED = (RoomListModel.CREATOR, RoomListModel.CREATED, RoomListModel.ONLINE, RoomListModel.UNREAD)


def test_room_list_columns_still_fit_their_contents(qtbot: QtBot, screenshot: Shot) -> None:
    from gochat.desktop.rooms.window import FITTED_CHARS

    create_application([])  # the app's style and fonts
    unread = UnreadCounts()
    model = RoomListModel(unread)
    window = RoomListWindow(model)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    table = window.table

    def fits(row: int, column: int) -> bool:
        index = window.proxy.index(row, column)
        return table.sizeHintForIndex(index).width() <= table.columnWidth(column)

    widest = FITTED_CHARS * table.fontMetrics().averageCharWidth()

    model.reset([_room(1, "bo"), _room(2, "李小龙 🎉")])
    qtbot.waitUntil(lambda: all(fits(row, column) for row in range(2) for column in FITTED), timeout=WAIT)
    # A room added later with a longer name widens its column; a very long one is elided, so the
    # room names keep their place.
    model.upsert(_room(3, "Maximilian von Bülow"))
    qtbot.waitUntil(lambda: fits(2, RoomListModel.CREATOR), timeout=WAIT)
    model.upsert(_room(4, "Maximilian Alexander Friedrich Wilhelm von Hohenzollern-Sigmaringen"))
    qtbot.waitUntil(lambda: table.columnWidth(RoomListModel.CREATOR) == widest, timeout=WAIT)
    assert table.columnWidth(RoomListModel.NAME) > widest
    # A count grown past the column's width widens it; the others stay fitted.
    unread.reset(1, last_read_id=0, unread=1_234_567)  # as many arrivals would leave it
    model.unread_changed(1)
    model.set_online(2, 987_654)
    qtbot.waitUntil(lambda: fits(0, RoomListModel.UNREAD) and fits(1, RoomListModel.ONLINE), timeout=WAIT)
    screenshot(window, "columns-fit")
