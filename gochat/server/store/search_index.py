"""The message search index, kept in step with the messages table inside the same transaction.

Issue 13 fills this in (SQLite FTS5, MariaDB's own index); until then these do nothing, so the
writer, edits and deletions can already call them where the index must change.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session


def index_messages(session: Session, messages: Sequence[tuple[int, int, str]]) -> None:
    """New messages (id, room_id, content), in the transaction that inserts them."""


def reindex_message(session: Session, message_id: int, room_id: int, content: str) -> None:
    """A message's text changed (an edit), in the transaction that changes it."""


def unindex_message(session: Session, message_id: int) -> None:
    """A message was deleted: its text must never be found again."""
