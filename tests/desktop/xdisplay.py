"""An X server of a test's own (Xvfb, a free display number) with a window manager (openbox),
for tests that run the real app on Qt's xcb platform."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import service_unavailable


def _require(condition: bool, what: str) -> None:
    if not condition:
        service_unavailable(what, RuntimeError("not installed"))


@pytest.fixture
def x_display(tmp_path: Path) -> Iterator[str]:
    """An Xvfb of this test's own (it picks a free display number: -displayfd) with openbox
    managing its windows."""
    for program in ("Xvfb", "openbox", "xdotool", "xprop", "import"):
        _require(shutil.which(program) is not None, f"{program} (for the real-platform test)")
    read_end, write_end = os.pipe()
    with (tmp_path / "xvfb.log").open("w") as xvfb_log:
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=xvfb_log,
        )
    os.close(write_end)
    started: list[subprocess.Popen[bytes]] = [xvfb]
    try:
        ready, _, _ = select.select([read_end], [], [], 30)
        number = os.read(read_end, 64).decode().strip() if ready else ""
        assert number.isdigit(), f"Xvfb did not start: {(tmp_path / 'xvfb.log').read_text()}"
        display = f":{number}"
        with (tmp_path / "openbox.log").open("w") as openbox_log:
            started.append(
                subprocess.Popen(
                    ["openbox"],
                    env={**os.environ, "DISPLAY": display},
                    stdout=subprocess.DEVNULL,
                    stderr=openbox_log,
                )
            )
        wait_for(lambda: _window_manager_running(display), 30, "openbox to manage the display")
        yield display
    finally:
        os.close(read_end)
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _window_manager_running(display: str) -> bool:
    result = subprocess.run(
        ["xprop", "-display", display, "-root", "_NET_SUPPORTING_WM_CHECK"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return "window id" in result.stdout


def wait_for(condition: object, seconds: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # polling another process's state: there is no event to wait on
