"""Who a message mentions: "@name" resolved against the registered users (docs/protocol.md, 12).

The rule of which text may be a name is the protocol's (``protocol.mention_candidates``); this
module asks the database which of those names exist, with one query for any number of messages
(the writer resolves a whole group-commit batch at once), and keeps the longest registered name
of each "@". Messages without "@" cost nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from gochat.protocol import mention_candidates
from gochat.server.records import UserRecord
from gochat.server.store import models

USERS = models.User.__table__
# Names looked up per statement: well below every backend's limit on bound parameters.
KEYS_PER_QUERY = 900

# One message to resolve: its text, and who may be mentioned in it (a direct room's two members;
# None: anyone registered).
MentionRequest = tuple[str, Collection[int] | None]


def resolve_mentions(
    connection: Connection | Session, requests: Sequence[MentionRequest]
) -> list[tuple[UserRecord, ...]]:
    """The users each text mentions, in order of first mention, each once. Inside the caller's
    transaction; one SELECT for all of them (more only past KEYS_PER_QUERY names)."""
    found: list[tuple[UserRecord, ...]] = [() for _ in requests]
    candidates = [mention_candidates(content) if "@" in content else [] for content, _ in requests]
    keys = sorted({key for per_text in candidates for candidate in per_text for key, _ in candidate.keys})
    if not keys:
        return found
    registered: dict[str, UserRecord] = {}
    for first in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[first : first + KEYS_PER_QUERY]
        query = select(USERS.c.id, USERS.c.username, USERS.c.username_key).where(
            USERS.c.username_key.in_(chunk), USERS.c.deleted_at.is_(None)
        )
        for row in connection.execute(query):
            registered[row.username_key] = UserRecord(id=row.id, username=row.username)
    for index, ((_, allowed), per_text) in enumerate(zip(requests, candidates, strict=True)):
        mentioned: dict[int, UserRecord] = {}
        for candidate in per_text:
            # Longest first: the first registered (and allowed) name is the one mentioned.
            for key, _ in candidate.keys:
                user = registered.get(key)
                if user is not None and (allowed is None or user.id in allowed):
                    mentioned.setdefault(user.id, user)
                    break
        found[index] = tuple(mentioned.values())
    return found


def stored_mentions(users: Sequence[UserRecord]) -> str | None:
    """``messages.mentions`` as written: JSON [{"id", "username"}], or NULL for none."""
    if not users:
        return None
    return json.dumps([{"id": user.id, "username": user.username} for user in users], ensure_ascii=False)
