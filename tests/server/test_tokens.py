"""Token lifetime and logging out: a token ends ``--token-ttl`` after its last use (30 days by
default; using it renews it), and its sockets close with 4001 when it ends, however it ends.

Time is moved by ageing a session's ``last_used_at`` in the database, so the real default
lifetime is what is tested, on SQLite and on MariaDB, without waiting for it; the token sweep
runs every 0.1 s here instead of every minute.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, create_engine, insert, inspect, select, update
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gochat.server import token_sweep
from gochat.server.auth import token_hash
from gochat.server.config import Settings, settings_from_args
from gochat.server.runner import ServerThread
from gochat.server.store import models
from gochat.server.store.database import normalise_url
from tests.conftest import in_process_api, running_server
from tests.helpers import ChatClient, auth, chat_client, create_room, register_and_login, scaled, wait_until

DAY = timedelta(days=1)


@pytest.fixture
def fast_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_sweep, "MAX_SWEEP_INTERVAL", timedelta(seconds=0.1))


@pytest.fixture
def database(settings: Settings) -> Iterator[Engine]:
    """The test server's database, to read and age sessions directly."""
    engine = create_engine(normalise_url(settings.resolved_database_url()))
    yield engine
    engine.dispose()


@pytest.fixture
def live_server(settings: Settings, fast_sweep: None) -> Iterator[ServerThread]:
    with running_server(settings) as thread:
        yield thread


@pytest.fixture
async def api(live_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=scaled(10)) as client:
        yield client


def last_used(database: Engine, token: str) -> datetime | None:
    with database.connect() as connection:
        query = select(models.Session.last_used_at).where(models.Session.token_hash == token_hash(token))
        return connection.scalar(query)


def age(database: Engine, token: str, idle: timedelta) -> None:
    """Make the token look last used ``idle`` ago."""
    with database.begin() as connection:
        connection.execute(
            update(models.Session)
            .where(models.Session.token_hash == token_hash(token))
            .values(last_used_at=models.utcnow() - idle)
        )


async def closed_with(client: ChatClient) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        await client.next()
    return None if closed.value.rcvd is None else closed.value.rcvd.code


def test_the_lifetime_is_30_days_unless_told_in_units_people_read() -> None:
    assert Settings().token_ttl == settings_from_args([], {}).token_ttl == 30 * DAY.total_seconds()
    for text, seconds in [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("45s", 45), ("3600", 3600)]:
        assert settings_from_args(["--token-ttl", text], {}).token_ttl == seconds
    assert settings_from_args([], {"GOCHAT_TOKEN_TTL": "7d"}).token_ttl == 7 * 86400
    assert settings_from_args(["--token-ttl", "1d"], {"GOCHAT_TOKEN_TTL": "7d"}).token_ttl == 86400


