"""Where windows go and how they are driven from the keyboard: every window fits the screen it is
shown on, remembers its size and position, and carries the app-wide shortcuts.

Nothing here knows about rooms or the network; the app decides which window gets which key and
what a shortcut does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import quote

import shiboken6
from PySide6.QtCore import QByteArray, QEvent, QMargins, QObject, QPoint, QRect, QSettings, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeyEvent, QKeySequence, QScreen
from PySide6.QtWidgets import QPushButton, QWidget

# The shortcuts, in one place (documented in the README and docs/architecture.md). Kept as what
# QKeySequence is made from: a standard key's sequence can only be asked for once the
# application (its platform theme) exists.
Keys = str | QKeySequence.StandardKey
ROOMS_SHORTCUT: Keys = "Ctrl+L"  # from a chat window: back to the room list
CLOSE_SHORTCUT: Keys = QKeySequence.StandardKey.Close  # Ctrl+W (and Ctrl+F4) closes a room window
QUIT_SHORTCUT: Keys = "Ctrl+Q"  # every window; the platform's standard Quit is empty on Windows
FIND_SHORTCUT: Keys = QKeySequence.StandardKey.Find  # Ctrl+F: the room list's search box; in a room, its messages
SEARCH_ALL_SHORTCUT: Keys = "Ctrl+Shift+F"  # the room list and every chat window: search every room's messages

# Before the window manager has framed a window its frame is unknown: assume a title bar and thin
# borders of this many device pixels (window managers draw frames unscaled), so that the first
# fit leaves room for them; the fit is checked again once the real frame is known.
ESTIMATED_FRAME = QMargins(4, 32, 4, 4)
# A window that never learns its frame (no window manager) stops re-checking after this many moves.
SETTLE_EVENTS = 8


def account_key(server: str, username: str) -> str:
    """A settings key for one account on one server (usernames are unique ignoring case). Quoted
    whole, so that the slashes, colons and brackets of an address do not make settings groups."""
    return quote(f"{username.casefold()}@{server}", safe="")


def screen_of(window: QWidget) -> QScreen:
    screen = QGuiApplication.screenAt(window.frameGeometry().center()) or window.screen()
    return screen or QGuiApplication.primaryScreen()


def frame_margins(window: QWidget) -> tuple[QMargins, bool]:
    """The window's frame (title bar and borders) in logical pixels, and whether it is the real
    one (False: an estimate, because the window manager has not framed the window yet)."""
    handle = window.windowHandle()
    margins = handle.frameMargins() if handle is not None else QMargins()
    if not margins.isNull():
        return margins, True
    ratio = screen_of(window).devicePixelRatio() or 1.0

    def logical(device: int) -> int:
        return math.ceil(device / ratio)

    estimate = ESTIMATED_FRAME
    return QMargins(
        logical(estimate.left()), logical(estimate.top()), logical(estimate.right()), logical(estimate.bottom())
    ), False


def fit_to_screen(window: QWidget, *, place: bool) -> None:
    """Size the window so that it and its frame fit the available area of its screen (never
    below its minimum size, and not below what its layout needs if that fits), and, when
    ``place``, move it so the frame lies inside that area."""
    if window.windowState() & (Qt.WindowState.WindowMaximized | Qt.WindowState.WindowFullScreen):
        return  # the window manager sizes these to the screen itself
    available = screen_of(window).availableGeometry()
    margins, _known = frame_margins(window)
    room = available.marginsRemoved(margins).size()
    # At least what the layout needs, room permitting: a window's first size is at most 2/3 of
    # the screen, which on a small screen can be less (the login window's buttons were cut).
    wanted = window.size().expandedTo(window.minimumSizeHint())
    size = wanted.boundedTo(room).expandedTo(window.minimumSize())
    if size != window.size():
        window.resize(size)
    if not place:
        return
    frame = QRect(window.pos(), size.grownBy(margins))
    left = max(available.left(), min(frame.left(), available.right() + 1 - frame.width()))
    top = max(available.top(), min(frame.top(), available.bottom() + 1 - frame.height()))
    if QPoint(left, top) != frame.topLeft():
        window.move(left, top)


class WindowPlacement(QObject):
    """Keeps one top-level window on its screen and, given a settings key, where the user left it.

    The saved geometry (if any) is restored at once, so create this before the window is first
    shown. Every time the window is shown it is fitted to the available area of its screen, and
    again once the window manager has framed it (the frame is only known then); a geometry saved
    on a bigger screen, or a window made for a bigger screen, shrinks to fit. The geometry is
    saved whenever the window is hidden or closed.
    """

    def __init__(
        self, window: QWidget, settings: QSettings | None = None, key: str = "", *, remember_size: bool = True
    ) -> None:
        super().__init__(window)
        self.window = window
        self._settings = settings
        self._key = key
        self._settling = 0  # events left in which to re-check the fit once the frame is known
        saved = settings.value(key) if settings is not None and key else None
        if isinstance(saved, QByteArray) and not saved.isEmpty():
            window.restoreGeometry(saved)
            if not remember_size:
                # Only where it was: its size follows what it shows (a size saved while it
                # showed an error or a progress bar would leave gaps).
                window.adjustSize()
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if not shiboken6.isValid(self.window):
            # The window is being destroyed (at exit PySide deletes the windows still open, and
            # their destructor hides them): there is nothing left to fit or to read.
            return False
        kind = event.type()
        if kind == QEvent.Type.Show:
            # A position is ours to keep on screen if it was restored or set; otherwise the
            # window manager places the window, and the re-check after framing covers it.
            fit_to_screen(self.window, place=self.window.testAttribute(Qt.WidgetAttribute.WA_Moved))
            self._settling = SETTLE_EVENTS
        elif kind in (QEvent.Type.Move, QEvent.Type.Resize) and self._settling and self.window.isVisible():
            _margins, known = frame_margins(self.window)
            self._settling = 0 if known else self._settling - 1
            if known:
                fit_to_screen(self.window, place=True)
        elif kind == QEvent.Type.Hide and self._settings is not None and self._key:
            self._settings.setValue(self._key, self.window.saveGeometry())
        return False


def fit_height_to_content(window: QWidget) -> None:
    """Make a shown window exactly as tall as what it shows at its width: taller for a message
    (never squeezing a field), back when it goes. A top-level window does not do this by itself
    for word-wrapped labels, whose height depends on the width."""
    layout = window.layout()
    if layout is None or not window.isVisible():
        return  # shown for the first time, a window takes its size from its layout
    layout.activate()
    width = window.width()
    height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.totalSizeHint().height()
    height = max(height, layout.totalMinimumSize().height())
    if height != window.height():
        window.resize(width, height)


class EnterPressesButtons(QObject):
    """Enter on a focused button presses it, as Space does. Dialogs do this themselves
    (autoDefault); in the app's other windows a keyboard user would otherwise find Enter dead."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(watched, QPushButton)
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            and watched.isEnabled()
        ):
            watched.animateClick()
            return True
        return False

    def watch(self, window: QWidget) -> None:
        """Every button of ``window`` (those it has now)."""
        for button in window.findChildren(QPushButton):
            button.installEventFilter(self)


def add_shortcut(window: QWidget, text: str, keys: Keys, slot: Callable[[], object]) -> QAction:
    """An action on the window, triggered by ``keys`` while the window is active (whatever widget
    in it has the focus); it can also back a visible button."""
    action = QAction(text, window)
    if isinstance(keys, QKeySequence.StandardKey):
        action.setShortcuts(keys)  # all of the platform's bindings (Close: Ctrl+W and Ctrl+F4)
    else:
        action.setShortcut(QKeySequence(keys))
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)
    return action


def action_button(action: QAction, tooltip: str) -> QPushButton:
    """A visible button for an action, styled like the app's other buttons, its shortcut named
    in the tooltip."""
    button = QPushButton(action.text())
    button.setToolTip(f"{tooltip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})")
    # Clicking must not take the focus from the message being typed.
    button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    button.clicked.connect(action.trigger)
    return button
