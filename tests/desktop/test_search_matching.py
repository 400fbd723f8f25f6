"""Where the words searched for are in a result (pure: no Qt, no server)."""

from __future__ import annotations

from gochat.desktop.search.matching import (
    CONTEXT_BEFORE,
    ELLIPSIS,
    character_position,
    match_spans,
    snippet,
    utf16_position,
)


def test_matches_ignore_case_and_find_chinese_inside_a_sentence() -> None:
    assert match_spans("The Tea is READY, tea!", "tEA") == [(4, 7), (18, 21)]
    assert match_spans("大家你好呀", "你好") == [(2, 4)]
    assert match_spans("大家你好呀", "  你好 ") == [(2, 4)]  # trimmed, as the server takes it
    assert match_spans("nothing here", "tea") == []
    assert match_spans("anything", "  ") == []


def test_a_character_that_folds_into_two_maps_back_to_itself() -> None:
    # "ß" folds to "ss": "STRASSE" is found in "Straße", the whole "ße" highlighted.
    assert match_spans("Straße 5", "STRASSE") == [(0, 6)]
    assert match_spans("😀 ÉCOLE école", "école") == [(2, 7), (8, 13)]


def test_a_long_message_is_shown_from_a_little_before_its_first_match() -> None:
    text = "word " * 30 + "needle and\nmore"
    spans = match_spans(text, "needle")
    shown, moved = snippet(text, spans)
    assert shown.startswith(ELLIPSIS)
    assert "\n" not in shown
    start, end = moved[0]
    assert shown[start:end] == "needle"
    assert start <= CONTEXT_BEFORE + len(ELLIPSIS)
    # A match near the start: the text from its beginning, on one line.
    assert snippet("a\nneedle", match_spans("a\nneedle", "needle")) == ("a needle", [(2, 8)])


def test_positions_convert_between_characters_and_qt_s_utf16_units() -> None:
    text = "a😀b收🎉"
    assert [utf16_position(text, position) for position in range(len(text) + 1)] == [0, 1, 3, 4, 5, 7]
    assert [character_position(text, units) for units in range(8)] == [0, 1, 2, 2, 3, 4, 5, 5]
