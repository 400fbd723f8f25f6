"""The desktop's room list in pages (issue 12, "Paginated lists"): the server searches and sorts,
the list loads more as the user scrolls, what is typed in the search box is never lost, a room
created meanwhile appears when it matches, and the user's own rooms are followed (unread counts
from watching) whether the list shows them or not. Real server, a few hundred rooms."""

from __future__ import annotations

import asyncio

import httpx
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gochat.desktop.app import DesktopApp
from gochat.protocol import RoomSort
from gochat.server.runner import ServerThread
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot, log_in, open_room
from tests.desktop.test_following_rooms import close_chat, post
from tests.helpers import auth, register_and_login, unique_name
from tests.seed import seed_messages, seed_rooms

# 300 rooms: "room 000" to "room 299", every tenth a tea house ("茶馆 010 🍵") instead.
NAMES = [f"茶馆 {n:03} 🍵" if n % 10 == 0 else f"room {n:03}" for n in range(300)]


def run(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, coroutine: object) -> object:
    task = qloop.create_task(coroutine)  # type: ignore[arg-type]
    qtbot.waitUntil(task.done, timeout=WAIT)
    return task.result()


def seeded(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desktop: DesktopApp, server: ServerThread) -> list[int]:
    """The 300 rooms, made by the logged-in user; messages in three of them (the newest in
    "room 123"); the list reloaded as after a login."""
    me = desktop.session.me
    assert me is not None
    ids = seed_rooms(server.settings.database_url, me.id, NAMES)
    seed_messages(server.settings.database_url, me.id, [ids[5], ids[251], ids[123]])
    run(qtbot, qloop, desktop.rooms.refresh())
    return ids


def shown(desktop: DesktopApp) -> list[str]:
    return desktop.rooms_window.visible_room_names()


