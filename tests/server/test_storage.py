"""Storage on both backends: group commit, retries, Unicode, and the history index."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import inspect

from gochat.server.config import Settings
from gochat.server.records import UserRecord
from gochat.server.store import queries
from gochat.server.store.database import Database
from gochat.server.store.writer import Committed, MessageWriter

# The storage layer itself: every backend.
pytestmark = pytest.mark.backends


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.resolved_database_url())
    await db.call(db.create_schema)
    try:
        yield db
    finally:
        db.close()


async def _user_and_room(db: Database, name: str = "writer") -> tuple[UserRecord, int]:
    user = await db.run(queries.create_user, name, "argon2-hash")
    room = await db.run(queries.create_room, f"room of {name}", user)
    return user, room.id


async def test_concurrent_messages_commit_in_groups_and_in_order(database: Database) -> None:
    user, room_id = await _user_and_room(database)
    broadcast: list[Committed] = []
    writer = MessageWriter(database, broadcast.extend)
    writer.start()
    try:
        futures = [writer.submit(user, room_id, f"m{i}", None) for i in range(300)]
        results = await asyncio.gather(*futures)
    finally:
        await writer.close()
    ids = [r.message.id for r in results]
    assert ids == sorted(ids)
    assert len(set(ids)) == 300
    assert [c.message.content for c in broadcast] == [f"m{i}" for i in range(300)]
    # Far fewer transactions than messages: that is the point of group commit.
    assert writer.batches < 100, writer.batches
    stored = (await database.run(queries.history_page, room_id, after=0, limit=1000)).messages
    assert [m.content for m in stored] == [f"m{i}" for i in range(300)]
    # Each sender got the id its own message was stored under.
    assert {r.message.id: r.message.content for r in results} == {m.id: m.content for m in stored}


async def test_retries_in_one_batch_and_across_batches_store_once(database: Database) -> None:
    user, room_id = await _user_and_room(database)
    writer = MessageWriter(database, lambda batch: None)
    writer.start()
    try:
        first, same_batch = await asyncio.gather(
            writer.submit(user, room_id, "hello", "c-1"), writer.submit(user, room_id, "hello", "c-1")
        )
        later = await writer.submit(user, room_id, "hello", "c-1")
        other_user = await database.run(queries.create_user, "someone", "hash")
        theirs = await writer.submit(other_user, room_id, "hello", "c-1")  # ids are per user
    finally:
        await writer.close()
    assert first.is_new
    assert not same_batch.is_new
    assert not later.is_new
    assert theirs.is_new
    assert first.message.id == same_batch.message.id == later.message.id != theirs.message.id
    assert len((await database.run(queries.history_page, room_id, after=0, limit=10)).messages) == 2


async def test_close_flushes_every_message_already_submitted(database: Database) -> None:
    user, room_id = await _user_and_room(database)
    writer = MessageWriter(database, lambda batch: None)
    writer.start()
    futures = [writer.submit(user, room_id, f"late {i}", None) for i in range(500)]
    await writer.close()
    assert all(f.done() and not f.exception() for f in futures)
    assert len((await database.run(queries.history_page, room_id, after=0, limit=1000)).messages) == 500


async def test_chinese_emoji_and_html_round_trip(database: Database) -> None:
    user = await database.run(queries.create_user, "用户名😀", "hash")
    room = await database.run(queries.create_room, "聊天室 🎉 <b>", user)
    writer = MessageWriter(database, lambda batch: None)
    writer.start()
    text = "你好，世界 🌏👩‍👩‍👧 <script>x</script> 𠜎"
    try:
        await writer.submit(user, room.id, text, "唯一-🆔")
    finally:
        await writer.close()
    [message] = (await database.run(queries.history_page, room.id, after=0, limit=10)).messages
    assert message.content == text
    assert message.client_msg_id == "唯一-🆔"
    assert message.author.username == "用户名😀"
    assert (await database.run(queries.get_room, room.id)).name == "聊天室 🎉 <b>"  # type: ignore[union-attr]


async def test_history_pages_have_an_index_by_room(database: Database) -> None:
    def indexes(session: object) -> list[dict[str, object]]:
        return inspect(database.engine).get_indexes("messages")

    found = await database.call(indexes, None)
    assert any(ix["column_names"] == ["room_id", "id"] for ix in found), found


async def test_names_are_unique_ignoring_case_in_the_database_itself(database: Database) -> None:
    await database.run(queries.create_user, "Alice", "hash")
    with pytest.raises(queries.NameTaken):
        await database.run(queries.create_user, "ALICE", "hash")


async def test_without_insert_returning_messages_are_stored_and_matched_the_same(database: Database) -> None:
    # MySQL (unlike MariaDB 10.5+ and SQLite) has no INSERT ... RETURNING: the writer then inserts
    # row by row, and every message must still get its own id, in order, retries included.
    database.engine.dialect.insert_returning = False
    user, room_id = await _user_and_room(database)
    writer = MessageWriter(database, lambda batch: None)
    writer.start()
    try:
        futures = [writer.submit(user, room_id, f"m{i}", f"c{i % 40}") for i in range(60)]
        results = await asyncio.gather(*futures)
    finally:
        await writer.close()
    assert [r.is_new for r in results] == [True] * 40 + [False] * 20
    assert [r.message.content for r in results] == [f"m{i % 40}" for i in range(60)]
    stored = (await database.run(queries.history_page, room_id, after=0, limit=100)).messages
    assert [(m.id, m.content, m.client_msg_id) for m in stored] == [
        (r.message.id, r.message.content, r.message.client_msg_id) for r in results[:40]
    ]
