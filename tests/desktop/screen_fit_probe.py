"""The real desktop app on whatever screen Qt is given, reporting where each window was shown.

tests/desktop/test_windows_keyboard.py runs it in a process of its own (QT_SCALE_FACTOR must be
set before Qt starts) on an offscreen screen of a chosen size:

    python screen_fit_probe.py --address HOST:PORT --user NAME --room NAME --settings FILE
                               [--register] [--grow] [--shots DIR]

It shows the login window and the host dialog, logs in, opens the room (unless it was reopened
from the settings), and prints one line of JSON: each window's frame, the screen's available
area, whether the room was reopened. ``--grow`` makes every window nearly as big as the screen
and far from its top left before quitting, so the settings hold a geometry from a big screen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QRect, QSettings
from PySide6.QtWidgets import QWidget

from gochat.desktop.app import DesktopApp, create_application
from tests.helpers import PASSWORD


def rect(r: QRect) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.01)


def shown(window: QWidget) -> Callable[[], bool]:
    def check() -> bool:
        handle = window.windowHandle()
        return window.isVisible() and handle is not None and handle.isExposed()

    return check


async def probe(args: argparse.Namespace, report: dict[str, Any]) -> None:
    settings = QSettings(args.settings, QSettings.Format.IniFormat)
    desktop = DesktopApp(settings, data_dir=Path(args.settings).with_suffix(".data"))
    windows: dict[str, QWidget] = {}

    def record(name: str, window: QWidget) -> None:
        # (No QApplication.processEvents() here: run from inside the loop's own callback it
        # confuses qasync's timers, and the loop stops waking tasks.)
        screen = window.screen()
        report["available"] = rect(screen.availableGeometry())
        report["windows"][name] = {
            "frame": rect(window.frameGeometry()),
            "available": report["available"],
            "size": [window.width(), window.height()],
            "needs": [window.minimumSizeHint().width(), window.minimumSizeHint().height()],  # what the layout needs
        }
        windows[name] = window

    desktop.start()
    login = desktop.login_window
    await until(shown(login), "the login window")
    if args.grow:
        grow(login)
    record("login", login)

    login.host_button.click()
    dialog = desktop.host_dialog
    assert dialog is not None
    await until(shown(dialog), "the host dialog")
    record("host", dialog)
    if args.shots:
        save_shots(args.shots, windows)
    dialog.reject()

    # The room list is loaded three times: by the login, by the live connection once it is up,
    # and by this probe; the probe quits after all three, with nothing on its way.
    loads: list[bool] = []
    desktop.rooms.model.modelReset.connect(lambda: loads.append(True))
    login.server.setText(args.address)
    login.username.setText(args.user)
    login.password.setText(PASSWORD)
    (login.register_button if args.register else login.login_button).click()
    rooms = desktop.rooms_window
    await until(shown(rooms), "the room list")
    await desktop.rooms.refresh()  # the list as the login loaded it: rooms open at the last quit reopen now
    by_name = {room.name: room.id for room in desktop.rooms.model.rooms()}
    if args.room not in by_name:
        created = await desktop.rooms.create_room(args.room)
        assert created is not None
        by_name[args.room] = created.id
    room_id = by_name[args.room]
    report["reopened"] = room_id in desktop.chat_windows
    if not report["reopened"]:
        rooms.openRequested.emit(room_id)  # what a double-click on the room does
    await until(lambda: room_id in desktop.chat_windows, "the chat window")
    chat = desktop.chat_windows[room_id]
    await until(shown(chat), "the chat window on screen")
    await until(lambda: len(loads) >= 3, "the room list loaded by the login, the live connection and the probe")
    if args.grow:
        grow(rooms)
        grow(chat)
    record("rooms", rooms)
    record("chat", chat)
    # The composer and Send, where a person would have to reach them.
    send = chat.send_button
    report["send"] = rect(QRect(send.mapToGlobal(send.rect().topLeft()), send.size()))
    if args.shots:
        save_shots(args.shots, windows)

    quit_app = getattr(desktop, "quit", None)
    if quit_app is not None:
        quit_app()
    else:  # the code before windows could quit: close them as a person would
        for window in [*desktop.chat_windows.values(), rooms]:
            window.close()
    await desktop.shutdown()


def grow(window: QWidget) -> None:
    """Nearly as big as the screen and far from its top left, so that the saved geometry only
    fits a screen as big as this one."""
    available = window.screen().availableGeometry()
    width, height = available.width(), available.height()
    window.setGeometry(width // 3, height // 8, width * 9 // 10, height * 19 // 20)


def save_shots(folder: str, windows: dict[str, QWidget]) -> None:
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for name, window in windows.items():
        if window.isVisible():
            window.grab().save(str(path / f"{name}.png"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--settings", required=True)
    parser.add_argument("--register", action="store_true")
    parser.add_argument("--grow", action="store_true")
    parser.add_argument("--shots", default="")
    args = parser.parse_args()

    app = create_application(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # the probe ends when it is done, not with the last window
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    errors: list[str] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(f"{context.get('message')}: {context}"))
    report: dict[str, Any] = {"windows": {}}
    with loop:
        loop.run_until_complete(probe(args, report))
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
