"""MessageDelegate: paints a timeline row as a chat bubble, a system line or a pending/failed
message, with a day separator above the first row of each local day; an edited message says
"edited" beside its time, a deleted one is a grey "message deleted" in its place, and a message
that mentions the user has an amber edge. Text is drawn exactly as
typed (plain text, never HTML; line breaks, spaces, tabs, right-to-left paragraphs; see
bubbletext.py), links underlined, and the view's text selection highlighted."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from PySide6.QtCore import QDate, QLocale, QModelIndex, QPersistentModelIndex, QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from gochat.desktop.chat.bubbletext import MENTION_OF_YOU_MARK, BubbleText, tab_stop
from gochat.desktop.chat.links import Link
from gochat.desktop.chat.models import ItemRole, MessageListModel
from gochat.desktop.state import Item, Kind, Status

MARGIN = 10  # around each row
PADDING = 9  # inside a bubble
GAP = 3  # between name, text and time
MAX_BUBBLE_SHARE = 0.72  # of the view's width
RADIUS = 12.0
MIN_WRAP = 120  # narrowest wrapping width while the row has room for it
HEADER_PAD = 4  # around a day separator's label
ACCENT = QColor("#2f6feb")
FAILED = QColor("#c0392b")
LAYOUTS_KEPT = 256  # laid-out texts kept for painting and hit-testing (the rows on screen, and some)
# What a deleted message shows in its place (its text is gone).
DELETED_TEXT = "message deleted"

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


@functools.lru_cache(maxsize=8192)
def local_day(moment: datetime) -> date:
    """The local calendar day of a moment. Cached: QListView asks every row's size on each
    insertion, and converting to local time is the costly part of the question."""
    return moment.astimezone().date()


def starts_day(item: Item, previous: Item | None) -> bool:
    """A day separator goes above the first row of each local day (and above the first row)."""
    return previous is None or local_day(item.created_at) != local_day(previous.created_at)


def named(item: Item, previous: Item | None) -> bool:
    """Others' messages carry the author's name, once per run of messages from the same person
    (a day separator starts a new run)."""
    if item.mine or item.kind is not Kind.MESSAGE:
        return False
    return (
        previous is None
        or previous.kind is not Kind.MESSAGE
        or previous.author != item.author
        or starts_day(item, previous)
    )


def shows_name(index: Index) -> bool:
    return named(*_rows(index))


def shows_day(index: Index) -> bool:
    return starts_day(*_rows(index))


def day_label(day: date, today: date, locale: QLocale | None = None) -> str:
    """The day separator's label: "Today", "Yesterday", or the date in the locale's long format."""
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return (locale or QLocale()).toString(QDate(day.year, day.month, day.day), QLocale.FormatType.LongFormat)


@dataclass(frozen=True, slots=True)
class Fonts:
    """The fonts a row is drawn with, derived from the view's font, and their line heights."""

    base: QFont
    body: QFont
    italic: QFont  # a deleted message's words
    small: QFont
    name: QFont
    small_h: int
    name_h: int
    tab: float  # the body text's tab stops

    @classmethod
    def of(cls, font: QFont) -> Fonts:
        body = QFont(font)
        italic = QFont(font)
        italic.setItalic(True)
        small = QFont(font)
        small.setPointSizeF(max(7.0, body.pointSizeF() * 0.82))
        name = QFont(small)
        name.setBold(True)
        return cls(
            QFont(font),
            body,
            italic,
            small,
            name,
            QFontMetrics(small).height(),
            QFontMetrics(name).height(),
            tab_stop(body),
        )

    @property
    def header_h(self) -> int:
        """A day separator's height: its label in a pill, with a margin above and below."""
        return self.name_h + 2 * HEADER_PAD + MARGIN


@dataclass(frozen=True, slots=True)
class Measured:
    """A row's text laid out at one width and font: what MessageListModel keeps per row for us.
    Only the text's size: the rest of the row's height (name, day separator) depends on the row
    above and is cheap to add."""

    text: str
    width: int
    fonts: Fonts
    text_w: int
    text_h: int


@dataclass(frozen=True, slots=True)
class RowGeometry:
    """Where a row's parts are drawn, in the view's coordinates."""

    item: Item
    header: QRect | None  # the day separator's band
    bubble: QRect | None  # None for system lines
    text_origin: QPoint
    text: BubbleText | None


def text_width(row_width: int) -> int:
    """The wrapping width of a bubble's text: a share of the row, never wider than the row
    leaves room for (so a narrow window never cuts a bubble off)."""
    room = row_width - 2 * MARGIN - 2 * PADDING
    return max(1, min(max(MIN_WRAP, int(row_width * MAX_BUBBLE_SHARE) - 2 * PADDING), room))


