"""Shared fixtures: real MariaDB / Redis per test, a real server on a free port, and a
guard that fails any test during which something logged an error."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gochat.server.config import DEFAULT_REDIS_PREFIX, Settings
from gochat.server.runner import ServerThread

REQUIRE_SERVICES = os.environ.get("GOCHAT_REQUIRE_SERVICES") == "1"
MARIADB_ADMIN_URL = os.environ.get("GOCHAT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("GOCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def service_unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {exc}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (GOCHAT_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(message)


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_logged_errors(request: pytest.FixtureRequest) -> Iterator[_ErrorRecords]:
    """An exception inside a server task or handler is logged at ERROR: make it fail the test."""
    handler = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    if request.node.get_closest_marker("allow_logged_errors") is None and handler.records:
        lines = "\n".join(f"{r.name}: {r.getMessage()}" for r in handler.records)
        pytest.fail(f"errors were logged during the test:\n{lines}")


@pytest.fixture
def new_mariadb_database() -> Iterator[Callable[[], str]]:
    """Makes fresh, empty MariaDB databases for this test (URLs), all dropped afterwards."""
    admin = create_engine(MARIADB_ADMIN_URL)
    made: list[str] = []

    def make() -> str:
        name = f"gochat_t_{uuid.uuid4().hex[:12]}"
        try:
            with admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        except Exception as exc:
            service_unavailable("MariaDB", exc)
        made.append(name)
        return make_url(MARIADB_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        if made:
            with admin.connect() as connection:
                for name in made:
                    connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def mariadb_url(new_mariadb_database: Callable[[], str]) -> str:
    """A fresh, empty MariaDB database for this test, dropped afterwards."""
    return new_mariadb_database()


@dataclass(frozen=True)
class RedisTarget:
    url: str
    prefix: str


@pytest.fixture
def redis_target() -> Iterator[RedisTarget]:
    """The machine's Redis with a key prefix of this test's own, cleaned afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        client.close()
        service_unavailable("Redis", exc)
    prefix = f"gochat-test:{uuid.uuid4().hex[:12]}:"
    # Tests keep to their own prefix: the default namespace belongs to real servers on this machine.
    default_before = set(client.scan_iter(match=f"{DEFAULT_REDIS_PREFIX}*"))
    try:
        yield RedisTarget(REDIS_URL, prefix)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        left_behind = set(client.scan_iter(match=f"{DEFAULT_REDIS_PREFIX}*")) - default_before
        client.close()
        assert not left_behind, f"the test wrote to the default Redis namespace: {sorted(left_behind)[:5]}"


BACKENDS = ["sqlite+memory", "mariadb+redis"]


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Settings:
    """Server settings on each backend: SQLite + in-process cache always; MariaDB + Redis too."""
    if request.param == "sqlite+memory":
        return Settings(host="127.0.0.1", port=0, database_url=f"sqlite:///{tmp_path}/gochat.sqlite3")
    target: RedisTarget = request.getfixturevalue("redis_target")
    return Settings(
        host="127.0.0.1",
        port=0,
        database_url=request.getfixturevalue("mariadb_url"),
        redis_url=target.url,
        redis_prefix=target.prefix,
    )


@pytest.fixture
def sqlite_settings(tmp_path: os.PathLike[str]) -> Settings:
    return Settings(host="127.0.0.1", port=0, database_url=f"sqlite:///{tmp_path}/gochat.sqlite3")


@contextmanager
def running_server(settings: Settings) -> Iterator[ServerThread]:
    """A real gochat server on a free port, on its own thread and event loop."""
    thread = ServerThread(settings)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    """A real server on each backend."""
    with running_server(settings) as thread:
        yield thread


@pytest.fixture
def sqlite_server(sqlite_settings: Settings) -> Iterator[ServerThread]:
    """A real server on SQLite + in-process cache, for tests about the protocol itself."""
    with running_server(sqlite_settings) as thread:
        yield thread
