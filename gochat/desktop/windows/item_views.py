"""What the app's lists share: a row's context menu where it was asked for, and Enter on the
current row as the keyboard's double-click."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QMenu


def show_menu(view: QAbstractItemView, menu: QMenu | None, point: QPoint) -> None:
    """Show ``menu`` (None: the row has none) at ``point`` of the view's viewport, then drop it."""
    if menu is not None:
        menu.exec(view.viewport().mapToGlobal(point))
        menu.deleteLater()


def enter_on_current_row(view: QAbstractItemView, event: QKeyEvent) -> bool:
    """Whether ``event`` is Return or Enter with a current row: what a double-click would open.
    (Not Qt's "activated", which a double-click emits too, and some desktops on a single click.)"""
    return event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and view.currentIndex().isValid()
