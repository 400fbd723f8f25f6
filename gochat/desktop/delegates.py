"""MessageDelegate: paints a timeline row as a chat bubble, a system line or a pending/failed
message. Text is drawn as plain text (never HTML) and wraps inside long words."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QTextLayout, QTextOption
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from gochat.desktop.models import ItemRole, MessageListModel
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


def _rows(index: Index) -> tuple[Item, Item | None]:
    """The row's item and the one above it (None for the first row)."""
    model = index.model()
    row = index.row()
    if isinstance(model, MessageListModel):  # plain calls: no trip through Qt and a QVariant
        return model.item(row), model.item(row - 1) if row > 0 else None
    item: Item = index.data(ItemRole)
    return item, model.index(row - 1, 0).data(ItemRole) if row > 0 else None


def named(item: Item, previous: Item | None) -> bool:
    """Others' messages carry the author's name, once per run of messages from the same person."""
    if item.mine or item.kind is not Kind.MESSAGE:
        return False
    return previous is None or previous.kind is not Kind.MESSAGE or previous.author != item.author


def shows_name(index: Index) -> bool:
    return named(*_rows(index))


@dataclass(frozen=True, slots=True)
class Fonts:
    """The fonts a row is drawn with, derived from the view's font, and their line heights."""

    base: QFont
    body: QFont
    small: QFont
    name: QFont
    small_h: int
    name_h: int

    @classmethod
    def of(cls, font: QFont) -> Fonts:
        body = QFont(font)
        small = QFont(font)
        small.setPointSizeF(max(7.0, body.pointSizeF() * 0.82))
        name = QFont(small)
        name.setBold(True)
        return cls(QFont(font), body, small, name, QFontMetrics(small).height(), QFontMetrics(name).height())


@dataclass(frozen=True, slots=True)
class Measured:
    """A row's text laid out at one width and font: what MessageListModel keeps per row for us."""

    text: str
    width: int
    fonts: Fonts
    text_w: int
    text_h: int


def text_width(row_width: int) -> int:
    return max(120, int(row_width * MAX_BUBBLE_SHARE) - 2 * PADDING)


def lay_out(text: str, font: QFont, width: int) -> tuple[QTextLayout, int, int]:
    """Lay the text out, the same way for measuring and painting: plain text, wrapped at word
    boundaries or, for words longer than a line, anywhere. Returns the layout and its size."""
    layout = QTextLayout(text, font)
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
    return layout, min(width, max(int(natural) + 1, 24)), int(height + 0.999)


