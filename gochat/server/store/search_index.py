"""The message search index, kept in step with the messages table inside the same transaction.

Each backend's own full-text machinery (docs/architecture.md, "Message search"):

- SQLite: ``message_search``, an FTS5 table with the trigram tokenizer (case_sensitive 0) holding
  each message's text: a phrase query of 3+ characters is an exact substring match, ignoring
  case. Trigrams cannot match 2 characters, so ``message_bigrams``, a contentless FTS5 table,
  holds each message's bigrams as ASCII words (``gram_words``); a 2-character query is one word.
- MariaDB (no ngram parser): ``message_search``, an InnoDB table of each message's bigrams as
  ASCII words under a FULLTEXT index. A query of 2 characters is one word; a longer one needs all
  its bigrams, and the candidates are checked against the text itself.

The words are ASCII letters and digits only ("b4f60g597d": the bigram 你好), so no tokenizer,
InnoDB's minimum token size (3) or its stopword list can split or drop them. Each character is
folded on its own (lower case, when that is one character) as it is cut, so the index ignores case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gochat.server.store import models

log = logging.getLogger(__name__)

TEXT_TABLE = "message_search"
BIGRAM_TABLE = "message_bigrams"  # SQLite only
# database_info rows: the highest message id stored before the index existed (the backfill's
# goal), and how far the backfill has come.
BACKFILL_GOAL = "search_backfill_goal"
BACKFILL_DONE = "search_backfill_done"
BACKFILL_BATCH = 2000

_SQLITE_TABLES = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TEXT_TABLE} USING fts5(content, room, tokenize='trigram case_sensitive 0')",
    # Contentless: the words are recomputed from message_search's copy of the text to delete them.
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {BIGRAM_TABLE} USING fts5(grams, room, content='', tokenize='unicode61')",
)
_MARIADB_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TEXT_TABLE} ("
    "message_id BIGINT UNSIGNED NOT NULL PRIMARY KEY, "
    "grams MEDIUMTEXT CHARACTER SET ascii COLLATE ascii_bin NOT NULL, "
    f"FULLTEXT KEY ft_{TEXT_TABLE}_grams (grams)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
)


def _fold_char(c: str) -> str:
    low = c.lower()
    return low if len(low) == 1 else c


def fold_text(value: str) -> str:
    """``value`` folded as the index folds each character (lower case, when that is one
    character): a text holds a query, for search, when its fold holds the query's."""
    return "".join(map(_fold_char, value))


class _Pieces(dict[str, str]):
    """Each character's piece of a word: ``prefix`` + its folded code point in hex, made once.
    The words are then joined by C loops (map, str.__add__), not a Python loop per pair: this runs
    on the writer's thread for every message stored."""

    # Characters remembered at most (a text of every code point must not grow it without end).
    LIMIT = 20_000

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def __missing__(self, c: str) -> str:
        if len(self) >= self.LIMIT:
            self.clear()
        piece = self[c] = f"{self._prefix}{ord(_fold_char(c)):x}"
        return piece


_BIGRAM_HEAD, _TRIGRAM_HEAD, _TAIL = _Pieces("b"), _Pieces("t"), _Pieces("g")


def _bigrams(content: str) -> Iterator[str]:
    return map(str.__add__, map(_BIGRAM_HEAD.__getitem__, content), map(_TAIL.__getitem__, content[1:]))


def _trigrams(content: str) -> Iterator[str]:
    heads = map(str.__add__, map(_TRIGRAM_HEAD.__getitem__, content), map(_TAIL.__getitem__, content[1:]))
    return map(str.__add__, heads, map(_TAIL.__getitem__, content[2:]))


def gram_words(content: str, *, trigrams: bool) -> str:
    """The index's words for a text, ignoring case: its distinct bigrams ("b4f60g597d": 你好), and
    trigrams ("t...g...g..."), space-separated."""
    words = dict.fromkeys(_bigrams(content))
    if trigrams:
        words.update(dict.fromkeys(_trigrams(content)))
    return " ".join(words)


def query_words(query: str, *, trigrams: bool = True) -> list[str]:
    """The words a stored text must all hold to contain ``query`` (2 characters or more): its one
    bigram, or its distinct trigrams (``trigrams``; else its distinct bigrams)."""
    return list(dict.fromkeys(_bigrams(query) if len(query) == 2 or not trigrams else _trigrams(query)))


def room_word(room_id: int, *, sqlite: bool) -> str:
    """The word that puts a message in its room, so a search in one room is one more word for the
    full-text index to intersect (not a filter over every message that has the text). On SQLite
    the text table's room column holds "<12>" (its trigrams match only that whole value) and the
    bigram table's "r12"; on MariaDB "room12" (InnoDB drops words under 3 characters)."""
    return f"<{room_id}>" if sqlite else f"room{room_id}"


def _is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


# ---------------------------------------------------------------------------
# Keeping the index in step


