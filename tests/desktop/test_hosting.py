"""Hosting a server from the desktop app, and others joining it."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gochat.certificates import der_fingerprint
from gochat.desktop.account.trust_window import YES
from gochat.desktop.app import DesktopApp
from gochat.desktop.hosting.window import HostDialog
from gochat.discovery import lan_ipv4_addresses
from gochat.server.embedded import free_port
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot, all_sent, create_room, open_room, say, texts
from tests.helpers import PASSWORD, ChatClient, auth, register_and_login, unique_name


def open_host_dialog(
    qtbot: QtBot, desktop: DesktopApp, username: str, questions: list[str] | None = None
) -> HostDialog:
    """Type a username and password, then Host on this computer. Once the server runs the app
    asks before creating the account on it: answered yes here, each question kept in
    ``questions``."""
    asked = [] if questions is None else questions
    desktop.confirm = lambda question: asked.append(question) is None
    desktop.login_window.username.setText(username)
    desktop.login_window.password.setText(PASSWORD)
    qtbot.mouseClick(desktop.login_window.host_button, Qt.MouseButton.LeftButton)
    assert desktop.host_dialog is not None
    qtbot.waitUntil(desktop.host_dialog.isVisible, timeout=WAIT)
    return desktop.host_dialog


def join(qtbot: QtBot, desktop: DesktopApp, port: int, username: str, *, register: bool = True) -> None:
    """Log a desktop in to the server hosted on this computer's ``port`` (registering first),
    trusting its certificate when it serves https and asks (the first time)."""
    login = desktop.login_window
    login.server.setText(f"127.0.0.1:{port}")
    login.username.setText(username)
    login.password.setText(PASSWORD)
    qtbot.mouseClick(login.register_button if register else login.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: desktop.rooms_window.isVisible() or desktop.security_box is not None, timeout=WAIT)
    if desktop.security_box is not None:
        click_yes(qtbot, desktop.security_box)
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)


def click_yes(qtbot: QtBot, box: QMessageBox) -> None:
    """Click the button of a security question that says yes (trust, send in clear, forget)."""
    qtbot.waitUntil(box.isVisible, timeout=WAIT)
    [yes] = [button for button in box.buttons() if button.objectName() == YES]
    qtbot.mouseClick(yes, Qt.MouseButton.LeftButton)


def start_hosting(qtbot: QtBot, desktop: DesktopApp, dialog: HostDialog, port: int, *, others: bool) -> None:
    dialog.port.setValue(port)
    dialog.let_others_join.setChecked(others)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=30000)
    qtbot.waitUntil(desktop.rooms_window.hosting.isVisible, timeout=WAIT)


def pinned_to(fingerprint: str) -> ssl.SSLContext:
    """A client context that accepts exactly the certificate with this SHA-256 (what a joiner trusts)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # compared below, after the handshake, before anything is sent

    class Pinned(ssl.SSLObject):
        def do_handshake(self) -> None:
            super().do_handshake()
            assert der_fingerprint(self.getpeercert(binary_form=True) or b"") == fingerprint

    context.sslobject_class = Pinned
    return context


async def _plain_client(url: str, room_name: str, inbox: list[Any], fingerprint: str) -> None:
    """A plain websocket client (no gochat code but the protocol's numbers) joining the room,
    over https/wss to the certificate with ``fingerprint``."""
    context = pinned_to(fingerprint)
    async with httpx.AsyncClient(base_url=url, verify=context) as api:
        token, _ = await register_and_login(api)
        rooms = (await api.get("/api/rooms", headers=auth(token))).json()
        room_id = next(r["id"] for r in rooms if r["name"] == room_name)
    wss = url.replace("https://", "wss://", 1) + "/ws"
    async with connect(wss, additional_headers=auth(token), max_size=None, ssl=context) as ws:
        client = ChatClient(ws)
        await client.enter(room_id)
        ack = await client.say(room_id, "hello from a plain websocket client")
        inbox.append(ack.data["message"]["id"])
        try:
            while True:
                frame = await client.next(timeout=60)
                inbox.append(frame)
        except ConnectionClosed as closed:
            inbox.append(("closed", closed.rcvd.code if closed.rcvd else None))


