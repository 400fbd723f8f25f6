"""Windows and the keyboard (issue 10): the room list as the main window, shortcuts, Esc, windows
and open rooms restored on the next start (point 12); sorting and keeping the selection in the
room list (point 19); the search box's keys (point 17); windows that fit a small screen at 2x
(point 18)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from gochat.desktop.app import DesktopApp, create_application
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.rooms.model import RoomListModel, RoomRole
from gochat.desktop.rooms.window import RoomListWindow
from gochat.desktop.state import UnreadCounts
from gochat.protocol import Room, User
from gochat.server.embedded import free_port
from gochat.server.runner import ServerThread
from tests.desktop.conftest import SCREENSHOTS
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot, address, create_room, log_in, open_room, say, texts
from tests.desktop.test_hosting import join, open_host_dialog, start_hosting
from tests.helpers import PASSWORD, unique_name

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
KEYPAD = Qt.KeyboardModifier.KeypadModifier  # an arrow of the keypad, NumLock off


# -- the room list on its own: made-up rooms, no server needed ------------------------------


def made_up_rooms() -> tuple[list[Room], UnreadCounts]:
    """Four rooms whose every column sorts differently by meaning than by the text shown."""
    alice, bob, carl, zoe = User(1, "alice"), User(2, "Bob"), User(3, "carl"), User(4, "zoe")
    rooms = [
        Room(1, "banana", zoe, datetime(2025, 3, 1, 9, 0, tzinfo=UTC), online=9),
        Room(2, "Apple", bob, datetime(2024, 12, 31, 23, 0, tzinfo=UTC), online=10),
        Room(3, "Cherry 樱桃", alice, datetime(2026, 1, 15, 8, 30, tzinfo=UTC), online=2),
        Room(4, "apricot", carl, datetime(2025, 11, 2, 17, 45, tzinfo=UTC), online=0),
    ]
    unread = UnreadCounts()
    for room_id, count in ((2, 3), (3, 12), (4, 2)):
        unread.reset(room_id, last_read_id=0, unread=count)
    return rooms, unread


def room_list(qtbot: QtBot) -> RoomListWindow:
    create_application([])  # the app's style, as the user sees it
    rooms, unread = made_up_rooms()
    model = RoomListModel(unread)
    model.reset(rooms)
    window = RoomListWindow(model)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)
    return window


def shown(window: RoomListWindow) -> list[str]:
    return window.visible_room_names()


def selected(window: RoomListWindow) -> list[str]:
    return [index.data(RoomRole).name for index in window.table.selectionModel().selectedRows()]


def click_header(qtbot: QtBot, window: RoomListWindow, column: int) -> None:
    header = window.table.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))


def click_room(qtbot: QtBot, window: RoomListWindow, name: str) -> None:
    row = shown(window).index(name)
    rect = window.table.visualRect(window.proxy.index(row, RoomListModel.NAME))
    qtbot.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def deselect(qtbot: QtBot, window: RoomListWindow) -> None:
    """Ctrl+click on the selected room, as a person unselects it."""
    if not selected(window):
        return
    [name] = selected(window)
    row = shown(window).index(name)
    rect = window.table.visualRect(window.proxy.index(row, RoomListModel.NAME))
    qtbot.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, CTRL, rect.center())
    assert selected(window) == []


def test_the_room_list_sorts_by_each_column_by_what_it_means(qtbot: QtBot, screenshot: Shot) -> None:
    window = room_list(qtbot)
    created_order = ["banana", "Apple", "Cherry 樱桃", "apricot"]
    assert shown(window) == created_order
    expected = {
        # Ignoring case (by the text: Apple, Cherry, apricot, banana).
        RoomListModel.NAME: ["Apple", "apricot", "banana", "Cherry 樱桃"],
        RoomListModel.CREATOR: ["Cherry 樱桃", "Apple", "apricot", "banana"],  # alice, Bob, carl, zoe
        # As dates: Dec 2024, Mar 2025, Nov 2025, Jan 2026.
        RoomListModel.CREATED: ["Apple", "banana", "apricot", "Cherry 樱桃"],
        # As numbers, 0 2 9 10 (by the text "10" would come before "2").
        RoomListModel.ONLINE: ["apricot", "Cherry 樱桃", "banana", "Apple"],
        # 0 (shown blank) 2 3 12.
        RoomListModel.UNREAD: ["banana", "apricot", "Apple", "Cherry 樱桃"],
    }
    for column, ascending in expected.items():
        click_header(qtbot, window, column)
        assert shown(window) == ascending, RoomListModel.HEADERS[column]
        click_header(qtbot, window, column)
        assert shown(window) == ascending[::-1], RoomListModel.HEADERS[column]
        if column == RoomListModel.ONLINE:
            screenshot(window, "sorted-by-online-descending")
        # A third click goes back to the order the rooms were created in.
        click_header(qtbot, window, column)
        assert shown(window) == created_order, RoomListModel.HEADERS[column]

    # A sorted list stays sorted as counts change.
    click_header(qtbot, window, RoomListModel.UNREAD)
    window.rooms._unread.arrived(1, 101, seen=False, mine=False)  # banana: 0 -> 1
    window.rooms.unread_changed(1)
    assert shown(window) == ["banana", "apricot", "Apple", "Cherry 樱桃"]
    for message_id in range(102, 105):
        window.rooms._unread.arrived(1, message_id, seen=False, mine=False)  # banana: 4
    window.rooms.unread_changed(1)
    assert shown(window) == ["apricot", "Apple", "banana", "Cherry 樱桃"]
    screenshot(window, "sorted-by-unread")


def test_clearing_the_search_keeps_the_selected_room(qtbot: QtBot, screenshot: Shot) -> None:
    window = room_list(qtbot)
    # Picked in the full list, hidden by a search, back when the search is cleared.
    click_room(qtbot, window, "Cherry 樱桃")
    assert selected(window) == ["Cherry 樱桃"]
    window.search.setFocus()
    qtbot.keyClicks(window.search, "ap")
    assert shown(window) == ["Apple", "apricot"]
    assert selected(window) == []
    window.search.clear()
    assert shown(window) == ["banana", "Apple", "Cherry 樱桃", "apricot"]
    assert selected(window) == ["Cherry 樱桃"]

    # Picked while searching, still selected when the search is cleared (by its clear button).
    window.search.setFocus()
    qtbot.keyClicks(window.search, "ap")
    click_room(qtbot, window, "apricot")
    window.search.setFocus()
    clear_button = next(
        b for b in window.search.findChildren(QWidget) if b.isVisible() and b.metaObject().className() != "QWidget"
    )
    qtbot.mouseClick(clear_button, Qt.MouseButton.LeftButton)
    assert window.search.text() == ""
    assert selected(window) == ["apricot"]
    # ...and scrolled to: its row is inside the view.
    row = shown(window).index("apricot")
    assert window.table.viewport().rect().intersects(window.table.visualRect(window.proxy.index(row, 0)))

    # The list refreshing (after a reconnect) keeps it too.
    rooms, _unread = made_up_rooms()
    window.rooms.reset(rooms)
    assert selected(window) == ["apricot"]
    screenshot(window, "selection-kept")


def test_the_search_box_keys_move_into_the_list_and_enter_opens(qtbot: QtBot, screenshot: Shot) -> None:
    window = room_list(qtbot)
    opened: list[int] = []
    window.openRequested.connect(opened.append)
    window.search.setFocus()
    qtbot.keyClicks(window.search, "ap")
    qtbot.keyClick(window.search, Qt.Key.Key_Down)
    # Into the list, on the first room shown.
    assert window.table.hasFocus()
    assert selected(window) == ["Apple"]
    screenshot(window, "down-from-search")
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    assert selected(window) == ["apricot"]
    # Back in the search box, Enter opens the selected room.
    window.search.setFocus()
    qtbot.keyClick(window.search, Qt.Key.Key_Return)
    assert opened == [4]

    # Page Down and Up work the same; a room still selected and shown is kept.
    for key in (Qt.Key.Key_PageDown, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
        window.search.setFocus()
        qtbot.keyClick(window.search, key)
        assert window.table.hasFocus(), key
        assert selected(window) == ["apricot"], key

    # With none selected: the only room shown opens at Enter; with several, Enter selects the
    # first in the list (the next Enter opens it).
    window.search.clear()
    deselect(qtbot, window)
    window.search.setFocus()
    qtbot.keyClicks(window.search, "cherry")
    qtbot.keyClick(window.search, Qt.Key.Key_Return)
    assert opened == [4, 3]
    window.search.clear()
    deselect(qtbot, window)
    window.search.setFocus()
    qtbot.keyClicks(window.search, "a")
    qtbot.keyClick(window.search, Qt.Key.Key_Return)
    assert selected(window) == ["banana"]
    assert window.table.hasFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Return)
    assert opened == [4, 3, 1]

    # Nothing matches: the keys leave the focus where it is.
    window.search.setFocus()
    window.search.setText("no such room")
    qtbot.keyClick(window.search, Qt.Key.Key_Down)
    assert window.search.hasFocus()
    # Esc clears the search; Ctrl+F (in the app) comes back to it.
    qtbot.keyClick(window.search, Qt.Key.Key_Escape)
    assert window.search.text() == ""


def test_the_keypad_s_arrows_in_the_search_box_are_the_arrows(qtbot: QtBot, screenshot: Shot) -> None:
    """With NumLock off the keypad's arrows come with KeypadModifier: they move into the list as
    the arrows do; an arrow with another modifier (Shift selects text) stays in the box."""
    window = room_list(qtbot)
    window.search.setFocus()
    qtbot.keyClicks(window.search, "ap")
    qtbot.keyClick(window.search, Qt.Key.Key_Down, SHIFT)
    assert window.search.hasFocus()
    qtbot.keyClick(window.search, Qt.Key.Key_Down, KEYPAD)
    assert window.table.hasFocus()
    assert selected(window) == ["Apple"]
    screenshot(window, "keypad-down-from-search")
    for key in (Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
        window.search.setFocus()
        qtbot.keyClick(window.search, key, KEYPAD)
        assert window.table.hasFocus(), key
        assert selected(window) == ["Apple"], key


# -- the whole app against a real server ----------------------------------------------------


def activate(qtbot: QtBot, window: QWidget) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)


def rooms_button(window: ChatWindow) -> QPushButton | None:
    return next((b for b in window.findChildren(QPushButton) if b.text() == "Rooms"), None)


def test_closing_the_room_list_quits_and_takes_the_chat_windows_along(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "one")
    create_room(qtbot, alice, "two")
    chats = [open_room(qtbot, alice, "one"), open_room(qtbot, alice, "two")]
    screenshot(alice.rooms_window, "room-list-with-chats-open")
    alice.rooms_window.close()  # the window manager's close box
    assert not alice.rooms_window.isVisible()
    assert [chat.isVisible() for chat in chats] == [False, False]
    assert alice.chat_windows == {}
    # No flash of the login window while quitting.
    assert not alice.login_window.isVisible()


def test_chat_window_shortcuts_rooms_close_and_quit(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "east 东")
    create_room(qtbot, alice, "west")
    east = open_room(qtbot, alice, "east 东")
    west = open_room(qtbot, alice, "west")
    rooms = alice.rooms_window

    # Back to the room list: Ctrl+L, with the focus in the message being typed...
    activate(qtbot, west)
    qtbot.keyClicks(west.input, "half a thought")
    qtbot.keyClick(west.input, Qt.Key.Key_L, CTRL)
    qtbot.waitUntil(rooms.isActiveWindow, timeout=WAIT)
    assert west.input.toPlainText() == "half a thought"
    # ...or the Rooms button, also when the room list was minimised.
    button = rooms_button(east)
    assert button is not None
    assert button.isVisible()
    assert "Ctrl+L" in button.toolTip()
    screenshot(east, "chat-with-rooms-button")
    rooms.showMinimized()
    activate(qtbot, east)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(rooms.isActiveWindow, timeout=WAIT)
    assert not rooms.isMinimized()
    # Ctrl+F in the room list goes to its search box.
    qtbot.keyClick(rooms.table, Qt.Key.Key_F, CTRL)
    assert rooms.search.hasFocus()

    # Ctrl+W closes the room window it is pressed in, and only that one.
    activate(qtbot, west)
    qtbot.keyClick(west.input, Qt.Key.Key_W, CTRL)
    qtbot.waitUntil(lambda: not west.isVisible(), timeout=WAIT)
    assert list(alice.chat_windows) == [east.room_id]
    assert east.isVisible()
    assert rooms.isVisible()
    # What was typed in it is there again when the room opens again.
    west_again = open_room(qtbot, alice, "west")
    assert west_again is not west
    assert west_again.input.toPlainText() == "half a thought"
    activate(qtbot, west_again)
    qtbot.keyClick(west_again.input, Qt.Key.Key_W, CTRL)
    qtbot.waitUntil(lambda: not west_again.isVisible(), timeout=WAIT)

    # Ctrl+Q quits from a chat window: every window closes.
    quits: list[bool] = []
    alice.quitRequested.connect(lambda: quits.append(True))
    activate(qtbot, east)
    qtbot.keyClick(east.input, Qt.Key.Key_Q, CTRL)
    assert quits == [True]
    assert not east.isVisible()
    assert not rooms.isVisible()
    assert not alice.login_window.isVisible()


def test_ctrl_q_while_hosting_with_others_connected_asks_first(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    host = make_desktop()
    dialog = open_host_dialog(qtbot, host, unique_name("host"))
    port = free_port("127.0.0.1")
    start_hosting(qtbot, host, dialog, port, others=False)
    join(qtbot, make_desktop(), port, unique_name("guest"))
    create_room(qtbot, host, "party")
    chat = open_room(qtbot, host, "party")
    qtbot.waitUntil(lambda: host.rooms_window.hosting.connected.text() == "1 other person connected", timeout=WAIT)

    asked: list[str] = []
    host.confirm = lambda question: asked.append(question) is not None  # "No"
    activate(qtbot, chat)
    qtbot.keyClick(chat.input, Qt.Key.Key_Q, CTRL)
    assert asked == ["You are hosting and 1 person is connected. Quit and disconnect them?"]
    assert chat.isVisible()
    assert host.rooms_window.isVisible()
    assert host.hosting.hosting
    # Asked again when the room list's close box is clicked; "Yes" quits, chat windows and all,
    # and tells the run loop to shut down (which stops hosting).
    quits: list[bool] = []
    host.quitRequested.connect(lambda: quits.append(True))
    host.confirm = lambda question: asked.append(question) is None  # "Yes"
    host.rooms_window.close()
    assert len(asked) == 2
    assert quits == [True]
    assert not chat.isVisible()
    assert not host.rooms_window.isVisible()
    assert not host.login_window.isVisible()


def test_esc_closes_the_host_dialog_and_the_question_box(
    qtbot: QtBot, make_desktop: MakeDesktop, screenshot: Shot
) -> None:
    desktop = make_desktop()
    dialog = open_host_dialog(qtbot, desktop, "esc")
    activate(qtbot, dialog)
    qtbot.keyClick(dialog.name, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)

    pressed: list[str] = []

    def press_escape() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        screenshot(box, "question")
        pressed.append(box.text())
        QTest.keyClick(box, Qt.Key.Key_Escape)

    QTimer.singleShot(0, press_escape)
    assert desktop._ask("Quit and disconnect them?") is False  # the real question box: Esc is No
    assert pressed == ["Quit and disconnect them?"]

    def press_enter() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        pressed.append(box.text())
        QTest.keyClick(box, Qt.Key.Key_Return)

    # A stray Enter does not log out every device: No is the default.
    QTimer.singleShot(0, press_enter)
    assert desktop._ask("Log out everywhere?") is False
    assert pressed[-1] == "Log out everywhere?"


@pytest.fixture
def make_app(qtbot: QtBot, qloop: asyncio.AbstractEventLoop) -> Iterator[Callable[[Path], DesktopApp]]:
    """Desktop apps on a settings file the test names: the same file twice is a restart."""
    made: list[DesktopApp] = []

    def make(settings_file: Path) -> DesktopApp:
        settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
        desktop = DesktopApp(settings, data_dir=settings_file.with_suffix(".data"))
        made.append(desktop)
        desktop.start()
        return desktop

    yield make
    for desktop in made:
        shut_down(qtbot, qloop, desktop)
        for window in [*desktop.chat_windows.values(), desktop.rooms_window, desktop.login_window]:
            window.close()
            window.deleteLater()


def shut_down(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desktop: DesktopApp) -> None:
    task = qloop.create_task(desktop.shutdown())
    qtbot.waitUntil(task.done, timeout=10000)
    task.result()


def room_id(desktop: DesktopApp, name: str) -> int:
    rooms = desktop.rooms.model
    return next(room.id for room in rooms.rooms() if room.name == name)


def test_a_restart_restores_windows_and_the_open_rooms(
    qtbot: QtBot,
    make_app: Callable[[Path], DesktopApp],
    server: ServerThread,
    qloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    screenshot: Shot,
) -> None:
    settings = tmp_path / "gochat.ini"
    first = make_app(settings)
    first.login_window.move(60, 80)
    alice = unique_name("alice")
    log_in(qtbot, first, server, alice)
    for name in ("north 北", "south", "east"):
        create_room(qtbot, first, name)
    north = open_room(qtbot, first, "north 北")
    east = open_room(qtbot, first, "east")
    south = open_room(qtbot, first, "south")
    say(qtbot, north, "still here after a restart")
    qtbot.waitUntil(lambda: texts(north) == ["still here after a restart"], timeout=WAIT)
    activate(qtbot, south)
    qtbot.keyClick(south.input, Qt.Key.Key_W, CTRL)  # closed by the user: not reopened
    north.setGeometry(40, 60, 520, 430)
    east.setGeometry(300, 200, 460, 380)
    first.rooms_window.setGeometry(100, 120, 600, 460)
    click_header(qtbot, first.rooms_window, RoomListModel.NAME)  # sorted by name, A to Z
    qtbot.waitUntil(lambda: north.geometry() == QRect(40, 60, 520, 430), timeout=WAIT)
    places = {"north": north.geometry(), "east": east.geometry(), "rooms": first.rooms_window.geometry()}
    ids = {name: room_id(first, name) for name in ("north 北", "south", "east")}
    activate(qtbot, east)
    qtbot.keyClicks(east.input, "a draft")
    east.input.insertPlainText(" 草稿")
    qtbot.keyClick(east.input, Qt.Key.Key_Q, CTRL)
    assert not first.rooms_window.isVisible()
    shut_down(qtbot, qloop, first)

    second = make_app(settings)
    assert second.login_window.pos() == QPoint(60, 80)
    log_in(qtbot, second, server, alice, register=False)
    # Reopened once the room list arrived, each where it was, in the order opened.
    qtbot.waitUntil(lambda: list(second.chat_windows) == [ids["north 北"], ids["east"]], timeout=WAIT)
    reopened_north = second.chat_windows[ids["north 北"]]
    qtbot.waitUntil(lambda: texts(reopened_north) == ["still here after a restart"], timeout=WAIT)
    assert reopened_north.geometry() == places["north"]
    assert second.chat_windows[ids["east"]].geometry() == places["east"]
    assert second.chat_windows[ids["east"]].input.toPlainText() == "a draft 草稿"
    assert second.rooms_window.geometry() == places["rooms"]
    assert second.rooms_window.visible_room_names() == ["east", "north 北", "south"]
    screenshot(reopened_north, "north-reopened")
    screenshot(second.rooms_window, "rooms-restored")

    # Open rooms are per account: bob, on the same computer, gets none of alice's.
    qtbot.mouseClick(second.rooms_window.logout_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(second.login_window.isVisible, timeout=WAIT)
    log_in(qtbot, second, server, unique_name("bob"))
    qtbot.waitUntil(lambda: len(second.rooms_window.visible_room_names()) == 3, timeout=WAIT)
    assert second.chat_windows == {}
    # Logging out is no closing of rooms: alice's come back at her next login.
    qtbot.mouseClick(second.rooms_window.logout_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(second.login_window.isVisible, timeout=WAIT)
    log_in(qtbot, second, server, alice, register=False)
    qtbot.waitUntil(lambda: list(second.chat_windows) == [ids["north 北"], ids["east"]], timeout=WAIT)


# -- a small screen at 2x, in processes of their own (the scale is set before Qt starts) -------

PROBE = Path(__file__).with_name("screen_fit_probe.py")


def run_probe(
    tmp_path: Path, screen: tuple[int, int], scale: int, *arguments: str, shots: Path | None = None
) -> dict[str, Any]:
    """The real app in a process of its own on an offscreen screen of the given size and scale;
    what it reports about each window it showed."""
    config = tmp_path / f"screen-{screen[0]}x{screen[1]}.json"
    config.write_text(
        json.dumps({"screens": [{"name": "probe", "x": 0, "y": 0, "width": screen[0], "height": screen[1]}]})
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": f"offscreen:configfile={config}",
        "QT_SCALE_FACTOR": str(scale),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    command = [sys.executable, "-W", "error", str(PROBE), *arguments]
    if shots is not None:
        command += ["--shots", str(shots)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


def assert_inside(report: dict[str, Any], names: list[str]) -> None:
    assert sorted(report["windows"]) == sorted(names)
    for name, seen in report["windows"].items():
        frame, available = QRect(*seen["frame"]), QRect(*seen["available"])
        assert available.contains(frame), (name, frame, available)
        # Nothing cut off: at least the size the window's layout needs.
        assert seen["size"][0] >= seen["needs"][0], (name, seen)
        assert seen["size"][1] >= seen["needs"][1], (name, seen)
    # The composer's Send button is on screen, not below it.
    assert QRect(*report["available"]).contains(QRect(*report["send"])), report["send"]


def test_every_window_fits_a_small_screen_at_double_scale(
    server: ServerThread, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    shots = SCREENSHOTS / request.node.name
    base = ["--address", address(server), "--user", unique_name("alice"), "--room", "tall 高"]
    everything = ["login", "host", "rooms", "chat"]
    # 1280x1000 at 2x: 640x500 logical pixels. A first start, nothing saved.
    fresh = run_probe(
        tmp_path, (1280, 1000), 2, *base, "--settings", str(tmp_path / "a.ini"), "--register", shots=shots / "fresh"
    )
    assert fresh["available"] == [0, 0, 640, 500]
    assert_inside(fresh, everything)

    # Saved on a bigger screen with big windows far from the top left, restored on the small one:
    # 1600x1200 to 1280x1000 at 1x (Qt restores the geometry: the screens are alike), and at 2x
    # (Qt declines a screen of another width altogether: the windows take their own size).
    saved, again = tmp_path / "b.ini", tmp_path / "c.ini"
    run_probe(tmp_path, (1600, 1200), 1, *base, "--settings", str(saved), "--grow")
    shutil.copy(saved, again)
    restored = run_probe(tmp_path, (1280, 1000), 1, *base, "--settings", str(saved), shots=shots / "restored-1x")
    assert restored["available"] == [0, 0, 1280, 1000]
    assert_inside(restored, everything)
    assert restored["reopened"] is True
    # Restored, not made up: the big windows stay big, shrunk to the screen.
    assert restored["windows"]["rooms"]["size"][1] > 900
    restored = run_probe(tmp_path, (1280, 1000), 2, *base, "--settings", str(again), shots=shots / "restored-2x")
    assert_inside(restored, everything)
    assert restored["reopened"] is True


def test_enter_presses_a_focused_button_and_page_keys_scroll_the_history_from_the_composer(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    """Before: Enter on a focused Register or Log out button did nothing (only Space did), and
    the history could not be scrolled without the mouse."""
    alice = make_desktop()
    login = alice.login_window
    login.server.setText(server.url.removeprefix("http://"))
    login.username.setText(unique_name("alice"))
    login.password.setText(PASSWORD)
    activate(qtbot, login)
    login.register_button.setFocus()
    screenshot(login, "register-focused")
    qtbot.keyClick(login.register_button, Qt.Key.Key_Return)
    qtbot.waitUntil(alice.rooms_window.isVisible, timeout=WAIT)

    create_room(qtbot, alice, "scrolling")
    chat = open_room(qtbot, alice, "scrolling")
    for number in range(30):
        chat.input.setPlainText(f"line {number}")
        qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(texts(chat)) == 30, timeout=WAIT)
    bar = chat.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=WAIT)
    bottom = bar.value()
    qtbot.keyClick(chat.input, Qt.Key.Key_PageUp)
    assert bar.value() < bottom
    qtbot.keyClick(chat.input, Qt.Key.Key_PageDown)
    assert bar.value() == bottom
    assert chat.input.hasFocus() or not chat.isActiveWindow()

    # Enter on the focused Log out button logs out.
    rooms = alice.rooms_window
    activate(qtbot, rooms)
    rooms.logout_button.setFocus()
    qtbot.keyClick(rooms.logout_button, Qt.Key.Key_Enter)
    qtbot.waitUntil(login.isVisible, timeout=WAIT)


def test_the_keyboard_opens_a_rooms_context_menu_at_its_row(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice = make_desktop()
    log_in(qtbot, alice, server, unique_name("alice"))
    create_room(qtbot, alice, "menu by keyboard")
    table = alice.rooms_window.table
    table.setFocus()
    table.selectRow(0)
    shown: list[QPoint] = []
    table._show_menu = lambda point: shown.append(point)  # type: ignore[method-assign]
    qtbot.keyClick(table, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(table, Qt.Key.Key_Menu)
    row = table.visualRect(table.currentIndex())
    assert shown == [row.center(), row.center()]
