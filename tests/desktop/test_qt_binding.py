"""The Qt binding itself: a release that miscounts references to None crashes the app."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject
from PySide6.QtGui import QFont, QTextLayout


def test_calls_returning_void_keep_none_alive() -> None:
    # PySide6 6.12.0 returns None from void methods without a reference of its own; on Python
    # 3.11 None's count then falls by one a call until the process aborts ("deallocating None")
    # — in the chat view, within a few pages of scrolling back.
    thing = QObject()
    layout = QTextLayout("hello", QFont())
    before = sys.getrefcount(None)
    for _ in range(1000):
        thing.setObjectName("x")
        layout.setText("hello")
    assert sys.getrefcount(None) > before - 100
