"""Completing "@na…" in the composer with Tab: which names match, and cycling through them on
repeated Tab. Pure: no Qt, no I/O (the window hands it the text, the cursor and the names)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gochat.protocol import USERNAME_MAX

# "@" right after one of these, or after an ASCII letter or digit, is part of an e-mail address
# or a word, not a mention (the server's rule, docs/protocol.md "12 — mentioned").
_NOT_BEFORE_MENTION = frozenset("._%+-'@")


def mention_prefix(text: str, cursor: int) -> tuple[int, str] | None:
    """The "@na" that ends at the cursor: where its "@" is and what was typed after it
    (possibly nothing); None when the cursor is not at the end of one."""
    start = cursor
    while start > 0 and cursor - start <= USERNAME_MAX:
        ch = text[start - 1]
        if ch == "@":
            at = start - 1
            before = text[at - 1] if at > 0 else ""
            if before and (before in _NOT_BEFORE_MENTION or (before.isascii() and before.isalnum())):
                return None
            return at, text[start:cursor]
        if ch.isspace():
            return None
        start -= 1
    return None


def matching_names(prefix: str, names: Iterable[str]) -> list[str]:
    """The names that start with ``prefix`` ignoring case, each once, in the order given."""
    folded = prefix.casefold()
    found: dict[str, str] = {}
    for name in names:
        key = name.casefold()
        if key.startswith(folded) and key not in found:
            found[key] = name
    return list(found.values())


@dataclass(frozen=True, slots=True)
class Completed:
    """What a Tab does: ``text[start:end]`` becomes ``replacement``, the cursor after it."""

    start: int
    end: int
    replacement: str

    @property
    def cursor(self) -> int:
        return self.start + len(self.replacement)


@dataclass(slots=True)
class _Cycle:
    at: int  # the "@"
    names: list[str]
    index: int
    end: int  # just after the inserted "@name "


class MentionCompleter:
    """Tab after "@na" puts "@name " in its place (the first name that matches); Tab again
    right after it puts the next one, round and round. Anything else typed ends the cycle
    (``reset``)."""

    def __init__(self) -> None:
        self._cycle: _Cycle | None = None

    def reset(self) -> None:
        self._cycle = None

    def complete(self, text: str, cursor: int, names: Iterable[str]) -> Completed | None:
        """What a Tab does at ``cursor``; None when there is nothing to complete (the Tab is
        then an ordinary tab)."""
        cycle = self._cycle
        if cycle is not None and cursor == cycle.end and text[cycle.at : cycle.end] == self._inserted(cycle):
            cycle.index = (cycle.index + 1) % len(cycle.names)
            return self._put(cycle, cycle.end)
        self._cycle = None
        found = mention_prefix(text, cursor)
        if found is None:
            return None
        at, prefix = found
        matches = matching_names(prefix, names)
        if not matches:
            return None
        self._cycle = _Cycle(at, matches, 0, cursor)
        return self._put(self._cycle, cursor)

    @staticmethod
    def _inserted(cycle: _Cycle) -> str:
        return f"@{cycle.names[cycle.index]} "

    @classmethod
    def _put(cls, cycle: _Cycle, replaced_end: int) -> Completed:
        inserted = cls._inserted(cycle)
        cycle.end = cycle.at + len(inserted)
        return Completed(cycle.at, replaced_end, inserted)