def index_messages(connection: Connection | Session, messages: Sequence[tuple[int, int, str]]) -> None:
    """New messages (id, room_id, content), in the transaction that inserts them."""
    if not messages:
        return
    bind = connection.connection() if isinstance(connection, Session) else connection
    if _is_sqlite(bind):
        bind.exec_driver_sql(
            f"INSERT INTO {TEXT_TABLE} (rowid, content, room) VALUES (?, ?, ?)",
            [(message_id, content, room_word(room_id, sqlite=True)) for message_id, room_id, content in messages],
        )
        bind.exec_driver_sql(
            f"INSERT INTO {BIGRAM_TABLE} (rowid, grams, room) VALUES (?, ?, ?)",
            [
                (message_id, gram_words(content, trigrams=False), f"r{room_id}")
                for message_id, room_id, content in messages
            ],
        )
        return
    bind.exec_driver_sql(
        f"INSERT INTO {TEXT_TABLE} (message_id, grams) VALUES (%s, %s)",
        [
            # Bigrams only: the words are made on the writer's thread for every message stored, and
            # trigrams too cost as much again there (and in InnoDB) — the 5,000 messages/s ingest
            # target is what they cost. A longer query needs all its bigrams, then the text.
            (message_id, f"{room_word(room_id, sqlite=False)} {gram_words(content, trigrams=False)}")
            for message_id, room_id, content in messages
        ],
    )


def reindex_message(session: Session, message_id: int, room_id: int, content: str) -> None:
    """A message's text changed (an edit), in the transaction that changes it."""
    unindex_message(session, message_id)
    index_messages(session, [(message_id, room_id, content)])


def unindex_message(session: Session, message_id: int) -> None:
    """A message was deleted: its text must never be found again."""
    connection = session.connection()
    if not _is_sqlite(connection):
        connection.execute(text(f"DELETE FROM {TEXT_TABLE} WHERE message_id = :id"), {"id": message_id})
        return
    # The text as it was indexed (not the message's, which the caller may have changed already):
    # a contentless table forgets a row only when told the very words it holds.
    indexed = connection.execute(
        text(f"SELECT content, room FROM {TEXT_TABLE} WHERE rowid = :id"), {"id": message_id}
    ).first()
    if indexed is None:
        return
    connection.execute(
        text(f"INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}, rowid, grams, room) VALUES ('delete', :id, :grams, :room)"),
        {
            "id": message_id,
            "grams": gram_words(indexed.content, trigrams=False),
            "room": f"r{indexed.room.strip('<>')}",
        },
    )
    connection.execute(text(f"DELETE FROM {TEXT_TABLE} WHERE rowid = :id"), {"id": message_id})


# ---------------------------------------------------------------------------
# Searching


def fts5_phrase(query: str) -> str:
    """``query`` as one FTS5 phrase (its quotes doubled), so no character is an operator."""
    return '"' + query.replace('"', '""') + '"'


def boolean_words(words: Sequence[str]) -> str:
    """InnoDB boolean mode: every word required."""
    return " ".join(f"+{word}" for word in words)


# ---------------------------------------------------------------------------
# Creating the index, and filling it for messages stored before it existed


def create_index(engine: Engine) -> None:
    """Make the index's tables when missing (idempotent; several servers may start at once)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            for statement in _SQLITE_TABLES:
                connection.exec_driver_sql(statement)
        else:
            connection.exec_driver_sql(_MARIADB_TABLE)


def backfill(engine: Engine, batch: int = BACKFILL_BATCH) -> int:
    """Index every message stored before the index existed, ``batch`` messages a transaction, so a
    big database is never locked for long; returns how many were indexed. Safe to run from several
    servers at once (each batch holds the progress row's lock) and to resume after a crash."""
    info = models.DatabaseInfo
    with engine.begin() as connection:
        # The first server to look sets the goal: messages above it were indexed by the writer.
        highest = connection.scalar(select(func.coalesce(func.max(models.Message.id), 0)))
        for name, value in ((BACKFILL_GOAL, int(highest or 0)), (BACKFILL_DONE, 0)):
            _insert_if_absent(connection, name, str(value))
    indexed = 0
    while True:
        with engine.begin() as connection:
            # Taking the row's write lock first: two servers never index the same batch.
            connection.execute(update(info).where(info.name == BACKFILL_DONE).values(value=info.value))
            goal = int(connection.scalar(select(info.value).where(info.name == BACKFILL_GOAL)) or 0)
            done = int(connection.scalar(select(info.value).where(info.name == BACKFILL_DONE)) or 0)
            if done >= goal:
                break
            rows = connection.execute(
                select(models.Message.id, models.Message.room_id, models.Message.content)
                .where(models.Message.id > done, models.Message.id <= goal, models.Message.deleted_at.is_(None))
                .order_by(models.Message.id)
                .limit(batch)
            ).all()
            last = rows[-1][0] if len(rows) == batch else goal
            present = _indexed_between(connection, done + 1, last)
            fresh = [(row[0], row[1], row[2]) for row in rows if row[0] not in present]
            index_messages(connection, fresh)
            indexed += len(fresh)
            connection.execute(update(info).where(info.name == BACKFILL_DONE).values(value=str(last)))
    if indexed:
        log.info("Indexed %d messages stored before the search index existed", indexed)
    return indexed


def _indexed_between(connection: Connection, low: int, high: int) -> set[int]:
    """Ids already in the index (the writer indexed them) within [low, high]."""
    key = "rowid" if _is_sqlite(connection) else "message_id"
    statement = text(f"SELECT {key} FROM {TEXT_TABLE} WHERE {key} BETWEEN :low AND :high")
    return {int(row[0]) for row in connection.execute(statement, {"low": low, "high": high})}


def _insert_if_absent(connection: Connection, name: str, value: str) -> None:
    """INSERT the database_info row unless it exists (another server may insert it at once)."""
    values = {"name": name, "value": value}
    if _is_sqlite(connection):
        connection.execute(sqlite_insert(models.DatabaseInfo).values(**values).on_conflict_do_nothing())
    else:
        statement = mysql_insert(models.DatabaseInfo).values(**values)
        connection.execute(statement.on_duplicate_key_update(name=statement.inserted.name))