class MessageDelegate(QStyledItemDelegate):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._last_fonts: Fonts | None = None
        self._layouts: OrderedDict[tuple[object, ...], BubbleText] = OrderedDict()
        # The view's text selection in a row: (start, end) positions in its text, or None.
        self.selection_of: Callable[[int], tuple[int, int] | None] = lambda _row: None
        # The message being edited in the composer: its bubble is outlined, so the person sees which.
        self.editing_id: int | None = None
        # Today's date, asked at painting time so "Today" and "Yesterday" are right around midnight
        # (tests replace it).
        self.today: Callable[[], date] = date.today

    # -- geometry ----------------------------------------------------------------------

    def _fonts(self, option: QStyleOptionViewItem) -> Fonts:
        # Every row of the view has the view's font: derive the rest once, not per call.
        font = option.font
        if self._last_fonts is None or font != self._last_fonts.base:
            self._last_fonts = Fonts.of(font)
            self._layouts.clear()
        return self._last_fonts

    def forget_layouts(self) -> None:
        """Rows changed in place (an edit, a deletion): their old texts' layouts go at once,
        so no old text stays here either; what is on screen is laid out again."""
        self._layouts.clear()

    @staticmethod
    def _bubble_text(fonts: Fonts, item: Item, width: int, link_color: QColor | None = None) -> BubbleText:
        if item.deleted:
            return BubbleText(DELETED_TEXT, fonts.italic, width, tab_distance=fonts.tab)
        return BubbleText(item.text, fonts.body, width, link_color, fonts.tab, item.mention_spans)

    def laid_out(self, fonts: Fonts, item: Item, width: int, link_color: QColor | None = None) -> BubbleText:
        """The row's text laid out at a wrapping width, kept for the rows being painted and pointed at."""
        key = (item.text, item.deleted, item.mention_spans, width, id(fonts), link_color.rgba() if link_color else 0)
        found = self._layouts.get(key)
        if found is not None:
            self._layouts.move_to_end(key)
            return found
        laid = self._bubble_text(fonts, item, width, link_color)
        self._layouts[key] = laid
        if len(self._layouts) > LAYOUTS_KEPT:
            self._layouts.popitem(last=False)
        return laid

    def _text_size(self, fonts: Fonts, width: int, item: Item, index: Index | None = None) -> tuple[int, int]:
        """The text's size in the bubble. QListView lays out every row again on each insert or
        removal, so a row's measurement is kept with the row (in the model) and reused while
        its text, the width and the font stay the same."""
        model = index.model() if index is not None else None
        if index is None or not isinstance(model, MessageListModel):
            laid = self._bubble_text(fonts, item, width)
            return laid.width, laid.height
        row = index.row()
        kept = model.measured(row)
        if type(kept) is Measured and kept.text is item.text and kept.width == width and kept.fonts is fonts:
            return kept.text_w, kept.text_h
        laid = self._bubble_text(fonts, item, width)
        model.set_measured(row, Measured(item.text, width, fonts, laid.width, laid.height))
        return laid.width, laid.height

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        item, previous = _rows(index)
        fonts = self._fonts(option)
        row_width = option.rect.width()
        header_h = fonts.header_h if starts_day(item, previous) else 0
        if item.kind is not Kind.MESSAGE:  # a system line or the "new messages" line
            return QSize(row_width, header_h + fonts.small_h + MARGIN + 6)
        _, text_h = self._text_size(fonts, text_width(row_width), item, index)
        height = header_h + text_h + 2 * PADDING + GAP + fonts.small_h
        if named(item, previous):
            height += fonts.name_h + GAP
        return QSize(row_width, height + MARGIN)

    def day_label_at(self, index: Index) -> str | None:
        """The day separator painted above a row, if it has one ("Today", "Yesterday", a date)."""
        item, previous = _rows(index)
        return day_label(local_day(item.created_at), self.today()) if starts_day(item, previous) else None

    def day_header_height(self, option: QStyleOptionViewItem, index: Index) -> int:
        return self._fonts(option).header_h if shows_day(index) else 0

    def geometry(self, option: QStyleOptionViewItem, index: Index) -> RowGeometry:
        """Where the row's day separator, bubble and text go (option.rect is the row's rect)."""
        item, previous = _rows(index)
        fonts = self._fonts(option)
        rect = option.rect
        header = QRect(rect.left(), rect.top(), rect.width(), fonts.header_h) if starts_day(item, previous) else None
        header_h = header.height() if header is not None else 0
        if item.kind is not Kind.MESSAGE:
            return RowGeometry(item, header, None, QPoint(rect.left(), rect.top() + header_h), None)
        laid = self.laid_out(fonts, item, text_width(rect.width()), self._link_color(option, item))
        bubble = self._bubble(option, item, named(item, previous), laid.width, laid.height, header_h)
        return RowGeometry(item, header, bubble, QPoint(bubble.left() + PADDING, bubble.top() + PADDING), laid)

    def _bubble(
        self, option: QStyleOptionViewItem, item: Item, show_name: bool | None, text_w: int, text_h: int, header_h: int
    ) -> QRect:
        fonts = self._fonts(option)
        show = (not item.mine) if show_name is None else show_name
        name_h = fonts.name_h + GAP if show else 0
        footer_w = QFontMetrics(fonts.small).horizontalAdvance(self._footer(item))
        # As wide as the text or the footer, but never wider than the row: a long footer
        # ("not sent — click to retry") is elided in a narrow window instead.
        bubble_w = min(max(text_w, footer_w) + 2 * PADDING, max(text_w + 2 * PADDING, option.rect.width() - 2 * MARGIN))
        bubble_h = text_h + 2 * PADDING + GAP + fonts.small_h
        top = option.rect.top() + header_h + MARGIN // 2 + name_h
        left = option.rect.right() - MARGIN - bubble_w if item.mine else option.rect.left() + MARGIN
        return QRect(left, top, bubble_w, bubble_h)

    @staticmethod
    def _footer(item: Item) -> str:
        when = item.created_at.astimezone().strftime("%H:%M")
        status = {Status.PENDING: " · sending…", Status.FAILED: " · not sent — click to retry"}.get(item.status, "")
        edited = " · edited" if item.edited_at is not None and not item.deleted else ""
        return f"{when}{edited}{status}"

    @staticmethod
    def _link_color(option: QStyleOptionViewItem, item: Item) -> QColor:
        if item.mine:
            return QColor("#ffffff")
        return QColor("#8ab4f8") if is_dark(option.palette) else QColor("#1a5fb4")

    # -- hit-testing (for the view's selection, links and cursor) ---------------------------

    def text_position(self, option: QStyleOptionViewItem, index: Index, point: QPoint) -> int | None:
        """The cursor position in the row's text nearest a point of the view; None for a system line."""
        laid = self.geometry(option, index)
        if laid.text is None or laid.item.deleted:
            return None
        return laid.text.position_at(QPointF(point - laid.text_origin))

    def link_at(self, option: QStyleOptionViewItem, index: Index, point: QPoint) -> Link | None:
        laid = self.geometry(option, index)
        if laid.text is None:
            return None
        return laid.text.link_at(QPointF(point - laid.text_origin))

    def over_text(self, option: QStyleOptionViewItem, index: Index, point: QPoint) -> bool:
        laid = self.geometry(option, index)
        return (
            laid.text is not None and laid.bubble is not None and not laid.item.deleted and laid.bubble.contains(point)
        )

    # -- painting ----------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        laid = self.geometry(option, index)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if laid.header is not None:
            self._paint_day(painter, option, laid.header, self.day_label_at(index) or "")
        if laid.item.kind is Kind.SYSTEM:
            self._paint_system(painter, option, laid)
        elif laid.item.kind is Kind.UNREAD_LINE:
            self._paint_unread_line(painter, option, laid)
        else:
            self._paint_bubble(painter, option, laid, shows_name(index), self.selection_of(index.row()))
        painter.restore()

    def _paint_day(self, painter: QPainter, option: QStyleOptionViewItem, band: QRect, label: str) -> None:
        fonts = self._fonts(option)
        metrics = QFontMetrics(fonts.name)
        pill_w = min(metrics.horizontalAdvance(label) + 4 * HEADER_PAD, band.width() - 2 * MARGIN)
        pill_h = fonts.name_h + 2 * HEADER_PAD
        pill = QRect(band.center().x() - pill_w // 2, band.top() + MARGIN // 2, pill_w, pill_h)
        ink = QColor(option.palette.color(QPalette.ColorRole.Text))
        ink.setAlpha(165)  # quieter than messages, still readable in light and dark palettes
        rule = QColor(ink)
        rule.setAlpha(45)
        painter.setPen(rule)
        middle = pill.center().y()
        painter.drawLine(band.left() + MARGIN, middle, pill.left() - 2 * HEADER_PAD, middle)
        painter.drawLine(pill.right() + 2 * HEADER_PAD, middle, band.right() - MARGIN, middle)
        fill = QColor(option.palette.color(QPalette.ColorRole.Text))
        fill.setAlpha(18)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(pill, pill_h / 2, pill_h / 2)
        painter.setFont(fonts.name)
        painter.setPen(ink)
        painter.drawText(
            pill, int(Qt.AlignmentFlag.AlignCenter), metrics.elidedText(label, Qt.TextElideMode.ElideRight, pill_w)
        )

    def _paint_system(self, painter: QPainter, option: QStyleOptionViewItem, laid: RowGeometry) -> None:
        painter.setFont(self._fonts(option).small)
        painter.setPen(option.palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        when = laid.item.created_at.astimezone().strftime("%H:%M")
        rect = QRect(option.rect)
        rect.setTop(laid.text_origin.y())
        text = QFontMetrics(self._fonts(option).small).elidedText(
            f"{laid.item.text} · {when}", Qt.TextElideMode.ElideMiddle, rect.width() - 2 * MARGIN
        )
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), text)

    def _paint_unread_line(self, painter: QPainter, option: QStyleOptionViewItem, laid: RowGeometry) -> None:
        """Where the user left off: a rule in the accent colour with the words in the middle."""
        font = self._fonts(option).name
        painter.setFont(font)
        painter.setPen(QColor("#2f6feb"))
        rect = QRect(option.rect)
        rect.setTop(laid.text_origin.y())
        rect.adjust(MARGIN, 0, -MARGIN, 0)
        words = f"  {laid.item.text}  "
        words_w = QFontMetrics(font).horizontalAdvance(words)
        middle = rect.center().y()
        left_end = rect.center().x() - words_w // 2
        painter.drawLine(rect.left(), middle, left_end, middle)
        painter.drawLine(left_end + words_w, middle, rect.right(), middle)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), words)

    def _paint_bubble(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        laid: RowGeometry,
        show_name: bool,
        selection: tuple[int, int] | None,
    ) -> None:
        item, bubble, text = laid.item, laid.bubble, laid.text
        assert bubble is not None
        assert text is not None
        fonts = self._fonts(option)
        small, small_h = fonts.small, fonts.small_h
        dark = is_dark(option.palette)
        left, top, bubble_w = bubble.left(), bubble.top(), bubble.width()

        if show_name and item.author is not None:
            painter.setFont(fonts.name)
            painter.setPen(QColor("#8ab4f8") if dark else QColor("#1a5fb4"))
            name_w = option.rect.right() - MARGIN - left
            name = QFontMetrics(fonts.name).elidedText(item.author.username, Qt.TextElideMode.ElideRight, name_w)
            painter.drawText(QRect(left + 2, top - fonts.name_h - GAP, name_w, fonts.name_h), 0, name)

        if item.deleted:
            # A tombstone: neither the author's colour nor their words; quiet, in its place.
            fill = QColor("#2b2f36") if dark else QColor("#eef1f5")
            fill.setAlpha(120)
            ink = option.palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
            highlight = highlighted_text = ink
        elif item.mine:
            fill = QColor(ACCENT) if item.status is not Status.FAILED else QColor(FAILED)
            ink = QColor("#ffffff")
            # The system highlight (usually blue) would vanish on the blue bubble: invert instead.
            highlight, highlighted_text = QColor("#ffffff"), QColor(fill)
        else:
            fill = QColor("#2b2f36") if dark else QColor("#eef1f5")
            ink = option.palette.color(QPalette.ColorRole.Text)
            highlight = option.palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.Highlight)
            highlighted_text = option.palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.HighlightedText)
        if item.status is Status.PENDING:
            fill.setAlpha(150)
        if option.state & QStyle.StateFlag.State_Selected:
            fill = fill.lighter(110)
        edged = True
        if item.message_id is not None and item.message_id == self.editing_id:
            # Being edited in the composer: a dashed outline says which message Save changes.
            painter.setPen(QPen(QColor("#ffb000") if item.mine else ACCENT, 2.0, Qt.PenStyle.DashLine))
        elif item.mentions_me and not item.mine:
            # Someone called the user by name: an amber edge, seen while scrolling past.
            painter.setPen(QPen(MENTION_OF_YOU_MARK, 2.0))
        else:
            edged = False
            painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(QRectF(bubble).adjusted(1, 1, -1, -1) if edged else QRectF(bubble), RADIUS, RADIUS)

        painter.setPen(ink)
        text.draw(painter, QPointF(laid.text_origin), selection, highlight, highlighted_text)
        painter.setFont(small)
        faded = QColor(ink)
        faded.setAlpha(170)
        painter.setPen(faded)
        footer_w = bubble_w - 2 * PADDING
        footer_rect = QRectF(left + PADDING, laid.text_origin.y() + text.height + GAP, footer_w, small_h)
        footer = QFontMetrics(small).elidedText(self._footer(item), Qt.TextElideMode.ElideRight, footer_w)
        painter.drawText(footer_rect, int(Qt.AlignmentFlag.AlignRight), footer)
