"""SQLite's search for 3+ characters, driven by the query's rarest trigrams.

FTS5 answers a phrase by walking every one of its trigrams' doclists together and checking the
positions wherever they all meet. A phrase that is rare as a whole but made of common trigrams
("release notes tonight": 19 trigrams, each in a third of all messages) then costs 19 long walks
for a page of 50 (over the whole history in a room where it is rarer still): seconds on a million
messages. So instead:

1. Estimate each trigram's frequency where the page starts: the rowid span of its newest
   ``SAMPLE`` occurrences (below ``before``), a walk of at most ``SAMPLE`` doclist entries.
2. Ask FTS5, newest first, for the messages holding the rarest few trigrams that do not overlap
   in the query (overlapping ones nearly always come together, so they narrow nothing), adding the
   next rarest only while the candidates it would save cost more to check than its walk.
3. Check each candidate's text for the whole query, folded exactly as the trigram tokenizer folds
   (its table is read from SQLite itself: ``fts5_fold``), until the page is full. The result is
   the phrase query's, message for message.

A query of exactly 3 characters is one trigram: that match is the answer, with nothing to check.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gochat.server.store import search_index

# Newest occurrences of a trigram read to estimate how common it is.
SAMPLE = 16
# Trigrams estimated at most (spread over the query: 200 characters are 198 trigrams).
ESTIMATED_MAX = 12
# Trigrams asked of FTS5 at most.
CHOSEN_MAX = 4
# Checking one candidate's text (its row, the join, Python's comparison) costs about as much as
# walking this many doclist entries (measured on 1,000,000 messages: ~2 µs against ~25 ns).
CHECK_COST = 64
TRIGRAM = 3


@dataclass(frozen=True)
class Fold:
    """The trigram tokenizer's case folding (``case_sensitive 0``), code point by code point."""

    table: dict[int, int]
    # Folded characters where str.casefold disagrees with it (casefold is the quick first check).
    casefold_unsafe: frozenset[str]

    def __call__(self, value: str) -> str:
        return value.translate(self.table)


@functools.cache
def fts5_fold() -> Fold:
    """Read the fold from SQLite's own trigram tokenizer, once per process: one document of every
    code point it may fold (the Basic Multilingual Plane and Deseret, the only others its
    sqlite3Fts5UnicodeFold folds), whose trigrams fts5vocab lists folded, by position."""
    points = [p for p in range(1, 0x10450) if not 0xD800 <= p <= 0xDFFF and (p < 0x10000 or p >= 0x10400)]
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("CREATE VIRTUAL TABLE fold USING fts5(x, tokenize='trigram case_sensitive 0')")
        connection.execute("CREATE VIRTUAL TABLE fold_terms USING fts5vocab(fold, instance)")
        connection.execute("INSERT INTO fold (x) VALUES (?)", ("".join(map(chr, points)) + "\x01\x01",))
        table = {
            points[offset]: ord(term[0])
            for term, offset in connection.execute("SELECT term, offset FROM fold_terms")
            if ord(term[0]) != points[offset]
        }
    finally:
        connection.close()
    unsafe = frozenset(chr(table.get(p, p)) for p in points if chr(table.get(p, p)).casefold() != chr(p).casefold())
    return Fold(table, unsafe)


def matcher(query: str) -> Callable[[str], bool]:
    """Whether FTS5's trigram phrase ``query`` (3+ characters) matches a text: a substring, both
    folded as the tokenizer folds. str.casefold (C speed) first rules out nearly every candidate
    that does not hold it: every character casefolds as its fold does (outside
    ``casefold_unsafe``, where that check is skipped), so a match under the fold is one under
    casefold too."""
    fold = fts5_fold()
    folded, casefolded = fold(query), query.casefold()
    quick = fold.casefold_unsafe.isdisjoint(folded)

    def contains(content: str) -> bool:
        if quick and casefolded not in content.casefold():
            return False
        return folded in fold(content)

    return contains


@functools.cache
def _ascii_lookalikes() -> tuple[str, ...]:
    """Characters outside ASCII that the tokenizer folds into it (the Kelvin sign, the long s)."""
    return tuple(sorted(chr(p) for p, folded in fts5_fold().table.items() if p >= 0x80 and folded < 0x80))


