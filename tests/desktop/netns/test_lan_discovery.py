"""Finding servers on the network, inside a network namespace of the test's own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gochat.discovery import FoundServer, ServerBrowser
from gochat.server.embedded import free_port
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot
from tests.desktop.test_hosting import open_host_dialog, start_hosting
from tests.helpers import PASSWORD, scaled, unique_name

assert os.environ.get("GOCHAT_MDNS_INTERFACES") == "127.0.0.1", "mDNS must stay on this namespace's loopback"


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_headless_announce_is_found_and_lost(tmp_path: Path) -> None:
    port = free_port("127.0.0.1")
    seen: list[list[FoundServer]] = []
    lock = threading.Lock()

    def changed(servers: list[FoundServer]) -> None:
        with lock:
            seen.append(servers)

    def latest() -> list[FoundServer]:
        with lock:
            return seen[-1] if seen else []

    browser = ServerBrowser(changed)
    browser.start()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gochat.server",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--announce",
            "--name",
            "Lab 实验室",
            "--database-url",
            f"sqlite:///{tmp_path}/lab.sqlite3",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any(s.name == "Lab 实验室" for s in latest()))
        [found] = [s for s in latest() if s.name == "Lab 实验室"]
        assert (found.host, found.port, found.protocol, found.tls) == ("127.0.0.1", port, "1", False)
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        wait_for(lambda: not any(s.name == "Lab 实验室" for s in latest()))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        browser.close()


# zeroconf runs on the app's (qasync) loop and, closed from that loop's thread, says it skips
# unregister_all_services: nothing is left registered by then (the announcer unregistered its
# service itself; the browser registers none), so nothing is lost.
@pytest.mark.expect_log(logger="zeroconf", text="unregister_all_services skipped", required=False)
def test_the_login_window_finds_a_hosted_server_and_loses_it_when_hosting_stops(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    data_home: Path,
    screenshot: Shot,
) -> None:
    host = make_desktop()
    dialog = open_host_dialog(qtbot, host, unique_name("host"))
    dialog.name.setText("Team room 团队")
    dialog.let_others_join.setChecked(True)
    dialog.announce.setChecked(True)
    port = free_port("127.0.0.1")
    start_hosting(qtbot, host, dialog, port, others=True)

    guest = make_desktop()
    login = guest.login_window
    qtbot.mouseClick(login.find_button, Qt.MouseButton.LeftButton)
    assert guest.discovery.browsing
    qtbot.waitUntil(lambda: login.found.count() == 1, timeout=WAIT)
    item = login.found.item(0)
    assert item.text() == f"Team room 团队 — 127.0.0.1:{port}"
    # Hosting for the LAN serves https, and announces its certificate's fingerprint (TXT fp).
    [found] = guest.discovery.servers
    assert found.tls
    assert found.fingerprint == host.hosting.fingerprint != ""
    screenshot(login, "found-servers")
    qtbot.mouseClick(login.found.viewport(), Qt.MouseButton.LeftButton, pos=login.found.visualItemRect(item).center())
    assert login.server.text() == f"127.0.0.1:{port}"
    login.username.setText(unique_name("guest"))
    login.password.setText(PASSWORD)
    qtbot.mouseClick(login.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(guest.rooms_window.isVisible, timeout=WAIT)
    # Found with its fingerprint, it was trusted without the first-connection question.
    assert guest.security_box is None
    assert guest.known_servers.fingerprint(f"127.0.0.1:{port}") == host.hosting.fingerprint
    assert guest.session.api is not None
    assert guest.session.api.base_url == f"https://127.0.0.1:{port}"
    # Browsing is opt-in and ends with the window.
    assert not guest.discovery.browsing

    watcher = make_desktop()
    qtbot.mouseClick(watcher.login_window.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: watcher.login_window.found.count() == 1, timeout=WAIT)
    host.confirm = lambda question: True
    qtbot.mouseClick(host.rooms_window.hosting.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: watcher.login_window.found.count() == 0, timeout=WAIT)
    screenshot(watcher.login_window, "server-gone")
