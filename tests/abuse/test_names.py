"""Look-alike and blank-looking names, as the hostile client of issue 12 tried them: every one refused,
with a 409 that does not say which account it resembles or a 422 that says which rule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.dialects import mysql

from gochat.protocol import username_key, username_skeleton
from gochat.server.config import Settings
from gochat.server.store import models
from gochat.server.store.database import Database
from gochat.server.store.upgrade import SKELETON_VERSION, SKELETON_VERSION_KEY
from tests.conftest import in_process_api
from tests.helpers import PASSWORD, auth, register_and_login, unique_name

# Eleven look-alikes of "victim" (and of "victim1", for the digit).
LOOK_ALIKES = {
    "v\u0456ctim": 422,  # Cyrillic і: Latin mixed with Cyrillic
    "vi\u0441tim": 422,  # Cyrillic с
    "\u03bdictim": 422,  # Greek ν
    "\U0001d42fictim": 422,  # mathematical bold 𝐯
    "\uff56\uff49\uff43\uff54\uff49\uff4d": 422,  # fullwidth ｖｉｃｔｉｍ
    "victim\uff11": 422,  # fullwidth １, a look-alike of victim1
    "victim\u3164": 422,  # a Hangul filler: invisible
    "vic\u200btim": 422,  # a zero-width space
    "victim\u0301": 409,  # a trailing combining mark (NFC makes it ḿ)
    "victirn": 409,  # r + n for m, in one script
    "victiml": 409,  # l for 1, a look-alike of victim1
}


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_api(settings) as client:
        yield client


async def register(api: httpx.AsyncClient, username: str) -> httpx.Response:
    return await api.post("/api/register", json={"username": username, "password": PASSWORD})


@pytest.mark.backends
async def test_every_look_alike_of_an_existing_name_is_refused(api: httpx.AsyncClient) -> None:
    for name in ("victim", "victim1"):
        assert (await register(api, name)).status_code == 201
    for look_alike, status in LOOK_ALIKES.items():
        response = await register(api, look_alike)
        assert response.status_code == status, (look_alike, response.text)
        body = response.json()
        assert body["error"] == ("conflict" if status == 409 else "validation")
        if status == 409:
            assert "looks too much like an existing one" in body["message"]
            assert "victim" not in body["message"]  # which account it resembles is not said
        else:
            assert body["field"] == "username"
    # Nothing was stored: the victims' names still log in, and no look-alike does.
    for look_alike in LOOK_ALIKES:
        response = await api.post("/api/login", json={"username": look_alike, "password": PASSWORD})
        assert response.status_code == 401


@pytest.mark.backends
async def test_an_existing_name_with_a_mark_added_or_taken_away_is_the_same_name(api: httpx.AsyncClient) -> None:
    base = unique_name("jose")
    assert (await register(api, base)).status_code == 201
    # The accent is a mark added to an existing name: refused, on every backend.
    response = await register(api, base.replace("jose", "josé"))
    assert response.status_code == 409
    assert "looks too much like" in response.json()["message"]
    accented = unique_name("josé")
    assert (await register(api, accented)).status_code == 201
    # A decomposed é is the same name as the composed one: taken, not a look-alike.
    response = await register(api, accented.replace("é", "e\u0301"))
    assert response.status_code == 409
    assert response.json()["message"] == "That username is taken."
    assert (await register(api, accented.replace("josé", "jose"))).status_code == 409


@pytest.mark.backends
async def test_look_alikes_registering_at_once_get_one_account(api: httpx.AsyncClient) -> None:
    """Both pass every check before either is stored: the unique skeleton index decides."""
    base = unique_name("m")
    names = [base, base.replace("m", "rn", 1), base + "\u0301", base + "\u0323", base + "\u0308"]
    responses = await asyncio.gather(*(register(api, name) for name in names))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert "looks too much like" in response.json()["message"]


@pytest.mark.parametrize(
    "name",
    [
        "\u3164",
        "\u3164\u3164\u3164",
        "\u2800",
        " \u2800 ",
        "\u115f\u1160",
        "\uffa0",
        "\u0301\u0302",
        "a\u200bb",
        "x\u2060",
    ],
)
async def test_blank_looking_room_names_are_refused(api: httpx.AsyncClient, name: str) -> None:
    token, _ = await register_and_login(api)
    response = await api.post("/api/rooms", json={"name": name}, headers=auth(token))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation"
    assert response.json()["field"] == "name"


async def test_room_names_with_emoji_and_marks_are_accepted(api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    for name in ("闲聊 ☕️", "Café", "हिन्दी", "日本語のへや"):
        response = await api.post("/api/rooms", json={"name": f"{name} {unique_name('')}"}, headers=auth(token))
        assert response.status_code == 201, response.text


REAL_NAMES = [
    "中文名字",
    "日本語かな",
    "ヤマダ太郎",
    "한국어",
    "Ελληνικά",
    "Русский",
    "José",
    "O'Brien",
    "Łukasz",
    "Nguyễn",
    "محمد",
    "עברית",
    "हिन्दी",
    "สมชาย",
    "ქართული",
    "Björk_2024",
    "mary-jane",
]


@pytest.mark.backends
async def test_real_names_register(api: httpx.AsyncClient) -> None:
    for name in REAL_NAMES:
        response = await register(api, name)
        assert response.status_code == 201, (name, response.text)


OLD_KEY = String(128).with_variant(mysql.VARCHAR(128, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


@pytest.mark.backends
def test_an_older_database_gets_skeletons_and_keeps_its_look_alike_accounts(settings: Settings) -> None:
    """A database made before the skeleton column, holding two accounts that look alike."""
    old = MetaData()
    users = Table(
        "users",
        old,
        Column("id", models.Id, primary_key=True, autoincrement=True),
        Column("created_at", models.Time, nullable=False),
        Column("updated_at", models.Time, nullable=False),
        Column("deleted_at", models.Time),
        Column("username", String(32), nullable=False),
        Column("password", String(255), nullable=False),
        Column("username_key", OLD_KEY, nullable=False, unique=True),
        **models.MYSQL_TABLE_ARGS,
    )
    database = Database(settings.resolved_database_url())
    try:
        old.create_all(database.engine)
        now = models.utcnow()
        with database.engine.begin() as connection:
            for name in ("victim", "victiḿ", "v\u0456ctim", "alice"):
                row = {"username": name, "password": "x", "username_key": username_key(name)}
                connection.execute(insert(users).values(created_at=now, updated_at=now, **row))
        database.create_schema()
        database.create_schema()  # a second start (or a second server) changes nothing
        with database.engine.begin() as connection:
            stored = dict(connection.execute(select(models.User.username, models.User.username_skeleton)).all())
            version = connection.scalar(
                select(models.DatabaseInfo.value).where(models.DatabaseInfo.name == SKELETON_VERSION_KEY)
            )
        assert stored == {
            "victim": username_skeleton("victim"),
            "victiḿ": None,  # the older account keeps the skeleton; both keep working
            "v\u0456ctim": None,
            "alice": username_skeleton("alice"),
        }
        assert version == SKELETON_VERSION
    finally:
        database.close()
