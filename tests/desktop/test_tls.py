"""TLS in the desktop app (issue 12): hosting for the LAN serves https with a certificate made on
first use; joiners trust a server's certificate on first use by its SHA-256 fingerprint, remember
it, and refuse a changed one; a bare address tries https before asking to send a password in clear.

Real servers on free ports: the hosted one, and ServerThreads with certificates from
gochat/certificates.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

import gochat.desktop.account.controller as account_controller
from gochat.certificates import CertificatePair, display_fingerprint, make_self_signed, self_signed_in
from gochat.desktop.app import DesktopApp
from gochat.desktop.windows.fingerprint import fingerprint_lines
from gochat.server.config import Settings
from gochat.server.embedded import free_port
from gochat.server.runner import ServerThread
from tests.desktop.servers import stop_server
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot
from tests.desktop.test_hosting import click_yes, open_host_dialog, start_hosting
from tests.helpers import PASSWORD, auth, unique_name


@pytest.fixture
def certificate(tmp_path: Path) -> CertificatePair:
    return self_signed_in(tmp_path / "tls")


@pytest.fixture
def tls_server(
    sqlite_settings: Settings, certificate: CertificatePair, qloop: asyncio.AbstractEventLoop
) -> Iterator[ServerThread]:
    """A gochat server speaking only https/wss, with a self-signed certificate."""
    settings = dataclasses.replace(
        sqlite_settings, certfile=str(certificate.certfile), keyfile=str(certificate.keyfile)
    )
    thread = ServerThread(settings)
    thread.start()
    yield thread
    stop_server(thread)


def submit(qtbot: QtBot, desktop: DesktopApp, address: str, username: str, *, register: bool = True) -> None:
    login = desktop.login_window
    login.server.setText(address)
    login.username.setText(username)
    login.password.setText(PASSWORD)
    qtbot.mouseClick(login.register_button if register else login.login_button, Qt.MouseButton.LeftButton)


def security_box(qtbot: QtBot, desktop: DesktopApp) -> QMessageBox:
    qtbot.waitUntil(lambda: desktop.security_box is not None and desktop.security_box.isVisible(), timeout=WAIT)
    assert desktop.security_box is not None
    return desktop.security_box


# -- hosting ----------------------------------------------------------------------------------


def test_hosting_for_the_lan_serves_https_and_the_panel_shows_the_fingerprint(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path, screenshot: Shot
) -> None:
    """Before: "Let others on my network join" served plain http: passwords crossed the LAN in clear."""
    host = make_desktop()
    dialog = open_host_dialog(qtbot, host, unique_name("host"))
    dialog.let_others_join.setChecked(True)
    assert dialog.encrypt.isEnabled()
    assert dialog.encrypt.isChecked()
    screenshot(dialog, "host-dialog-encrypted")
    port = free_port("127.0.0.1")
    start_hosting(qtbot, host, dialog, port, others=True)
    server = host.hosting.server
    assert server is not None
    assert server.settings.tls
    # Made on first use in the data directory, the key readable by this user only.
    pair = self_signed_in(data_home.parent / "tls")
    assert (pair.keyfile.stat().st_mode & 0o777) == 0o600
    assert host.hosting.fingerprint == pair.fingerprint
    # The host is on their own server over https, trusted without a question.
    assert host.session.api is not None
    assert host.session.api.base_url == f"https://127.0.0.1:{port}"
    assert host.security_box is None

    panel = host.rooms_window.hosting
    qtbot.waitUntil(panel.fingerprint.isVisible, timeout=WAIT)
    assert panel.fingerprint.text() == fingerprint_lines(pair.fingerprint)
    assert panel.fingerprint.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    qtbot.mouseClick(panel.copy_fingerprint, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == display_fingerprint(pair.fingerprint)
    # It fits: two lines, no wider than the window.
    assert panel.fingerprint.sizeHint().width() < host.rooms_window.width()
    screenshot(host.rooms_window, "hosting-panel-fingerprint")

    # Hosting again keeps the certificate: joiners who trusted it keep trusting it.
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not host.hosting.hosting, timeout=WAIT)
    assert self_signed_in(data_home.parent / "tls").fingerprint == pair.fingerprint


def test_hosting_for_this_computer_only_stays_plain_http(
    qtbot: QtBot, make_desktop: MakeDesktop, data_home: Path
) -> None:
    host = make_desktop()
    dialog = open_host_dialog(qtbot, host, unique_name("host"))
    assert not dialog.encrypt.isEnabled()
    start_hosting(qtbot, host, dialog, free_port("127.0.0.1"), others=False)
    server = host.hosting.server
    assert server is not None
    assert not server.settings.tls
    assert host.session.api is not None
    assert host.session.api.base_url.startswith("http://")
    assert host.hosting.fingerprint == ""
    qtbot.wait(1100)  # one status refresh
    assert not host.rooms_window.hosting.fingerprint_box.isVisible()
    assert not (data_home.parent / "tls").exists()


# -- trust on first use -----------------------------------------------------------------------


def test_first_connection_asks_with_the_fingerprint_then_remembers_it(
    qtbot: QtBot, make_desktop: MakeDesktop, tls_server: ServerThread, certificate: CertificatePair, screenshot: Shot
) -> None:
    """Before: a desktop could not reach an https server with a self-signed certificate at all."""
    address = tls_server.url.removeprefix("https://")
    name = unique_name("joiner")
    desktop = make_desktop(profile="joiner")
    submit(qtbot, desktop, address, name)
    box = security_box(qtbot, desktop)
    assert f"First connection to {address}" in box.text()
    assert fingerprint_lines(certificate.fingerprint) in box.informativeText()
    screenshot(box, "trust-on-first-use")
    assert desktop.session.me is None  # nothing sent yet: the password waits for the answer
    click_yes(qtbot, box)
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)
    assert desktop.session.api is not None
    assert desktop.session.api.base_url == tls_server.url
    qtbot.waitUntil(lambda: desktop.session.online, timeout=WAIT)  # wss pinned the same way
    assert desktop.known_servers.fingerprint(address) == certificate.fingerprint

    # The same person later (the same settings): no question.
    qtbot.mouseClick(desktop.rooms_window.logout_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(desktop.login_window.isVisible, timeout=WAIT)
    submit(qtbot, desktop, address, name, register=False)
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)
    assert desktop.security_box is None


def test_declining_the_certificate_sends_nothing(
    qtbot: QtBot, make_desktop: MakeDesktop, tls_server: ServerThread
) -> None:
    address = tls_server.url.removeprefix("https://")
    desktop = make_desktop()
    name = unique_name("careful")
    submit(qtbot, desktop, address, name)
    box = security_box(qtbot, desktop)
    box.button(QMessageBox.StandardButton.Cancel).click()
    login = desktop.login_window
    expected = f"Not connected: you did not trust the certificate of {address}."
    qtbot.waitUntil(lambda: login.errors["server"].text() == expected, timeout=WAIT)
    assert desktop.known_servers.fingerprint(address) == ""

    async def registered() -> int:
        async with httpx.AsyncClient(base_url=tls_server.url, verify=False) as api:
            response = await api.post("/api/login", json={"username": name, "password": PASSWORD})
            return response.status_code

    task = asyncio.ensure_future(registered())
    qtbot.waitUntil(task.done, timeout=WAIT)
    assert task.result() == 401  # the registration never reached the server


def test_a_changed_certificate_is_refused_with_a_warning(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    tls_server: ServerThread,
    certificate: CertificatePair,
    tmp_path: Path,
    screenshot: Shot,
) -> None:
    address = tls_server.url.removeprefix("https://")
    desktop = make_desktop()
    trusted = make_self_signed(tmp_path / "the-real-one").fingerprint
    desktop.known_servers.remember(address, trusted)  # trusted earlier: another certificate
    submit(qtbot, desktop, address, unique_name("victim"))
    box = security_box(qtbot, desktop)
    assert box.icon() == QMessageBox.Icon.Warning
    assert "is not showing the certificate you trusted" in box.text()
    assert fingerprint_lines(certificate.fingerprint) in box.informativeText()
    assert fingerprint_lines(trusted) in box.informativeText()
    screenshot(box, "certificate-changed")
    login = desktop.login_window
    assert "showed a different certificate from the one you trusted" in login.errors["server"].text()
    assert desktop.session.me is None
    # Refused, not replaced: the certificate trusted before is kept unless the person forgets it.
    box.button(QMessageBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: desktop.security_box is None, timeout=WAIT)
    assert desktop.known_servers.fingerprint(address) == trusted

    # Forgetting it (having compared with the host) makes the next login ask about the new one.
    submit(qtbot, desktop, address, unique_name("victim"))
    click_yes(qtbot, security_box(qtbot, desktop))
    qtbot.waitUntil(lambda: desktop.known_servers.fingerprint(address) == "", timeout=WAIT)
    submit(qtbot, desktop, address, unique_name("victim"))
    assert f"First connection to {address}" in security_box(qtbot, desktop).text()


def test_forgetting_a_changed_certificate_clears_the_refusal_under_the_address(
    qtbot: QtBot, make_desktop: MakeDesktop, tls_server: ServerThread, tmp_path: Path, screenshot: Shot
) -> None:
    """Before: after "Forget the certificate trusted before" the notice said the next login asks
    about the new one, while the red refusal under Server still said it may be an impostor."""
    address = tls_server.url.removeprefix("https://")
    desktop = make_desktop()
    desktop.known_servers.remember(address, make_self_signed(tmp_path / "the-real-one").fingerprint)
    submit(qtbot, desktop, address, unique_name("victim"))
    click_yes(qtbot, security_box(qtbot, desktop))
    qtbot.waitUntil(lambda: desktop.known_servers.fingerprint(address) == "", timeout=WAIT)
    login = desktop.login_window
    qtbot.waitUntil(login.notice.isVisible, timeout=WAIT)
    assert "is forgotten" in login.notice.text()
    assert not login.errors["server"].isVisible()
    screenshot(login, "certificate-forgotten")


# -- which scheme -----------------------------------------------------------------------------


# The TLS hello the app tries first is not HTTP: the plain server rightly says so.
@pytest.mark.expect_log(logger="uvicorn.error", text="Invalid HTTP request received.")
def test_a_bare_address_tries_https_then_asks_before_sending_a_password_in_clear(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, monkeypatch: pytest.MonkeyPatch, screenshot: Shot
) -> None:
    """Before: a bare address meant plain http, and the password crossed the network in clear."""
    # As if the server were another machine on the LAN (the test's traffic stays on loopback).
    monkeypatch.setattr(account_controller, "is_loopback", lambda _host: False)
    address = server.url.removeprefix("http://")
    desktop = make_desktop()
    name = unique_name("lan")
    submit(qtbot, desktop, address, name)
    box = security_box(qtbot, desktop)
    assert box.text() == f"{address} does not use encryption (HTTPS)."
    screenshot(box, "send-in-clear")
    box.button(QMessageBox.StandardButton.Cancel).click()
    login = desktop.login_window
    qtbot.waitUntil(lambda: login.errors["server"].text().startswith("Not connected:"), timeout=WAIT)
    assert desktop.session.me is None

    submit(qtbot, desktop, address, name)
    click_yes(qtbot, security_box(qtbot, desktop))
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)
    assert desktop.session.api is not None
    assert desktop.session.api.base_url == server.url


@pytest.mark.expect_log(logger="uvicorn.error", text="Invalid HTTP request received.")
def test_a_server_that_used_https_and_now_answers_plain_http_is_refused(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(account_controller, "is_loopback", lambda _host: False)
    address = server.url.removeprefix("http://")
    desktop = make_desktop()
    desktop.known_servers.remember(address, make_self_signed(tmp_path / "before").fingerprint)
    submit(qtbot, desktop, address, unique_name("lan"))
    login = desktop.login_window
    qtbot.waitUntil(lambda: "now answers only without encryption" in login.errors["server"].text(), timeout=WAIT)
    assert desktop.security_box is None  # not even asked
    assert desktop.session.me is None


def test_a_bare_loopback_address_reaches_https_and_plain_http_without_asking(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, tls_server: ServerThread
) -> None:
    plain = make_desktop()
    submit(qtbot, plain, server.url.removeprefix("http://"), unique_name("local"))
    qtbot.waitUntil(plain.rooms_window.isVisible, timeout=WAIT)
    assert plain.security_box is None
    assert plain.session.api is not None
    assert plain.session.api.base_url == server.url

    secure = make_desktop()
    submit(qtbot, secure, tls_server.url.removeprefix("https://"), unique_name("local"))
    click_yes(qtbot, security_box(qtbot, secure))  # its certificate is still new to this app
    qtbot.waitUntil(secure.rooms_window.isVisible, timeout=WAIT)
    assert secure.session.api is not None
    assert secure.session.api.base_url == tls_server.url


def test_an_explicit_http_address_is_obeyed_without_asking(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(account_controller, "is_loopback", lambda _host: False)
    desktop = make_desktop()
    submit(qtbot, desktop, server.url, unique_name("explicit"))
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)
    assert desktop.security_box is None


# -- log out everywhere -----------------------------------------------------------------------


def test_log_out_everywhere_ends_every_login_of_the_user(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread
) -> None:
    desktop = make_desktop()
    name = unique_name("everywhere")
    submit(qtbot, desktop, server.url, name)
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)

    async def other_device() -> str:
        async with httpx.AsyncClient(base_url=server.url) as api:
            response = await api.post("/api/login", json={"username": name, "password": PASSWORD})
            return str(response.json()["token"])

    task = asyncio.ensure_future(other_device())
    qtbot.waitUntil(task.done, timeout=WAIT)
    token = task.result()
    asked: list[str] = []
    desktop.confirm = lambda question: asked.append(question) is None
    desktop.rooms_window.logout_everywhere.trigger()
    qtbot.waitUntil(desktop.login_window.isVisible, timeout=WAIT)
    assert asked
    assert asked[0].startswith("Log out everywhere?")

    async def still_valid() -> int:
        async with httpx.AsyncClient(base_url=server.url) as api:
            return (await api.get("/api/me", headers=auth(token))).status_code

    check = asyncio.ensure_future(still_valid())
    qtbot.waitUntil(check.done, timeout=WAIT)
    assert check.result() == 401


def test_log_out_everywhere_is_in_the_account_menu_and_asks_first(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread
) -> None:
    desktop = make_desktop()
    submit(qtbot, desktop, server.url, unique_name("menu"))
    qtbot.waitUntil(desktop.rooms_window.isVisible, timeout=WAIT)
    assert desktop.rooms_window.logout_everywhere in desktop.rooms_window.account_menu.actions()
    desktop.confirm = lambda _question: False  # "no": still logged in
    desktop.rooms_window.logout_everywhere.trigger()
    assert desktop.session.me is not None
    desktop.confirm = lambda _question: True
    desktop.rooms_window.logout_everywhere.trigger()
    qtbot.waitUntil(desktop.login_window.isVisible, timeout=WAIT)
    assert desktop.session.me is None
