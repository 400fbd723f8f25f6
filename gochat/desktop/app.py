"""The desktop app: builds the session, the feature controllers and the windows, and wires
them together (it reads no widget's fields and talks to no server itself)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import platformdirs
import qasync
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from gochat.desktop.account.controller import AccountController
from gochat.desktop.account.known_servers import KnownServers
from gochat.desktop.account.login_window import LoginWindow
from gochat.desktop.account.trust_window import YES, changed_box, clear_text_box, trust_box
from gochat.desktop.chat.controller import ChatController
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.discovery.controller import DiscoveryController
from gochat.desktop.hosting.controller import HostingController, HostingStatus
from gochat.desktop.hosting.remembered import remember_options, remembered_options
from gochat.desktop.hosting.window import HostDialog
from gochat.desktop.notifications import Notifier
from gochat.desktop.resources import app_icon, stylesheet
from gochat.desktop.rooms.controller import RoomsController
from gochat.desktop.rooms.people import PeopleDialog
from gochat.desktop.rooms.window import RoomListWindow
from gochat.desktop.search.controller import SearchController
from gochat.desktop.search.window import SearchWindow
from gochat.desktop.session import ChatSession
from gochat.desktop.startup import check_platform, parse_arguments
from gochat.desktop.state import ServerEntry
from gochat.desktop.typing_now import typing_line
from gochat.desktop.windows.placement import (
    CLOSE_SHORTCUT,
    FIND_SHORTCUT,
    QUIT_SHORTCUT,
    ROOMS_SHORTCUT,
    SEARCH_ALL_SHORTCUT,
    EnterPressesButtons,
    WindowPlacement,
    account_key,
    action_button,
    add_shortcut,
)
from gochat.discovery import FoundServer
from gochat.protocol import RoomSort, User


class _RoomWindowWatcher(QObject):
    """Tells the chat controller whether each chat window is on screen (shown and not minimised): what
    a visible window shows counts as read, focused or not."""

    def __init__(self, chat: ChatController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._chat = chat

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if isinstance(watched, ChatWindow) and event.type() in (
            QEvent.Type.Show,
            QEvent.Type.Hide,
            QEvent.Type.WindowStateChange,
        ):
            # After the event is handled, when isVisible()/isMinimized() say the new truth.
            QTimer.singleShot(0, lambda window=watched: self.update(window))
        return False

    def update(self, window: ChatWindow) -> None:
        try:
            visible = window.isVisible() and not window.isMinimized()
        except RuntimeError:  # the window is gone already
            return
        self._chat.set_room_visible(window.room_id, visible)


def default_data_dir() -> Path:
    """Where the desktop keeps what must survive a restart (unsent messages)."""
    return Path(platformdirs.user_data_dir("gochat", appauthor=False)) / "desktop"


class DesktopApp(QObject):
    """One user's gochat: the login window, then the room list and a chat window per room."""

    # The user quit (Ctrl+Q, or closed the room list) and every window is closed: shut down.
    quitRequested = Signal()  # noqa: N815

    def __init__(self, settings: QSettings | None = None, data_dir: Path | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("gochat", "gochat")
        # The connection, and one controller per feature over it (in this order: a frame's
        # handlers run in the order the controllers registered them, the room list's first).
        self.session = ChatSession(self)
        # The certificates this user trusts, per server (trust on first use, like SSH).
        self.known_servers = KnownServers(self.settings)
        self.account = AccountController(self.session, self.known_servers, self)
        self.rooms = RoomsController(self.session, self)
        self.chat = ChatController(self.session, self.rooms, self)
        self.chat.data_dir = data_dir or default_data_dir()
        self.hosting = HostingController(self.session, self)
        self.discovery = DiscoveryController(self)
        self.search = SearchController(self.session, self)
        self.search.known_room = self.rooms.room
        self.account.loggedIn.connect(lambda _user, _server: self.chat.load_outbox())
        self.account.after_login(self.rooms.refresh)

        self.notifier = Notifier(self)
        self.notifier.activated.connect(self.open_room_at)
        self._window_watcher = _RoomWindowWatcher(self.chat, self)
        self.login_window = LoginWindow(self.settings)
        self.rooms_window = RoomListWindow(self.rooms.model, self.rooms.direct_model)
        self.chat_windows: dict[int, ChatWindow] = {}
        self.search_window = SearchWindow(self.search.model)
        self.host_dialog: HostDialog | None = None
        self.people_dialog: PeopleDialog | None = None
        # Where the last direct conversation was asked for (a chat window's member list, or the
        # people dialog): a refusal is said there.
        self._direct_asked_from: QWidget | None = None
        # Asks the user a yes/no question; tests replace it to answer without a modal box.
        self.confirm: Confirm = self._ask
        # The question about a server's security on screen (trust its certificate? send in
        # clear? its certificate changed), opened window-modal so the loop runs on meanwhile.
        self.security_box: QMessageBox | None = None

        s, account, rooms, chat = self.session, self.account, self.rooms, self.chat
        s.linkChanged.connect(self._link_changed)
        s.errorShown.connect(lambda message: self.rooms_window.statusBar().showMessage(message, 8000))
        self.login_window.submitted.connect(self._login)
        self.login_window.cancelRequested.connect(account.cancel_login)
        account.busyChanged.connect(self.login_window.set_busy)
        account.loginFailed.connect(self.login_window.show_error)
        account.loggedIn.connect(self._logged_in)
        account.loggedOut.connect(self._logged_out)
        rooms.roomCreateFailed.connect(self.rooms_window.show_create_error)
        rooms.roomCreated.connect(lambda _room: self.rooms_window.room_created())
        rooms.notify.connect(self._notify)
        rooms.listChanged.connect(self.rooms_window.show_count)
        self.rooms_window.viewChanged.connect(self._room_view_changed)
        self.rooms_window.moreWanted.connect(rooms.load_more)
        chat.roomOpened.connect(self._show_chat)
        chat.roomEntered.connect(self._room_entered)
        chat.olderLoaded.connect(self._older_loaded)
        chat.editFinished.connect(self._edit_finished)
        chat.deleteFailed.connect(self._delete_failed)
        rooms.messageRevised.connect(lambda _room_id, message_id, text: self.notifier.revise(message_id, text))
        chat.typingChanged.connect(self._typing_changed)
        rooms.directStarted.connect(lambda room: self._direct_started(room.id))
        rooms.directFailed.connect(self._direct_failed)
        self.rooms_window.peopleRequested.connect(self.open_people_dialog)
        self.rooms_window.openRequested.connect(chat.open_room)
        self.rooms_window.muteRequested.connect(self.set_room_muted)
        self.rooms_window.createRequested.connect(lambda name: s.spawn(rooms.create_room(name)))
        self.rooms_window.logoutRequested.connect(lambda: s.spawn(account.logout()))
        self.rooms_window.logoutEverywhereRequested.connect(self._log_out_everywhere)
        self.search_window.searchRequested.connect(lambda query, room_id: self.search.search(query, room_id or None))
        self.search_window.clearRequested.connect(self.search.clear)
        self.search_window.moreRequested.connect(self.search.load_more)
        self.search_window.openRequested.connect(self.open_search_result)
        self.search.searching.connect(self.search_window.show_searching)
        self.search.pageLoaded.connect(self.search_window.show_results)
        self.search.failed.connect(self.search_window.show_error)

        self.login_window.hostRequested.connect(self._open_host_dialog)
        self.login_window.ownServerLoginRequested.connect(account.login_to_own_server)
        account.accountNotFound.connect(self._offer_account)
        account.ask_trust = self._ask_trust
        account.ask_clear_text = self._ask_clear_text
        account.certificateRefused.connect(self._certificate_refused)
        self.login_window.browseToggled.connect(self._browse)
        self.discovery.changed.connect(self._servers_found)
        self.hosting.started.connect(self._hosting_started)
        self.hosting.startFailed.connect(self._hosting_start_failed)
        self.hosting.statusChanged.connect(self._hosting_status)
        self.hosting.failed.connect(self._hosting_failed)
        self.hosting.stopped.connect(self._hosting_stopped)
        self.rooms_window.hosting.stopRequested.connect(self._stop_hosting_asked)
        self._set_up_window_management()

    def start(self) -> None:
        self.login_window.show()

    def _login(self, server: str, username: str, password: str, register: bool) -> None:
        self.session.spawn(self.account.login(server, username, password, register=register))

    def _logged_in(self, user: User, server: str) -> None:
        self.rooms_window.set_identity(user.username, server)
        self._account_logged_in(user.username, server)
        self.rooms.set_muted_rooms(self._muted_rooms())
        self.rooms_window.show()
        self.login_window.hide()
        self.login_window.remember()
        self.login_window.clear_info()
        # The next keystroke searches the rooms; it must not land on "Log out".
        self.rooms_window.activateWindow()
        self.rooms_window.search.setFocus(Qt.FocusReason.OtherFocusReason)

    def _log_out_everywhere(self) -> None:
        if self.confirm(
            "Log out everywhere? Every device logged in to this account (a lost laptop, a shared "
            "computer) is logged out too, and must log in again."
        ):
            self.session.spawn(self.account.logout(everywhere=True))

    def _logged_out(self, reason: str) -> None:
        self._account_logged_out()  # first: the windows closing now stay in the rooms to reopen
        for window in list(self.chat_windows.values()):
            window.close()
        self.chat_windows.clear()
        self.search_window.hide()
        self.search_window.reset()
        self.rooms_window.hide()
        if self.people_dialog is not None:
            self.people_dialog.hide()
        self.login_window.reset_for_login()
        if reason:
            self.login_window.show_error("server", reason)
        elif self.hosting.hosting:
            self._say_still_hosting()  # logged out of their own server: it still runs
        if not self._quitting:
            self.login_window.show()

    def _link_changed(self, state: str, detail: str) -> None:
        self.rooms_window.banner.show_link(state, detail)
        self.search_window.banner.show_link(state, detail)
        for window in self.chat_windows.values():
            window.banner.show_link(state, detail)

    def _show_chat(self, room_id: int) -> None:
        window = self.chat_windows.get(room_id)
        if window is None:
            opened = self.chat.opened(room_id)
            if opened is None:
                return
            window = ChatWindow(room_id, opened.room.name, opened.messages, opened.members, self.settings)
            window.set_loading(not opened.entered)
            window.banner.show_link(self.session.link_state.value, "")
            s, chat = self.session, self.chat
            window.sendRequested.connect(chat.send)
            window.olderRequested.connect(lambda rid: s.spawn(chat.load_older(rid)))
            window.reachRequested.connect(lambda rid, mid: s.spawn(chat.load_back_to(rid, mid)))
            window.atNewest.connect(chat.forget_older)
            window.retryRequested.connect(lambda rid, cid: s.spawn(chat.retry(rid, cid)))
            window.may_edit = chat.may_edit
            window.may_delete = lambda item, rid=room_id: chat.may_delete(rid, item)  # type: ignore[misc]
            window.editRequested.connect(lambda rid, mid, text: s.spawn(chat.edit_message(rid, mid, text)))
            window.deleteRequested.connect(self._delete_asked)
            window.composing.connect(chat.composing)
            window.directRequested.connect(lambda name, w=window: self.start_direct(name, w))
            if s.me is not None:
                window.set_me(s.me)
            window.show_typing(typing_line(chat.typing_names(room_id)))
            window.closed.connect(self._chat_closed)
            window.installEventFilter(self._window_watcher)
            self.chat_windows[room_id] = window
            self._manage_chat_window(window)
        window.show()
        window.raise_()
        window.activateWindow()

    def _room_entered(self, room_id: int) -> None:
        window = self.chat_windows.get(room_id)
        if window is not None:
            opening = window.loading
            window.set_loaded()
            # Starting at the "New messages" line is for a window opening; entering again after
            # a reconnect leaves the reader where they are.
            if opening:
                window.reveal_unread_line()

    # -- direct messages and typing ---------------------------------------------------

    def open_people_dialog(self) -> None:
        """Find someone to write to (the room list's ＋)."""
        if self.session.me is None:
            return
        if self.people_dialog is None:
            dialog = self.people_dialog = PeopleDialog(self.rooms_window)
            dialog.searchRequested.connect(lambda text: self.session.spawn(self.rooms.find_people(text)))
            dialog.startRequested.connect(lambda name: self.start_direct(name, dialog))
            self.rooms.peopleFound.connect(dialog.show_people)
            self.rooms.peopleFailed.connect(lambda _query, message: dialog.show_error(message))
            self._manage_dialog(dialog)
        self.people_dialog.open_fresh()

    def start_direct(self, username: str, asked_from: QWidget) -> None:
        """Open the direct conversation with ``username`` (made on the server the first time)."""
        self._direct_asked_from = asked_from
        self.session.spawn(self.rooms.start_direct(username))

    def _direct_started(self, room_id: int) -> None:
        if self.people_dialog is not None and self._direct_asked_from is self.people_dialog:
            self.people_dialog.hide()
        self._direct_asked_from = None
        self.chat.open_room(room_id)

    def _direct_failed(self, message: str) -> None:
        where = self._direct_asked_from
        if isinstance(where, PeopleDialog) and where.isVisible():
            where.show_error(message)
        elif isinstance(where, ChatWindow) and where.room_id in self.chat_windows:
            where.show_notice(message)
        else:
            self.rooms_window.statusBar().showMessage(message, 8000)

    def _typing_changed(self, room_id: int, line: str) -> None:
        window = self.chat_windows.get(room_id)
        if window is not None:
            window.show_typing(line)

    def _older_loaded(self, room_id: int, _count: int) -> None:
        window = self.chat_windows.get(room_id)
        if window is not None:
            window.older_loaded()

    def _edit_finished(self, room_id: int, message_id: int, error: str) -> None:
        window = self.chat_windows.get(room_id)
        if window is not None:
            window.edit_finished(message_id, error)

    def _delete_asked(self, room_id: int, message_id: int) -> None:
        """Delete from a message's context menu: asked first (No by default), it cannot be undone."""
        if self.confirm(
            "Delete this message? Everyone will see “message deleted” in its place. This cannot be undone.",
            self.chat_windows.get(room_id),  # centred over the room's window, not the screen
        ):
            self.session.spawn(self.chat.delete_message(room_id, message_id))

    def _delete_failed(self, room_id: int, message: str) -> None:
        window = self.chat_windows.get(room_id)
        if window is not None:
            window.show_notice(f"Not deleted: {message}")
        else:
            self.rooms_window.statusBar().showMessage(f"Not deleted: {message}", 8000)

    def _chat_closed(self, room_id: int) -> None:
        if self.chat_windows.pop(room_id, None) is not None:
            self.chat.close_room(room_id)
            self._remember_open_rooms()

    # -- muted rooms, kept per account in the settings ------------------------------------

    def _account_setting(self, name: str) -> str:
        return f"accounts/{self._account}/{name}"

    def _muted_rooms(self) -> set[int]:
        raw = self.settings.value(self._account_setting("muted"), "") or ""
        return {int(part) for part in str(raw).split(",") if part.strip().isdigit()}

    def set_room_muted(self, room_id: int, muted: bool) -> None:
        """Mute or unmute a room's notifications (its unread count still shows)."""
        self.rooms.set_muted(room_id, muted)
        self.settings.setValue(self._account_setting("muted"), ",".join(str(r) for r in sorted(self.rooms.muted)))

    def _notify(self, room_id: int, message_id: int, title: str, text: str) -> None:
        window: QWidget = self.chat_windows.get(room_id) or self.rooms_window
        self.notifier.notify(room_id, message_id, title, text, window)

    # -- message search ------------------------------------------------------------------

    def open_search(self, room_id: int | None = None) -> None:
        """The search window, searching one room (Ctrl+F in its window) or every room (Ctrl+Shift+F)."""
        if self.session.me is None:
            return
        room = self.rooms.room(room_id) if room_id is not None else None
        if room_id is not None and room is None:
            return
        window = self.search_window
        window.search_in(room_id, self.search.room_title(room) if room is not None else "")
        if window.isMinimized():
            window.showNormal()
        window.show()
        window.raise_()
        window.activateWindow()

    def open_search_result(self, room_id: int, message_id: int) -> None:
        """A result was activated: its room opens (or comes forward) scrolled to it, highlighted."""
        room = self.search.room(room_id)
        if room is not None:
            self.rooms.remember(room)
        self.open_room_at(room_id, message_id)

    def open_room_at(self, room_id: int, message_id: int) -> None:
        """A notification or a search result was clicked: its room, opened at its message."""
        if self.session.me is None:
            return
        self.chat.open_room(room_id)
        window = self.chat_windows.get(room_id)
        if window is not None:
            window.show_message(message_id)

    # -- hosting ---------------------------------------------------------------------

    def _open_host_dialog(self, username: str) -> None:
        if self.hosting.hosting and self.hosting.server is not None:
            # Hosting already (logged out of it, say): say where, rather than offer a second start.
            self._say_still_hosting()
            return
        if self.host_dialog is None:
            self.host_dialog = HostDialog(f"{username}'s gochat" if username else "gochat", self.login_window)
            last = remembered_options(self.settings)
            if last is not None:
                # The same port and choices as last time: joiners' saved address and the
                # certificate they trusted for it still lead here.
                self.host_dialog.show_options(last)
            self.host_dialog.startRequested.connect(lambda options: self.session.spawn(self.hosting.start(options)))
            self._manage_dialog(self.host_dialog)
        self.host_dialog.set_busy(False)
        self.host_dialog.clear_error()
        self.host_dialog.show()
        self.host_dialog.raise_()

    def _hosting_started(self, address: str) -> None:
        if self.host_dialog is not None:
            self.host_dialog.accept()
        server = self.hosting.server
        if self.hosting.options is not None:
            remember_options(self.settings, self.hosting.options)
        if server is not None and self.hosting.fingerprint:
            # Our own certificate: trusted without asking when we log in to our own server.
            self.known_servers.remember(server.address, self.hosting.fingerprint)
        storage = self.hosting.storage_description()
        self.rooms_window.hosting.show_storage(storage)
        # Credentials left in the form are tried on the new server (ownServerLoginRequested),
        # without a word if it does not know them: creating the account is the person's call.
        self.login_window.show_own_server(address, f"Your server is running: register or log in to it.\n{storage}")

    def _offer_account(self, address: str, username: str, password: str) -> None:
        """Our own server does not know the account left in the form: ask before creating it."""
        if self.confirm(f"Create the account {username} on your server?"):
            self.session.spawn(self.account.register_and_login(address, username, password))
            return
        self.login_window.ask_for_username(
            f"Your server is running at {address}. No account was created: log in or register when you are ready."
            f"\n{self.hosting.storage_description()}"
        )

    # -- a server's transport security -----------------------------------------------------

    async def _answer(self, box: QMessageBox) -> bool:
        """Show ``box`` over the login window without blocking the loop (a modal ``exec`` inside
        a running task would run other tasks inside it); True when its yes button was clicked."""
        answered: asyncio.Future[bool] = asyncio.get_event_loop().create_future()

        def finished(_result: int) -> None:
            clicked = box.clickedButton()
            if not answered.done():
                answered.set_result(clicked is not None and clicked.objectName() == YES)

        box.finished.connect(finished)
        self.security_box = box
        box.open()
        try:
            return await answered
        finally:  # answered, or the login was cancelled meanwhile
            if self.security_box is box:
                self.security_box = None
            box.finished.disconnect(finished)
            box.close()
            box.deleteLater()

    async def _ask_trust(self, server: str, fingerprint: str) -> bool:
        return await self._answer(trust_box(server, fingerprint, self.login_window))

    async def _ask_clear_text(self, server: str) -> bool:
        return await self._answer(clear_text_box(server, self.login_window))

    def _certificate_refused(self, server: str, trusted: str, seen: str) -> None:
        self.session.spawn(self._warn_certificate_changed(server, trusted, seen))

    async def _warn_certificate_changed(self, server: str, trusted: str, seen: str) -> None:
        if await self._answer(changed_box(server, trusted, seen, self.login_window)):
            self.known_servers.forget(server)
            # The refusal said under Server is over: left there, it would contradict the notice.
            self.login_window.clear_errors()
            self.login_window.show_info(
                f"The certificate trusted for {server} is forgotten: the next login shows the new one to trust."
            )

    def _say_still_hosting(self) -> None:
        """The login window, while this app hosts: where the server is, what to do with it."""
        server = self.hosting.server
        if server is None:
            return
        self.login_window.show_still_hosting(
            server.address,
            f"Your server is running at {server.address}: log in or register to it. "
            f"(Stop hosting from the room list, or quit.)\n{self.hosting.storage_description()}",
        )

    def _hosting_start_failed(self, message: str, free_port: int) -> None:
        if self.host_dialog is not None:
            self.host_dialog.show_error(message, free_port)

    def _hosting_failed(self, message: str) -> None:
        self.rooms_window.hosting.show_failure(message)
        self.login_window.show_error("server", message)

    def _hosting_status(self, status: HostingStatus | None) -> None:
        if status is None:
            self.rooms_window.hosting.hide()
            return
        self.rooms_window.hosting.show_status(
            status.name,
            status.address,
            status.addresses_for_others,
            status.others_connected,
            status.uptime,
            status.fingerprint,
        )

    def _stop_hosting_asked(self) -> None:
        others = self.hosting.others_connected()
        if others and not self.confirm(
            f"{others} {'person is' if others == 1 else 'people are'} connected. Stop hosting and disconnect them?"
        ):
            return
        self.session.spawn(self.stop_hosting())

    async def stop_hosting(self) -> None:
        if self.hosting.on_own_server():
            await self.account.logout()
            # The person's own doing: information, not an error.
            self.login_window.show_info("You stopped hosting.")
        await self.hosting.stop()

    def _hosting_stopped(self) -> None:
        self.rooms_window.hosting.hide()
        self.rooms_window.hosting.show_storage("")

    def _may_quit(self) -> bool:
        others = self.hosting.others_connected() if self.hosting.hosting else 0
        return not others or self.confirm(
            f"You are hosting and {others} {'person is' if others == 1 else 'people are'} connected. "
            "Quit and disconnect them?"
        )

    @staticmethod
    def _ask(question: str, over: QWidget | None = None) -> bool:
        box = question_box(question, over)
        try:
            return box.exec() == QMessageBox.StandardButton.Yes
        finally:
            box.deleteLater()  # a child of ``over`` would otherwise live as long as it

    # -- windows, shortcuts, and what the next start restores ----------------------------

    def _set_up_window_management(self) -> None:
        self._quitting = False
        self._enter_presses = EnterPressesButtons(self)
        self._enter_presses.watch(self.login_window)
        self._enter_presses.watch(self.rooms_window)
        self._account = ""  # account_key of who is logged in: their open rooms and room windows
        self._rooms_to_reopen: list[int] = []  # open at the last quit, reopened once the list has loaded
        WindowPlacement(self.login_window, self.settings, "windows/login", remember_size=False)
        WindowPlacement(self.rooms_window, self.settings, "windows/rooms")
        for window in (self.login_window, self.rooms_window):
            add_shortcut(window, "Quit", QUIT_SHORTCUT, self.quit)
        add_shortcut(self.rooms_window, "Search rooms", FIND_SHORTCUT, self.rooms_window.focus_search)
        search_all = add_shortcut(self.rooms_window, "Search messages", SEARCH_ALL_SHORTCUT, self.open_search)
        self.rooms_window.search_row.addWidget(action_button(search_all, "Search the messages of every room"))
        self._enter_presses.watch(self.rooms_window)
        WindowPlacement(self.search_window, self.settings, "windows/search")
        add_shortcut(self.search_window, "Quit", QUIT_SHORTCUT, self.quit)
        add_shortcut(self.search_window, "Rooms", ROOMS_SHORTCUT, self.show_rooms)
        add_shortcut(self.search_window, "Close", CLOSE_SHORTCUT, self.search_window.close)
        add_shortcut(self.search_window, "Search", FIND_SHORTCUT, self.search_window.focus_query)
        add_shortcut(self.search_window, "Search everywhere", SEARCH_ALL_SHORTCUT, self.open_search)
        self._enter_presses.watch(self.search_window)
        # The room list is the main window: closing it quits (asking first when hosting with
        # others connected), and takes the chat windows with it.
        self.rooms_window.close_guard = self._room_list_closing
        self.login_window.close_guard = self._login_window_closing
        self.rooms.model.modelReset.connect(self._reopen_rooms)
        header = self.rooms_window.table.horizontalHeader()
        column = int(str(self.settings.value("roomList/sortColumn", -1)))
        descending = str(self.settings.value("roomList/sortOrder", "ascending")) == "descending"
        order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        header.setSortIndicator(column, order)
        header.sortIndicatorChanged.connect(self._remember_sort)
        # The order the server lists rooms in, as chosen last (the window offers the default).
        self.rooms_window.set_sort(str(self.settings.value("roomList/order", self.rooms_window.sort())))

    def _room_view_changed(self, query: str, sort: str) -> None:
        self.settings.setValue("roomList/order", sort)
        self.rooms.set_view(query, RoomSort(sort))

    def _remember_sort(self, column: int, order: Qt.SortOrder) -> None:
        self.settings.setValue("roomList/sortColumn", column)
        descending = order == Qt.SortOrder.DescendingOrder
        self.settings.setValue("roomList/sortOrder", "descending" if descending else "ascending")

    def _manage_chat_window(self, window: ChatWindow) -> None:
        """A new chat window: where it was last time, its shortcuts and Rooms button."""
        account = f"accounts/{self._account}" if self._account else ""
        WindowPlacement(window, self.settings, f"{account}/windows/{window.room_id}" if account else "")
        if account:
            self._restore_draft(window, f"{account}/drafts/{window.room_id}")
        search = add_shortcut(window, "Search", FIND_SHORTCUT, lambda: self.open_search(window.room_id))
        window.header.addWidget(action_button(search, "Search this room's messages"))
        add_shortcut(window, "Search everywhere", SEARCH_ALL_SHORTCUT, self.open_search)
        rooms = add_shortcut(window, "Rooms", ROOMS_SHORTCUT, self.show_rooms)
        window.header.addWidget(action_button(rooms, "Back to the room list"))
        self._enter_presses.watch(window)
        add_shortcut(window, "Close room", CLOSE_SHORTCUT, window.close)
        add_shortcut(window, "Quit", QUIT_SHORTCUT, self.quit)
        self._remember_open_rooms()

    def _restore_draft(self, window: ChatWindow, key: str) -> None:
        """What was typed in a room's window and not sent stays when the window closes (Ctrl+W,
        quitting, logging out) and is there again when the room opens, also after a restart."""
        draft = str(self.settings.value(key, ""))
        if draft:
            window.set_draft(draft)

        def keep(_room_id: int) -> None:
            text = window.draft()
            if text.strip():
                self.settings.setValue(key, text)
            else:
                self.settings.remove(key)

        window.closed.connect(keep)

    def _manage_dialog(self, dialog: QWidget) -> None:
        """Dialogs fit the screen and quit like every window; Esc closes them (QDialog's own)."""
        WindowPlacement(dialog)
        add_shortcut(dialog, "Quit", QUIT_SHORTCUT, self.quit)

    def show_rooms(self) -> None:
        """Back to the room list, from any chat window (Ctrl+L, or its Rooms button)."""
        window = self.rooms_window
        if not window.isVisible() and self.session.me is None:
            return  # logged out: the login window is the way in
        if window.isMinimized():
            window.showNormal()
        window.show()
        window.raise_()
        window.activateWindow()

    def quit(self) -> bool:
        """Quit from any window (Ctrl+Q, or closing the room list). Asks first when hosting with
        others connected; then every window closes (saving where it was; the open rooms are kept
        to reopen) and quitRequested tells the run loop to shut down. False: the user declined."""
        if self._quitting:
            return True
        if not self._may_quit():
            return False
        self._quitting = True
        for window in list(self.chat_windows.values()):
            window.close()
        if self.host_dialog is not None:
            self.host_dialog.close()
        self.search_window.close()
        self.rooms_window.close()
        self.login_window.close()
        self.settings.sync()
        self.quitRequested.emit()
        return True

    def _login_window_closing(self) -> bool:
        """Closed by the user (it is hidden, not closed, at login), the login window quits: asking
        first when hosting with others connected, like every other way out."""
        return self._quitting or not self.login_window.isVisible() or self.quit()

    def _room_list_closing(self) -> bool:
        """May the room list close? It is hidden, not closed, at logout; closed by the user it quits."""
        return self._quitting or not self.rooms_window.isVisible() or self.quit()

    def _account_logged_in(self, username: str, server: str) -> None:
        # The server's database id with its address: another server at the same address (a new
        # database) is another place, where none of this account's rooms or drafts belong.
        self._account = account_key(f"{server}#{self.session.server_id}", username)
        saved = self.settings.value(f"accounts/{self._account}/openRooms", "[]")
        try:
            ids = json.loads(str(saved))
        except ValueError:
            ids = []
        self._rooms_to_reopen = [int(i) for i in ids if isinstance(i, int)] if isinstance(ids, list) else []

    def _account_logged_out(self) -> None:
        self._account = ""
        self._rooms_to_reopen = []

    def _reopen_rooms(self) -> None:
        """The room list has loaded: reopen the rooms that were open when this account last quit
        (or logged out), in the order they were opened; rooms gone since are forgotten."""
        if not self._rooms_to_reopen or self.session.me is None:
            return
        wanted, self._rooms_to_reopen = self._rooms_to_reopen, []
        for room_id in wanted:
            if self.rooms.room(room_id) is not None:
                self.chat.open_room(room_id)
        self._remember_open_rooms()

    def _remember_open_rooms(self) -> None:
        """Written as the user opens and closes rooms, so it also holds after a crash; the
        windows the app closes itself (quitting, logging out) stay in it."""
        if self._account and not self._quitting:
            self.settings.setValue(f"accounts/{self._account}/openRooms", json.dumps(list(self.chat_windows)))

    # -- finding servers -----------------------------------------------------------------

    def _servers_found(self, found: list[FoundServer]) -> None:
        for server in found:
            # Announced with its certificate's fingerprint: picked, it connects without the prompt.
            self.account.expect_fingerprint(server.address, server.fingerprint)
        self.login_window.set_found([ServerEntry(f.name, f.address) for f in found])

    def _browse(self, on: bool) -> None:
        if on:
            self.discovery.start()
        else:
            self.discovery.stop()

    async def shutdown(self) -> None:
        self.discovery.stop()
        await self.account.shutdown()
        await self.hosting.stop()
        self.notifier.close()


class Confirm(Protocol):
    """``DesktopApp.confirm``: asks ``question`` (over the window ``over``, else the screen's
    centre); True for Yes."""

    def __call__(self, question: str, over: QWidget | None = None) -> bool: ...


def question_box(question: str, over: QWidget | None = None) -> QMessageBox:
    """The yes/no box ``DesktopApp.confirm`` shows (tests show it to take its picture), centred
    over the window ``over`` (its parent) when there is one. No is the default: each question
    guards something that cannot be undone (logging out every device, disconnecting people,
    creating an account, deleting a message), so a stray Enter must not say yes."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    box = QMessageBox(QMessageBox.Icon.Question, "gochat", question, buttons, over)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box


def create_application(argv: Sequence[str]) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv))
    assert isinstance(app, QApplication)
    app.setApplicationName("gochat")
    app.setOrganizationName("gochat")
    app.setWindowIcon(app_icon())
    app.setStyle("Fusion")
    app.setStyleSheet(stylesheet())
    return app


async def wait_until_closed(desktop: DesktopApp) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    desktop.quitRequested.connect(closed.set)
    desktop.start()
    await closed.wait()


def run(desktop: DesktopApp, loop: asyncio.AbstractEventLoop) -> None:
    """Run until the last window closes or Qt is told to quit, then shut down cleanly:
    log out, stop hosting (everyone disconnected with 1001, every write committed)."""
    # QApplication.quit() stops the loop before the wait completes (RuntimeError): shut down all the same.
    with contextlib.suppress(RuntimeError):
        loop.run_until_complete(wait_until_closed(desktop))
    loop.run_until_complete(desktop.shutdown())


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    parse_arguments(args)  # --help prints usage and exits 0, before any display is needed
    problem = check_platform(args)
    if problem:
        # Instead of Qt's abort with "no Qt platform plugin could be initialized".
        print(problem, file=sys.stderr)
        return 1
    app = create_application(args)
    desktop = DesktopApp()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        run(desktop, loop)
    return 0
