"""The database connection: engine set-up per backend, and running work off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from gochat.server.config import default_data_dir
from gochat.server.errors import StorageUnavailable
from gochat.server.store import search_index
from gochat.server.store.files import create_private_file, make_private_directory
from gochat.server.store.models import Base
from gochat.server.store.upgrade import upgrade

# Seconds a starting server waits for another to finish making or upgrading the schema.
SCHEMA_LOCK_WAIT = 600

T = TypeVar("T")
P = ParamSpec("P")


def normalise_url(url: str) -> URL:
    """Parse a database URL, making MySQL speak utf8mb4 so Chinese and emoji round-trip."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        if parsed.drivername in ("mysql", "mariadb"):
            parsed = parsed.set(drivername=f"{parsed.drivername}+pymysql")
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


@dataclass(frozen=True, slots=True)
class DatabaseTimeouts:
    """How long storage may take, in seconds: a database that hangs becomes an error, not a hang.

    ``connect``: MariaDB's TCP connect (its greeting is a read, bounded like a statement).
    ``statement``: the longest any request waits for the database (its turn on the thread pool
    included) and a message for its commit; also each driver call (MariaDB: the socket's read and
    write timeouts and the server's own ``max_statement_time``; SQLite: its busy timeout), so a
    thread stuck in a hung driver call comes back.
    ``health``: how long the health check waits for its ping.
    """

    connect: float
    statement: float
    health: float


