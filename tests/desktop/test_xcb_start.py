"""The first start on a real desktop (issue 10, point 10): the real app on Qt's xcb platform under
an X server of the test's own with a window manager, ``--help`` without a display, and the one
line that says what to install when Qt's X11 libraries are missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from gochat.desktop.startup import check_platform, platform_problem, xcb_would_be_used
from tests.conftest import service_unavailable
from tests.desktop.conftest import SCREENSHOTS
from tests.desktop.xdisplay import wait_for

ROOT = Path(__file__).resolve().parents[2]
ACCENT = QColor("#2f6feb")  # the primary button: painted by our stylesheet, so the window is ours
MISSING_CURSOR_LINE = (
    "gochat cannot open its window: Qt's X11 platform needs libxcb-cursor0, which is not installed. "
    "Install it with: sudo apt install libxcb-cursor0"
)


def app_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh desktop session: no display unless given, settings and data
    in the test's own folders, this checkout's gochat."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM")
    }
    env.update(
        PYTHONPATH=str(ROOT),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    (tmp_path / "runtime").mkdir(mode=0o700, exist_ok=True)
    env.update(extra)
    return env


# -- deciding before Qt starts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "platform", "argv", "expected"),
    [
        ({"DISPLAY": ":0"}, "linux", [], True),
        ({}, "linux", [], True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", [], True),
        ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, "linux", [], True),
        ({"QT_QPA_PLATFORM": "xcb;wayland"}, "linux", [], True),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", [], False),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", [], False),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux", [], False),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "linux", [], False),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", ["gochat", "-platform", "xcb"], True),
        ({"DISPLAY": ":0"}, "darwin", [], False),
        ({}, "win32", [], False),
    ],
)
def test_xcb_is_checked_only_when_qt_would_use_it(
    environ: dict[str, str], platform: str, argv: list[str], expected: bool
) -> None:
    assert xcb_would_be_used(environ, platform, argv) is expected


def test_every_missing_library_is_named_with_its_package() -> None:
    missing = {"xcb-cursor", "xcb-icccm"}
    line = platform_problem({}, "linux", [], lambda name: None if name in missing else f"lib{name}.so")
    assert line == (
        "gochat cannot open its window: Qt's X11 platform needs libxcb-cursor0, libxcb-icccm4, which are not "
        "installed. Install them with: sudo apt install libxcb-cursor0 libxcb-icccm4"
    )
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", [], lambda name: None) == ""
    assert platform_problem({"DISPLAY": ":0"}, "linux", [], lambda name: f"lib{name}.so") == ""
    # Everything installed but no display: say that, not Qt's "xcb-cursor0 is needed".
    assert platform_problem({}, "linux", [], lambda name: f"lib{name}.so") == (
        "gochat cannot open its window: there is no X display to open it on (DISPLAY is not set). "
        "Start it from your desktop session, or set DISPLAY (for example DISPLAY=:0)."
    )


def test_help_prints_usage_and_exits_0_without_a_display(tmp_path: Path) -> None:
    """Before: --help started Qt, which aborted for want of a display."""
    result = subprocess.run(
        [sys.executable, "-m", "gochat.desktop", "--help"],
        env=app_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: gochat")
    assert "sudo apt install libxcb-cursor0" in result.stdout
    assert result.stderr == ""


# What a stock Debian/Ubuntu desktop without libxcb-cursor0 looks like to the app.
WITHOUT_XCB_CURSOR = """
import ctypes.util
import sys

found = ctypes.util.find_library
ctypes.util.find_library = lambda name: None if name == "xcb-cursor" else found(name)

from gochat.desktop.app import main

sys.exit(main(["gochat"]))
"""


@pytest.mark.parametrize("platform_variable", ["", "xcb"], ids=["qt-chooses", "xcb-asked"])
def test_without_libxcb_cursor0_one_line_says_what_to_install(tmp_path: Path, platform_variable: str) -> None:
    """Before: Qt's "no Qt platform plugin could be initialized" and an abort (SIGABRT)."""
    extra = {"DISPLAY": ":31999"}  # no X server answers there: the check must come first
    if platform_variable:
        extra["QT_QPA_PLATFORM"] = platform_variable
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_XCB_CURSOR],
        env=app_environment(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stderr.splitlines() == [MISSING_CURSOR_LINE]
    assert result.returncode == 1


# -- the real app on a real X server ---------------------------------------------------------


def _login_window_geometry(display: str) -> tuple[int, int, int, int] | None:
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", "^gochat .* log in$"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=10,
    )
    windows = found.stdout.split()
    if not windows:
        return None
    shell = subprocess.run(
        ["xdotool", "getwindowgeometry", "--shell", windows[0]],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    values = dict(line.split("=", 1) for line in shell.split() if "=" in line)
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


def _has_colour(image: QImage, colour: QColor) -> bool:
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            pixel = image.pixelColor(x, y)
            if (
                abs(pixel.red() - colour.red()) < 24
                and abs(pixel.green() - colour.green()) < 24
                and abs(pixel.blue() - colour.blue()) < 24
            ):
                return True
    return False


def test_the_real_app_opens_its_login_window_on_xcb_under_xvfb(tmp_path: Path, x_display: str) -> None:
    """``python -m gochat.desktop`` as a person starts it, on Qt's xcb platform (not offscreen),
    with a window manager: the login window appears and is painted."""
    problem = check_platform(["gochat", "-platform", "xcb"], display=x_display)
    if problem:
        service_unavailable("Qt's X11 libraries", RuntimeError(problem))
    log = tmp_path / "app.log"
    with log.open("w") as output:
        app = subprocess.Popen(
            [sys.executable, "-m", "gochat.desktop"],
            env=app_environment(tmp_path, DISPLAY=x_display, QT_QPA_PLATFORM="xcb"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    folder = SCREENSHOTS / "test_the_real_app_opens_its_login_window_on_xcb_under_xvfb"
    folder.mkdir(parents=True, exist_ok=True)
    picture = folder / "xcb-login-window.png"
    try:
        geometry: tuple[int, int, int, int] | None = None

        def login_window_painted() -> bool:
            nonlocal geometry
            assert app.poll() is None, f"the app exited with {app.returncode}:\n{log.read_text()}"
            geometry = _login_window_geometry(x_display)
            if geometry is None:
                return False
            subprocess.run(
                ["import", "-display", x_display, "-window", "root", f"png:{picture}"], check=True, timeout=30
            )
            x, y, width, height = geometry
            return _has_colour(QImage(str(picture)).copy(x, y, width, height), ACCENT)

        wait_for(login_window_painted, 60, "the login window on the X display")
        assert geometry is not None
        _, _, width, height = geometry
        assert width >= 440
        assert height >= 300
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
    output = log.read_text()
    assert "qt.qpa" not in output, output
    assert "Traceback" not in output, output
