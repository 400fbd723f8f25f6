"""Desktop fixtures: offscreen Qt, the qasync loop pytest-qt spins, real servers, screenshots."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from gochat.desktop.app import DesktopApp, create_application
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from tests.desktop.servers import stop_server
from tests.desktop.xdisplay import x_display  # noqa: F401 - a fixture for the tests of this folder
from tests.helpers import TIMEOUT_FACTOR, scaled_ms

SCREENSHOTS = Path(
    os.environ.get("GOCHAT_SCREENSHOTS", Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots")
)


@pytest.fixture(autouse=True, scope="session")
def scaled_qtbot_waits() -> Iterator[None]:
    """Every qtbot wait (waitUntil, waitSignal, waitSignals, waitExposed...) is scaled by
    GOCHAT_TEST_TIMEOUT_FACTOR, whatever timeout the test names."""
    if TIMEOUT_FACTOR == 1:
        yield
        return
    saved = {name: getattr(QtBot, name) for name in ("waitUntil", "waitSignal", "waitSignals", "waitCallback")}

    def scaling(method: Callable[..., Any], default: int) -> Callable[..., Any]:
        def wait(self: QtBot, *args: Any, timeout: int | None = default, **kwargs: Any) -> Any:
            return method(
                self, *args, timeout=timeout if timeout is None or timeout <= 0 else scaled_ms(timeout), **kwargs
            )

        return wait

    for name, method in saved.items():
        setattr(QtBot, name, scaling(method, 5000))
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(QtBot, name, method)


@pytest.fixture(scope="session")
def qapp_cls() -> type[QApplication]:
    return QApplication


@pytest.fixture(autouse=True, scope="session")
def styled_app(qapp: QApplication) -> QApplication:
    """Every desktop test meets the app as the user does: the app's style and stylesheet, whatever
    test happens to run first in its worker (a window measured unstyled is not the one shipped)."""
    create_application([])
    return qapp


@pytest.fixture(scope="session")
def _shared_qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    # One loop for the whole run: a qasync loop that is "already running" cannot be closed,
    # so making one per test would leak its sockets.
    loop = qasync.QEventLoop(qapp, already_running=True)
    # asyncio.to_thread work runs on plain threads we can join at the end; qasync's default
    # QThread executor, never closed here, would abort the process at exit.
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="qloop")
    loop.set_default_executor(executor)
    yield loop
    executor.shutdown(wait=True)


@pytest.fixture
def qloop(qapp: QApplication, _shared_qloop: asyncio.AbstractEventLoop) -> Iterator[asyncio.AbstractEventLoop]:
    """The app's asyncio loop on Qt, "already running": qtbot's waits drive its tasks.

    Any exception that reaches the loop's handler fails the test.
    """
    loop = _shared_qloop
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield loop
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        for _ in range(20):
            qapp.processEvents()
        loop.set_exception_handler(None)
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
    if errors:
        details = "\n".join(f"{c.get('message')}: {c.get('exception')!r}" for c in errors)
        pytest.fail(f"exceptions reached the event loop:\n{details}")


@pytest.fixture
def server(sqlite_settings: Settings, qloop: asyncio.AbstractEventLoop) -> Iterator[ServerThread]:
    """The desktop tests' server: SQLite and the in-process cache (the server's own tests cover
    MariaDB and Redis). Stopped while the desktop apps still answer its close."""
    thread = ServerThread(sqlite_settings)
    thread.start()
    yield thread
    stop_server(thread)


@pytest.fixture
def sqlite_server(sqlite_settings: Settings, qloop: asyncio.AbstractEventLoop) -> Iterator[ServerThread]:
    """The root conftest's ``sqlite_server``, stopped while the desktop apps still answer its close."""
    thread = ServerThread(sqlite_settings)
    thread.start()
    yield thread
    stop_server(thread)


@pytest.fixture(autouse=True)
def own_user_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a desktop test starts keeps its data and settings in the test's folder, never in
    the user's own (an app made without a data_dir, a hosted server's SQLite default)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user data directory of the test's own; returns where the hosted server's SQLite file goes."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "gochat" / "gochat.sqlite3"


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[QWidget, str], Path]:
    """Save what a person would see: ``screenshot(window, "state")``."""
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)

    def save(widget: QWidget, state: str) -> Path:
        QApplication.processEvents()
        path = folder / f"{state}.png"
        assert widget.grab().save(str(path)), path
        return path

    return save


@pytest.fixture
def make_desktop(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Callable[..., DesktopApp]]:
    """Desktop apps of their own (settings and data in temp folders), shut down after the test.

    ``make(profile="x")`` gives an app the settings and data of profile x: a second app with the
    same profile is the first one restarted."""
    made: list[DesktopApp] = []

    def make(profile: str | None = None) -> DesktopApp:
        name = profile or str(len(made))
        settings = QSettings(str(tmp_path / f"settings-{name}.ini"), QSettings.Format.IniFormat)
        desktop = DesktopApp(settings, data_dir=tmp_path / f"data-{name}")
        made.append(desktop)
        desktop.start()
        return desktop

    yield make
    # Shut the sessions down first, then close their windows (qtbot.addWidget would close
    # them before this teardown, under the session's feet).
    for desktop in made:
        task = qloop.create_task(desktop.shutdown())
        qtbot.waitUntil(task.done, timeout=10000)
        task.result()
        for window in [*desktop.chat_windows.values(), desktop.rooms_window, desktop.login_window]:
            window.close()
            window.deleteLater()
