"""Labels every window uses for what it says beside a field: errors and notices."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def error_label() -> QLabel:
    label = QLabel()
    label.setProperty("role", "error")
    label.setWordWrap(True)
    label.hide()
    return label


def info_label() -> QLabel:
    """A notice that is information, not a complaint (styled apart from errors in style.qss)."""
    label = QLabel()
    label.setProperty("role", "info")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label
