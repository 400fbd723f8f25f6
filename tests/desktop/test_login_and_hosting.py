"""The login window and hosting as a new user meets them (issue 10, points 3, 9, 11, 13, 14, 17, 20).

Real windows, real servers on free ports: gochat's own, a web server that is not gochat, and a
socket that accepts connections and never answers.
"""

from __future__ import annotations

import http.server
import logging
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QGroupBox, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from gochat.desktop.account.login_window import FIRST_START_LINE, OR_TYPE_LINE, RETURNING_LINE, LoginWindow
from gochat.desktop.api import ApiError, parse_address
from gochat.desktop.app import DesktopApp, question_box
from gochat.desktop.hosting.window import HostDialog
from gochat.desktop.resources import stylesheet
from gochat.desktop.state import ServerEntry
from gochat.server.config import Settings, masked_url
from gochat.server.embedded import describe_storage, free_port
from gochat.server.runner import ServerThread
from tests.conftest import RedisTarget
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot
from tests.helpers import PASSWORD, scaled, unique_name

START = 30000  # starting a hosted server opens storage: give it time on a busy machine


# -- helpers ---------------------------------------------------------------------------


def answer(questions: list[str], reply: bool, screenshot: Shot | None = None) -> Callable[[str], bool]:
    """A replacement for DesktopApp.confirm: keeps each question, shows the real question box
    long enough to take its picture, and answers ``reply``."""

    def confirm(question: str) -> bool:
        questions.append(question)
        if screenshot is not None:
            box = question_box(question)
            box.show()
            screenshot(box, f"question-{len(questions)}")
            box.close()
            box.deleteLater()
        return reply

    return confirm


def host_from_login(qtbot: QtBot, desktop: DesktopApp, name: str = "") -> HostDialog:
    """Host on this computer → Start hosting, with whatever the login fields hold."""
    qtbot.mouseClick(desktop.login_window.host_button, Qt.MouseButton.LeftButton)
    dialog = desktop.host_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    if name:
        dialog.name.setText(name)
    dialog.port.setValue(free_port("127.0.0.1"))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    return dialog


def users_in(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("SELECT username FROM users")]


def window_rect(widget: QWidget) -> Any:
    """The widget's rectangle in its window's coordinates."""
    top_left = widget.mapTo(widget.window(), widget.rect().topLeft())
    return widget.rect().translated(top_left)


def has_colour(image: QImage, colour: QColor, tolerance: int = 40) -> bool:
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            pixel = image.pixelColor(x, y)
            if (
                abs(pixel.red() - colour.red()) < tolerance
                and abs(pixel.green() - colour.green()) < tolerance
                and abs(pixel.blue() - colour.blue()) < tolerance
            ):
                return True
    return False


ERROR_RED = QColor("#d1242f")


