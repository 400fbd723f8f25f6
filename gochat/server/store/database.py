"""The database connection: engine set-up per backend, and running work off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from gochat.server.config import default_data_dir
from gochat.server.errors import StorageUnavailable
from gochat.server.store.files import create_private_file, make_private_directory
from gochat.server.store.models import Base

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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets history reads run while the writer commits; FULL keeps acknowledged
    # messages through a power cut (group commit pays the fsync once per batch).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            make_private_directory(path.parent, ours=path.parent == default_data_dir())
            create_private_file(path)
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": 10}, pool_size=8, max_overflow=8
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_recycle=3600, pool_size=10, max_overflow=10)


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
    """

    def __init__(self, url: str, *, workers: int = 6) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gochat-db")

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    async def run(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(session, *args)`` in a worker thread inside one transaction."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self._in_transaction, lambda session: fn(session, *args, **kwargs))
        context = contextvars.copy_context()
        try:
            return await loop.run_in_executor(self._executor, context.run, call)
        except DBAPIError as exc:
            raise unavailable(exc) from exc

    def _in_transaction(self, fn: Callable[[Session], T]) -> T:
        with self.sessions.begin() as session:
            return fn(session)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a plain blocking function in the database thread pool."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        except DBAPIError as exc:
            raise unavailable(exc) from exc

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
