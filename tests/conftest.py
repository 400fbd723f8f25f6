"""Shared fixtures: real MariaDB / Redis per test, a real server on a free port, and a
guard that fails any test during which something logged a warning or an error."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import httpx
import pytest
import redis
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gochat.server import auth
from gochat.server.app import create_app
from gochat.server.config import DEFAULT_REDIS_PREFIX, Settings
from gochat.server.runner import ServerThread
from tests.helpers import scaled

# Fixtures of their own modules, for every test.
pytest_plugins = ["tests.private_redis"]

REQUIRE_SERVICES = os.environ.get("GOCHAT_REQUIRE_SERVICES") == "1"
MARIADB_ADMIN_URL = os.environ.get("GOCHAT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("GOCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """pytest-timeout's limit per test (pyproject's ``timeout``) scales with the waits, unless
    the command line or PYTEST_TIMEOUT names one."""
    if config.getoption("timeout", None) is None and "PYTEST_TIMEOUT" not in os.environ:
        limit = config.getini("timeout")
        if limit:
            config.option.timeout = scaled(float(limit))


def service_unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {exc}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (GOCHAT_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(message)


class _LoudRecords(logging.Handler):
    """Every record at WARNING or above, from any logger, on any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _noise(record: logging.LogRecord) -> bool:
    """Records that say how loaded this machine is, not how the code behaves.

    asyncio's debug mode (PYTHONASYNCIODEBUG=1) warns when one step of a task ran longer than
    0.1 s (logger "asyncio", or qasync's own on the Qt loop); on two cores shared by other jobs
    any step may, so it cannot fail a test.
    """
    if not (record.name == "asyncio" or record.name.startswith("qasync")):
        return False
    message = record.getMessage()
    return message.startswith("Executing <") and message.endswith(" seconds")


def _expected(record: logging.LogRecord, markers: list[pytest.Mark]) -> pytest.Mark | None:
    for mark in markers:
        level = logging.getLevelName(mark.kwargs.get("level", "WARNING"))
        logger = mark.kwargs.get("logger")
        text = mark.kwargs.get("text")
        if record.levelno != level:
            continue
        if logger is not None and record.name != logger and not record.name.startswith(f"{logger}."):
            continue
        if text is not None and text not in record.getMessage():
            continue
        return mark
    return None


@pytest.fixture(autouse=True)
def fail_on_logged_warnings(request: pytest.FixtureRequest) -> Iterator[_LoudRecords]:
    """A WARNING or worse logged during a test fails it (qutebrowser's logfail), unless the
    test declares it: ``@pytest.mark.expect_log(level="WARNING", logger="gochat.x", text="...")``
    (each such marker must then be matched by at least one record; ``required=False`` for a
    record that may or may not come), or ``@pytest.mark.allow_logged_errors`` for a test that
    provokes failures the server rightly logs at ERROR or WARNING."""
    handler = _LoudRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    if request.node.get_closest_marker("allow_logged_errors") is not None:
        return
    markers = list(request.node.iter_markers("expect_log"))
    matched: set[int] = set()
    unexpected: list[logging.LogRecord] = []
    for record in handler.records:
        if _noise(record):
            continue
        mark = _expected(record, markers)
        if mark is None:
            unexpected.append(record)
        else:
            matched.add(id(mark))
    if unexpected:
        lines = "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in unexpected)
        pytest.fail(f"unexpected warnings or errors were logged during the test:\n{lines}")
    missing = [m.kwargs for m in markers if id(m) not in matched and m.kwargs.get("required", True)]
    if missing:
        pytest.fail(f"expected log records did not come: {missing}")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at its lowest cost for the tests of this process: the recommended cost (kept in
    production, and checked in tests/server/test_auth.py) takes ~0.2 s per hash here, and every
    register and login pays one. Servers the tests start as separate processes keep the real cost."""
    saved = auth._hasher, auth._DUMMY_HASH
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    auth._DUMMY_HASH = auth._hasher.hash("gochat-no-such-user")
    try:
        yield
    finally:
        auth._hasher, auth._DUMMY_HASH = saved


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``settings`` is SQLite + the in-process cache, the fastest; a test where the backend
    matters (storage, caching, collation, a representative round trip) is marked
    ``@pytest.mark.backends`` and runs on MariaDB + Redis too."""
    if "settings" in metafunc.fixturenames:
        backends = BACKENDS if metafunc.definition.get_closest_marker("backends") else BACKENDS[:1]
        metafunc.parametrize("settings", backends, indirect=True)


def message_limit(request: pytest.FixtureRequest) -> dict[str, float]:
    """The server's default message limit, except for a test marked ``unthrottled_messages``:
    it sends bursts or loads far faster than a person types (to exercise ordering, flow control,
    fan-out), which the limit would answer with rate_limited (tests/abuse tests the limit)."""
    return {"message_rate": 0} if request.node.get_closest_marker("unthrottled_messages") else {}


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Settings:
    """Server settings on the backend the test is parametrized with (see pytest_generate_tests)."""
    if request.param == "sqlite+memory":
        return Settings(
            host="127.0.0.1", port=0, database_url=f"sqlite:///{tmp_path}/gochat.sqlite3", **message_limit(request)
        )
    target: RedisTarget = request.getfixturevalue("redis_target")
    return Settings(
        host="127.0.0.1",
        port=0,
        database_url=request.getfixturevalue("mariadb_url"),
        redis_url=target.url,
        redis_prefix=target.prefix,
        # The machine's MariaDB is shared by every test worker on the box (databases made and
        # dropped all the time) and stalls for seconds under that load: these tests are not about
        # the database timeout (tests/abuse/test_frozen_database.py is, with the defaults).
        db_timeout=scaled(15),
        **message_limit(request),
    )


@pytest.fixture
def sqlite_settings(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Settings:
    return Settings(
        host="127.0.0.1", port=0, database_url=f"sqlite:///{tmp_path}/gochat.sqlite3", **message_limit(request)
    )


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


@asynccontextmanager
async def in_process_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The REST API of the one app factory, served in-process (httpx's ASGITransport) with its
    lifespan run around it: the same storage, cache, services and error handling as a real
    server, without a socket or a server thread."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gochat.test", timeout=scaled(10)) as client:
            yield client


@pytest.fixture
def sqlite_server(sqlite_settings: Settings) -> Iterator[ServerThread]:
    """A real server on SQLite + in-process cache, for tests about the protocol itself."""
    with running_server(sqlite_settings) as thread:
        yield thread
