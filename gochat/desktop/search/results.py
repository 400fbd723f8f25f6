"""ResultDelegate: paints a search result: who wrote it, in which room and when on its first
line; below, up to three lines of the message with the words searched for highlighted."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QTextCharFormat, QTextLayout, QTextOption
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from gochat.desktop.chat.delegates import day_label, is_dark, local_day
from gochat.desktop.search.matching import character_position, utf16_position
from gochat.desktop.search.model import Hit, HitRole

PADDING = 8
GAP = 3
TEXT_LINES = 3  # at most this many lines of a message; a longer one ends in "…"
LAYOUTS_KEPT = 512  # laid-out results kept (those on screen, and many more)
ACCENT = QColor("#2f6feb")

Index = QModelIndex | QPersistentModelIndex


def when(hit: Hit, today: date) -> str:
    """The time of a result: "Today 14:03", "Yesterday 09:12", or the long date and the time."""
    day = local_day(hit.message.created_at)
    return f"{day_label(day, today)} {hit.message.created_at.astimezone().strftime('%H:%M')}"


class ResultDelegate(QStyledItemDelegate):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Laid-out texts by (message, text, words highlighted, width, font, theme): the list asks
        # every row's size on each change, and eliding may lay a text out several times. The
        # spans are in the key: the same message found again by other words shows those.
        self._laid: OrderedDict[
            tuple[int, str, tuple[tuple[int, int], ...], int, str, bool], tuple[QTextLayout, int]
        ] = OrderedDict()

    def _layout(self, hit: Hit, font: QFont, width: int, palette: QPalette) -> tuple[QTextLayout, int]:
        key = (hit.message.id, hit.text, tuple(hit.spans), width, font.key(), is_dark(palette))
        kept = self._laid.get(key)
        if kept is not None:
            self._laid.move_to_end(key)
            return kept
        laid = self._lay_out(hit, font, width, palette)
        self._laid[key] = laid
        if len(self._laid) > LAYOUTS_KEPT:
            self._laid.popitem(last=False)
        return laid

    def _lay_out(self, hit: Hit, font: QFont, width: int, palette: QPalette) -> tuple[QTextLayout, int]:
        """The message's text laid out in at most TEXT_LINES lines (the last elided), with its
        matches highlighted; and its height."""
        text = hit.text
        layout = self._lay(text, font, width, hit.spans, palette)
        if layout.lineCount() > TEXT_LINES:
            # Cut where the last line shown ends, leaving room for the "…" (a little more each
            # time the "…" still wraps onto a line of its own).
            last = layout.lineAt(TEXT_LINES - 1)
            end = character_position(text, last.textStart() + last.textLength())
            for cut in range(2, 40, 4):
                shown = text[: max(0, end - cut)].rstrip() + "…"
                spans = [(start, min(stop, len(shown) - 1)) for start, stop in hit.spans if start < len(shown) - 1]
                layout = self._lay(shown, font, width, spans, palette)
                if layout.lineCount() <= TEXT_LINES:
                    break
        lines = min(layout.lineCount(), TEXT_LINES)
        height = sum(layout.lineAt(line).height() for line in range(lines))
        return layout, int(height + 0.99)

    @staticmethod
    def _lay(text: str, font: QFont, width: int, spans: list[tuple[int, int]], palette: QPalette) -> QTextLayout:
        layout = QTextLayout(text, font)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        highlight = QTextCharFormat()
        highlight.setBackground(QColor("#7a5d00") if is_dark(palette) else QColor("#ffe08a"))
        highlight.setFontWeight(QFont.Weight.Bold)
        formats = []
        for start, end in spans:
            if end > start:
                # The spans count characters; Qt counts UTF-16 units (an emoji is two).
                qt_start, qt_end = utf16_position(text, start), utf16_position(text, end)
                found = QTextLayout.FormatRange()
                found.start, found.length, found.format = qt_start, qt_end - qt_start, highlight
                formats.append(found)
        layout.setFormats(formats)
        layout.beginLayout()
        y = 0.0
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(max(1, width))
            line.setPosition(QPointF(0, y))
            y += line.height()
        layout.endLayout()
        return layout

    @staticmethod
    def _fonts(option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        name = QFont(option.font)
        name.setBold(True)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.9))
        return name, small

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        hit: Hit | None = index.data(HitRole)
        width = option.rect.width() or 400
        if hit is None:
            return QSize(width, 0)
        name, _small = self._fonts(option)
        _layout, text_h = self._layout(hit, option.font, width - 2 * PADDING, option.palette)
        return QSize(width, PADDING + QFontMetrics(name).height() + GAP + text_h + PADDING)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        hit: Hit | None = index.data(HitRole)
        if hit is None:
            return
        painter.save()
        rect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            fill = QColor(ACCENT)
            fill.setAlpha(60 if option.state & QStyle.StateFlag.State_HasFocus else 35)
            painter.fillRect(rect, fill)
        rule = palette.color(QPalette.ColorRole.Mid)
        painter.setPen(rule)
        painter.drawLine(rect.left() + PADDING, rect.bottom(), rect.right() - PADDING, rect.bottom())

        name_font, small = self._fonts(option)
        top = rect.top() + PADDING
        line_h = QFontMetrics(name_font).height()
        inner = rect.adjusted(PADDING, 0, -PADDING, 0)
        # The time at the right; author and room share what is left, the room elided first.
        stamp = when(hit, date.today())
        painter.setFont(small)
        faded = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        painter.setPen(faded)
        stamp_w = QFontMetrics(small).horizontalAdvance(stamp)
        painter.drawText(
            QRect(inner.right() - stamp_w, top, stamp_w, line_h),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            stamp,
        )
        room_w = max(0, inner.width() - stamp_w - 12)
        author = QFontMetrics(name_font).elidedText(hit.message.author.username, Qt.TextElideMode.ElideRight, room_w)
        author_w = QFontMetrics(name_font).horizontalAdvance(author)
        painter.setFont(name_font)
        painter.setPen(QColor("#8ab4f8") if is_dark(palette) else QColor("#1a5fb4"))
        painter.drawText(QRect(inner.left(), top, author_w, line_h), int(Qt.AlignmentFlag.AlignVCenter), author)
        where = QFontMetrics(small).elidedText(
            f"  in {hit.room_name}", Qt.TextElideMode.ElideRight, max(0, room_w - author_w)
        )
        painter.setFont(small)
        painter.setPen(faded)
        painter.drawText(
            QRect(inner.left() + author_w, top, max(0, room_w - author_w), line_h),
            int(Qt.AlignmentFlag.AlignVCenter),
            where,
        )

        layout, _height = self._layout(hit, option.font, inner.width(), palette)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        origin = QPointF(inner.left(), top + line_h + GAP)
        for line in range(min(layout.lineCount(), TEXT_LINES)):
            layout.lineAt(line).draw(painter, origin)
        painter.restore()