@pytest.mark.parametrize("text", ["0", "-5m", "3x", "d", "nan", "inf", "3651d"])
def test_a_lifetime_that_is_not_a_positive_duration_is_a_usage_error(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        settings_from_args(["--token-ttl", text], {})
    assert exited.value.code == 2
    assert "--token-ttl" in capsys.readouterr().err


@pytest.mark.backends
async def test_a_token_unused_for_its_lifetime_is_refused_and_use_renews_it(
    api: httpx.AsyncClient, database: Engine
) -> None:
    token, me = await register_and_login(api)
    age(database, token, 30 * DAY - timedelta(minutes=5))
    assert (await api.get("/api/me", headers=auth(token))).json() == {**me, "admin": False}
    renewed = last_used(database, token)
    assert renewed is not None
    assert renewed > models.utcnow() - timedelta(minutes=1)  # the use renewed it
    age(database, token, 30 * DAY + timedelta(minutes=1))
    response = await api.get("/api/me", headers=auth(token))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "expired" in response.json()["message"]


@pytest.mark.backends
async def test_an_expired_token_is_refused_at_the_websocket_handshake(
    live_server: ServerThread, api: httpx.AsyncClient, database: Engine
) -> None:
    token, _ = await register_and_login(api)
    age(database, token, 31 * DAY)
    with pytest.raises(InvalidStatus) as refused:
        async with chat_client(live_server.url, token):
            pass
    assert refused.value.response.status_code == 401


@pytest.mark.backends
async def test_the_socket_of_a_token_that_expires_closes_with_4001(
    live_server: ServerThread, api: httpx.AsyncClient, database: Engine
) -> None:
    token, _ = await register_and_login(api)
    async with chat_client(live_server.url, token) as client:
        age(database, token, 31 * DAY)
        assert await closed_with(client) == 4001
    # The sweep also deletes the expired session.
    wait_until(lambda: last_used(database, token) is None, what="the expired session's deletion")


async def test_a_socket_in_use_keeps_its_token_alive(
    live_server: ServerThread, api: httpx.AsyncClient, database: Engine
) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(live_server.url, token) as client:
        age(database, token, 29 * DAY)
        await client.enter(room["id"])  # a frame: the token is in use
        wait_until(
            lambda: (used := last_used(database, token)) is not None and used > models.utcnow() - timedelta(minutes=1),
            what="the renewal of a token whose socket sent a frame",
        )
        await client.say(room["id"], "still here")
    assert (await api.get("/api/me", headers=auth(token))).status_code == 200


@pytest.mark.backends
async def test_logout_everywhere_ends_every_token_of_the_user_and_closes_their_sockets(
    live_server: ServerThread, api: httpx.AsyncClient
) -> None:
    first, me = await register_and_login(api)
    second = (await api.post("/api/login", json={"username": me["username"], "password": "correct horse 42"})).json()[
        "token"
    ]
    other, _ = await register_and_login(api)
    room = await create_room(api, other)
    async with (
        chat_client(live_server.url, first) as a,
        chat_client(live_server.url, second) as b,
        chat_client(live_server.url, other) as bystander,
    ):
        response = await api.post("/api/logout", json={"everywhere": True}, headers=auth(first))
        assert response.status_code == 204
        assert await closed_with(a) == 4001
        assert await closed_with(b) == 4001
        await bystander.enter(room["id"])  # another user's socket is untouched
        await bystander.say(room["id"], "still here")
    for token in (first, second):
        assert (await api.get("/api/me", headers=auth(token))).status_code == 401
    assert (await api.get("/api/me", headers=auth(other))).status_code == 200


@pytest.mark.parametrize("body", [None, {}, {"everywhere": False}])
async def test_plain_logout_ends_only_this_token(
    live_server: ServerThread, api: httpx.AsyncClient, body: dict[str, bool] | None
) -> None:
    first, me = await register_and_login(api)
    second = (await api.post("/api/login", json={"username": me["username"], "password": "correct horse 42"})).json()[
        "token"
    ]
    async with chat_client(live_server.url, second) as kept:
        assert (await api.post("/api/logout", json=body, headers=auth(first))).status_code == 204
        assert (await api.get("/api/me", headers=auth(first))).status_code == 401
        assert (await api.get("/api/me", headers=auth(second))).status_code == 200
        await kept.silent(0.3)  # its socket stays open


async def test_logout_everywhere_wants_a_boolean(api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    for body in ({"everywhere": "yes"}, {"everywhere": 1}, [True]):
        response = await api.post("/api/logout", json=body, headers=auth(token))
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "validation"
    assert (await api.get("/api/me", headers=auth(token))).status_code == 200


async def test_logout_everywhere_on_one_server_closes_sockets_on_another_sharing_the_database(
    sqlite_settings: Settings, fast_sweep: None
) -> None:
    with running_server(sqlite_settings) as first, running_server(sqlite_settings) as second:
        async with httpx.AsyncClient(base_url=first.url, timeout=scaled(10)) as api:
            token, _ = await register_and_login(api)
            async with chat_client(second.url, token) as elsewhere:
                response = await api.post("/api/logout", json={"everywhere": True}, headers=auth(token))
                assert response.status_code == 204
                assert await closed_with(elsewhere) == 4001


async def test_openapi_describes_the_logout_body(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    body = document["paths"]["/api/logout"]["post"]["requestBody"]
    assert body.get("required") is not True
    schema = body["content"]["application/json"]["schema"]
    referenced = schema["anyOf"][0]["$ref"] if "anyOf" in schema else schema["$ref"]
    model = document["components"]["schemas"][referenced.rsplit("/", 1)[1]]
    assert model["properties"]["everywhere"]["type"] == "boolean"


@pytest.mark.backends
async def test_sessions_of_a_database_from_before_expiry_are_upgraded_in_place(
    settings: Settings, database: Engine
) -> None:
    """A sessions table without ``last_used_at`` gets it at start-up, each session counting as
    last used when it was made: a recent login stays, one idle past the lifetime ends."""
    before = MetaData()
    Table(
        "sessions",
        before,
        Column("token_hash", String(64), primary_key=True),
        Column("user_id", models.Id, nullable=False),
        Column("created_at", models.Time, nullable=False),
    )
    models.Base.metadata.create_all(database, tables=[models.User.__table__])  # type: ignore[list-item]
    before.create_all(database)
    now = models.utcnow()
    with database.begin() as connection:
        connection.execute(
            insert(models.User).values(
                id=1, username="old", username_key="old", password="-", created_at=now, updated_at=now
            )
        )
        for token, made in (("recent-login", now - DAY), ("old-login", now - 40 * DAY)):
            connection.execute(
                before.tables["sessions"].insert().values(token_hash=token_hash(token), user_id=1, created_at=made)
            )
    async with in_process_api(settings) as api:
        assert (await api.get("/api/me", headers=auth("recent-login"))).json() == {
            "id": 1,
            "username": "old",
            "admin": False,
        }
        assert (await api.get("/api/me", headers=auth("old-login"))).status_code == 401
    assert "idx_sessions_last_used_at" in {index["name"] for index in inspect(database).get_indexes("sessions")}
