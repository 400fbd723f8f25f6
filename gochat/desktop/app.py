"""The desktop app: builds the session and the windows and wires them together."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import qasync
from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QApplication

from gochat.desktop.notifications import Notifier
from gochat.desktop.resources import app_icon, stylesheet
from gochat.desktop.session import ChatSession
from gochat.desktop.state import User
from gochat.desktop.windows.chat import ChatWindow
from gochat.desktop.windows.login import LoginWindow
from gochat.desktop.windows.rooms import RoomListWindow


class DesktopApp(QObject):
    """One user's gochat: the login window, then the room list and a chat window per room."""

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("gochat", "gochat")
        self.session = ChatSession(self)
        self.notifier = Notifier()
        self.login_window = LoginWindow(self.settings)
        self.rooms_window = RoomListWindow(self.session.rooms)
        self.chat_windows: dict[int, ChatWindow] = {}

        s = self.session
        self.login_window.submitted.connect(self._login)
        s.busyChanged.connect(self.login_window.set_busy)
        s.loginFailed.connect(self.login_window.show_error)
        s.loggedIn.connect(self._logged_in)
        s.loggedOut.connect(self._logged_out)
        s.linkChanged.connect(self._link_changed)
        s.roomCreateFailed.connect(self.rooms_window.show_create_error)
        s.roomCreated.connect(lambda _room: self.rooms_window.room_created())
        s.roomOpened.connect(self._show_chat)
        s.olderLoaded.connect(self._older_loaded)
        s.notify.connect(self._notify)
        s.errorShown.connect(lambda message: self.rooms_window.statusBar().showMessage(message, 8000))
        self.rooms_window.openRequested.connect(s.open_room)
        self.rooms_window.createRequested.connect(lambda name: s.spawn(s.create_room(name)))
        self.rooms_window.logoutRequested.connect(lambda: s.spawn(s.logout()))

    def start(self) -> None:
        self.login_window.show()

    def _login(self, server: str, username: str, password: str, register: bool) -> None:
        self.session.spawn(self.session.login(server, username, password, register=register))

    def _logged_in(self, user: User, server: str) -> None:
        self.rooms_window.set_identity(user.username, server)
        self.rooms_window.show()
        self.login_window.hide()

    def _logged_out(self, reason: str) -> None:
        for window in list(self.chat_windows.values()):
            window.close()
        self.chat_windows.clear()
        self.rooms_window.hide()
        self.login_window.reset_for_login()
        if reason:
            self.login_window.show_error("server", reason)
        self.login_window.show()

    def _link_changed(self, state: str, detail: str) -> None:
        self.rooms_window.banner.show_link(state, detail)
        for window in self.chat_windows.values():
            window.banner.show_link(state, detail)

    def _show_chat(self, room_id: int) -> None:
        window = self.chat_windows.get(room_id)
        if window is None:
            opened = self.session.opened(room_id)
            if opened is None:
                return
            window = ChatWindow(room_id, opened.room.name, opened.messages, opened.members)
            window.banner.show_link(self.session.link_state.value, "")
            s = self.session
            window.sendRequested.connect(s.send)
            window.olderRequested.connect(lambda rid: s.spawn(s.load_older(rid)))
            window.retryRequested.connect(lambda rid, cid: s.spawn(s.retry(rid, cid)))
            window.activeChanged.connect(self._chat_active)
            window.closed.connect(self._chat_closed)
            self.chat_windows[room_id] = window
        window.show()
        window.raise_()
        window.activateWindow()

    def _older_loaded(self, room_id: int, _count: int) -> None:
        window = self.chat_windows.get(room_id)
        if window is not None:
            window.older_loaded()

    def _chat_active(self, room_id: int, active: bool) -> None:
        if active:
            self.session.set_active_room(room_id)
        elif self.session.active_room == room_id:
            self.session.set_active_room(None)

    def _chat_closed(self, room_id: int) -> None:
        if self.chat_windows.pop(room_id, None) is not None:
            self.session.close_room(room_id)

    def _notify(self, room_id: int, title: str, text: str) -> None:
        self.notifier.notify(room_id, title, text, self.chat_windows.get(room_id) or self.rooms_window)

    async def shutdown(self) -> None:
        await self.session.shutdown()
        self.notifier.close()


def create_application(argv: Sequence[str]) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv))
    assert isinstance(app, QApplication)
    app.setApplicationName("gochat")
    app.setOrganizationName("gochat")
    app.setWindowIcon(app_icon())
    app.setStyle("Fusion")
    app.setStyleSheet(stylesheet())
    return app


async def run_until_quit(desktop: DesktopApp) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    quitting = asyncio.Event()
    app.aboutToQuit.connect(quitting.set)
    app.lastWindowClosed.connect(quitting.set)
    desktop.start()
    await quitting.wait()
    await desktop.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    app = create_application(args)
    desktop = DesktopApp()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(run_until_quit(desktop))
    return 0
