"""``python -m gochat.server`` in a process of its own, for the cases that measure the server
(its memory, its file descriptors) apart from the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gochat.server.embedded import free_port
from tests.helpers import scaled


@dataclass(frozen=True, slots=True)
class Headless:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self, key: str) -> int:
        """A figure from /proc/PID/status, in kB: VmRSS now, VmHWM the peak."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {key} for {self.process.pid}")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS

    def open_descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))


@contextmanager
def headless_server(
    folder: Path, *flags: str, database_url: str | None = None, log: Path | None = None
) -> Iterator[Headless]:
    """The server on a free port, answering /api/health, until the block ends (then killed). Its
    database is an SQLite file in ``folder`` unless ``database_url`` names one; its output goes to
    ``log`` when given (GOCHAT_LOG_LEVEL=warning unless ``flags`` say --log-level), else nowhere."""
    port = free_port()
    database = database_url or f"sqlite:///{folder}/abuse.sqlite3"
    output = log.open("wb") if log is not None else None
    process = subprocess.Popen(
        [sys.executable, "-m", "gochat.server", "--port", str(port), "--database-url", database, *flags],
        stdout=output or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
        env={**os.environ, "GOCHAT_LOG_LEVEL": "warning"},
    )
    try:
        deadline = time.monotonic() + scaled(60)
        while True:
            assert process.poll() is None, f"the server exited{_said(log)}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server did not come up{_said(log)}"
            time.sleep(0.1)
        yield Headless(process, port)
    finally:
        process.kill()
        process.wait(10)
        if output is not None:
            output.close()


def _said(log: Path | None) -> str:
    return f": {log.read_text(errors='replace')[-2000:]}" if log is not None and log.exists() else ""