def _sqlite_pragmas(busy_ms: int, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets history reads run while the writer commits; FULL keeps acknowledged
    # messages through a power cut (group commit pays the fsync once per batch).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms:d}")
    cursor.close()


def _mariadb_statement_limit(seconds: float, dbapi_connection: Any, _record: Any) -> None:
    # The server gives up on a slow statement itself (and says so) just before the client's socket
    # timeout would cut the connection. MariaDB's variable; MySQL has no equivalent for writes.
    if "mariadb" not in dbapi_connection.get_server_info().lower():
        return
    cursor = dbapi_connection.cursor()
    cursor.execute(f"SET SESSION max_statement_time={seconds:.3f}")
    cursor.close()


# Without timeouts (a tool's bulk load): SQLite waits this long for a lock, as before issue 12.
_UNBOUNDED_SQLITE_BUSY = 10.0


def create_db_engine(url: str, timeouts: DatabaseTimeouts | None = None) -> Engine:
    """The engine for ``url``; with ``timeouts`` every driver call is bounded (see DatabaseTimeouts)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            make_private_directory(path.parent, ours=path.parent == default_data_dir())
            create_private_file(path)
        busy = timeouts.statement if timeouts else _UNBOUNDED_SQLITE_BUSY
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": busy},
            pool_size=8,
            max_overflow=8,
            pool_timeout=timeouts.statement if timeouts else 30,
        )
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, round(busy * 1000)))
        return engine
    if timeouts is None:
        return create_engine(parsed, pool_pre_ping=True, pool_recycle=3600, pool_size=10, max_overflow=10)
    # The socket's timeouts leave the server a second to report its own max_statement_time first;
    # a frozen server (no answer at all) is cut off by them. They bound every read, the
    # handshake's greeting and pool_pre_ping's ping included.
    socket_timeout = timeouts.statement + 1
    engine = create_engine(
        parsed,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_size=10,
        max_overflow=10,
        pool_timeout=timeouts.statement,
        connect_args={
            "connect_timeout": timeouts.connect,
            "read_timeout": socket_timeout,
            "write_timeout": socket_timeout,
        },
    )
    event.listen(engine, "connect", functools.partial(_mariadb_statement_limit, timeouts.statement))
    return engine


def unavailable(exc: DBAPIError) -> StorageUnavailable:
    """The domain's error for a driver's failure, with the driver's words as its detail."""
    original = exc.orig
    detail = str(original.args[-1]) if original is not None and original.args else str(exc).splitlines()[0]
    error = StorageUnavailable(detail=detail)
    error.__cause__ = exc
    return error


class Database:
    """Owns the engine and a small thread pool, so no query ever runs on the event loop.

    A driver's failure leaves here as StorageUnavailable: nothing above storage knows SQLAlchemy.
    With ``timeouts`` (the server's) a database that does not answer is StorageUnavailable too,
    within ``timeouts.statement``; without (tools that bulk-load) nothing is bounded.
    """

    def __init__(self, url: str, *, workers: int = 6, timeouts: DatabaseTimeouts | None = None) -> None:
        self.url = url
        self.timeouts = timeouts
        self.engine = create_db_engine(url, timeouts)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gochat-db")
        # The health check's ping has a thread of its own, so a pool busy with (or stuck on)
        # requests does not make a healthy database look down, and one ping at a time: while a
        # ping hangs, later checks wait on that one instead of piling up threads.
        self._health_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gochat-db-health")
        self._ping: asyncio.Future[None] | None = None

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        """Make missing tables, then bring what an older gochat made up to date. Servers started
        together on one MariaDB take turns (a named lock): CREATE TABLE from two at once fails
        with "already exists" in the second."""
        with self._schema_lock():
            Base.metadata.create_all(self.engine)
            upgrade(self.engine)
            # The message search index: its tables (not the ORM's: an FTS5 table on SQLite), then
            # the messages stored before it existed, in bounded batches.
            search_index.create_index(self.engine)
            search_index.backfill(self.engine)

    @contextlib.contextmanager
    def _schema_lock(self) -> Iterator[None]:
        if self.backend == "sqlite":  # one writer at a time already
            yield
            return
        with self.engine.connect() as connection:
            name = "gochat_schema"
            # Waiting is not a slow statement: the turn before may be a long backfill.
            got = connection.execute(
                text("SET STATEMENT max_statement_time=0 FOR SELECT GET_LOCK(:name, :wait)"),
                {"name": name, "wait": SCHEMA_LOCK_WAIT},
            )
            if got.scalar() != 1:
                raise StorageUnavailable(detail=f"another server held the schema lock for {SCHEMA_LOCK_WAIT} s")
            try:
                yield
            finally:
                connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    async def check(self) -> None:
        """Ping the database: StorageUnavailable when it fails, or gives no answer within the
        health timeout."""
        if self._ping is None or self._ping.done():
            ping = asyncio.get_running_loop().run_in_executor(self._health_executor, self.ping)
            # Whoever stopped waiting, the outcome is taken, so asyncio never logs it as unread.
            ping.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._ping = ping
        within = self.timeouts.health if self.timeouts else None
        try:
            await asyncio.wait_for(asyncio.shield(self._ping), within)
        except TimeoutError as exc:
            raise StorageUnavailable(detail=f"the database did not answer a ping within {within:g} s") from exc
        except DBAPIError as exc:
            raise unavailable(exc) from exc

    async def run(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, *args)`` in a worker thread inside one transaction."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self._in_transaction, lambda session: fn(session, *args, **kwargs))
        context = contextvars.copy_context()
        return await self._within_deadline(loop.run_in_executor(self._executor, context.run, call))

    def _in_transaction(self, fn: Callable[[Session], T]) -> T:
        with self.sessions.begin() as session:
            return fn(session)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a plain blocking function in the database thread pool (not bounded in time: it may be
        slow work of its own, such as hashing a password)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        except DBAPIError as exc:
            raise unavailable(exc) from exc

    async def _within_deadline(self, work: asyncio.Future[T]) -> T:
        """``work``'s result, or StorageUnavailable once it has taken longer than the statement
        timeout. Work still queued is then dropped from the pool (cancelling the future cancels it
        there); work already running is left to its driver's timeouts, which bound the thread."""
        within = self.timeouts.statement if self.timeouts else None
        try:
            return await asyncio.wait_for(work, within)
        except TimeoutError as exc:
            raise StorageUnavailable(detail=f"the database did not answer within {within:g} s") from exc
        except DBAPIError as exc:
            raise unavailable(exc) from exc

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._health_executor.shutdown(wait=True)
        self.engine.dispose()