class MessageDelegate(QStyledItemDelegate):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._last_fonts: Fonts | None = None

    # -- geometry ----------------------------------------------------------------------

    def _fonts(self, option: QStyleOptionViewItem) -> Fonts:
        # Every row of the view has the view's font: derive the rest once, not per call.
        font = option.font
        if self._last_fonts is None or font != self._last_fonts.base:
            self._last_fonts = Fonts.of(font)
        return self._last_fonts

    def _text_size(self, fonts: Fonts, width: int, item: Item, index: Index | None = None) -> tuple[int, int]:
        """The text's size in the bubble. QListView lays out every row again on each insert or
        removal, so a row's measurement is kept with the row (in the model) and reused while
        its text, the width and the font stay the same."""
        model = index.model() if index is not None else None
        if index is None or not isinstance(model, MessageListModel):
            return lay_out(item.text, fonts.body, width)[1:]
        row = index.row()
        kept = model.measured(row)
        if type(kept) is Measured and kept.text is item.text and kept.width == width and kept.fonts is fonts:
            return kept.text_w, kept.text_h
        _, text_w, text_h = lay_out(item.text, fonts.body, width)
        model.set_measured(row, Measured(item.text, width, fonts, text_w, text_h))
        return text_w, text_h

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        item, previous = _rows(index)
        fonts = self._fonts(option)
        row_width = option.rect.width()
        if item.kind is not Kind.MESSAGE:  # a system line or the "new messages" line
            return QSize(row_width, fonts.small_h + 2 * MARGIN // 2 + 6)
        _, text_h = self._text_size(fonts, text_width(row_width), item, index)
        height = text_h + 2 * PADDING + GAP + fonts.small_h
        if named(item, previous):
            height += fonts.name_h + GAP
        return QSize(row_width, height + MARGIN)

    # -- painting ----------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        item, previous = _rows(index)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if item.kind is Kind.SYSTEM:
            self._paint_system(painter, option, item)
        elif item.kind is Kind.UNREAD_LINE:
            self._paint_unread_line(painter, option, item)
        else:
            self._paint_bubble(painter, option, item, named(item, previous))
        painter.restore()

    def _paint_system(self, painter: QPainter, option: QStyleOptionViewItem, item: Item) -> None:
        painter.setFont(self._fonts(option).small)
        painter.setPen(option.palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        when = item.created_at.astimezone().strftime("%H:%M")
        painter.drawText(option.rect, int(Qt.AlignmentFlag.AlignCenter), f"{item.text} · {when}")

    def _paint_unread_line(self, painter: QPainter, option: QStyleOptionViewItem, item: Item) -> None:
        """Where the user left off: a rule in the accent colour with the words in the middle."""
        font = self._fonts(option).name
        painter.setFont(font)
        accent = QColor("#2f6feb")
        painter.setPen(accent)
        rect = option.rect.adjusted(MARGIN, 0, -MARGIN, 0)
        words = f"  {item.text}  "
        words_w = QFontMetrics(font).horizontalAdvance(words)
        middle = rect.center().y()
        left_end = rect.center().x() - words_w // 2
        painter.drawLine(rect.left(), middle, left_end, middle)
        painter.drawLine(left_end + words_w, middle, rect.right(), middle)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), words)

    def bubble_rect(self, option: QStyleOptionViewItem, item: Item, show_name: bool | None = None) -> QRect:
        """Where the bubble goes in its row: right for the user's own, left for others."""
        fonts = self._fonts(option)
        text_w, text_h = self._text_size(fonts, text_width(option.rect.width()), item)
        return self._bubble(option, item, show_name, text_w, text_h)

    def _bubble(
        self, option: QStyleOptionViewItem, item: Item, show_name: bool | None, text_w: int, text_h: int
    ) -> QRect:
        fonts = self._fonts(option)
        show = (not item.mine) if show_name is None else show_name
        name_h = fonts.name_h + GAP if show else 0
        footer_w = QFontMetrics(fonts.small).horizontalAdvance(self._footer(item))
        bubble_w = max(text_w, footer_w) + 2 * PADDING
        bubble_h = text_h + 2 * PADDING + GAP + fonts.small_h
        top = option.rect.top() + MARGIN // 2 + name_h
        left = option.rect.right() - MARGIN - bubble_w if item.mine else option.rect.left() + MARGIN
        return QRect(left, top, bubble_w, bubble_h)

    @staticmethod
    def _footer(item: Item) -> str:
        when = item.created_at.astimezone().strftime("%H:%M")
        status = {Status.PENDING: " · sending…", Status.FAILED: " · not sent — click to retry"}.get(item.status, "")
        return f"{when}{status}"

    def _paint_bubble(self, painter: QPainter, option: QStyleOptionViewItem, item: Item, show_name: bool) -> None:
        fonts = self._fonts(option)
        small, name_font, small_h = fonts.small, fonts.name, fonts.small_h
        dark = is_dark(option.palette)
        layout, text_w, text_h = lay_out(item.text, fonts.body, text_width(option.rect.width()))
        name_h = fonts.name_h + GAP if show_name else 0
        footer = self._footer(item)
        bubble = self._bubble(option, item, show_name, text_w, text_h)
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
        text_area = QRect(left + PADDING, top + PADDING, text_w, text_h)
        layout.draw(painter, QPointF(text_area.topLeft()))
        painter.setFont(small)
        faded = QColor(ink)
        faded.setAlpha(170)
        painter.setPen(faded)
        footer_rect = QRect(left + PADDING, text_area.bottom() + GAP, bubble_w - 2 * PADDING, small_h)
        painter.drawText(footer_rect, int(Qt.AlignmentFlag.AlignRight), footer)
