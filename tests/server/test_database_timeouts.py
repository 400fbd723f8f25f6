"""A slow or hung database is an error within a bound, not a hang (issue 12): each request waits
at most the statement timeout, health at most its own, a message at most the statement timeout
for its commit; the driver's own calls are bounded too. The whole server against a frozen
MariaDB is tests/abuse/test_frozen_database.py; these are the mechanisms, in-process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gochat.server.config import settings_from_args
from gochat.server.errors import StorageUnavailable
from gochat.server.records import UserRecord
from gochat.server.store import queries
from gochat.server.store.database import Database, DatabaseTimeouts
from gochat.server.store.writer import MessageWriter, SendTimedOut
from tests.helpers import scaled

QUICK = DatabaseTimeouts(connect=1.0, statement=0.5, health=0.3)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/timeouts.sqlite3", timeouts=QUICK)
    await db.call(db.create_schema)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def hang() -> Iterator[threading.Event]:
    """Set it to end the hang; set in any case when the test ends, so no thread is left waiting."""
    released = threading.Event()
    try:
        yield released
    finally:
        released.set()


async def _user_and_room(db: Database) -> tuple[UserRecord, int]:
    user = await db.run(queries.create_user, "writer", "argon2-hash")
    room = await db.run(queries.create_room, "room", user)
    return user, room.id


def _stored(db: Database, room_id: int) -> list[str]:
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT content FROM messages WHERE room_id = :r ORDER BY id"), {"r": room_id})
        return [row[0] for row in rows]


async def test_a_request_the_database_does_not_answer_is_unavailable_within_the_statement_timeout(
    database: Database, hang: threading.Event
) -> None:
    def stuck(_session: Session) -> None:
        hang.wait(scaled(10))

    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as raised:
        await database.run(stuck)
    assert QUICK.statement <= time.monotonic() - started < QUICK.statement + scaled(0.5)
    assert "did not answer within 0.5 s" in raised.value.detail
    hang.set()
    assert await database.run(queries.get_room, 1) is None  # the pool is fine afterwards


async def test_work_still_queued_behind_a_hang_is_dropped_not_run_later(
    database: Database, hang: threading.Event
) -> None:
    ran: list[int] = []

    def stuck(_session: Session) -> None:
        hang.wait(scaled(10))

    def counted(_session: Session, n: int) -> None:
        ran.append(n)

    # Six workers, all stuck; the seventh request waits its turn, past its deadline.
    stuck_ones = [asyncio.ensure_future(database.run(stuck)) for _ in range(6)]
    await asyncio.sleep(0)  # each has taken a worker
    with pytest.raises(StorageUnavailable):
        await database.run(counted, 7)
    hang.set()
    for request in stuck_ones:
        with pytest.raises(StorageUnavailable):
            await request
    await database.run(counted, 8)
    assert ran == [8]


async def test_health_is_down_within_its_timeout_and_pings_one_at_a_time(
    database: Database, hang: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[float] = []
    real_ping = database.ping

    def stuck_ping() -> None:
        pings.append(time.monotonic())
        hang.wait(scaled(10))
        real_ping()

    monkeypatch.setattr(database, "ping", stuck_ping)
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as raised:
            await database.check()
        assert time.monotonic() - started < QUICK.health + scaled(0.5)
        assert isinstance(raised.value.__cause__, TimeoutError)
    assert len(pings) == 1  # the later checks waited on the ping already running
    hang.set()

    async def healthy() -> bool:
        try:
            await database.check()
        except StorageUnavailable:
            return False
        return True

    started = time.monotonic()
    while not await healthy():
        assert time.monotonic() - started < scaled(5), "health did not come back"


class _HungEngine:
    """The writer's engine whose connect hangs (a frozen server) until released."""

    def __init__(self, engine: Any, released: threading.Event) -> None:
        self._engine = engine
        self._released = released
        self.connects = 0

    def connect(self) -> Connection:
        self.connects += 1
        self._released.wait(scaled(10))
        connection: Connection = self._engine.connect()
        return connection


