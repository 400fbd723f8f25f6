"""A message's text laid out for a bubble, exactly as typed.

QTextLayout lays out one paragraph: it does not break at "\\n", and its text direction is one for
the whole layout. So a message is split into paragraphs at its line breaks, each laid out by a
QTextLayout of its own, one under the other, each in its own direction (an Arabic or Hebrew
paragraph right to left and right-aligned, a Latin one left to right). Runs of spaces and tabs are
kept (this is plain text, never HTML); words longer than a line (long URLs) break anywhere.
Links (http://, https://, www.) are underlined and coloured, mentions ("@name", where the
server found one) bold in the link colour, and a mention of the user on an amber mark;
everything else is plain text.

The same object answers measuring (its size), painting (with a selection) and hit-testing (which
character, which link is under a point), so the three always agree.

Positions are Python string indices (code points) into the whole message; Qt counts UTF-16 code
units inside each paragraph, and the conversion happens here.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QTextCharFormat,
    QTextLayout,
    QTextLine,
    QTextOption,
)

from gochat.desktop.chat.links import Link, find_links, link_at

# Where one paragraph ends and the next begins (the composer gives "\n"; pasted or
# other clients' text may carry "\r\n", "\r" or U+2029).
PARAGRAPH_BREAK = re.compile(r"\r\n|[\r\n\u2029]")
# Tab stops every this many spaces' widths, as browsers do (CSS tab-size: 8); the composer uses
# the same stops, so a tab looks alike while typing and in the bubble.
TAB_SPACES = 8
MIN_TEXT_WIDTH = 24
# A mention of the user: dark ink on amber, readable on every bubble and in both palettes.
MENTION_OF_YOU_MARK = QColor("#ffd24d")
MENTION_OF_YOU_INK = QColor("#1f1f1f")

# Where a text mentions someone: (start, end, is it the user), in code points.
MentionSpan = tuple[int, int, bool]


# Characters outside the Basic Multilingual Plane (most emoji): two UTF-16 units each in Qt.
ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def tab_stop(font: QFont) -> float:
    return QFontMetricsF(font).horizontalAdvance(" ") * TAB_SPACES


@functools.lru_cache(maxsize=16)
def _text_options(stop: float) -> tuple[QTextOption, QTextOption]:
    """The layout options for a left-to-right and a right-to-left paragraph (made once: every
    paragraph of every message is laid out with one of the two)."""
    options = []
    for direction, side in (
        (Qt.LayoutDirection.LeftToRight, Qt.AlignmentFlag.AlignLeft),
        (Qt.LayoutDirection.RightToLeft, Qt.AlignmentFlag.AlignRight),
    ):
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        option.setTabStopDistance(stop)
        option.setTextDirection(direction)
        # Absolute alignment: Qt would not right-align a right-to-left paragraph by itself.
        option.setAlignment(side | Qt.AlignmentFlag.AlignAbsolute)
        options.append(option)
    return options[0], options[1]


def cursor_x(line: QTextLine, position: int) -> float:
    """Where a cursor position is drawn in a line (PySide returns the x with the position)."""
    found = line.cursorToX(position)
    x = found[0] if isinstance(found, tuple) else found
    assert isinstance(x, float | int)
    return float(x)


def is_right_to_left(text: str) -> bool:
    """The direction of a paragraph: that of its first strong character (the Unicode
    bidirectional algorithm's rule P2); left to right when it has none (digits, emoji)."""
    if text.isascii():
        return False
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return False
        if kind in ("R", "AL"):
            return True
    return False


def word_at(text: str, position: int) -> tuple[int, int]:
    """The word around a position (for double-click): a run of letters and digits, or else the
    single character there."""
    if not text:
        return 0, 0
    position = min(max(position, 0), len(text) - 1)
    for match in re.finditer(r"\w+", text):
        if match.start() <= position < match.end():
            return match.span()
        if match.start() > position:
            break
    return position, position + 1


@dataclass(slots=True)
class Paragraph:
    start: int  # where it begins in the message (code points)
    text: str
    layout: QTextLayout
    right_to_left: bool
    top: float
    height: float
    astral: list[int]  # code-point indices of characters outside the BMP (two UTF-16 units each)

    def to_qt(self, position: int) -> int:
        """A code-point index in this paragraph → Qt's UTF-16 index."""
        return position + bisect.bisect_left(self.astral, position)

    def from_qt(self, position: int) -> int:
        """Qt's UTF-16 index in this paragraph → a code-point index (inside a pair: its start)."""
        shift = 0
        for index in self.astral:
            start = index + shift
            if start >= position:
                break
            if start + 1 == position:
                return index
            shift += 1
        return position - shift

    def line_at(self, y: float) -> QTextLine:
        for number in range(self.layout.lineCount()):
            line = self.layout.lineAt(number)
            if y < line.y() + line.height():
                return line
        return self.layout.lineAt(self.layout.lineCount() - 1)


class BubbleText:
    """One message's text laid out at a wrapping width; ``width`` and ``height`` are what it
    takes (``width`` is the widest line, at least MIN_TEXT_WIDTH, at most the wrapping width)."""

    def __init__(
        self,
        text: str,
        font: QFont,
        wrap_width: int,
        link_color: QColor | None = None,
        tab_distance: float | None = None,
        mentions: Sequence[MentionSpan] = (),
    ) -> None:
        self.text = text
        self.links: list[Link] = find_links(text)
        self.mentions = tuple(mentions)
        self.paragraphs: list[Paragraph] = []
        wrap_width = max(1, wrap_width)
        ltr_option, rtl_option = _text_options(tab_stop(font) if tab_distance is None else tab_distance)
        top = 0.0
        natural = 0.0
        start = 0
        pieces: list[tuple[int, str]] = []
        for match in PARAGRAPH_BREAK.finditer(text):
            pieces.append((start, text[start : match.start()]))
            start = match.end()
        pieces.append((start, text[start:]))
        for begin, piece in pieces:
            ascii_only = piece.isascii()
            rtl = not ascii_only and is_right_to_left(piece)
            astral = [] if ascii_only else [match.start() for match in ASTRAL.finditer(piece)]
            layout = QTextLayout(piece, font)
            layout.setTextOption(rtl_option if rtl else ltr_option)
            paragraph = Paragraph(begin, piece, layout, rtl, top, 0.0, astral)
            if self.links or self.mentions:
                layout.setFormats(self._formats(paragraph, link_color))
            layout.beginLayout()
            while True:
                line = layout.createLine()
                if not line.isValid():
                    break
                line.setLineWidth(wrap_width)
                line.setPosition(QPointF(0, top))
                top += line.height()
                natural = max(natural, line.naturalTextWidth())
            layout.endLayout()
            paragraph.height = top - paragraph.top
            self.paragraphs.append(paragraph)
        self.width = min(wrap_width, max(int(natural) + 1, MIN_TEXT_WIDTH))
        self.height = int(top + 0.999)
        # Right-to-left lines are aligned to the wrapping width's right edge; move them to the
        # text's own right edge (the bubble is only as wide as its widest line).
        if self.width != wrap_width:
            for paragraph in self.paragraphs:
                if paragraph.right_to_left:
                    for number in range(paragraph.layout.lineCount()):
                        line = paragraph.layout.lineAt(number)
                        line.setPosition(QPointF(self.width - wrap_width, line.y()))

    def _formats(self, paragraph: Paragraph, color: QColor | None) -> list[QTextLayout.FormatRange]:
        formats: list[QTextLayout.FormatRange] = []
        end = paragraph.start + len(paragraph.text)

        def add(begin: int, finish: int, char_format: QTextCharFormat) -> None:
            start, stop = max(begin, paragraph.start), min(finish, end)
            if start >= stop:
                return
            span = QTextLayout.FormatRange()
            span.start = paragraph.to_qt(start - paragraph.start)
            span.length = paragraph.to_qt(stop - paragraph.start) - span.start
            span.format = char_format
            formats.append(span)

        for link in self.links:
            char_format = QTextCharFormat()
            char_format.setFontUnderline(True)
            if color is not None:
                char_format.setForeground(color)
            add(link.start, link.end, char_format)
        for begin, finish, of_you in self.mentions:
            char_format = QTextCharFormat()
            char_format.setFontWeight(QFont.Weight.Bold)
            if of_you:
                char_format.setBackground(MENTION_OF_YOU_MARK)
                char_format.setForeground(MENTION_OF_YOU_INK)
            elif color is not None:
                char_format.setForeground(color)
            add(begin, finish, char_format)
        return formats

    # -- painting ------------------------------------------------------------------------

    def draw(
        self,
        painter: QPainter,
        origin: QPointF,
        selection: tuple[int, int] | None = None,
        highlight: QColor | None = None,
        highlighted_text: QColor | None = None,
    ) -> None:
        """Draw at ``origin`` (the text's top left) with the painter's pen as the ink; ``selection``
        (start, end) in message positions is highlighted."""
        for paragraph in self.paragraphs:
            selections: list[QTextLayout.FormatRange] = []
            if selection is not None:
                end = paragraph.start + len(paragraph.text)
                start, stop = max(selection[0], paragraph.start), min(selection[1], end)
                # A selection running past the paragraph's end covers its line break: shown as
                # a little highlighted space, as text editors do.
                covers_break = selection[1] > end and selection[0] <= end
                if start < stop:
                    span = QTextLayout.FormatRange()
                    span.start = paragraph.to_qt(start - paragraph.start)
                    span.length = paragraph.to_qt(stop - paragraph.start) - span.start
                    char_format = QTextCharFormat()
                    if highlight is not None:
                        char_format.setBackground(highlight)
                    if highlighted_text is not None:
                        char_format.setForeground(highlighted_text)
                    span.format = char_format
                    selections.append(span)
                if covers_break and highlight is not None:
                    last = paragraph.layout.lineAt(paragraph.layout.lineCount() - 1)
                    x = cursor_x(last, last.textStart() + last.textLength())
                    width = QFontMetricsF(paragraph.layout.font()).horizontalAdvance(" ")
                    left = x - width if paragraph.right_to_left else x
                    painter.fillRect(QRectF(origin.x() + left, origin.y() + last.y(), width, last.height()), highlight)
            paragraph.layout.draw(painter, origin, selections)

    # -- hit-testing ---------------------------------------------------------------------

    def _paragraph_at(self, y: float) -> Paragraph | None:
        for paragraph in self.paragraphs:
            if y < paragraph.top + paragraph.height:
                return paragraph
        return None

    def position_at(self, point: QPointF) -> int:
        """The cursor position nearest a point (relative to the text's top left): above the text
        is its start, below it its end."""
        if point.y() < 0:
            return 0
        paragraph = self._paragraph_at(point.y())
        if paragraph is None:
            return len(self.text)
        line = paragraph.line_at(point.y())
        return paragraph.start + paragraph.from_qt(line.xToCursor(point.x()))

    def link_at(self, point: QPointF) -> Link | None:
        """The link drawn under a point (relative to the text's top left), if any."""
        if not self.links or point.y() < 0:
            return None
        paragraph = self._paragraph_at(point.y())
        if paragraph is None:
            return None
        line = paragraph.line_at(point.y())
        if not line.naturalTextRect().contains(point):
            return None
        position = line.xToCursor(point.x(), QTextLine.CursorPosition.CursorOnCharacter)
        return link_at(self.links, paragraph.start + paragraph.from_qt(position))
