"""One scripted session of the real app on a real X display (issue 10): tests/desktop/xcb_scenario.py
run on Qt's xcb platform under an Xvfb of the test's own with openbox, every key and click sent
through the X server by xdotool, against a headless server process it stops and starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gochat.desktop.startup import check_platform
from tests.conftest import service_unavailable
from tests.desktop.conftest import SCREENSHOTS

ROOT = Path(__file__).resolve().parents[2]


def test_register_create_write_lines_go_offline_close_come_back_delivered_once(tmp_path: Path, x_display: str) -> None:
    problem = check_platform(["gochat", "-platform", "xcb"], display=x_display)
    if problem:
        service_unavailable("Qt's X11 libraries", RuntimeError(problem))
    shots = SCREENSHOTS / "test_xcb_scenario"
    env = {key: value for key, value in os.environ.items() if key not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(
        DISPLAY=x_display,
        QT_QPA_PLATFORM="xcb",
        PYTHONPATH=str(ROOT),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    (tmp_path / "runtime").mkdir(mode=0o700)
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "desktop" / "xcb_scenario.py"), str(tmp_path), str(shots)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    server_log = tmp_path / "server.log"
    details = result.stdout + result.stderr + (server_log.read_text() if server_log.exists() else "")
    assert result.returncode == 0, details
    assert "scenario passed" in result.stdout
    assert "Traceback" not in result.stderr, details
    assert (shots / "6-delivered-once.png").is_file()
