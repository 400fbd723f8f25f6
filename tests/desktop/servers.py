"""Real servers for the desktop tests, stopped while Qt keeps running.

``ServerThread.stop`` blocks its caller until every client has answered the server's close.
A desktop test's clients live on the test's own thread (the qasync loop on Qt): stopping there
would keep them from answering, and each stop would wait out the server's 3 s close timeout.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QDeadlineTimer, QEventLoop
from PySide6.QtWidgets import QApplication

from gochat.server.runner import ServerThread
from tests.helpers import scaled


def stop_server(server: ServerThread, timeout: float = 30.0) -> None:
    """``server.stop()``, with Qt (and so the desktop clients) running meanwhile."""
    stopping = threading.Thread(target=server.stop, name="stop-server")
    stopping.start()
    deadline = QDeadlineTimer(int(scaled(timeout) * 1000))
    while stopping.is_alive() and not deadline.hasExpired():
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 10)
        stopping.join(0.005)
    assert not stopping.is_alive(), "the server did not stop"
