"""Where a search's words are in a message, for highlighting them in the results. No Qt, no I/O.

The server finds messages containing the query ignoring case; the results show that part of
each message highlighted, and, in a long message, the part around it.
"""

from __future__ import annotations

import unicodedata

Span = tuple[int, int]  # [start, end) positions in the text as it is shown

# A long message's snippet starts this many characters before its first match (at a space
# when one is near), so the match is in view in the result's few lines.
CONTEXT_BEFORE = 40
ELLIPSIS = "…"


def match_spans(text: str, query: str) -> list[Span]:
    """Where ``query`` (trimmed, NFC, as the server takes it) occurs in ``text`` ignoring case:
    ``(start, end)`` positions of ``text``, in order, never overlapping. Case is folded one
    character at a time, so a character that folds into two ("ß" → "ss") still maps back to
    its own position."""
    needle = unicodedata.normalize("NFC", query.strip()).casefold()
    if not needle:
        return []
    folded: list[str] = []
    origin: list[int] = []  # per folded character, the position in ``text`` it came from
    for position, character in enumerate(text):
        fold = character.casefold()
        folded.append(fold)
        origin.extend([position] * len(fold))
    haystack = "".join(folded)
    spans: list[Span] = []
    start = 0
    while (found := haystack.find(needle, start)) >= 0:
        end = found + len(needle)
        spans.append((origin[found], origin[end - 1] + 1))
        start = end
    return spans


def utf16_position(text: str, position: int) -> int:
    """A position in ``text`` (characters, as the spans count) as Qt counts it: in UTF-16 units,
    two for each character outside the Basic Multilingual Plane (most emoji)."""
    return position + sum(1 for character in text[:position] if ord(character) > 0xFFFF)


def character_position(text: str, utf16: int) -> int:
    """The inverse of utf16_position: the character at or just after ``utf16`` units, never
    inside an emoji (a position Qt gives may fall between its two units)."""
    units = 0
    for position, character in enumerate(text):
        if units >= utf16:
            return position
        units += 2 if ord(character) > 0xFFFF else 1
    return len(text)


def snippet(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """The message on one line (line breaks shown as spaces), starting a little before its first
    match when that is far in (with "…" in front), and the spans moved to match."""
    flat = "".join(" " if character in "\r\n\t\u2028\u2029" else character for character in text)
    if not spans or spans[0][0] <= CONTEXT_BEFORE:
        return flat, spans
    cut = spans[0][0] - CONTEXT_BEFORE
    space = flat.find(" ", cut, spans[0][0])
    if space >= 0:
        cut = space + 1
    shift = cut - len(ELLIPSIS)
    return ELLIPSIS + flat[cut:], [(start - shift, end - shift) for start, end in spans]
