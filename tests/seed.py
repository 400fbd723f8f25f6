"""People, a room and its history written straight into a server's database, for the tests that
need more than the API makes quick: one argon2 hash shared by every user, history by bulk INSERT.

The benchmark seeds its servers its own way (bench/servers.py: tokens, several rooms); the made-up
chat text is the bench's (bench/chatter.py), so that tests and benchmarks lay out the same rows.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, insert, select

from bench.chatter import chat_text
from gochat.protocol import room_name_key, username_key, username_skeleton
from gochat.server import auth
from gochat.server.store import models, search_index
from gochat.server.store.database import Database


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
                    "username_skeleton": username_skeleton(f"user{i}"),
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
        # Indexed for search in the same transaction, as the server's writer does.
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
        # Indexed for search in the same transaction, as the server's writer indexes what it stores.
        stored = connection.execute(
            select(table.c.id, table.c.room_id, table.c.content).where(table.c.room_id == room_id)
        )
        search_index.index_messages(connection, [(row.id, row.room_id, row.content) for row in stored])
    database.close()
    return room_id


def seed_rooms(database_url: str, creator_id: int, names: Sequence[str]) -> list[int]:
    """Rooms called ``names`` (in that order, so their ids rise in it), made by the user
    ``creator_id``, by one bulk INSERT: the room list's tests need thousands. Returns their ids."""
    database = Database(database_url)
    now = models.utcnow()
    table = cast(Table, models.Room.__table__)
    with database.engine.begin() as connection:
        connection.execute(
            insert(table),
            [
                {
                    "room_name": name,
                    "room_name_key": room_name_key(name),
                    "user_id": creator_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for name in names
            ],
        )
        found = connection.execute(select(table.c.room_name_key, table.c.id)).all()
    database.close()
    ids = dict(found)
    return [ids[room_name_key(name)] for name in names]


def seed_messages(database_url: str, author_id: int, room_ids: Sequence[int]) -> None:
    """One message by ``author_id`` in each of ``room_ids``, in that order (ids rise in it)."""
    database = Database(database_url)
    now = models.utcnow()
    table = cast(Table, models.Message.__table__)
    with database.engine.begin() as connection:
        for n, room_id in enumerate(room_ids):
            row = {"user_id": author_id, "room_id": room_id, "created_at": now, "updated_at": now}
            content = chat_text(n)
            result = connection.execute(insert(table).values(**row, content=content))
            assert result.inserted_primary_key is not None
            search_index.index_messages(connection, [(int(result.inserted_primary_key[0]), room_id, content)])
    database.close()