def test_host_from_the_gui_others_join_and_stopping_disconnects_them_cleanly(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    host = make_desktop()
    host_name = unique_name("host")
    questions: list[str] = []
    dialog = open_host_dialog(qtbot, host, host_name, questions)
    screenshot(dialog, "host-dialog")
    port = free_port("127.0.0.1")
    start_hosting(qtbot, host, dialog, port, others=True)
    # Asked first, then registered (the answer was yes) and logged in to their own server.
    assert questions == [f"Create the account {host_name} on your server?"]
    assert host.session.me is not None
    assert host.session.me.username == host_name
    panel = host.rooms_window.hosting
    qtbot.waitUntil(lambda: f"this computer: 127.0.0.1:{port}" in panel.addresses.text(), timeout=WAIT)
    for ip in lan_ipv4_addresses():
        assert f"{ip}:{port}" in panel.addresses.text()
    screenshot(host.rooms_window, "hosting-panel")

    # A second desktop joins through the address shown for this computer (tests stay on loopback).
    guest = make_desktop()
    join(qtbot, guest, port, unique_name("guest"))

    create_room(qtbot, host, "lan party")
    host_chat = open_room(qtbot, host, "lan party")
    guest_chat = open_room(qtbot, guest, "lan party")
    say(qtbot, guest_chat, "hi host")
    # One after the other: two people typing at once are stored in the order they reach the server.
    qtbot.waitUntil(lambda: all_sent(guest_chat, 1), timeout=WAIT)
    say(qtbot, host_chat, "welcome!")
    qtbot.waitUntil(lambda: all_sent(host_chat, 2), timeout=WAIT)

    inbox: list[Any] = []
    fingerprint = host.hosting.fingerprint
    plain = qloop.create_task(_plain_client(f"https://127.0.0.1:{port}", "lan party", inbox, fingerprint))
    qtbot.waitUntil(lambda: "hello from a plain websocket client" in texts(host_chat), timeout=WAIT)
    # The host, a guest and a plain client: two people besides the host, as the stop question says.
    qtbot.waitUntil(lambda: panel.connected.text() == "2 other people connected", timeout=WAIT)
    screenshot(host.rooms_window, "hosting-three-connected")

    # Quitting while people are connected asks first; "no" keeps everything running.
    declined: list[str] = []
    host.confirm = lambda question: declined.append(question) is not None
    host.rooms_window.close()
    assert declined == ["You are hosting and 2 people are connected. Quit and disconnect them?"]
    assert host.rooms_window.isVisible()
    assert host.hosting.hosting

    asked: list[str] = []
    host.confirm = lambda question: asked.append(question) is None
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: plain.done(), timeout=30000)
    assert asked == ["2 people are connected. Stop hosting and disconnect them?"]
    assert inbox[-1] == ("closed", 1001)
    qtbot.waitUntil(guest_chat.banner.isVisible, timeout=WAIT)
    qtbot.waitUntil(host.login_window.isVisible, timeout=WAIT)
    # Said as information (the host's own doing), not in the error red.
    assert host.login_window.notice.text() == "You stopped hosting."
    assert host.login_window.notice.property("role") == "info"
    assert not host.login_window.errors["server"].isVisible()
    assert not host.hosting.hosting

    # Every acknowledged message is in the SQLite file in the user's data directory.
    with sqlite3.connect(data_home) as db:
        stored = [row[0] for row in db.execute("SELECT content FROM messages ORDER BY id")]
    assert stored == ["hi host", "welcome!", "hello from a plain websocket client"]
    screenshot(guest_chat, "guest-after-host-stopped")


