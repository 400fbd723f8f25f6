"""Rooms the user follows with their window closed: pending messages that outlive the window
(and the app), unread counts from the server, the "new messages" line, notifications, and
presence lines that stay balanced across reconnects. Real server, real sockets, real windows."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gochat.desktop.app import DesktopApp
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.rooms.model import RoomListModel
from gochat.desktop.state import Kind, Status
from gochat.protocol import MsgType
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
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
from tests.helpers import PASSWORD, auth, chat_client, login, register_and_login, scaled, unique_name


class RestartableServer:
    """A real server that can be stopped and started again on the same port and database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.thread = ServerThread(settings)
        self.thread.start()
        self.settings = dataclasses.replace(settings, port=self.thread.port or 0)

    @property
    def url(self) -> str:
        return self.thread.url

    def stop(self) -> None:
        stop_server(self.thread)

    def start(self) -> None:
        self.thread = ServerThread(self.settings)
        self.thread.start()


@pytest.fixture
def restartable(sqlite_settings: Settings) -> Iterator[RestartableServer]:
    server = RestartableServer(sqlite_settings)
    try:
        yield server
    finally:
        server.stop()


def quit_app(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desktop: DesktopApp) -> None:
    """What quitting does after the last window closes: shut down, then the windows go."""
    quitting = qloop.create_task(desktop.shutdown())
    qtbot.waitUntil(quitting.done, timeout=WAIT)
    quitting.result()
    for window in [*desktop.chat_windows.values(), desktop.rooms_window]:
        window.close()


def unread_shown(desktop: DesktopApp, room_id: int) -> str:
    rooms = desktop.rooms.model
    row = rooms.row_of(room_id)
    assert row is not None
    return str(rooms.index(row, RoomListModel.UNREAD).data())


def close_chat(qtbot: QtBot, desktop: DesktopApp, window: ChatWindow) -> None:
    room_id = window.room_id
    window.close()
    qtbot.waitUntil(lambda: room_id not in desktop.chat_windows, timeout=WAIT)


async def _post(url: str, username: str, room_id: int, *contents: str) -> list[int]:
    async with httpx.AsyncClient(base_url=url) as api:
        token = await login(api, username)
    async with chat_client(url, token) as c:
        await c.send(MsgType.ENTER, {"roomId": room_id, "watch": True})
        await c.expect(MsgType.ROOM_STATE)
        return [(await c.say(room_id, content)).data["message"]["id"] for content in contents]


def post(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, url: str, username: str, room_id: int, *texts: str) -> None:
    task = qloop.create_task(_post(url, username, room_id, *texts))
    qtbot.waitUntil(task.done, timeout=WAIT)
    task.result()


