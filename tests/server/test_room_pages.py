"""GET /api/rooms in pages (issue 12, "Paginated lists"): limit and offset, three sort orders,
search by name with LIKE's wildcards taken literally, the total in X-Total-Count, bad values
refused with 422, and a page of 10,000+ rooms that costs a page, not the whole list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.schema import DropIndex

from gochat.protocol import MAX_ID, ROOMS_MAX_LIMIT, RoomSort
from gochat.server.config import Settings
from gochat.server.store import models, queries
from gochat.server.store.database import Database
from tests.conftest import in_process_api
from tests.helpers import auth, create_room, register_and_login
from tests.seed import seed_messages, seed_rooms


async def rooms_page(api: httpx.AsyncClient, token: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    response = await api.get("/api/rooms", params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json(), int(response.headers["X-Total-Count"])


def names(rooms: list[dict[str, Any]]) -> list[str]:
    return [room["name"] for room in rooms]


@pytest.mark.backends
async def test_pages_follow_one_another_with_the_total_in_a_header(settings: Settings) -> None:
    async with in_process_api(settings) as api:
        token, me = await register_and_login(api)
        made = seed_rooms(settings.database_url, me["id"], [f"room {n:03}" for n in range(620)])

        # No parameters: the first 100, oldest first (the order the list had before pages).
        first, total = await rooms_page(api, token)
        assert total == 620
        assert [room["id"] for room in first] == made[:100]
        # Pages in turn give every room once.
        seen: list[int] = []
        for offset in range(0, 620, 250):
            page, total = await rooms_page(api, token, limit=250, offset=offset)
            assert total == 620
            seen += [room["id"] for room in page]
        assert seen == made
        # Over 500 is 500, as history clamps its limit; past the end is an empty page.
        page, _ = await rooms_page(api, token, limit=100_000)
        assert len(page) == ROOMS_MAX_LIMIT
        assert await rooms_page(api, token, offset=620) == ([], 620)
        assert await rooms_page(api, token, offset=MAX_ID) == ([], 620)  # the largest offset asked for
        # A page's rooms have the same shape as ever.
        assert set(first[0]) == {"id", "name", "kind", "creator", "createdAt", "online", "lastReadId", "unread"}


@pytest.mark.backends
async def test_each_sort_order_with_ties_broken_by_id(settings: Settings) -> None:
    async with in_process_api(settings) as api:
        token, me = await register_and_login(api)
        labels = ["banana", "Apple", "闲聊 ☕", "apricot", "Émile", "cherry 🍒", "quiet", "zebra"]
        ids = dict(zip(labels, seed_rooms(settings.database_url, me["id"], labels), strict=True))
        # Activity: the newest message first; cherry's came last, then banana's, then Apple's.
        seed_messages(settings.database_url, me["id"], [ids["Apple"], ids["banana"], ids["cherry 🍒"]])

        created, _ = await rooms_page(api, token, sort="created")
        assert names(created) == labels
        by_name, _ = await rooms_page(api, token, sort="name")
        # Ignoring case, by the case-folded name's code points (é after z, Chinese after Latin).
        assert names(by_name) == ["Apple", "apricot", "banana", "cherry 🍒", "quiet", "zebra", "Émile", "闲聊 ☕"]
        by_activity, _ = await rooms_page(api, token, sort="activity")
        # Rooms without messages last, newest first among them.
        assert names(by_activity) == ["cherry 🍒", "banana", "Apple", "zebra", "quiet", "Émile", "apricot", "闲聊 ☕"]
        # Pages of a sort meet without overlap or gap.
        halves = [(await rooms_page(api, token, sort="activity", limit=3, offset=o))[0] for o in (0, 3, 6)]
        assert names([room for half in halves for room in half]) == names(by_activity)


@pytest.mark.backends
async def test_search_ignores_case_and_takes_wildcards_literally(settings: Settings) -> None:
    async with in_process_api(settings) as api:
        token, me = await register_and_login(api)
        labels = ["100% tea", "100 percent", "a_b", "aXb", "back\\slash", "backslash", "ÉCOLE 学校", "Straße", "[x]"]
        seed_rooms(settings.database_url, me["id"], labels)

        async def found(q: str) -> list[str]:
            rooms, total = await rooms_page(api, token, q=q, sort="name")
            assert total == len(rooms)
            return names(rooms)

        assert await found("%") == ["100% tea"]
        assert await found("_") == ["a_b"]
        assert await found("\\") == ["back\\slash"]
        assert await found("[") == ["[x]"]
        assert await found("école") == ["ÉCOLE 学校"]
        assert await found("学") == ["ÉCOLE 学校"]
        assert await found("STRASSE") == ["Straße"]  # case-folded both sides, as names are unique
        assert await found("A") == ["100% tea", "a_b", "aXb", "back\\slash", "backslash", "Straße"]
        assert await found("nothing like it") == []
        # The total counts every match, not the page.
        rooms, total = await rooms_page(api, token, q="a", limit=2)
        assert (len(rooms), total) == (2, 6)


async def test_mine_keeps_the_rooms_with_a_read_marker(settings: Settings) -> None:
    async with in_process_api(settings) as api:
        token, _me = await register_and_login(api)
        rooms = [await create_room(api, token, name) for name in ("one", "two", "three")]
        assert (
            await api.post(f"/api/rooms/{rooms[1]['id']}/read", json={"lastReadId": 0}, headers=auth(token))
        ).status_code == 204
        mine, total = await rooms_page(api, token, mine="true")
        assert (names(mine), total) == (["two"], 1)
        assert mine[0]["lastReadId"] == 0
        everyone, total = await rooms_page(api, token, mine="false")
        assert (names(everyone), total) == (["one", "two", "three"], 3)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "-5"},
        {"limit": "ten"},
        {"offset": "-1"},
        {"offset": "1.5"},
        {"offset": str(2**63)},
        {"sort": "newest"},
        {"sort": ""},
        {"mine": "perhaps"},
        {"q": "x" * 257},
    ],
)
async def test_bad_values_are_a_422_that_says_which(settings: Settings, params: dict[str, str]) -> None:
    async with in_process_api(settings) as api:
        token, _me = await register_and_login(api)
        response = await api.get("/api/rooms", params=params, headers=auth(token))
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "validation"
        assert next(iter(params)) in body["message"]


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine in this process runs while the test does."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


@pytest.mark.backends
async def test_a_page_of_ten_thousand_rooms_is_a_page(settings: Settings, statements: list[str]) -> None:
    """10,021 rooms, as in the issue: each sort's first and a deep page cost the same few
    statements (no query per room), and a page is a page of the bytes of the whole list."""
    async with in_process_api(settings) as api:
        token, me = await register_and_login(api)
        ids = seed_rooms(settings.database_url, me["id"], [f"room {n:05} 房间" for n in range(10_021)])
        seed_messages(settings.database_url, me["id"], ids[::500])
        whole = 0
        for sort in ("created", "name", "activity"):
            for offset in (0, 9_000):
                statements.clear()
                response = await api.get(
                    "/api/rooms", params={"sort": sort, "offset": offset, "q": "房"}, headers=auth(token)
                )
                assert response.status_code == 200
                assert len(response.json()) == 100
                assert response.headers["X-Total-Count"] == "10021"
                # The token's session, the page, the total, the markers and the unread counts.
                assert len(statements) <= 6, statements
                whole = max(whole, len(response.content))
        everything = 0
        for offset in range(0, 10_021, ROOMS_MAX_LIMIT):
            everything += len(
                (await api.get("/api/rooms", params={"limit": 500, "offset": offset}, headers=auth(token))).content
            )
        assert whole * 50 < everything


@pytest.mark.backends
def test_the_name_index_is_added_to_a_database_made_before_it(settings: Settings) -> None:
    """The room list by name reads idx_rooms_deleted_at_room_name_key in order; a database an
    older gochat made gets it at the next start (create_all alone indexes only new tables)."""
    database = Database(settings.resolved_database_url())
    try:
        database.create_schema()
        with database.engine.begin() as connection:
            connection.execute(DropIndex(NAME_INDEX))
        assert not has_name_index(database)
        database.create_schema()
        assert has_name_index(database)
        plan = explain_name_page(database)
        assert "idx_rooms_deleted_at_room_name_key" in plan, plan
        assert "filesort" not in plan.lower(), plan  # MariaDB's word for sorting every row
        assert "temp b-tree" not in plan.lower(), plan  # SQLite's
    finally:
        database.close()


NAME_INDEX = next(ix for ix in models.Room.__table__.indexes if ix.name == "idx_rooms_deleted_at_room_name_key")


def has_name_index(database: Database) -> bool:
    return any(ix["name"] == NAME_INDEX.name for ix in inspect(database.engine).get_indexes("rooms"))


def explain_name_page(database: Database) -> str:
    """How the database answers a page of the room list by name (EXPLAIN), as one string."""
    statements: list[tuple[str, Any]] = []

    def note(_conn: object, _cursor: object, statement: str, parameters: Any, *_args: object) -> None:
        statements.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        with database.sessions.begin() as session:
            queries.room_page(session, 1, query=None, sort=RoomSort.NAME, mine=False, limit=100, offset=0)
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
    statement, parameters = statements[0]
    explain = "EXPLAIN QUERY PLAN " if database.backend == "sqlite" else "EXPLAIN "
    with database.engine.connect() as connection:
        return repr(connection.exec_driver_sql(explain + statement, parameters).all())