@pytest.mark.allow_logged_errors  # the writer logs the messages it could not commit in time
async def test_a_message_not_committed_in_time_is_unavailable_and_a_retry_is_stored_once(
    database: Database, hang: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, room_id = await _user_and_room(database)
    broadcast: list[str] = []
    writer = MessageWriter(database, lambda batch: broadcast.extend(c.message.content for c in batch if c.is_new))
    hung = _HungEngine(database.engine, hang)
    monkeypatch.setattr(database, "engine", hung)
    writer.start()
    try:
        taken = writer.submit(user, room_id, "taken before the hang", "c1")
        while hung.connects == 0:  # the writer holds it and waits on the database
            await asyncio.sleep(0.01)
        queued = writer.submit(user, room_id, "still queued", "c2")
        started = time.monotonic()
        for future in (taken, queued):
            with pytest.raises(SendTimedOut):
                await future
        assert time.monotonic() - started < QUICK.statement + scaled(0.5)

        hang.set()
        # The database took the first before it hung and commits it; the second, never taken,
        # is never stored. Sent again with its clientMsgId, each is stored once.
        again = await writer.submit(user, room_id, "taken before the hang", "c1")
        queued_again = await writer.submit(user, room_id, "still queued", "c2")
    finally:
        await writer.close()
    assert (again.is_new, queued_again.is_new) == (False, True)
    assert _stored(database, room_id) == ["taken before the hang", "still queued"]
    assert broadcast == ["taken before the hang", "still queued"]


class _DownEngine:
    def __init__(self) -> None:
        self.connects = 0

    def connect(self) -> None:
        self.connects += 1
        raise OperationalError("connect", {}, Exception("Lost connection to MySQL server during query (timed out)"))


@pytest.mark.allow_logged_errors
async def test_a_batch_the_database_cannot_take_fails_at_once_not_message_by_message(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retried one by one, each message would wait out the driver's timeout again, and every
    message after them with it."""
    user, room_id = await _user_and_room(database)
    writer = MessageWriter(database, lambda batch: None)
    down = _DownEngine()
    monkeypatch.setattr(writer, "_take_batch", _whole_queue(writer, 3))
    monkeypatch.setattr(database, "engine", down)
    writer.start()
    try:
        futures = [writer.submit(user, room_id, f"m{i}", f"c{i}") for i in range(3)]
        results = await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await writer.close()
    assert all(isinstance(r, StorageUnavailable) and "timed out" in r.detail for r in results)
    assert down.connects == 1


def _whole_queue(writer: MessageWriter, size: int) -> Any:
    """The writer's batching, made to wait until ``size`` messages are queued (one batch for sure)."""
    take = writer._take_batch

    def take_all() -> tuple[list[Any], bool]:
        batch: list[Any] = []
        stopping = False
        while len(batch) < size and not stopping:
            more, stopping = take()
            batch.extend(more)
        return batch, stopping

    return take_all


def test_sqlite_waits_for_a_lock_as_long_as_the_statement_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/busy.sqlite3", timeouts=QUICK)
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 500
    finally:
        database.close()


def test_mariadb_statements_are_limited_by_the_server_and_by_the_socket(mariadb_url: str) -> None:
    database = Database(mariadb_url, timeouts=DatabaseTimeouts(connect=2, statement=1.5, health=1))
    try:
        with database.engine.connect() as connection:
            assert float(connection.execute(text("SELECT @@max_statement_time")).scalar_one()) == 1.5
            raw = connection.connection.dbapi_connection
            assert raw is not None
            assert (raw.connect_timeout, raw._read_timeout, raw._write_timeout) == (2, 2.5, 2.5)
            started = time.monotonic()
            # The server ends a statement past the limit itself, with its own words.
            with pytest.raises(OperationalError, match="max_statement_time"):
                connection.execute(text("SELECT SLEEP(5)"))
            assert time.monotonic() - started < scaled(2.5)
    finally:
        database.close()


def test_the_timeouts_have_flags_environment_variables_and_defaults() -> None:
    defaults = settings_from_args([], {})
    assert (defaults.db_connect_timeout, defaults.db_timeout, defaults.health_timeout) == (3, 4, 1)
    env = {"GOCHAT_DB_CONNECT_TIMEOUT": "5", "GOCHAT_DB_TIMEOUT": "8", "GOCHAT_HEALTH_TIMEOUT": "0.5"}
    from_env = settings_from_args([], env)
    assert (from_env.db_connect_timeout, from_env.db_timeout, from_env.health_timeout) == (5, 8, 0.5)
    flags = settings_from_args(["--db-connect-timeout", "1", "--db-timeout", "2.5", "--health-timeout", "2"], env)
    assert (flags.db_connect_timeout, flags.db_timeout, flags.health_timeout) == (1, 2.5, 2)


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "7200"])
def test_a_timeout_out_of_range_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        settings_from_args(["--db-timeout", value], {})
    assert exited.value.code == 2
    assert "--db-timeout" in capsys.readouterr().err
