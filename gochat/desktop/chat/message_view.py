"""MessageView: the chat's list of bubbles, with text selection across messages, copying,
clickable links and a context menu that later features can add to.

Selecting works as in a document: press on a message and drag (across messages too) to select
part of its text, double-click selects a word, Shift+click extends, Ctrl+A selects everything
loaded; Ctrl+C (or the context menu) copies. The selection's ends are persistent model indexes,
so it survives rows being inserted above (older pages) and goes when its rows are trimmed.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import (
    QEasingCurve,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRectF,
    Qt,
    QTimer,
    QUrl,
    QVariantAnimation,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QDesktopServices,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QApplication, QListView, QMenu, QStyleOptionViewItem, QWidget

from gochat.desktop.chat.bubbletext import word_at
from gochat.desktop.chat.delegates import RADIUS, MessageDelegate
from gochat.desktop.chat.links import Link, find_links
from gochat.desktop.chat.models import MessageListModel
from gochat.desktop.state import Item, Kind

# While dragging a selection past the top or bottom edge, scroll this often, this far per
# pixel the pointer is beyond the edge (at least a few pixels a step).
DRAG_SCROLL_MS = 40
DRAG_SCROLL_MIN = 6
# A message gone to (a search result, a notification) is highlighted this long, fading out.
FLASH_MS = 2500
FLASH_FILL = QColor(255, 196, 0, 90)  # the row's tint at full strength (readable in both themes)
FLASH_RING = QColor("#d99a00")  # and a ring around its bubble (amber: seen on a blue bubble too)

TextPoint = tuple[QPersistentModelIndex, int]  # a row and a position in its text
# A later feature's entries for a message's context menu: called with the menu and the message.
MenuExtension = Callable[[QMenu, Item], None]


class MessageView(QListView):
    textSelectionChanged = Signal()  # noqa: N815
    # A link could not be opened (no web browser): the URL, which was copied instead.
    linkNotOpened = Signal(str)  # noqa: N815
    resized = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.delegate = MessageDelegate(self)
        self.delegate.selection_of = self.selection_in_row
        self.setItemDelegate(self.delegate)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        self.setWordWrap(True)
        # Clicking a message gives the view focus, so Ctrl+C copies what was selected there;
        # typing goes on to the composer (typing_target).
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        # The item view would scroll a clicked row into full view: a jump under the pointer
        # while selecting its text.
        self.setAutoScroll(False)
        self.viewport().setMouseTracking(True)
        # Opens a link (the system browser); tests replace it.
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        self.menu_extensions: list[MenuExtension] = []
        self.typing_target: QWidget | None = None
        self._anchor: TextPoint | None = None
        self._cursor: TextPoint | None = None
        self._pressed_at: QPoint | None = None
        self._pressed_link: Link | None = None
        self._dragging = False
        self._last_drag = QPoint()
        self._drag_scroll = QTimer(self)
        self._drag_scroll.setInterval(DRAG_SCROLL_MS)
        self._drag_scroll.timeout.connect(self._scroll_while_dragging)
        # The message being highlighted (flash_message), and how strongly now (1 → 0).
        self.flashing: int | None = None
        self._flash = QVariantAnimation(self)
        self._flash.setStartValue(1.0)
        self._flash.setEndValue(0.0)
        self._flash.setDuration(FLASH_MS)
        self._flash.setEasingCurve(QEasingCurve.Type.InQuad)  # strong at first, then fading
        self._flash.valueChanged.connect(lambda _value: self.viewport().update())
        self._flash.finished.connect(self._flash_over)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.resized.emit()

    # -- geometry -------------------------------------------------------------------------

    def messages(self) -> MessageListModel | None:
        model = self.model()
        return model if isinstance(model, MessageListModel) else None

    def row_option(self, index: QModelIndex) -> QStyleOptionViewItem:
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        option.rect = self.visualRect(index)
        return option

    def text_point_at(self, pos: QPoint) -> TextPoint | None:
        """The row and text position nearest a point of the viewport (points beyond the top or
        bottom edge, or below the last row, give the nearest row's start or end)."""
        model = self.messages()
        if model is None or model.rowCount() == 0:
            return None
        height = self.viewport().height()
        index = self.indexAt(QPoint(pos.x(), min(max(pos.y(), 0), height - 1)))
        if not index.isValid():
            index = model.index(model.rowCount() - 1)
            return QPersistentModelIndex(index), len(model.item(index.row()).text)
        position = self.delegate.text_position(self.row_option(index), index, pos)
        if position is None:  # a system line: its start, so it is whole inside a selection or outside it
            position = 0
        return QPersistentModelIndex(index), position

    def link_at(self, pos: QPoint) -> Link | None:
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        return self.delegate.link_at(self.row_option(index), index, pos)

    # -- the selection ----------------------------------------------------------------------

    def _ends(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The selection's (row, position) start and end, in order; None when nothing is selected."""
        if self._anchor is None or self._cursor is None:
            return None
        if not self._anchor[0].isValid() or not self._cursor[0].isValid():
            return None
        a = (self._anchor[0].row(), self._anchor[1])
        c = (self._cursor[0].row(), self._cursor[1])
        start, end = min(a, c), max(a, c)
        return None if start == end else (start, end)

    def has_text_selection(self) -> bool:
        return self.selected_text() != ""

    def selection_in_row(self, row: int) -> tuple[int, int] | None:
        """The selected part of a row's text, as (start, end) positions."""
        ends = self._ends()
        model = self.messages()
        if ends is None or model is None or not ends[0][0] <= row <= ends[1][0]:
            return None
        (first, start), (last, end) = ends
        length = len(model.item(row).text)
        begin = start if row == first else 0
        finish = end if row == last else length
        return (begin, finish) if begin < finish else None

    def selected_text(self) -> str:
        """What Ctrl+C copies: the selected text of each message, one message per line
        (system lines such as "bob entered" are not part of the conversation's text)."""
        ends = self._ends()
        model = self.messages()
        if ends is None or model is None:
            return ""
        parts: list[str] = []
        for row in range(ends[0][0], ends[1][0] + 1):
            item = model.item(row)
            span = self.selection_in_row(row)
            if item.kind is Kind.MESSAGE and span is not None:
                parts.append(item.text[span[0] : span[1]])
        return "\n".join(parts)

    def select_text(self, row: int, start: int, end: int, last_row: int | None = None) -> None:
        """Select from a position in one row to a position in another (default: the same row)."""
        model = self.messages()
        if model is None:
            return
        self._anchor = (QPersistentModelIndex(model.index(row)), start)
        self._cursor = (QPersistentModelIndex(model.index(row if last_row is None else last_row)), end)
        self._selection_changed()

    def select_all_text(self) -> None:
        model = self.messages()
        if model is not None and model.rowCount():
            last = model.rowCount() - 1
            self.select_text(0, 0, len(model.item(last).text), last)

    def copy_selection(self) -> bool:
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text)
        return bool(text)

    def _selection_changed(self) -> None:
        self.viewport().update()
        self.textSelectionChanged.emit()

    # -- mouse ------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            pos = event.position().toPoint()
            self._pressed_at = pos
            self._dragging = False
            self._pressed_link = self.link_at(pos)
            point = self.text_point_at(pos)
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier and self._anchor is not None and point:
                self._cursor = point
            else:
                self._anchor = self._cursor = point
            self._selection_changed()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position().toPoint()
        if event.buttons() & Qt.MouseButton.LeftButton and self._pressed_at is not None:
            if not self._dragging and (pos - self._pressed_at).manhattanLength() >= QApplication.startDragDistance():
                self._dragging = True
            if self._dragging:
                self._last_drag = pos
                self._extend_to(pos)
                outside = pos.y() < 0 or pos.y() >= self.viewport().height()
                if outside and not self._drag_scroll.isActive():
                    self._drag_scroll.start()
                elif not outside:
                    self._drag_scroll.stop()
        else:
            self._set_pointer(pos)
        super().mouseMoveEvent(event)

    def open_link(self, url: str) -> None:
        """Open a link in the system browser; with none to open it, copy it and say so."""
        if self.open_url(QUrl(url)) is False:
            QGuiApplication.clipboard().setText(url)
            self.linkNotOpened.emit(url)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_scroll.stop()
            pos = event.position().toPoint()
            link = self._pressed_link
            if not self._dragging and link is not None and self.link_at(pos) == link:
                self.open_link(link.url)
            elif self._dragging:
                clipboard = QGuiApplication.clipboard()
                text = self.selected_text()
                if text and clipboard.supportsSelection():  # X11's middle-click paste
                    clipboard.setText(text, clipboard.Mode.Selection)
            self._pressed_at = None
            self._pressed_link = None
            self._dragging = False
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        # First: the item view treats a double-click without its press as a press (which would
        # start a new, empty selection after the word was selected).
        super().mouseDoubleClickEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            point = self.text_point_at(event.position().toPoint())
            model = self.messages()
            if point is not None and model is not None and point[0].isValid():
                row = point[0].row()
                item = model.item(row)
                if item.kind is Kind.MESSAGE:
                    start, end = word_at(item.text, point[1])
                    self.select_text(row, start, end)

    def _extend_to(self, pos: QPoint) -> None:
        point = self.text_point_at(pos)
        if point is not None and self._anchor is not None:
            self._cursor = point
            self._selection_changed()

    def _scroll_while_dragging(self) -> None:
        bar = self.verticalScrollBar()
        y = self._last_drag.y()
        beyond = y if y < 0 else y - self.viewport().height() + 1
        if beyond == 0:
            self._drag_scroll.stop()
            return
        step = max(DRAG_SCROLL_MIN, abs(beyond) // 2)
        bar.setValue(bar.value() + (step if beyond > 0 else -step))
        self._extend_to(self._last_drag)

    def _set_pointer(self, pos: QPoint) -> None:
        """A pointing hand over a link, a text cursor over a message's text."""
        index = self.indexAt(pos)
        shape = Qt.CursorShape.ArrowCursor
        if index.isValid():
            option = self.row_option(index)
            if self.delegate.link_at(option, index, pos) is not None:
                shape = Qt.CursorShape.PointingHandCursor
            elif self.delegate.over_text(option, index, pos):
                shape = Qt.CursorShape.IBeamCursor
        if self.viewport().cursor().shape() != shape:
            self.viewport().setCursor(shape)

    # -- keyboard ---------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection()
            return
        if event.matches(QKeySequence.StandardKey.SelectAll):
            self.select_all_text()
            return
        typed = event.text()
        modifiers = event.modifiers() & ~(Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier)
        if self.typing_target is not None and typed and typed.isprintable() and not modifiers:
            # Reading, then starting to type: the keys belong to the composer.
            self.typing_target.setFocus(Qt.FocusReason.OtherFocusReason)
            QApplication.sendEvent(self.typing_target, event)
            return
        super().keyPressEvent(event)

    # -- highlighting a message ---------------------------------------------------------------

    def flash_message(self, message_id: int) -> None:
        """Highlight a message for FLASH_MS (a tint over its row, a ring round its bubble, fading
        out): the one a search result or a notification led to."""
        self.flashing = message_id
        self._flash.stop()
        self._flash.start()

    def _flash_over(self) -> None:
        self.flashing = None
        self.viewport().update()

    def _flashing_row(self) -> QModelIndex | None:
        """The highlighted message's row, if it is on screen."""
        model = self.messages()
        if self.flashing is None or model is None:
            return None
        top = self.indexAt(QPoint(4, 0))
        bottom = self.indexAt(QPoint(4, self.viewport().height() - 1))
        first = top.row() if top.isValid() else 0
        last = bottom.row() if bottom.isValid() else model.rowCount() - 1
        for row in range(first, last + 1):
            if model.item(row).message_id == self.flashing:
                return model.index(row)
        return None

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)
        index = self._flashing_row()
        if index is None:
            return
        strength = float(self._flash.currentValue() or 0.0)
        option = self.row_option(index)
        geometry = self.delegate.geometry(option, index)
        row = option.rect.adjusted(0, geometry.header.height() if geometry.header is not None else 0, 0, 0)
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = QColor(FLASH_FILL)
        fill.setAlphaF(FLASH_FILL.alphaF() * strength)
        tint = QPainterPath()
        tint.addRect(QRectF(row))
        if geometry.bubble is not None:
            # Around the bubble, not over it: its colours and text stay as they are.
            bubble = QPainterPath()
            bubble.addRoundedRect(QRectF(geometry.bubble), RADIUS, RADIUS)
            tint = tint.subtracted(bubble)
        painter.fillPath(tint, fill)
        if geometry.bubble is not None:
            ring = QColor(FLASH_RING)
            ring.setAlphaF(strength)
            painter.setPen(QPen(ring, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(geometry.bubble).adjusted(-2, -2, 2, 2), RADIUS + 2, RADIUS + 2)
        painter.end()

    # -- context menu -----------------------------------------------------------------------

    def context_menu(self, pos: QPoint) -> QMenu | None:
        """The menu for the message under a point: Copy (the selection), Copy text, and for a
        link under the point (or else the message's first link) Open link and Copy link; then
        whatever ``menu_extensions`` add. None where there is no message."""
        index = self.indexAt(pos)
        model = self.messages()
        if not index.isValid() or model is None:
            return None
        item = model.item(index.row())
        menu = QMenu(self)
        if self.has_text_selection():
            copy = menu.addAction("Copy")
            copy.setShortcut(QKeySequence(QKeySequence.StandardKey.Copy))
            copy.triggered.connect(self.copy_selection)
        if item.kind is Kind.MESSAGE and not item.deleted:
            menu.addAction("Copy text").triggered.connect(lambda: QGuiApplication.clipboard().setText(item.text))
            links = find_links(item.text)
            link = self.link_at(pos) or (links[0] if links else None)
            if link is not None:
                url = link.url
                menu.addAction("Open link").triggered.connect(lambda: self.open_link(url))
                menu.addAction("Copy link").triggered.connect(lambda: QGuiApplication.clipboard().setText(url))
        for extend in self.menu_extensions:
            extend(menu, item)
        if menu.isEmpty():
            menu.deleteLater()
            return None
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        menu = self.context_menu(event.pos())
        if menu is not None:
            menu.exec(event.globalPos())
            menu.deleteLater()
