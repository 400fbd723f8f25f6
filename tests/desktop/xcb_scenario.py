"""A person's first session, scripted on a real X display: run by tests/desktop/test_xcb_scenario.py.

The real app (DesktopApp on Qt's xcb platform, under a window manager) against a real headless
server process; every keystroke and click goes through the X server (xdotool), as a person's
would. Covers: register, create a room, a multi-line message, going offline with a message
pending, closing its window, coming back — the message delivered once.

Usage: python tests/desktop/xcb_scenario.py WORK_FOLDER SCREENSHOT_FOLDER   (exits 0 when all held)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import qasync
from PySide6.QtCore import QPoint, QSettings
from PySide6.QtWidgets import QApplication, QWidget

from gochat.desktop.app import DesktopApp, create_application
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.rooms.model import RoomListModel, RoomRole
from gochat.desktop.state import Kind, Status

USER, PASSWORD, ROOM = "alice", "correct horse 42", "xcb 房间 ☕"
MULTILINE = ["line one", "line two", "第三行 😀"]
OFFLINE = "written while the server was away"
# GOCHAT_TEST_TIMEOUT_FACTOR reaches this process through its environment (tests/helpers.py).
WAIT = 30.0 * max(float(os.environ.get("GOCHAT_TEST_TIMEOUT_FACTOR", "1")), 1.0)


class Scenario:
    def __init__(self, work: Path, shots: Path) -> None:
        self.work = work
        self.shots = shots
        self.port = _free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.desktop: DesktopApp | None = None

    # -- the server, a process of its own -----------------------------------------------

    def start_server(self) -> None:
        log = (self.work / "server.log").open("a")
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gochat.server",
                "--port",
                str(self.port),
                "--database-url",
                f"sqlite:///{self.work / 'chat.sqlite3'}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def server_up(self) -> None:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/health", timeout=1) as answer:
                    return bool(answer.status == 200)
            except OSError:
                return False

        await until(healthy, "the server to answer")

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(30)
            self.server = None

    def stored(self, token: str, room_id: int) -> list[str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/rooms/{room_id}/messages", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return [message["content"] for message in json.loads(answer.read())]

    # -- input through the X server ---------------------------------------------------

    async def xdotool(self, *arguments: str) -> None:
        process = await asyncio.create_subprocess_exec("xdotool", *arguments)
        assert await process.wait() == 0, f"xdotool {' '.join(arguments)} failed"

    async def click(self, widget: QWidget, point: QPoint | None = None, *, double: bool = False) -> None:
        await self.activate(widget.window())
        where = widget.mapToGlobal(point if point is not None else widget.rect().center())
        await self.xdotool("mousemove", "--sync", str(where.x()), str(where.y()))
        await self.xdotool("click", *(["--repeat", "2", "--delay", "80"] if double else []), "1")

    async def activate(self, window: QWidget) -> None:
        await self.xdotool("windowactivate", "--sync", str(int(window.winId())))
        await until(window.isActiveWindow, f"{window.windowTitle()!r} to be the active window")

    async def type(self, text: str) -> None:
        """Type as a person would. ASCII goes key by key; other text (Chinese, emoji) is pasted
        with Ctrl+V, the way an input method or a copy hands it over: xdotool types characters
        that are not on the keyboard map by remapping a key for each, which races with the app
        reading the map and drops characters."""
        for run in _ascii_runs(text):
            if run.isascii():
                await self.xdotool("type", "--delay", "15", run)
            else:
                QApplication.clipboard().setText(run)
                await self.key("ctrl+v")

    async def key(self, *keys: str) -> None:
        await self.xdotool("key", "--delay", "40", *keys)

    def shot(self, name: str) -> None:
        screen = QApplication.primaryScreen()
        assert screen.grabWindow(0).save(str(self.shots / f"{name}.png")), name

    # -- the session ------------------------------------------------------------------

    async def run(self) -> None:
        self.start_server()
        await self.server_up()
        settings = QSettings(str(self.work / "settings.ini"), QSettings.Format.IniFormat)
        desktop = self.desktop = DesktopApp(settings, data_dir=self.work / "data")
        desktop.start()
        login = desktop.login_window
        await until(lambda: login.isVisible() and login.windowHandle().isExposed(), "the login window")

        # Register.
        await self.click(login.server)
        await self.key("ctrl+a")
        await self.type(f"127.0.0.1:{self.port}")
        await self.click(login.username)
        await self.key("ctrl+a")
        await self.type(USER)
        await self.click(login.password)
        await self.type(PASSWORD)
        self.shot("1-login-filled")
        await self.click(login.register_button)
        rooms = desktop.rooms_window
        await until(rooms.isVisible, "the room list after registering")

        # Create a room (Chinese and emoji typed through the X server).
        await self.click(rooms.new_name)
        await self.type(ROOM)
        await self.key("Return")
        await until(lambda: ROOM in rooms.visible_room_names(), "the new room in the list")
        self.shot("2-room-created")

        # Open it with a double-click and write three lines (Shift+Enter between them).
        row = rooms.visible_room_names().index(ROOM)
        index = rooms.proxy.index(row, RoomListModel.NAME)
        room_id = index.data(RoomRole).id
        await self.click(rooms.table.viewport(), rooms.table.visualRect(index).center(), double=True)
        await until(lambda: room_id in desktop.chat_windows and entered(desktop, room_id), "the chat window")
        chat = desktop.chat_windows[room_id]
        await self.click(chat.input)
        for number, line in enumerate(MULTILINE):
            if number:
                await self.key("shift+Return")
            await self.type(line)
        await self.key("Return")
        await until(lambda: sent(chat) == ["\n".join(MULTILINE)], "the three-line message to be sent")
        assert chat.input.toPlainText() == ""
        self.shot("3-multiline-sent")

        # The server goes away; a message typed now waits as pending.
        self.stop_server()
        await until(chat.banner.isVisible, "the offline banner")
        await self.click(chat.input)
        await self.type(OFFLINE)
        await self.key("Return")
        await until(
            lambda: [(i.text, i.status) for i in messages(chat)][-1] == (OFFLINE, Status.PENDING),
            "the pending bubble",
        )
        self.shot("4-offline-pending")

        # Close its window the way a person does (Alt+F4: the window manager's close).
        await self.activate(chat)
        await self.key("alt+F4")
        await until(lambda: room_id not in desktop.chat_windows, "the chat window to close")
        self.shot("5-window-closed")

        # The server comes back: the app reconnects by itself and sends what was pending.
        self.start_server()
        await self.server_up()
        await until(lambda: len(desktop.chat.outbox) == 0, "the pending message to be delivered", 60)

        # Reopen the room: everything once, sent.
        row = rooms.visible_room_names().index(ROOM)
        index = rooms.proxy.index(row, RoomListModel.NAME)
        await self.click(rooms.table.viewport(), rooms.table.visualRect(index).center(), double=True)
        await until(lambda: room_id in desktop.chat_windows and entered(desktop, room_id), "the reopened window")
        chat = desktop.chat_windows[room_id]
        expected = ["\n".join(MULTILINE), OFFLINE]
        await until(lambda: sent(chat) == expected, "both messages, once each, in the reopened window")
        self.shot("6-delivered-once")
        assert desktop.session.api is not None
        token = desktop.session.api.token
        assert token is not None
        assert self.stored(token, room_id) == expected, self.stored(token, room_id)

    async def close(self) -> None:
        if self.desktop is not None:
            await self.desktop.shutdown()
            for window in [*self.desktop.chat_windows.values(), self.desktop.rooms_window, self.desktop.login_window]:
                window.close()
        self.stop_server()


def messages(window: ChatWindow) -> list[object]:
    return [i for i in window.messages_model.timeline.items() if i.kind is Kind.MESSAGE]


def sent(window: ChatWindow) -> list[str]:
    items = [i for i in window.messages_model.timeline.items() if i.kind is Kind.MESSAGE]
    return [i.text for i in items] if all(i.status is Status.SENT for i in items) else []


def entered(desktop: DesktopApp, room_id: int) -> bool:
    opened = desktop.chat.opened(room_id)
    return opened is not None and opened.entered


async def until(condition: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
    """Wait for a condition of the app (or the server) while the event loop runs."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _ascii_runs(text: str) -> list[str]:
    """ "ab 房间 c" → ["ab ", "房间", " c"]."""
    runs: list[str] = []
    for character in text:
        if runs and runs[-1][-1].isascii() == character.isascii():
            runs[-1] += character
        else:
            runs.append(character)
    return runs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str]) -> int:
    work, shots = Path(argv[1]), Path(argv[2])
    shots.mkdir(parents=True, exist_ok=True)
    assert os.environ.get("QT_QPA_PLATFORM") == "xcb", "run on the real xcb platform"
    app = create_application(["gochat"])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    scenario = Scenario(work, shots)
    failure: BaseException | None = None

    async def run() -> None:
        nonlocal failure
        try:
            await scenario.run()
        except BaseException as error:  # reported below; the app still shuts down cleanly
            failure = error
            with contextlib.suppress(Exception):
                scenario.shot("failure")
        finally:
            await scenario.close()

    with loop:
        loop.run_until_complete(run())
    if failure is not None:
        raise failure
    print("scenario passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