def login_window(qtbot: QtBot, settings: QSettings) -> LoginWindow:
    """A login window of its own (not wired to discovery: no multicast leaves a test)."""
    window = LoginWindow(settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def fresh_settings(tmp_path: Path, name: str = "settings.ini") -> QSettings:
    return QSettings(str(tmp_path / name), QSettings.Format.IniFormat)


# -- point 3: hosting never registers an account on its own -------------------------------


def test_hosting_with_typed_credentials_asks_before_creating_the_account(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    """Before: "Wrong username or password." flashed, then the account was registered unasked."""
    host = make_desktop()
    name = unique_name("小明")
    login = host.login_window
    login.username.setText(name)
    login.password.setText(PASSWORD)
    questions: list[str] = []
    host.confirm = answer(questions, True, screenshot)
    shown: list[tuple[str, str]] = []
    host.account.loginFailed.connect(lambda field, message: shown.append((field, message)))

    host_from_login(qtbot, host, "小明的 gochat 🚀")
    qtbot.waitUntil(host.rooms_window.isVisible, timeout=START)
    assert questions == [f"Create the account {name} on your server?"]
    assert shown == []  # no "Wrong username or password." on the way
    assert host.session.me is not None
    assert host.session.me.username == name
    assert users_in(data_home) == [name]
    qtbot.waitUntil(host.rooms_window.hosting.isVisible, timeout=WAIT)
    screenshot(host.rooms_window, "logged-in-to-own-server")


def test_hosting_declined_account_stays_on_the_login_window_with_a_neutral_note(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    host = make_desktop()
    name = unique_name("alice")
    login = host.login_window
    login.username.setText(name)
    login.password.setText(PASSWORD)
    questions: list[str] = []
    host.confirm = answer(questions, False)
    shown: list[tuple[str, str]] = []
    host.account.loginFailed.connect(lambda field, message: shown.append((field, message)))

    host_from_login(qtbot, host)
    qtbot.waitUntil(lambda: questions != [], timeout=START)
    assert host.hosting.server is not None
    address = host.hosting.server.address
    qtbot.waitUntil(lambda: "No account was created" in login.notice.text(), timeout=WAIT)
    assert questions == [f"Create the account {name} on your server?"]
    assert login.notice.text() == (
        f"Your server is running at {address}. No account was created: log in or register when you are ready."
        f"\nStorage: SQLite file {data_home} · cache: in-process cache"
    )
    assert login.notice.property("role") == "info"
    assert shown == []
    assert not any(label.isVisible() for label in login.errors.values())
    assert login.isVisible()
    assert not host.rooms_window.isVisible()
    assert (login.username.text(), login.password.text()) == (name, PASSWORD)  # nothing typed is lost
    assert login.focusWidget() is login.username
    assert users_in(data_home) == []
    screenshot(login, "declined-account")


def test_hosting_with_nothing_typed_leaves_the_login_to_the_person_with_an_info_notice(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    """Before: the notice was put in the Server field's error label, red."""
    host = make_desktop()
    login = host.login_window
    questions: list[str] = []
    host.confirm = answer(questions, True)
    dialog = host_from_login(qtbot, host)
    qtbot.waitUntil(lambda: host.hosting.hosting and not dialog.isVisible(), timeout=START)
    assert not login.errors["server"].isVisible()  # not told as an error
    assert login.notice.isVisible()
    assert login.notice.text().startswith("Your server is running: register or log in to it.")
    assert login.notice.property("role") == "info"
    assert 'QLabel[role="info"]' in stylesheet()
    picture = screenshot(login, "hosting-info-notice")
    notice = QImage(str(picture)).copy(window_rect(login.notice))
    assert not has_colour(notice, ERROR_RED), "the notice is drawn in the error red"
    assert questions == []
    assert users_in(data_home) == []
    # Point 17: the next keystroke goes into Username, not the Host button.
    assert login.focusWidget() is login.username


def test_stopping_and_hosting_again_logs_in_without_asking_and_leaves_no_gaps(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    host = make_desktop()
    name = unique_name("alice")
    login = host.login_window
    login.username.setText(name)
    login.password.setText(PASSWORD)
    questions: list[str] = []
    host.confirm = answer(questions, True)
    host_from_login(qtbot, host)
    qtbot.waitUntil(host.rooms_window.isVisible, timeout=START)
    assert questions == [f"Create the account {name} on your server?"]

    with qtbot.waitSignal(host.hosting.stopped, timeout=START):  # the stop is over, not only asked for
        qtbot.mouseClick(host.rooms_window.hosting.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(login.isVisible, timeout=START)
    assert login.notice.text() == "You stopped hosting."
    assert login.notice.property("role") == "info"
    assert login.focusWidget() is login.password  # the username is there: the password is next
    # The window fits what it shows now: no gap where the earlier notice was.
    layout = login.layout()
    assert login.height() == layout.totalHeightForWidth(login.width())
    screenshot(login, "stopped-hosting")

    # Hosting again on the same data: the account exists, so it logs in without a question.
    login.password.setText(PASSWORD)
    host_from_login(qtbot, host)
    qtbot.waitUntil(host.rooms_window.isVisible, timeout=START)
    assert questions == [f"Create the account {name} on your server?"]  # not asked again
    assert users_in(data_home) == [name]


# -- point 17: focus where the next keystroke belongs --------------------------------------


def test_after_hosting_with_a_username_the_focus_is_in_password(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path
) -> None:
    """Before: the focus stayed on the Host button ("Tab, alice, Tab, password" went wrong)."""
    host = make_desktop()
    login = host.login_window
    login.username.setText("alice")
    dialog = host_from_login(qtbot, host)
    qtbot.waitUntil(lambda: host.hosting.hosting and not dialog.isVisible(), timeout=START)
    assert login.focusWidget() is not login.host_button
    assert login.focusWidget() is login.password


def test_after_register_the_focus_is_in_the_room_search_not_on_log_out(
    qtbot: QtBot, make_desktop: MakeDesktop, sqlite_server: ServerThread
) -> None:
    """Before: the room list opened with the focus on "Log out"; a stray Enter logged out."""
    desktop = make_desktop()
    login = desktop.login_window
    login.server.setText(sqlite_server.url.removeprefix("http://"))
    login.username.setText(unique_name("bob"))
    login.password.setText(PASSWORD)
    qtbot.mouseClick(login.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)
    rooms = desktop.rooms_window
    assert rooms.focusWidget() is rooms.search
    assert rooms.focusWidget() is not rooms.logout_button


# -- point 9: addresses as people write them; what answered; a way out -----------------------


@pytest.mark.parametrize(
    ("typed", "base_url"),
    [
        ("192.168.1.5", "http://192.168.1.5:8080"),
        ("chat.example.com", "http://chat.example.com:8080"),
        ("chat.example.com:9000", "http://chat.example.com:9000"),
        ("http://example.invalid", "http://example.invalid:80"),
        ("https://chat.example.com", "https://chat.example.com:443"),
        ("https://chat.example.com:8443/", "https://chat.example.com:8443"),
        ("HTTP://Chat.Example.com:81", "http://chat.example.com:81"),
        ("[::1]:8080", "http://[::1]:8080"),
        ("http://[fe80::1]:9000", "http://[fe80::1]:9000"),
        ("[::1]", "http://[::1]:8080"),
        ("::1", "http://[::1]:8080"),
        ("  localhost:8080  ", "http://localhost:8080"),
        ("聊天.example", "http://聊天.example:8080"),
    ],
)
def test_addresses_are_read_as_people_write_them(typed: str, base_url: str) -> None:
    """Before: a scheme without a port still meant 8080."""
    assert parse_address(typed).base_url == base_url


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "not a server address!",
            "“not a server address!” is not a server address: an address has no spaces "
            "(for example 192.168.1.5:8080 or chat.example.com).",
        ),
        ("http://", "“http://” has no server name or IP address after http://."),
        ("host:99999", "The port must be a number from 1 to 65535, not 99999."),
        ("host:0", "The port must be a number from 1 to 65535, not 0."),
        ("host:http", "The port must be a number from 1 to 65535, not http."),
        ("ftp://x", "gochat servers are reached over http:// or https://, not ftp://."),
        ("host!", "“!” cannot be part of a server address (for example 192.168.1.5:8080 or chat.example.com)."),
        ("300.1.2.3", "300.1.2.3 is not an IP address: it has four numbers from 0 to 255."),
        ("[::1", "The IPv6 address needs its closing bracket: [::1]:8080."),
        ("[nope]:80", "nope in brackets is not an IPv6 address."),
        ("fe80::1:zz:9000", "Put an IPv6 address in brackets, with the port after them: [fe80::1]:9000."),
        ("host:", "“host:” needs a port number after the colon, or no colon."),
        (
            "http://host/chat",
            "Type only the server's address, without “/chat” after it (for example 192.168.1.5:8080 "
            "or chat.example.com).",
        ),
    ],
)
def test_impossible_addresses_say_what_is_wrong(typed: str, message: str) -> None:
    with pytest.raises(ApiError) as refused:
        parse_address(typed)
    assert refused.value.message == message
    assert refused.value.field == "server"


def test_an_impossible_address_is_refused_in_the_window_before_connecting(
    qtbot: QtBot, make_desktop: MakeDesktop, screenshot: Shot
) -> None:
    """Before: "Cannot reach not a server address!:8080." after trying to connect."""
    desktop = make_desktop()
    login = desktop.login_window
    busy: list[bool] = []
    desktop.account.busyChanged.connect(busy.append)
    login.username.setText("alice")
    login.password.setText(PASSWORD)
    for number, typed in enumerate(["not a server address!", "http://", "host:99999", "ftp://x"]):
        login.server.setText(typed)
        qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
        expected = ApiError("")
        try:
            parse_address(typed)
        except ApiError as error:
            expected = error
        qtbot.waitUntil(lambda e=expected: login.errors["server"].text() == e.message, timeout=WAIT)
        assert login.errors["server"].isVisible()
        assert login.server.text() == typed  # kept, to be corrected
        screenshot(login, f"address-error-{number}")
    assert busy == []  # never connecting
    assert not desktop.settings.contains("server")  # an address that never worked is not remembered


class _NotGochat(http.server.BaseHTTPRequestHandler):
    """Answers like some other web server. A handler without do_GET answers 501."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _HtmlPage(_NotGochat):
    def do_GET(self) -> None:
        self.answer(200, "text/html; charset=utf-8", b"<!doctype html><html><body><h1>It works!</h1></body></html>")


class _OtherJson(_NotGochat):
    def do_GET(self) -> None:
        self.answer(404, "application/json", b'{"detail": "Not Found"}')


class _HealthWithoutProtocol(_NotGochat):
    def do_GET(self) -> None:
        self.answer(200, "application/json", b'{"status": "ok"}')


@pytest.fixture
def web_server() -> Iterator[Callable[[type[http.server.BaseHTTPRequestHandler]], str]]:
    """Starts tiny HTTP servers on loopback free ports; returns their host:port."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_web_server_that_is_not_gochat_is_named_as_such(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    web_server: Callable[[type[http.server.BaseHTTPRequestHandler]], str],
    screenshot: Shot,
) -> None:
    """Before: "The server answered 501." (and a web page answering 200 was not noticed)."""
    desktop = make_desktop()
    login = desktop.login_window
    login.username.setText("alice")
    login.password.setText(PASSWORD)
    cases = [
        (_NotGochat, "answered 501 Not Implemented."),
        (_HtmlPage, "answered with a web page."),
        (_OtherJson, "answered 404 Not Found."),
        (_HealthWithoutProtocol, "answered 200 OK, but not as gochat does."),
    ]
    for number, (handler, what) in enumerate(cases):
        address = web_server(handler)
        login.server.setText(address)
        qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
        expected = f"That is not a gochat server: {address} {what}"
        qtbot.waitUntil(lambda e=expected: login.errors["server"].text() == e, timeout=WAIT)
        assert login.login_button.isEnabled()
        screenshot(login, f"not-gochat-{number}")
    assert desktop.session.me is None


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections (the kernel completes them for a listening socket)
    and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_a_server_that_never_answers_times_out_saying_what_it_waited_for(
    qtbot: QtBot, make_desktop: MakeDesktop, silent_server: str, screenshot: Shot
) -> None:
    """Before: "Connecting…" for 10 s, then "… did not answer in time."."""
    desktop = make_desktop()
    desktop.account.request_timeout = 0.5
    login = desktop.login_window
    login.server.setText(silent_server)
    login.username.setText("alice")
    login.password.setText(PASSWORD)
    busy: list[bool] = []
    desktop.account.busyChanged.connect(busy.append)
    qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
    expected = f"{silent_server} accepted the connection but did not answer within 0.5 s."
    qtbot.waitUntil(lambda: login.errors["server"].text() == expected, timeout=5000)
    assert busy == [True, False]
    assert not login.busy.isVisible()
    assert login.login_button.isEnabled()
    screenshot(login, "timed-out")


@pytest.fixture
def hang_up_server() -> Iterator[str]:
    """A server that reads each request and closes the connection without a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            with connection:
                connection.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(scaled(10))


def test_a_server_that_hangs_up_without_answering_is_named_as_not_gochat(
    qtbot: QtBot, make_desktop: MakeDesktop, hang_up_server: str
) -> None:
    desktop = make_desktop()
    login = desktop.login_window
    login.server.setText(hang_up_server)
    login.username.setText("alice")
    login.password.setText(PASSWORD)
    qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
    expected = f"That is not a gochat server: {hang_up_server} closed the connection without an answer."
    qtbot.waitUntil(lambda: login.errors["server"].text() == expected, timeout=WAIT)
    assert login.login_button.isEnabled()
    assert desktop.session.me is None


def test_cancel_while_connecting_gives_the_form_back_with_what_was_typed(
    qtbot: QtBot, make_desktop: MakeDesktop, silent_server: str, sqlite_server: ServerThread, screenshot: Shot
) -> None:
    """Before: no way out of "Connecting…" (there was no Cancel)."""
    desktop = make_desktop()
    login = desktop.login_window
    name = unique_name("alice")
    login.server.setText(silent_server)
    login.username.setText(name)
    login.password.setText(PASSWORD)
    qtbot.mouseClick(login.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(login.busy.isVisible, timeout=WAIT)
    assert login.cancel_button.isVisible()
    assert login.busy_label.text() == f"Connecting to {silent_server}…"
    assert not login.server.isEnabled()
    screenshot(login, "connecting-with-cancel")

    qtbot.mouseClick(login.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not login.busy.isVisible(), timeout=2000)  # at once, not after 10 s
    assert not login.cancel_button.isVisible()
    assert all(field.isEnabled() for field in (login.server, login.username, login.password))
    assert (login.server.text(), login.username.text(), login.password.text()) == (silent_server, name, PASSWORD)
    assert not any(label.isVisible() for label in login.errors.values())
    screenshot(login, "cancelled")

    # The form works again: the right address this time, remembered for the next start.
    right = sqlite_server.url.removeprefix("http://")
    login.server.setText(right)
    qtbot.mouseClick(login.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)
    assert desktop.settings.value("server") == right
    assert desktop.settings.value("username") == name


# -- point 11: the first window says a server is needed and shows the ways to one -----------


def test_first_start_leads_with_host_and_find_then_the_address(qtbot: QtBot, tmp_path: Path, screenshot: Shot) -> None:
    """Before: "Chat rooms on your own server." over the form, Host and Find below it."""
    window = login_window(qtbot, fresh_settings(tmp_path))
    host_y = window_rect(window.host_button).top()
    assert host_y < window_rect(window.server).top()
    assert window_rect(window.find_button).top() == host_y
    assert window.subtitle.text() == FIRST_START_LINE
    assert window.subtitle.isVisible()
    assert host_y < window_rect(window.or_label).top() < window_rect(window.server).top()
    assert window.or_label.text() == OR_TYPE_LINE
    assert window.host_button.property("primary") is True
    assert window.host_button.height() > window.login_button.height()  # prominent
    # Point 17: typing goes into the address field, not onto Host (a space would press it).
    assert window.focusWidget() is window.server
    screenshot(window, "first-start")


def test_with_a_saved_server_the_window_opens_on_the_form(qtbot: QtBot, tmp_path: Path, screenshot: Shot) -> None:
    settings = fresh_settings(tmp_path)
    settings.setValue("server", "chat.example.com:8080")
    settings.setValue("username", "alice")
    window = login_window(qtbot, settings)
    # As before this issue: the form first, Host and Find under it.
    assert window.server.text() == "chat.example.com:8080"
    assert window_rect(window.server).top() < window_rect(window.host_button).top()
    shown = [label.text() for label in window.findChildren(QLabel) if label.isVisible()]
    assert RETURNING_LINE in shown
    assert FIRST_START_LINE not in shown
    assert OR_TYPE_LINE not in shown
    assert window.focusWidget() is window.password
    screenshot(window, "returning")


# -- point 13: the login window and host dialog fit what they show ----------------------------


FOUND = [ServerEntry(f"server {n}", f"192.168.1.{n}:8080") for n in range(1, 5)]


@pytest.mark.parametrize("saved", [False, True], ids=["first-start", "returning"])
def test_the_login_window_shrinks_back_after_find_servers_is_turned_off(
    qtbot: QtBot, tmp_path: Path, screenshot: Shot, saved: bool
) -> None:
    """Before: the window kept the list's height, in big gaps between the rows."""
    settings = fresh_settings(tmp_path)
    if saved:
        settings.setValue("server", "chat.example.com:8080")
    window = login_window(qtbot, settings)
    closed_height = window.height()
    qtbot.mouseClick(window.find_button, Qt.MouseButton.LeftButton)
    window.set_found(FOUND)
    qtbot.waitUntil(lambda: window.height() > closed_height, timeout=WAIT)
    screenshot(window, "servers-listed")
    qtbot.mouseClick(window.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.height() == closed_height, timeout=WAIT)
    assert not window.found.isVisible()
    screenshot(window, "servers-closed")


def _column_is_clear(window: LoginWindow) -> None:
    """Every field at its full height, and no message drawn over a field."""
    for field in (window.server, window.username, window.password):
        assert field.height() >= field.sizeHint().height(), field.placeholderText()
    for key, field in (("server", window.server), ("username", window.username), ("password", window.password)):
        label = window.errors[key]
        if label.isVisible():
            assert label.height() >= label.heightForWidth(label.width()), key
            below = {"server": window.username, "username": window.password, "password": window.login_button}[key]
            assert not window_rect(label).intersects(window_rect(below)), key
            assert not window_rect(label).intersects(window_rect(field)), key


def test_an_error_never_clips_the_username_field_while_the_server_list_is_open(
    qtbot: QtBot, tmp_path: Path, screenshot: Shot
) -> None:
    settings = fresh_settings(tmp_path)
    settings.setValue("server", "chat.example.com:8080")
    window = login_window(qtbot, settings)
    qtbot.mouseClick(window.find_button, Qt.MouseButton.LeftButton)
    window.set_found(FOUND)
    window.show_error(
        "server",
        "Cannot reach a-rather-long-server-name.in-some-office.example.com:8080: the name "
        "a-rather-long-server-name.in-some-office.example.com is not known.",
    )
    window.show_error("username", "Type your username.")
    QApplication.processEvents()
    _column_is_clear(window)
    screenshot(window, "long-error-with-server-list")
    window.clear_errors()
    _column_is_clear(window)


def test_the_host_dialog_shows_advanced_only_while_ticked(qtbot: QtBot, screenshot: Shot) -> None:
    """Before: unticked, Advanced stayed as an empty framed box."""
    dialog = HostDialog("alice's gochat")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    closed_height = dialog.height()
    assert not dialog.database_url.isVisible()
    screenshot(dialog, "advanced-off")

    empty_frames = [
        box
        for box in dialog.findChildren(QGroupBox)
        if box.isVisible() and not any(field.isVisible() for field in box.findChildren(QLineEdit))
    ]
    assert empty_frames == []  # unticked, nothing of Advanced but its tick box

    dialog.advanced.setChecked(True)
    qtbot.waitUntil(dialog.database_url.isVisible, timeout=WAIT)
    assert dialog.redis_url.isVisible()
    assert dialog.height() > closed_height
    screenshot(dialog, "advanced-on")

    dialog.advanced.setChecked(False)
    qtbot.waitUntil(lambda: not dialog.database_url.isVisible(), timeout=WAIT)
    assert not dialog.redis_url.isVisible()
    assert dialog.height() == closed_height  # no gap where the fields were
    screenshot(dialog, "advanced-off-again")


# -- point 14: the Redis key prefix under Advanced -------------------------------------------


def test_the_host_dialog_passes_the_redis_key_prefix_and_the_panel_names_the_storage(
    # The database fixtures come first so they outlive the app (torn down in reverse order).
    mariadb_url: str,
    redis_target: RedisTarget,
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    data_home: Path,
    screenshot: Shot,
) -> None:
    host = make_desktop()
    host.confirm = answer([], True)
    login = host.login_window
    login.username.setText(unique_name("host"))
    login.password.setText(PASSWORD)
    qtbot.mouseClick(login.host_button, Qt.MouseButton.LeftButton)
    dialog = host.host_dialog
    assert dialog is not None
    dialog.port.setValue(free_port("127.0.0.1"))
    dialog.advanced.setChecked(True)
    dialog.database_url.setText(mariadb_url)
    dialog.redis_url.setText(redis_target.url)
    assert dialog.redis_prefix.isVisible()
    dialog.redis_prefix.setText(redis_target.prefix)
    assert dialog.options().redis_prefix == redis_target.prefix
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(host.rooms_window.isVisible, timeout=START)
    assert host.hosting.server is not None
    assert host.hosting.server.settings.redis_prefix == redis_target.prefix

    rooms = host.rooms_window
    rooms.new_name.setText("prefixed")
    qtbot.mouseClick(rooms.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "prefixed" in rooms.visible_room_names(), timeout=WAIT)
    client = redis.Redis.from_url(redis_target.url)
    try:
        assert list(client.scan_iter(match=f"{redis_target.prefix}*")), "no key under the prefix"
    finally:
        client.close()

    # Point 20: the panel says where the messages are (no password in this URL to mask).
    panel = rooms.hosting
    qtbot.waitUntil(panel.storage.isVisible, timeout=WAIT)
    assert panel.storage.text() == f"Storage: MySQL {masked_url(mariadb_url)} · cache: Redis {redis_target.url}"
    screenshot(rooms, "hosting-on-mariadb-and-redis")


def test_an_empty_prefix_keeps_the_servers_default() -> None:
    from gochat.server.embedded import EmbeddedServer

    server = EmbeddedServer.for_desktop(name="x", port=0, let_others_join=False, redis_prefix="")
    assert server.settings.redis_prefix == Settings().redis_prefix


# -- point 20: which storage and cache; a failed start in one line ----------------------------


def test_the_hosting_panel_names_the_sqlite_file(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    """Before: hosting never said where the messages were kept."""
    host = make_desktop()
    host.confirm = answer([], True)
    host.login_window.username.setText(unique_name("host"))
    host.login_window.password.setText(PASSWORD)
    host_from_login(qtbot, host)
    qtbot.waitUntil(host.rooms_window.isVisible, timeout=START)
    panel = host.rooms_window.hosting
    qtbot.waitUntil(panel.storage.isVisible, timeout=WAIT)
    assert panel.storage.text() == f"Storage: SQLite file {data_home} · cache: in-process cache"
    screenshot(host.rooms_window, "hosting-panel-storage")


def test_storage_descriptions_mask_passwords() -> None:
    settings = Settings(
        database_url="mysql+pymysql://chat:s3cret@db.example:3306/chat",
        redis_url="redis://:hunter2@cache.example:6379/0",
    )
    described = describe_storage(settings)
    assert described == (
        "Storage: MySQL mysql+pymysql://chat:***@db.example:3306/chat · cache: Redis redis://:***@cache.example:6379/0"
    )
    assert "s3cret" not in described
    assert "hunter2" not in described


@pytest.mark.allow_logged_errors
def test_a_bad_mysql_url_is_said_in_the_dialog_and_logged_in_one_line_without_traceback(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    data_home: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Before: the dialog was right, but an 80-line traceback went to stderr."""
    caplog.set_level(logging.DEBUG)
    host = make_desktop()
    qtbot.mouseClick(host.login_window.host_button, Qt.MouseButton.LeftButton)
    dialog = host.host_dialog
    assert dialog is not None
    dialog.advanced.setChecked(True)
    dialog.database_url.setText(f"mysql+pymysql://nobody@127.0.0.1:{free_port('127.0.0.1')}/chat")
    dialog.port.setValue(free_port("127.0.0.1"))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.error.isVisible, timeout=START)
    assert dialog.error.text().startswith("The server could not start: cannot open the database: Can't connect")
    loud = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(loud) <= 1, [record.getMessage() for record in loud]
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage()
    if loud:
        assert loud[0].getMessage() == dialog.error.text()
    assert "Traceback" not in capfd.readouterr().err

    # Opened again (perhaps to untick Advanced), it does not show last attempt's message.
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(host.login_window.host_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    assert not dialog.error.isVisible()


# The TLS hello the client sends first is not HTTP: uvicorn rightly says so.
@pytest.mark.expect_log(logger="uvicorn.error", text="Invalid HTTP request received.")
def test_https_to_a_plain_gochat_server_says_what_to_type_instead(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    """Before: "Cannot reach 127.0.0.1:PORT.", the scheme gone from the words."""
    desktop = make_desktop()
    login = desktop.login_window
    address = server.url.removeprefix("http://")
    login.server.setText(f"https://{address}")
    login.username.setText("alice")
    login.password.setText(PASSWORD)
    qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
    expected = (
        f"{address} does not answer HTTPS: if it is a plain gochat server, type http://{address} (or just {address})."
    )
    qtbot.waitUntil(lambda: login.errors["server"].text() == expected, timeout=WAIT)
    screenshot(login, "https-to-http")