def test_a_message_typed_offline_is_delivered_once_after_its_window_closed(
    qtbot: QtBot, make_desktop: MakeDesktop, restartable: RestartableServer, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    log_in(qtbot, alice, restartable.thread, unique_name("alice"))
    log_in(qtbot, bob, restartable.thread, unique_name("bob"))
    create_room(qtbot, alice, "outbox")
    a_chat = open_room(qtbot, alice, "outbox")
    b_chat = open_room(qtbot, bob, "outbox")
    room_id = a_chat.room_id

    restartable.stop()
    qtbot.waitUntil(a_chat.banner.isVisible, timeout=WAIT)
    say(qtbot, a_chat, "typed while offline")
    assert [(i.text, i.status) for i in items(a_chat)][-1] == ("typed while offline", Status.PENDING)
    close_chat(qtbot, alice, a_chat)
    assert [i.text for i in alice.chat.outbox.room(room_id)] == ["typed while offline"]

    restartable.start()
    qtbot.waitUntil(lambda: texts(b_chat) == ["typed while offline"], timeout=30000)
    qtbot.waitUntil(lambda: len(alice.chat.outbox) == 0, timeout=WAIT)
    # Reopened, the window shows it once, as sent.
    a_again = open_room(qtbot, alice, "outbox")
    qtbot.waitUntil(lambda: all_sent(a_again, 1), timeout=WAIT)
    assert texts(a_again) == ["typed while offline"]
    screenshot(a_again, "delivered-after-reopening")
    # And the server stored it once.
    assert texts(b_chat) == ["typed while offline"]


def test_unsent_messages_survive_quitting_the_app(
    qtbot: QtBot, make_desktop: MakeDesktop, restartable: RestartableServer, qloop: asyncio.AbstractEventLoop
) -> None:
    name = unique_name("alice")
    first_run = make_desktop("alice")
    log_in(qtbot, first_run, restartable.thread, name)
    create_room(qtbot, first_run, "patience")
    chat = open_room(qtbot, first_run, "patience")
    room_id = chat.room_id
    restartable.stop()
    qtbot.waitUntil(chat.banner.isVisible, timeout=WAIT)
    say(qtbot, chat, "written on the train")
    say(qtbot, chat, "and a second one")
    quit_app(qtbot, qloop, first_run)

    restartable.start()
    second_run = make_desktop("alice")  # the same settings and data: the app started again
    log_in(qtbot, second_run, restartable.thread, name, register=False)
    chat = open_room(qtbot, second_run, "patience")
    qtbot.waitUntil(lambda: all_sent(chat, 2), timeout=30000)
    assert texts(chat) == ["written on the train", "and a second one"]
    assert second_run.chat.outbox.rooms_with_messages() == []
    # Stored once each.
    history = qloop.create_task(_history(restartable.url, name, room_id))
    qtbot.waitUntil(history.done, timeout=WAIT)
    assert history.result() == ["written on the train", "and a second one"]


async def _history(url: str, username: str, room_id: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url) as api:
        token = await login(api, username)
        response = await api.get(f"/api/rooms/{room_id}/messages", headers=auth(token))
    return [m["content"] for m in response.json()]


def test_unread_counts_are_right_from_login_and_follow_closed_windows(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    restartable: RestartableServer,
    qloop: asyncio.AbstractEventLoop,
    screenshot: Shot,
) -> None:
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    alice = make_desktop()
    log_in(qtbot, alice, restartable.thread, alice_name)
    create_room(qtbot, alice, "news")
    create_room(qtbot, alice, "never entered")
    bob = make_desktop("bob")
    log_in(qtbot, bob, restartable.thread, bob_name)
    b_chat = open_room(qtbot, bob, "news")  # the room is bob's from now on
    room_id = b_chat.room_id
    other_id = next(r.id for r in bob.rooms.model.rooms() if r.name == "never entered")
    close_chat(qtbot, bob, b_chat)
    # Bob quits; five messages arrive while he is away.
    quitting = qloop.create_task(bob.account.logout())
    qtbot.waitUntil(quitting.done, timeout=WAIT)
    post(qtbot, qloop, restartable.url, alice_name, room_id, *(f"news {i}" for i in range(5)))
    post(qtbot, qloop, restartable.url, alice_name, other_id, "elsewhere")

    log_in(qtbot, bob, restartable.thread, bob_name, register=False)
    # Right from login, with no window opened this session.
    qtbot.waitUntil(lambda: unread_shown(bob, room_id) == "5", timeout=WAIT)
    assert unread_shown(bob, other_id) == "1"  # never entered: every message from others counts
    # Two more while its window stays closed: counted live (the app watches the room).
    post(qtbot, qloop, restartable.url, alice_name, room_id, "news 5", "news 6")
    qtbot.waitUntil(lambda: unread_shown(bob, room_id) == "7", timeout=WAIT)
    assert [n.text for n in bob.notifier.shown][-2:] == ["news 5", "news 6"]
    screenshot(bob.rooms_window, "seven-unread")

    # Opening it: a "new messages" line where he left off, and being on screen reads it.
    chat = open_room(qtbot, bob, "news")
    kinds = [(i.kind, i.text) for i in items(chat)]
    assert kinds[0] == (Kind.UNREAD_LINE, "New messages")
    assert [text for kind, text in kinds[1:]] == [f"news {i}" for i in range(7)]
    qtbot.waitUntil(lambda: unread_shown(bob, room_id) == "", timeout=WAIT)
    # What is new does not fit below the line: the window starts at the line, not the bottom.
    line = chat.messages_model.index(0)
    qtbot.waitUntil(lambda: chat.view.visualRect(line).top() >= 0, timeout=WAIT)
    assert chat.view.verticalScrollBar().value() < chat.view.verticalScrollBar().maximum()
    # What is below the view is counted on the jump button, as for messages that arrive.
    qtbot.waitUntil(chat.jump_button.isVisible, timeout=WAIT)
    assert chat.jump_button.text().startswith("↓ ")
    assert 0 < int(chat.jump_button.text().split()[1]) < 7
    screenshot(chat, "new-messages-line")
    # The server knows: another device, or the next start, sees nothing unread.
    read_on_server = qloop.create_task(_until_unread(restartable.url, bob_name, room_id, 0))
    qtbot.waitUntil(read_on_server.done, timeout=WAIT)
    read_on_server.result()

    # Open on screen but not the active window: still read (a count is made as the message is
    # shown, so it would be there by now).
    bob.rooms_window.activateWindow()
    post(qtbot, qloop, restartable.url, alice_name, room_id, "while the room list has focus")
    qtbot.waitUntil(lambda: "while the room list has focus" in texts(chat), timeout=WAIT)
    assert unread_shown(bob, room_id) == ""
    assert bob.rooms.unread.get(room_id) == 0


async def _until_unread(url: str, username: str, room_id: int, count: int) -> None:
    """Poll the server until it counts ``count`` unread messages for the user in the room."""
    async with httpx.AsyncClient(base_url=url) as api:
        token = await login(api, username)
        async with asyncio.timeout(scaled(WAIT / 1000)):
            while True:
                rooms = (await api.get("/api/rooms", headers=auth(token))).json()
                if next(room["unread"] for room in rooms if room["id"] == room_id) == count:
                    return
                await asyncio.sleep(0.05)


def test_reading_on_one_device_clears_the_count_on_the_other(
    qtbot: QtBot, make_desktop: MakeDesktop, restartable: RestartableServer, qloop: asyncio.AbstractEventLoop
) -> None:
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    alice = make_desktop()
    log_in(qtbot, alice, restartable.thread, alice_name)
    create_room(qtbot, alice, "two devices")
    laptop, phone = make_desktop(), make_desktop()
    log_in(qtbot, laptop, restartable.thread, bob_name)
    log_in(qtbot, phone, restartable.thread, bob_name, register=False)
    chat = open_room(qtbot, laptop, "two devices")
    room_id = chat.room_id
    close_chat(qtbot, laptop, chat)
    post(qtbot, qloop, restartable.url, alice_name, room_id, "one", "two")
    for device in (laptop, phone):
        qtbot.waitUntil(lambda d=device: unread_shown(d, room_id) == "2", timeout=WAIT)  # type: ignore[misc]
    open_room(qtbot, laptop, "two devices")
    qtbot.waitUntil(lambda: unread_shown(phone, room_id) == "", timeout=WAIT)


@pytest.mark.unthrottled_messages  # one client posts 62 messages at once to fill the room
def test_closed_rooms_notify_muted_ones_only_count_and_a_click_opens_the_message(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    restartable: RestartableServer,
    qloop: asyncio.AbstractEventLoop,
    screenshot: Shot,
) -> None:
    alice_name = unique_name("alice")
    alice, bob = make_desktop(), make_desktop()
    log_in(qtbot, alice, restartable.thread, alice_name)
    log_in(qtbot, bob, restartable.thread, unique_name("bob"))
    create_room(qtbot, alice, "loud")
    create_room(qtbot, alice, "hushed")
    loud = open_room(qtbot, bob, "loud")
    hushed = open_room(qtbot, bob, "hushed")
    loud_id, hushed_id = loud.room_id, hushed.room_id
    close_chat(qtbot, bob, loud)
    close_chat(qtbot, bob, hushed)
    # Muted from the room list's context menu.
    table = bob.rooms_window.table
    row = bob.rooms_window.visible_room_names().index("hushed")
    menu = table.context_menu(bob.rooms_window.proxy.index(row, RoomListModel.NAME))
    assert menu is not None
    [mute] = [action for action in menu.actions() if action.text() == "Mute notifications"]
    assert not mute.isChecked()
    mute.trigger()
    assert bob.rooms.muted == {hushed_id}

    post(qtbot, qloop, restartable.url, alice_name, hushed_id, "shh")
    post(qtbot, qloop, restartable.url, alice_name, loud_id, *(f"filler {i}" for i in range(60)), "look here")
    qtbot.waitUntil(lambda: unread_shown(bob, loud_id) == "61", timeout=WAIT)
    assert unread_shown(bob, hushed_id) == "🔕 1"  # counted, not announced
    assert "shh" not in [n.text for n in bob.notifier.shown]
    assert bob.notifier.shown[-1].text == "look here"
    assert alice_name in bob.notifier.shown[-1].title
    # No tray here (offscreen): the taskbar entry asks for attention instead.
    assert not bob.notifier.has_tray
    assert bob.notifier.alerted[-1] == bob.rooms_window.windowTitle()
    screenshot(bob.rooms_window, "muted-and-loud")

    # Clicking the notification of an older message opens the room at it.
    target = next(n for n in bob.notifier.shown if n.text == "filler 3")
    bob.notifier.activated.emit(target.room_id, target.message_id)  # what the tray's click says
    qtbot.waitUntil(lambda: loud_id in bob.chat_windows, timeout=WAIT)
    chat = bob.chat_windows[loud_id]
    qtbot.waitUntil(lambda: "filler 3" in texts(chat), timeout=WAIT)

    def target_in_view() -> bool:
        for row in range(chat.messages_model.rowCount()):
            if chat.messages_model.item(row).message_id == target.message_id:
                rect = chat.view.visualRect(chat.messages_model.index(row))
                return rect.isValid() and chat.view.viewport().rect().contains(rect.center())
        return False

    qtbot.waitUntil(target_in_view, timeout=WAIT)
    screenshot(chat, "opened-at-the-notified-message")


def test_a_reconnect_adds_no_presence_lines_and_who_stays_away_has_left(
    qtbot: QtBot, make_desktop: MakeDesktop, restartable: RestartableServer, qloop: asyncio.AbstractEventLoop
) -> None:
    """A server restart drops everyone for a moment: the app re-enters before bob does, and
    must not say "bob entered" again without a "left" (before: an extra "entered"), nor a
    "left"/"entered" pair for a blip; bob not coming back has left, said once the grace is over."""
    alice = make_desktop()
    log_in(qtbot, alice, restartable.thread, unique_name("alice"))
    create_room(qtbot, alice, "comings and goings")
    chat = open_room(qtbot, alice, "comings and goings")
    bob_name = unique_name("bob")
    bob_done = asyncio.Event()

    async def bob_visits(register: bool) -> None:
        """Bob, a plain client: enters, and stays until his connection ends or he is told."""
        async with httpx.AsyncClient(base_url=restartable.url) as api:
            if register:
                token, _ = await register_and_login(api, bob_name)
            else:
                token = await login(api, bob_name, PASSWORD)
        async with chat_client(restartable.url, token) as bob:
            await bob.enter(chat.room_id)
            closed = asyncio.ensure_future(bob.ws.wait_closed())
            told = asyncio.ensure_future(bob_done.wait())
            await asyncio.wait({closed, told}, return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            told.cancel()

    def restart_server() -> None:
        restartable.stop()
        qtbot.waitUntil(lambda: not entered(alice, chat), timeout=WAIT)
        restartable.start()
        qtbot.waitUntil(lambda: entered(alice, chat), timeout=30000)

    def members() -> list[str]:
        return [m.username for m in chat.members.model().members()]  # type: ignore[attr-defined]

    visit = qloop.create_task(bob_visits(register=True))
    qtbot.waitUntil(lambda: f"{bob_name} entered" in lines(chat), timeout=WAIT)
    restart_server()  # bob's connection ends with it; alice is back first
    qtbot.waitUntil(visit.done, timeout=WAIT)
    visit.result()
    assert bob_name not in members()
    again = qloop.create_task(bob_visits(register=False))
    qtbot.waitUntil(lambda: bob_name in members(), timeout=WAIT)
    assert lines(chat) == [f"{bob_name} entered"]  # back within the grace: never gone

    # This time bob stays away: once the grace is over, he has left.
    alice.chat.rejoin_grace = 0.3
    restart_server()
    qtbot.waitUntil(again.done, timeout=WAIT)
    again.result()
    qtbot.waitUntil(lambda: lines(chat) == [f"{bob_name} entered", f"{bob_name} left"], timeout=WAIT)
    assert bob_name not in members()


def lines(window: ChatWindow) -> list[str]:
    return [i.text for i in items(window) if i.kind is Kind.SYSTEM]


def entered(desktop: DesktopApp, window: ChatWindow) -> bool:
    opened = desktop.chat.opened(window.room_id)
    return opened is not None and opened.entered and desktop.session.link_state.value == "online"


def test_a_draft_left_in_a_closing_window_and_mutes_come_back_after_a_restart(
    qtbot: QtBot, make_desktop: MakeDesktop, restartable: RestartableServer, qloop: asyncio.AbstractEventLoop
) -> None:
    name = unique_name("alice")
    first = make_desktop("alice")
    log_in(qtbot, first, restartable.thread, name)
    create_room(qtbot, first, "drafts")
    chat = open_room(qtbot, first, "drafts")
    room_id = chat.room_id
    qtbot.keyClicks(chat.input, "half a thought")
    close_chat(qtbot, first, chat)
    again = open_room(qtbot, first, "drafts")
    assert again.input.toPlainText() == "half a thought"
    qtbot.keyClicks(again.input, ", finished")
    first.set_room_muted(room_id, True)
    quit_app(qtbot, qloop, first)

    second = make_desktop("alice")
    log_in(qtbot, second, restartable.thread, name, register=False)
    assert second.rooms.muted == {room_id}
    reopened = open_room(qtbot, second, "drafts")
    assert reopened.input.toPlainText() == "half a thought, finished"
    # Sent, the draft is gone for good.
    qtbot.keyClick(reopened.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: all_sent(reopened, 1), timeout=WAIT)
    close_chat(qtbot, second, reopened)
    assert open_room(qtbot, second, "drafts").input.toPlainText() == ""


def test_unsent_messages_never_go_to_another_server_at_the_same_address(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    restartable: RestartableServer,
    qloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
) -> None:
    """A message typed for room 1 of one server waits for that server: a different server (another
    database) started at the same address, with its own room 1, never gets it."""
    name = unique_name("dave")
    dave = make_desktop("dave")
    log_in(qtbot, dave, restartable.thread, name)
    create_room(qtbot, dave, "alpha, dave's")
    chat = open_room(qtbot, dave, "alpha, dave's")
    room_id = chat.room_id
    restartable.stop()
    qtbot.waitUntil(chat.banner.isVisible, timeout=WAIT)
    say(qtbot, chat, "secret for alpha only")

    # Another server, another database, the same port: its room 1 is someone else's.
    elsewhere = RestartableServer(
        dataclasses.replace(restartable.settings, database_url=f"sqlite:///{tmp_path}/elsewhere.sqlite3")
    )
    try:
        # Dave has an account there too, made first, so he has the same user id on both servers.
        mallory = qloop.create_task(_register_with_room(elsewhere.url, "mallory's lobby", first=name))
        qtbot.waitUntil(mallory.done, timeout=WAIT)
        lobby_id, mallory_token = mallory.result()
        assert lobby_id == room_id
        qtbot.waitUntil(dave.login_window.isVisible, timeout=30000)  # the old login is not known there
        log_in(qtbot, dave, elsewhere.thread, name, register=False)
        qtbot.waitUntil(lambda: dave.session.link_state.value == "online", timeout=WAIT)
        assert dave.session.me is not None
        assert dave.session.me.id == 1
        assert len(dave.chat.outbox) == 0  # what was typed for the other server stays with it
        assert lobby_id not in dave.chat_windows  # its rooms do not reopen here either
        stored = qloop.create_task(_contents(elsewhere.url, mallory_token, lobby_id))
        qtbot.waitUntil(stored.done, timeout=WAIT)
        assert stored.result() == []
        quit_app(qtbot, qloop, dave)
    finally:
        elsewhere.stop()

    # Back on its own server, it is delivered there, once.
    restartable.start()
    again = make_desktop("dave")
    log_in(qtbot, again, restartable.thread, name, register=False)
    qtbot.waitUntil(lambda: room_id in again.chat_windows, timeout=WAIT)  # reopened where it was
    reopened = again.chat_windows[room_id]
    qtbot.waitUntil(lambda: all_sent(reopened, 1), timeout=30000)
    assert texts(reopened) == ["secret for alpha only"]


async def _register_with_room(url: str, room_name: str, first: str) -> tuple[int, str]:
    async with httpx.AsyncClient(base_url=url) as api:
        await register_and_login(api, first)
        token, _ = await register_and_login(api)
        room = (await api.post("/api/rooms", json={"name": room_name}, headers=auth(token))).json()
    return int(room["id"]), token


async def _contents(url: str, token: str, room_id: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url) as api:
        response = await api.get(f"/api/rooms/{room_id}/messages", headers=auth(token))
    return [m["content"] for m in response.json()]


def test_the_room_list_online_count_stays_live_for_rooms_followed_while_closed(
    qtbot: QtBot, make_desktop: MakeDesktop, restartable: RestartableServer
) -> None:
    alice, bob = make_desktop(), make_desktop()
    log_in(qtbot, alice, restartable.thread, unique_name("alice"))
    log_in(qtbot, bob, restartable.thread, unique_name("bob"))
    create_room(qtbot, alice, "lobby")
    chat = open_room(qtbot, bob, "lobby")  # the room is bob's from now on
    room_id = chat.room_id
    close_chat(qtbot, bob, chat)

    def online_shown() -> str:
        rooms = bob.rooms.model
        row = rooms.row_of(room_id)
        assert row is not None
        return str(rooms.index(row, RoomListModel.ONLINE).data())

    qtbot.waitUntil(lambda: online_shown() == "0", timeout=WAIT)
    a_chat = open_room(qtbot, alice, "lobby")
    qtbot.waitUntil(lambda: online_shown() == "1", timeout=WAIT)
    close_chat(qtbot, alice, a_chat)
    qtbot.waitUntil(lambda: online_shown() == "0", timeout=WAIT)


def test_a_message_caught_up_on_in_an_open_window_stays_read_after_a_reconnect(
    qtbot: QtBot, make_desktop: MakeDesktop, restartable: RestartableServer, qloop: asyncio.AbstractEventLoop
) -> None:
    """Found in a trial against a cluster: a message that came while bob was disconnected was
    shown in his open window when he came back, yet the room list said 1 unread, for good. On a
    reconnect the app enters the open room (that reply brings the message; the window shows it
    and reads it) and then watches it like every followed room; the watch's reply carries the
    server's count from before that read, and it put the marker back, so the read reported to
    the server was the old one. Here the message is stored while bob's connection cannot hear of
    it (through a second server on the same database), then bob's server restarts."""
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    bob = make_desktop()
    log_in(qtbot, bob, restartable.thread, bob_name)
    create_room(qtbot, bob, "catching up")
    chat = open_room(qtbot, bob, "catching up")
    room_id = chat.room_id
    say(qtbot, chat, "before")
    qtbot.waitUntil(lambda: all_sent(chat, 1), timeout=WAIT)

    other = ServerThread(dataclasses.replace(restartable.settings, port=0))
    other.start()
    try:

        async def alice_writes() -> None:
            async with httpx.AsyncClient(base_url=other.url) as api:
                await register_and_login(api, alice_name)
            await _post(other.url, alice_name, room_id, "while bob could not hear")

        post_task = qloop.create_task(alice_writes())
        qtbot.waitUntil(post_task.done, timeout=WAIT)
        post_task.result()
    finally:
        stop_server(other)
    assert "while bob could not hear" not in texts(chat)

    restartable.stop()
    qtbot.waitUntil(chat.banner.isVisible, timeout=WAIT)
    restartable.start()
    qtbot.waitUntil(lambda: "while bob could not hear" in texts(chat), timeout=30000)
    # The window shows it: read, here and on the server (the next login, another device).
    read_on_server = qloop.create_task(_until_unread(restartable.url, bob_name, room_id, 0))
    qtbot.waitUntil(read_on_server.done, timeout=WAIT)
    read_on_server.result()
    assert unread_shown(bob, room_id) == ""
    assert bob.rooms.unread.get(room_id) == 0


@pytest.mark.unthrottled_messages  # one client posts 30 messages at once
def test_a_reconnect_leaves_a_reader_at_the_newest_messages_where_they_were(
    qtbot: QtBot, make_desktop: MakeDesktop, restartable: RestartableServer, qloop: asyncio.AbstractEventLoop
) -> None:
    """Found in a trial against a cluster: after an instance died and the app came back through
    the load balancer, every open window jumped up to its "New messages" line (made when the
    window opened, read long ago), away from the newest messages the reader was at. Starting at
    that line is for opening a window, not for entering the room again after a reconnect."""
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    alice = make_desktop()
    log_in(qtbot, alice, restartable.thread, alice_name)
    create_room(qtbot, alice, "long read")
    bob = make_desktop("bob")
    log_in(qtbot, bob, restartable.thread, bob_name)
    chat = open_room(qtbot, bob, "long read")
    room_id = chat.room_id
    close_chat(qtbot, bob, chat)
    post(qtbot, qloop, restartable.url, alice_name, room_id, *(f"news {i}" for i in range(30)))
    qtbot.waitUntil(lambda: unread_shown(bob, room_id) == "30", timeout=WAIT)

    chat = open_room(qtbot, bob, "long read")
    bar = chat.view.verticalScrollBar()
    qtbot.waitUntil(chat.jump_button.isVisible, timeout=WAIT)  # opened at the line, as it should
    assert bar.value() < bar.maximum()
    qtbot.mouseClick(chat.jump_button, Qt.MouseButton.LeftButton)  # read on, down to the newest
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() and not chat.jump_button.isVisible(), timeout=WAIT)

    restartable.stop()
    qtbot.waitUntil(chat.banner.isVisible, timeout=WAIT)
    restartable.start()
    qtbot.waitUntil(lambda: not chat.banner.isVisible(), timeout=30000)
    post(qtbot, qloop, restartable.url, alice_name, room_id, "after the reconnect")
    qtbot.waitUntil(lambda: "after the reconnect" in texts(chat), timeout=WAIT)
    # Still at the newest messages, the new one in view: nothing to jump back down to.
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=WAIT)
    assert not chat.jump_button.isVisible()