def test_a_taken_port_is_said_and_a_free_one_offered(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        host = make_desktop()
        dialog = open_host_dialog(qtbot, host, unique_name("host"))
        dialog.port.setValue(taken)
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(dialog.use_free_port.isVisible, timeout=WAIT)
        assert dialog.error.text() == f"Port {taken} is in use by another program."
        assert dialog.start_button.isEnabled()
        screenshot(dialog, "port-taken")
        qtbot.mouseClick(dialog.use_free_port, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(host.rooms_window.isVisible, timeout=30000)
        assert host.hosting.server is not None
        assert host.hosting.server.port != taken
    # Only this computer can join when "let others join" is off.
    qtbot.waitUntil(host.rooms_window.hosting.isVisible, timeout=WAIT)
    assert host.rooms_window.hosting.addresses.text().startswith("Only this computer can join: 127.0.0.1:")


@pytest.mark.allow_logged_errors
def test_a_server_that_cannot_start_says_why(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    host = make_desktop()
    dialog = open_host_dialog(qtbot, host, unique_name("host"))
    dialog.advanced.setChecked(True)
    closed_port = free_port("127.0.0.1")
    dialog.database_url.setText(f"mysql+pymysql://nobody@127.0.0.1:{closed_port}/chat")
    dialog.port.setValue(free_port("127.0.0.1"))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.error.isVisible, timeout=30000)
    assert dialog.error.text().startswith(
        "The server could not start: cannot open the database: Can't connect to MySQL"
    )
    assert not host.hosting.hosting
    screenshot(dialog, "cannot-start")


def test_hosting_on_mariadb_and_redis_from_advanced(
    # The database fixtures come first so they outlive the app (torn down in reverse order).
    mariadb_url: str,
    redis_target: Any,
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    data_home: Path,
) -> None:
    host = make_desktop()
    dialog = open_host_dialog(qtbot, host, unique_name("host"))
    dialog.advanced.setChecked(True)
    dialog.database_url.setText(mariadb_url)
    dialog.redis_url.setText(redis_target.url)
    dialog.redis_prefix.setText(redis_target.prefix)  # this test's own keys, cleaned afterwards
    start_hosting(qtbot, host, dialog, free_port("127.0.0.1"), others=False)
    create_room(qtbot, host, "on mariadb")
    chat = open_room(qtbot, host, "on mariadb")
    say(qtbot, chat, "stored in MariaDB")
    qtbot.waitUntil(lambda: all_sent(chat, 1), timeout=WAIT)
    assert not data_home.exists()  # nothing went to the SQLite default


def test_one_click_path_host_then_register_then_chat(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    """A new user: Host on this computer (nothing typed yet) → Register → chat."""
    host = make_desktop()
    login = host.login_window
    qtbot.mouseClick(login.host_button, Qt.MouseButton.LeftButton)
    assert host.host_dialog is not None
    host.host_dialog.port.setValue(free_port("127.0.0.1"))
    qtbot.mouseClick(host.host_dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(login.notice.isVisible, timeout=30000)
    assert login.notice.text() == (
        f"Your server is running: register or log in to it.\nStorage: SQLite file {data_home} · cache: in-process cache"
    )
    assert login.notice.property("role") == "info"  # information, not an error
    assert not login.errors["server"].isVisible()
    assert login.server.text() == host.hosting.server.address  # type: ignore[union-attr]
    screenshot(login, "hosting-ready-to-register")
    login.username.setText(unique_name("first"))
    login.password.setText(PASSWORD)
    qtbot.mouseClick(login.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(host.rooms_window.isVisible, timeout=WAIT)
    create_room(qtbot, host, "my first room")
    chat = open_room(qtbot, host, "my first room")
    say(qtbot, chat, "hello, world")
    qtbot.waitUntil(lambda: all_sent(chat, 1), timeout=WAIT)


def test_the_panel_and_the_stop_question_count_the_same_people(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    """One guest on two devices, plus the host: one other person, said the same way in the
    panel and in the question (it used to count connections: "3 connected" beside "2 people")."""
    host = make_desktop()
    dialog = open_host_dialog(qtbot, host, unique_name("host"))
    port = free_port("127.0.0.1")
    start_hosting(qtbot, host, dialog, port, others=False)
    panel = host.rooms_window.hosting
    qtbot.waitUntil(lambda: panel.connected.text() == "No one else connected", timeout=WAIT)
    guest_name = unique_name("guest")
    join(qtbot, make_desktop(), port, guest_name)
    join(qtbot, make_desktop(), port, guest_name, register=False)  # the same person on a second device
    qtbot.waitUntil(lambda: host.hosting.connected_count() == 3, timeout=WAIT)
    qtbot.waitUntil(lambda: panel.connected.text() == "1 other person connected", timeout=WAIT)
    screenshot(host.rooms_window, "one-other-person")
    asked: list[str] = []
    host.confirm = lambda question: asked.append(question) is not None  # "no": keep hosting
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert asked == ["1 person is connected. Stop hosting and disconnect them?"]
    assert host.hosting.hosting


def test_logged_out_of_a_server_still_hosted_the_app_says_so_and_closing_asks_first(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    host = make_desktop()
    dialog = open_host_dialog(qtbot, host, unique_name("host"))
    port = free_port("127.0.0.1")
    start_hosting(qtbot, host, dialog, port, others=False)
    join(qtbot, make_desktop(), port, unique_name("guest"))
    qtbot.mouseClick(host.rooms_window.logout_button, Qt.MouseButton.LeftButton)
    login = host.login_window
    qtbot.waitUntil(login.isVisible, timeout=WAIT)
    assert host.hosting.hosting
    # The login window says the server still runs, and where.
    assert login.notice.isVisible()
    assert login.notice.text().startswith(f"Your server is running at 127.0.0.1:{port}")
    # Host on this computer does not offer a second start that could only hang.
    qtbot.mouseClick(login.host_button, Qt.MouseButton.LeftButton)
    assert dialog.isHidden()
    assert login.server.text() == f"127.0.0.1:{port}"
    screenshot(login, "still-hosting-after-logout")
    # Closing the login window quits, so it asks first, like every other way out.
    asked: list[str] = []
    host.confirm = lambda question: asked.append(question) is not None  # "no"
    login.close()
    assert asked == ["You are hosting and 1 person is connected. Quit and disconnect them?"]
    assert login.isVisible()
    assert host.hosting.hosting


def test_hosting_again_after_a_restart_offers_the_same_name_port_and_choices(
    qtbot: QtBot, make_desktop: MakeDesktop, qloop: asyncio.AbstractEventLoop, data_home: Path, screenshot: Shot
) -> None:
    """Before: after a restart the dialog offered "<user>'s gochat" on 8080, only this computer,
    again: a host who clicked Start hosting moved their server to another address, where the
    joiners' saved address (and the certificate they trusted for it) no longer led."""
    port = free_port()
    name = unique_name("host")
    host = make_desktop(profile="host")
    dialog = open_host_dialog(qtbot, host, name)
    dialog.name.setText("团队 Team")
    start_hosting(qtbot, host, dialog, port, others=True)
    shutdown = qloop.create_task(host.shutdown())
    qtbot.waitUntil(shutdown.done, timeout=30000)
    shutdown.result()

    again = make_desktop(profile="host")
    dialog = open_host_dialog(qtbot, again, name)
    assert dialog.name.text() == "团队 Team"
    assert dialog.port.value() == port
    assert dialog.let_others_join.isChecked()
    assert dialog.encrypt.isChecked()
    assert dialog.encrypt.isEnabled()
    assert not dialog.announce.isChecked()  # as it was: discovery stays off unless asked for
    assert not dialog.advanced.isChecked()  # database URLs (and their passwords) are not kept
    screenshot(dialog, "host-dialog-after-restart")
