"""People, a room and its history written straight into a server's database, for the tests that
need more than the API makes quick: one argon2 hash shared by every user, history by bulk INSERT.

The benchmark seeds its servers with a copy of its own (bench/servers.py): tests do not import the
bench, and the bench does not import the tests.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, insert

from gochat.protocol import username_key
from gochat.server import auth
from gochat.server.store import models
from gochat.server.store.database import Database

WORDS = (
    *("ok", "sure", "thanks", "deploy", "build", "review", "the", "branch", "merge", "tomorrow", "lunch"),
    *("meeting", "coffee", "server", "client", "window", "scroll", "message", "latency", "memory", "profile"),
    *("test", "fixed", "broken", "works", "again", "later", "tonight", "weekend", "ticket", "release", "notes"),
    *("docs", "benchmark", "queue", "database", "index", "cache", "restart"),
)
EXTRAS = ("你好", "谢谢", "没问题", "😀", "👍", "🎉", "明天见")


def chat_text(n: int) -> str:
    """The n-th line of a made-up conversation (same n, same text): short replies, sentences that
    wrap, the odd multi-line message and some Chinese and emoji, so the view lays out rows of
    many heights rather than one repeated string."""
    state = (n * 2654435761 + 12345) & 0xFFFFFFFF
    shape = state % 10
    if shape < 4:  # a short reply
        length = 1 + state % 5
    elif shape < 8:  # a sentence or two, wrapping in a narrow window
        length = 8 + state % 25
    else:  # a long message
        length = 40 + state % 40
    words = []
    for i in range(length):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        words.append(EXTRAS[state % len(EXTRAS)] if state % 23 == 0 else WORDS[state % len(WORDS)])
        if shape == 9 and i % 15 == 14:
            words.append("\n")
    return " ".join(words).replace(" \n ", "\n").strip()


def seed_room(database_url: str, users: int, *, password: str, messages: int = 0) -> int:
    """``users`` people (``user0``, ``user1``...) who log in with ``password``, and one room, made
    by the first, holding ``messages`` messages of chat-like text: the users write them in turn,
    in runs of three, half a minute apart and ending now (ids 1 to ``messages`` in a new database).
    Returns the room's id."""
    database = Database(database_url)
    database.create_schema()
    password_hash = auth.hash_password(password)
    now = models.utcnow()
    with database.sessions.begin() as session:
        session.execute(
            insert(models.User),
            [
                {
                    "username": f"user{i}",
                    "password": password_hash,
                    "username_key": username_key(f"user{i}"),
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(users)
            ],
        )
        user_ids = [user.id for user in session.query(models.User).order_by(models.User.id)]
        room = models.Room(
            room_name=f"room {secrets.token_hex(4)}", room_name_key=secrets.token_hex(8), user_id=user_ids[0]
        )
        session.add(room)
        session.flush()
        room_id = room.id
    table = cast(Table, models.Message.__table__)
    with database.engine.begin() as connection:
        for first in range(0, messages, 10_000):
            connection.execute(
                insert(table),
                [
                    {
                        "user_id": user_ids[(n // 3) % len(user_ids)],
                        "room_id": room_id,
                        "content": chat_text(n),
                        "created_at": now - timedelta(seconds=30 * (messages - n)),
                        "updated_at": now,
                    }
                    for n in range(first, min(first + 10_000, messages))
                ],
            )
    database.close()
    return room_id
