"""MessageDelegate: paints a timeline row as a chat bubble, a system line or a pending/failed
message. Text is drawn as plain text (never HTML) and wraps inside long words."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QTextLayout, QTextOption
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from gochat.desktop.models import ItemRole
from gochat.desktop.state import Item, Kind, Status

MARGIN = 10  # around each row
PADDING = 9  # inside a bubble
GAP = 3  # between name, text and time
MAX_BUBBLE_SHARE = 0.72  # of the view's width
RADIUS = 12.0

WRAP = QTextOption()
WRAP.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)

Index = QModelIndex | QPersistentModelIndex


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def shows_name(index: Index) -> bool:
    """Others' messages carry the author's name, once per run of messages from the same person."""
    item: Item = index.data(ItemRole)
    if item.mine or item.kind is not Kind.MESSAGE:
        return False
    if index.row() == 0:
        return True
    previous: Item = index.model().index(index.row() - 1, 0).data(ItemRole)
    return previous.kind is not Kind.MESSAGE or previous.author != item.author


class MessageDelegate(QStyledItemDelegate):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)

    # -- geometry ----------------------------------------------------------------------

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont]:
        body = QFont(option.font)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, body.pointSizeF() * 0.82))
        name = QFont(small)
        name.setBold(True)
        return body, small, name

    def _layout(self, option: QStyleOptionViewItem, item: Item) -> tuple[QTextLayout, QRect]:
        """Lay the text out once, the same way for measuring and painting: plain text,
        wrapped at word boundaries or, for words longer than a line, anywhere."""
        body, _, _ = self._fonts(option)
        width = max(120, int(option.rect.width() * MAX_BUBBLE_SHARE) - 2 * PADDING)
        layout = QTextLayout(item.text, body)
        layout.setTextOption(WRAP)
        layout.beginLayout()
        height = 0.0
        natural = 0.0
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            line.setPosition(QPointF(0, height))
            height += line.height()
            natural = max(natural, line.naturalTextWidth())
        layout.endLayout()
        return layout, QRect(0, 0, min(width, max(int(natural) + 1, 24)), int(height + 0.999))

    def _text_rect(self, option: QStyleOptionViewItem, item: Item) -> QRect:
        return self._layout(option, item)[1]

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        item: Item = index.data(ItemRole)
        _, small, name = self._fonts(option)
        small_h = QFontMetrics(small).height()
        if item.kind is Kind.SYSTEM:
            return QSize(option.rect.width(), small_h + 2 * MARGIN // 2 + 6)
        text = self._text_rect(option, item)
        height = text.height() + 2 * PADDING + GAP + small_h
        if shows_name(index):
            height += QFontMetrics(name).height() + GAP
        return QSize(option.rect.width(), height + MARGIN)

    # -- painting ----------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        item: Item = index.data(ItemRole)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if item.kind is Kind.SYSTEM:
            self._paint_system(painter, option, item)
        else:
            self._paint_bubble(painter, option, item, shows_name(index))
        painter.restore()

    def _paint_system(self, painter: QPainter, option: QStyleOptionViewItem, item: Item) -> None:
        _, small, _ = self._fonts(option)
        painter.setFont(small)
        painter.setPen(option.palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        when = item.created_at.astimezone().strftime("%H:%M")
        painter.drawText(option.rect, int(Qt.AlignmentFlag.AlignCenter), f"{item.text} · {when}")

    def bubble_rect(self, option: QStyleOptionViewItem, item: Item, show_name: bool | None = None) -> QRect:
        """Where the bubble goes in its row: right for the user's own, left for others."""
        _, small, name_font = self._fonts(option)
        text_rect = self._text_rect(option, item)
        small_h = QFontMetrics(small).height()
        named = (not item.mine) if show_name is None else show_name
        name_h = QFontMetrics(name_font).height() + GAP if named else 0
        footer_w = QFontMetrics(small).horizontalAdvance(self._footer(item))
        bubble_w = max(text_rect.width(), footer_w) + 2 * PADDING
        bubble_h = text_rect.height() + 2 * PADDING + GAP + small_h
        top = option.rect.top() + MARGIN // 2 + name_h
        left = option.rect.right() - MARGIN - bubble_w if item.mine else option.rect.left() + MARGIN
        return QRect(left, top, bubble_w, bubble_h)

    @staticmethod
    def _footer(item: Item) -> str:
        when = item.created_at.astimezone().strftime("%H:%M")
        status = {Status.PENDING: " · sending…", Status.FAILED: " · not sent — click to retry"}.get(item.status, "")
        return f"{when}{status}"

    def _paint_bubble(self, painter: QPainter, option: QStyleOptionViewItem, item: Item, show_name: bool) -> None:
        _body, small, name_font = self._fonts(option)
        dark = is_dark(option.palette)
        layout, text_rect = self._layout(option, item)
        small_h = QFontMetrics(small).height()
        name_h = QFontMetrics(name_font).height() + GAP if show_name else 0
        footer = self._footer(item)
        bubble = self.bubble_rect(option, item, show_name)
        left, top, bubble_w = bubble.left(), bubble.top(), bubble.width()

        if show_name and item.author is not None:
            painter.setFont(name_font)
            painter.setPen(QColor("#8ab4f8") if dark else QColor("#1a5fb4"))
            painter.drawText(
                QRect(left + 2, option.rect.top() + MARGIN // 2, bubble_w * 3, name_h), 0, item.author.username
            )

        if item.mine:
            fill = QColor("#2f6feb") if item.status is not Status.FAILED else QColor("#c0392b")
            ink = QColor("#ffffff")
        else:
            fill = QColor("#2b2f36") if dark else QColor("#eef1f5")
            ink = option.palette.color(QPalette.ColorRole.Text)
        if item.status is Status.PENDING:
            fill.setAlpha(150)
        if option.state & QStyle.StateFlag.State_Selected:
            fill = fill.lighter(110)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(bubble, RADIUS, RADIUS)

        painter.setPen(ink)
        text_area = QRect(left + PADDING, top + PADDING, text_rect.width(), text_rect.height())
        layout.draw(painter, QPointF(text_area.topLeft()))
        painter.setFont(small)
        faded = QColor(ink)
        faded.setAlpha(170)
        painter.setPen(faded)
        footer_rect = QRect(left + PADDING, text_area.bottom() + GAP, bubble_w - 2 * PADDING, small_h)
        painter.drawText(footer_rect, int(Qt.AlignmentFlag.AlignRight), footer)