@dataclass(frozen=True)
class Plan:
    """What to ask FTS5 for, and whether its matches still need ``matcher``; for an ASCII query,
    an SQL condition on the text that every match meets (checked in C, before Python sees the
    row): SQLite's LIKE ignores ASCII case exactly as the fold does, unless the text holds one of
    the few characters folded into ASCII, which then go to ``matcher`` too."""

    match: str
    checked: bool
    like: str | None = None

    def text_condition(self, column: str) -> tuple[str, dict[str, str]]:
        """(SQL, parameters) of the LIKE condition on ``column``; ("", {}) when there is none."""
        if self.like is None:
            return "", {}
        # Only a lookalike of a letter the query holds can make a match LIKE misses.
        lookalikes = [c for c in _ascii_lookalikes() if fts5_fold()(c) in fts5_fold()(self.like)]
        parameters = {"text_like": self.like} | {f"text_alike{i}": c for i, c in enumerate(lookalikes)}
        either = [f"{column} LIKE :text_like ESCAPE '\\'"]
        either += [f"instr({column}, :{name}) > 0" for name in parameters if name != "text_like"]
        return f"({' OR '.join(either)})", parameters


def _like_pattern(query: str) -> str | None:
    if not query.isascii() or "\x00" in query:
        return None
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _trigrams(query: str) -> list[tuple[int, str]]:
    """Distinct trigrams (as the tokenizer folds them) with their first position in the query.
    A NUL would end FTS5's query text: no trigram holding one is asked for."""
    fold = fts5_fold()
    seen: dict[str, tuple[int, str]] = {}
    for position in range(len(query) - TRIGRAM + 1):
        trigram = query[position : position + TRIGRAM]
        if "\x00" not in trigram:
            seen.setdefault(fold(trigram), (position, trigram))
    return list(seen.values())


def _probed(trigrams: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """At most ESTIMATED_MAX of the trigrams to estimate: those across a word's edge first (a
    space or punctuation in them: in any language with spaces the rarest), then spread evenly."""
    if len(trigrams) <= ESTIMATED_MAX:
        return trigrams
    edges = [t for t in trigrams if not t[1].isalnum()][:ESTIMATED_MAX]
    rest = [t for t in trigrams if t[1].isalnum()]
    room = ESTIMATED_MAX - len(edges)
    if len(rest) <= room:
        return edges + rest
    if room:
        edges += [rest[round(i * (len(rest) - 1) / max(room - 1, 1))] for i in range(room)]
    return edges


def _column_phrase(trigram: str) -> str:
    return f"content : {search_index.fts5_phrase(trigram)}"


def plan(connection: Connection, query: str, before: int | None) -> Plan | None:
    """The FTS5 expression for ``query``'s candidates (3+ characters); None when it has no
    trigram FTS5 can be asked for (all hold a NUL), so no message can match."""
    trigrams = _trigrams(query)
    if not trigrams:
        return None
    if len(query) == TRIGRAM:
        return Plan(_column_phrase(trigrams[0][1]), checked=False)
    top = (before - 1) if before is not None else connection.execute(text("SELECT max(id) FROM messages")).scalar()
    top = int(top or 0)
    sample = text(
        f"SELECT count(*), min(rowid) FROM (SELECT rowid FROM {search_index.TEXT_TABLE} "
        f"WHERE {search_index.TEXT_TABLE} MATCH :match AND rowid <= :top ORDER BY rowid DESC LIMIT {SAMPLE})"
    )
    estimated: list[tuple[float, int, str]] = []
    for position, trigram in _probed(trigrams):
        found, oldest = connection.execute(sample, {"match": _column_phrase(trigram), "top": top}).one()
        # Fewer than SAMPLE: that is all of them, over the whole span.
        span = top - int(oldest) + 1 if found == SAMPLE else max(top, 1)
        estimated.append((found / span, position, trigram))
    estimated.sort()
    match = " AND ".join(_column_phrase(trigram) for trigram in _rarest(estimated))
    return Plan(match, checked=True, like=_like_pattern(query))


def _rarest(estimated: Iterable[tuple[float, int, str]]) -> list[str]:
    """From trigrams sorted by frequency: the rarest, then the next rarest that overlap none chosen,
    while the share of candidates it would rule out (checking each costs CHECK_COST entries)
    outweighs walking its doclist."""
    chosen: list[tuple[int, str]] = []
    candidates = 1.0  # the share of messages the chosen trigrams let through (taken as independent)
    for frequency, position, trigram in estimated:
        if any(abs(position - other) < TRIGRAM for other, _ in chosen):
            continue
        if chosen and candidates * (1 - frequency) * CHECK_COST <= frequency:
            break
        chosen.append((position, trigram))
        candidates *= frequency
        if len(chosen) == CHOSEN_MAX:
            break
    return [trigram for _, trigram in chosen]