def test_the_list_comes_in_pages_as_the_user_scrolls_in_the_order_chosen(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    desktop = make_desktop()
    log_in(qtbot, desktop, server, unique_name("pager"))
    seeded(qtbot, qloop, desktop, server)
    window = desktop.rooms_window
    # Recent activity first (the default): the rooms with messages, newest first, then the rest
    # newest first; one page of 100.
    assert window.sort() == RoomSort.ACTIVITY
    assert shown(desktop)[:4] == ["room 123", "room 251", "room 005", "room 299"]
    assert len(shown(desktop)) == 100
    assert window.count.text() == "100 of 300"
    screenshot(window, "first-page")

    # Scrolling to the end loads the next page, and the next.
    for loaded in (200, 300):
        window.table.scrollToBottom()
        qtbot.waitUntil(lambda n=loaded: len(shown(desktop)) == n, timeout=WAIT)  # type: ignore[misc]
    assert window.count.text() == "300 rooms"
    assert len(set(shown(desktop))) == 300
    assert not desktop.rooms.has_more  # nothing more to ask for

    # By name: the server's order (ignoring case; the tea houses, in Chinese, after the Latin).
    window.set_sort(RoomSort.NAME)
    qtbot.waitUntil(lambda: shown(desktop)[:2] == ["room 001", "room 002"], timeout=WAIT)
    assert len(shown(desktop)) == 100
    assert window.count.text() == "100 of 300"
    # Remembered for the next start.
    assert desktop.settings.value("roomList/order") == RoomSort.NAME
    for loaded in (200, 300):
        window.table.scrollToBottom()
        qtbot.waitUntil(lambda n=loaded: len(shown(desktop)) == n, timeout=WAIT)  # type: ignore[misc]
    assert shown(desktop)[-30:] == [name for name in NAMES if name.startswith("茶馆")]
    screenshot(window, "by-name-scrolled-to-the-end")


def test_the_server_searches_and_what_was_typed_stays(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    desktop = make_desktop()
    log_in(qtbot, desktop, server, unique_name("finder"))
    seeded(qtbot, qloop, desktop, server)
    window = desktop.rooms_window
    window.set_sort(RoomSort.CREATED)
    qtbot.waitUntil(lambda: shown(desktop)[:1] == ["茶馆 000 🍵"], timeout=WAIT)
    assert len(shown(desktop)) == 100  # rooms 000 to 099

    # Typing filters what is loaded at once (007, 070 to 079), then the server's answer has
    # every match (107 and 207 too), however far down the whole list.
    window.search.setFocus()
    qtbot.keyClicks(window.search, "07")
    assert len(shown(desktop)) == 11
    qtbot.waitUntil(lambda: len(shown(desktop)) == 13, timeout=WAIT)
    assert shown(desktop)[-2:] == ["room 107", "room 207"]
    assert window.count.text() == "13 rooms"
    assert "茶馆 070 🍵" in shown(desktop)  # a tea house matches by its digits
    screenshot(window, "searched")

    # Typing on while the server is asked: the last answer is the one shown, and the box keeps
    # every character typed.
    qtbot.keyClicks(window.search, "5")
    qtbot.keyClicks(window.search, " ")
    qtbot.waitUntil(lambda: window.count.text() == "0 rooms", timeout=WAIT)
    assert window.search.text() == "075 "
    qtbot.keyClick(window.search, Qt.Key.Key_Backspace)
    qtbot.waitUntil(lambda: shown(desktop) == ["room 075"], timeout=WAIT)
    assert window.search.text() == "075"

    # Chinese and emoji, as an input method commits them, ignoring case where there is case.
    window.search.clear()
    window.search.insert("茶馆 2")
    qtbot.waitUntil(lambda: window.count.text() == "10 rooms", timeout=WAIT)
    assert shown(desktop) == [f"茶馆 {n} 🍵" for n in range(200, 300, 10)]
    window.search.clear()
    window.search.insert("ROOM 29")
    qtbot.waitUntil(lambda: window.count.text() == "9 rooms", timeout=WAIT)  # 290 is a tea house
    assert window.search.text() == "ROOM 29"


def test_a_new_room_appears_when_it_matches_and_the_users_rooms_stay_followed(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, make_desktop: MakeDesktop, server: ServerThread
) -> None:
    desktop = make_desktop()
    name = unique_name("follower")
    log_in(qtbot, desktop, server, name)
    ids = seeded(qtbot, qloop, desktop, server)
    window = desktop.rooms_window
    # A room of the user's (entered once: a read marker), far down the list.
    window.search.insert("room 299")
    chat = open_room(qtbot, desktop, "room 299")
    close_chat(qtbot, desktop, chat)
    window.search.clear()
    window.search.insert("room 1")
    qtbot.waitUntil(lambda: window.count.text() == "90 rooms", timeout=WAIT)
    assert "room 299" not in shown(desktop)

    async def someone_else(*rooms: str) -> list[int]:
        async with httpx.AsyncClient(base_url=server.url) as api:
            token, _ = await register_and_login(api, other)
            made = []
            for room in rooms:
                response = await api.post("/api/rooms", json={"name": room}, headers=auth(token))
                made.append(response.json()["id"])
            return made

    # Rooms made by someone else meanwhile: the one that matches the search is shown.
    other = unique_name("other")
    matching, hidden = run(qtbot, qloop, someone_else("room 1000 new 🆕", "lounge"))  # type: ignore[misc]
    qtbot.waitUntil(lambda: desktop.rooms.room(hidden) is not None, timeout=WAIT)  # known, to be opened
    assert "lounge" not in shown(desktop)
    assert "room 1000 new 🆕" in shown(desktop)  # its frame came first
    assert window.count.text() == "91 rooms"
    assert desktop.rooms.room(matching) is not None

    # A message in the user's room the list does not show: counted, by watching.
    post(qtbot, qloop, server.url, other, ids[299], "you missed this")
    qtbot.waitUntil(lambda: desktop.rooms.unread.get(ids[299]) == 1, timeout=WAIT)
