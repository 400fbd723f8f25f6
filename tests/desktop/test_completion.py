"""Completing "@na…" with Tab (pure): the "@" before the cursor, names matched ignoring case,
cycling on repeated Tab, and a plain Tab where there is nothing to complete."""

from __future__ import annotations

from gochat.desktop.chat.completion import Completed, MentionCompleter, matching_names, mention_prefix

NAMES = ["Nadia", "nabil", "张三", "张三丰", "bob"]


def applied(done: Completed | None, text: str) -> str:
    assert done is not None
    return text[: done.start] + done.replacement + text[done.end :]


def test_the_mention_being_typed_is_found_before_the_cursor() -> None:
    assert mention_prefix("hi @na", 6) == (3, "na")
    assert mention_prefix("@", 1) == (0, "")
    assert mention_prefix("你好@张", 4) == (2, "张")  # after a Chinese character: a mention
    assert mention_prefix("mail bob@exa", 12) is None  # an e-mail address
    assert mention_prefix("hi @na there", 12) is None  # a space since the "@"
    assert mention_prefix("no at here", 5) is None


def test_names_match_ignoring_case_once_each() -> None:
    assert matching_names("NA", NAMES) == ["Nadia", "nabil"]
    assert matching_names("张", NAMES) == ["张三", "张三丰"]
    assert matching_names("", ["a", "A", "b"]) == ["a", "b"]
    assert matching_names("zz", NAMES) == []


def test_tab_completes_then_cycles_and_anything_else_ends_the_cycle() -> None:
    completer = MentionCompleter()
    text = "hello @NA and more"
    first = completer.complete(text, 9, NAMES)
    assert first is not None
    text = applied(first, text)
    assert (text, first.cursor) == ("hello @Nadia  and more", 13)
    second = completer.complete(text, first.cursor, NAMES)
    assert second is not None
    text = applied(second, text)
    assert (text, second.cursor) == ("hello @nabil  and more", 13)
    third = completer.complete(text, second.cursor, NAMES)
    assert third is not None
    assert applied(third, text) == "hello @Nadia  and more"  # round again
    completer.reset()
    assert completer.complete("plain", 5, NAMES) is None  # nothing to complete: an ordinary Tab
    chinese = completer.complete("你好@张", 4, NAMES)
    assert chinese is not None
    assert applied(chinese, "你好@张") == "你好@张三 "
    assert completer.complete("@zz", 3, NAMES) is None
