"""Direct rooms (docs/protocol.md, "Direct messages"): POST /api/dms (one room per two users,
however many ask at once, on one server or two sharing a database), GET /api/dms, the name each
side sees, a non-member answered exactly as for an id never used by every route, and ROOM_CREATED
(8) to the other member only when the first message arrives — on both backends, over real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import create_engine, update

from gochat.protocol import MsgType, RoomKind
from gochat.server.cache import MemoryCache
from gochat.server.config import Settings
from gochat.server.direct import DirectRooms
from gochat.server.fanout import Fanout
from gochat.server.hub import RoomHub
from gochat.server.limits import RateLimits
from gochat.server.records import RoomRecord, UserRecord
from gochat.server.rooms import RoomDirectory
from gochat.server.runner import ServerThread
from gochat.server.store import models
from gochat.server.store.database import Database, normalise_url
from tests.conftest import running_server
from tests.helpers import (
    ChatClient,
    Envelope,
    auth,
    chat_client,
    create_room,
    login,
    register_and_login,
    scaled,
)
from tests.server.memory import MemoryConnection

NEVER_USED = 987_654_321  # an id no room of these tests' databases has


@dataclasses.dataclass(frozen=True)
class Person:
    token: str
    id: int
    name: str


async def person(api: httpx.AsyncClient, name: str) -> Person:
    token, user = await register_and_login(api, name)
    return Person(token, user["id"], name)


async def open_dm(api: httpx.AsyncClient, who: Person, username: object) -> httpx.Response:
    return await api.post("/api/dms", json={"username": username}, headers=auth(who.token))


async def dms(api: httpx.AsyncClient, who: Person) -> list[dict[str, Any]]:
    response = await api.get("/api/dms", headers=auth(who.token))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def first_message(c: ChatClient, room_id: int, content: str) -> dict[str, Any]:
    await c.enter(room_id)
    message: dict[str, Any] = (await c.say(room_id, content)).data["message"]
    return message


@pytest.mark.backends
async def test_one_room_per_two_users_named_after_the_other(api: httpx.AsyncClient) -> None:
    alice, bob = await person(api, "alice"), await person(api, "bob")
    made = await open_dm(api, alice, "bob")
    assert made.status_code == 201, made.text
    room = made.json()
    members = sorted([{"id": alice.id, "username": "alice"}, {"id": bob.id, "username": "bob"}], key=lambda u: u["id"])
    assert room == {
        "id": room["id"],
        "name": "bob",
        "kind": "direct",
        "creator": {"id": alice.id, "username": "alice"},
        "createdAt": room["createdAt"],
        "online": 0,
        "lastReadId": None,
        "unread": 0,
        "members": members,
    }
    again = await open_dm(api, alice, "BOB")
    assert (again.status_code, again.json()) == (200, room)
    # From the other side: the same room, named after alice; its creator is still alice.
    other_side = await open_dm(api, bob, "Alice")
    assert other_side.status_code == 200
    assert other_side.json() == {**room, "name": "alice"}
    # GET /api/rooms/{id} names it the same way for each.
    assert (await api.get(f"/api/rooms/{room['id']}", headers=auth(alice.token))).json()["name"] == "bob"
    assert (await api.get(f"/api/rooms/{room['id']}", headers=auth(bob.token))).json()["name"] == "alice"


@pytest.mark.backends
async def test_refusals(api: httpx.AsyncClient) -> None:
    alice = await person(api, "alice")
    for username in ("alice", "ALICE"):
        response = await open_dm(api, alice, username)
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "validation"
        assert response.json()["field"] == "username"
    response = await open_dm(api, alice, "nobody")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "There is no user with that name."}
    for username in (123, None, ["bob"], "", "ab", "has space", "x" * 33):
        response = await open_dm(api, alice, username)
        assert response.status_code == 422, (username, response.text)
        assert response.json()["error"] == "validation"
    assert (await api.post("/api/dms", json={}, headers=auth(alice.token))).status_code == 422
    assert (await api.post("/api/dms", json={"username": "bob"})).status_code == 401
    assert (await api.get("/api/dms")).status_code == 401


@pytest.mark.backends
async def test_many_asking_at_once_from_both_sides_get_one_room(api: httpx.AsyncClient) -> None:
    alice, bob = await person(api, "alice"), await person(api, "bob")
    answers = await asyncio.gather(*(open_dm(api, (alice, bob)[i % 2], ("bob", "alice")[i % 2]) for i in range(20)))
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(await dms(api, alice)) == len(await dms(api, bob)) == 1


@pytest.mark.backends
async def test_two_servers_on_one_database_make_one_room(settings: Settings, server: ServerThread) -> None:
    """Two instances sharing one database (and cache): the database's unique pair decides."""
    with running_server(settings) as second:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as one,
            httpx.AsyncClient(base_url=second.url, timeout=scaled(10)) as two,
        ):
            for round_ in range(3):
                alice, bob = await person(one, f"alice{round_}"), await person(two, f"bob{round_}")
                # Each side asks through each server, all at once.
                asks = [
                    open_dm((one, two)[i % 2], (alice, bob)[i // 2 % 2], (bob, alice)[i // 2 % 2].name)
                    for i in range(20)
                ]
                answers = await asyncio.gather(*asks)
                assert sorted(a.status_code for a in answers) == [200] * 19 + [201], [a.text for a in answers]
                assert len({a.json()["id"] for a in answers}) == 1
                assert {a.json()["name"] for a in answers} == {alice.name, bob.name}


@pytest.mark.backends
async def test_direct_rooms_are_never_in_the_room_list(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, bob = await person(api, "alice"), await person(api, "bob")
    public = await create_room(api, alice.token, "lobby")
    room = (await open_dm(api, alice, "bob")).json()
    async with chat_client(server.url, alice.token) as c:
        await first_message(c, room["id"], "hi bob")  # a read marker: the room is alice's now
        await c.enter(public["id"])
    for who in (alice, bob):
        for params in ({}, {"mine": "true"}, {"sort": "activity"}, {"sort": "name"}, {"q": ""}):
            response = await api.get("/api/rooms", params=params, headers=auth(who.token))
            # Bob never entered the public room: his own rooms (mine) are none at all.
            expected = [] if who is bob and "mine" in params else [public["id"]]
            assert [r["id"] for r in response.json()] == expected, (who, params)
            assert response.headers["X-Total-Count"] == str(len(expected))


@pytest.mark.backends
async def test_the_list_most_recent_activity_first_with_the_last_message(
    settings: Settings, server: ServerThread, api: httpx.AsyncClient
) -> None:
    alice = await person(api, "alice")
    bob, carol, dave = await person(api, "bob"), await person(api, "carol"), await person(api, "dave")
    with_bob = (await open_dm(api, alice, "bob")).json()
    with_carol = (await open_dm(api, alice, "carol")).json()
    async with chat_client(server.url, alice.token) as a, chat_client(server.url, carol.token) as c:
        await first_message(a, with_carol["id"], "hello carol")
        await first_message(c, with_carol["id"], "hi alice!")
        to_bob = await first_message(a, with_bob["id"], "hello bob")
        # A room made after every message is the most recent activity, until carol writes again.
        with_dave = (await open_dm(api, dave, "alice")).json()
        assert [d["id"] for d in await dms(api, alice)] == [with_dave["id"], with_bob["id"], with_carol["id"]]
        latest = (await c.say(with_carol["id"], "still there?")).data["message"]

    listed = await dms(api, alice)
    assert [d["id"] for d in listed] == [with_carol["id"], with_dave["id"], with_bob["id"]]
    first, second, third = listed
    assert (first["name"], first["peer"], first["kind"]) == ("carol", {"id": carol.id, "username": "carol"}, "direct")
    assert first["lastMessage"] == latest
    # alice entered it empty (her marker at 0): carol's two messages are unread, her own never.
    assert (first["unread"], first["lastReadId"]) == (2, 0)
    assert (second["name"], second["lastMessage"], second["unread"], second["lastReadId"]) == ("dave", None, 0, None)
    assert second["creator"] == {"id": dave.id, "username": "dave"}
    assert third["lastMessage"] == to_bob
    assert (third["unread"], third["lastReadId"]) == (0, 0)

    # bob never connected: his message waited for him, counted as unread, named after alice.
    [for_bob] = await dms(api, bob)
    assert (for_bob["id"], for_bob["name"], for_bob["peer"]["id"]) == (with_bob["id"], "alice", alice.id)
    assert (for_bob["unread"], for_bob["lastReadId"], for_bob["lastMessage"]) == (1, None, to_bob)
    assert for_bob["members"] == third["members"]

    # A deleted last message is shown as it is now: a tombstone, its text gone.
    engine = create_engine(normalise_url(settings.resolved_database_url()))
    try:
        with engine.begin() as connection:
            connection.execute(
                update(models.Message)
                .where(models.Message.id == latest["id"])
                .values(deleted_at=models.utcnow(), content="", mentions=None)
            )
    finally:
        engine.dispose()
    tombstone = (await dms(api, alice))[0]["lastMessage"]
    assert (tombstone["id"], tombstone["deleted"], tombstone["content"], tombstone["mentions"]) == (
        latest["id"],
        True,
        "",
        [],
    )


@pytest.mark.backends
async def test_a_message_to_someone_offline_waits_for_them(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, bob = await person(api, "alice"), await person(api, "bob")
    room = (await open_dm(api, alice, "bob")).json()
    async with chat_client(server.url, alice.token) as a:
        await first_message(a, room["id"], "ping")
        last = (await a.say(room["id"], "are you around?")).data["message"]
    # Bob logs in later (a new token, as on another day): both messages wait, unread.
    token = await login(api, "bob")
    [waiting] = await dms(api, Person(token, bob.id, "bob"))
    assert (waiting["id"], waiting["unread"], waiting["lastMessage"]) == (room["id"], 2, last)
    async with chat_client(server.url, token) as b:
        watched = await b.enter(room["id"], watch=True)
        assert (watched.data["unread"], watched.data["room"]["name"]) == (2, "alice")
        entered = await b.enter(room["id"])
        assert [m["content"] for m in entered.data["messages"]] == ["ping", "are you around?"]
        await b.silent()  # no ROOM_CREATED after the fact


def same_words(unknown: dict[str, Any], hidden: dict[str, Any], room_id: int) -> dict[str, Any]:
    """The unknown id's answer, with its id replaced by the hidden room's: what hidden must equal."""
    return json.loads(json.dumps(unknown).replace(str(NEVER_USED), str(room_id)))


@pytest.mark.backends
async def test_to_anyone_else_it_does_not_exist(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, _bob, carol = await person(api, "alice"), await person(api, "bob"), await person(api, "carol")
    room = (await open_dm(api, alice, "bob")).json()
    async with chat_client(server.url, alice.token) as a:
        message = await first_message(a, room["id"], "just between us")

    # REST: the room, its history, a read marker — 404 with the words of an id never used.
    requests = [
        ("GET", "/api/rooms/{}", None),
        ("GET", "/api/rooms/{}/messages", None),
        ("GET", "/api/rooms/{}/messages?after=0", None),
        ("POST", "/api/rooms/{}/read", {"lastReadId": message["id"]}),
        ("GET", "/api/search?q=between&roomId={}", None),
        ("PATCH", "/api/rooms/{}/messages/" + str(message["id"]), {"content": "edited by carol"}),
        ("DELETE", "/api/rooms/{}/messages/" + str(message["id"]), None),
    ]
    for method, path, body in requests:
        unknown = await api.request(method, path.format(NEVER_USED), json=body, headers=auth(carol.token))
        hidden = await api.request(method, path.format(room["id"]), json=body, headers=auth(carol.token))
        assert unknown.status_code == hidden.status_code == 404, (path, hidden.text)
        assert hidden.json() == same_words(unknown.json(), hidden.json(), room["id"]), path
        assert hidden.json()["error"] == "not_found"
    # Nothing was done on carol's behalf: no marker, and the room is still only alice's and bob's.
    assert await dms(api, carol) == []
    # Searching everywhere never reaches into it; the members find it.
    found = await api.get("/api/search", params={"q": "between"}, headers=auth(carol.token))
    assert (found.status_code, found.json()) == (200, [])
    for member in (alice, _bob):
        found = await api.get("/api/search", params={"q": "between"}, headers=auth(member.token))
        assert [m["id"] for m in found.json()] == [message["id"]]

    # WebSocket: ENTER, watch, SEND, SYNC — each error frame as for an id never used.
    frames = [
        (MsgType.ENTER, {}),
        (MsgType.ENTER, {"afterId": 0}),
        (MsgType.ENTER, {"watch": True}),
        (MsgType.SEND, {"content": "let me in", "clientMsgId": "c1"}),
        (MsgType.SYNC, {"afterId": 0}),
        (MsgType.SYNC, {"afterId": message["id"], "afterRev": 0}),
        (MsgType.ENTER, {"afterId": message["id"], "afterRev": 0}),
    ]
    async with chat_client(server.url, carol.token) as c:
        for msg_type, data in frames:
            await c.send(msg_type, {"roomId": NEVER_USED, **data}, "unknown")
            unknown = await c.expect(MsgType.ERROR)
            await c.send(msg_type, {"roomId": room["id"], **data}, "hidden")
            hidden = await c.expect(MsgType.ERROR)
            assert hidden.request_id == "hidden"
            assert hidden.data == same_words(unknown.data, hidden.data, room["id"]), msg_type
            assert hidden.data["code"] in ("not_found", "not_in_room")
        await c.silent()
    # The members themselves are served, and carol's edit and deletion changed nothing.
    for member in (alice, _bob):
        assert (await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(member.token))).json() == [message]


@pytest.mark.backends
async def test_members_use_it_like_any_room(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, bob = await person(api, "alice"), await person(api, "bob")
    room = (await open_dm(api, bob, "alice")).json()
    async with chat_client(server.url, alice.token) as a, chat_client(server.url, bob.token) as b:
        state = await a.enter(room["id"])
        assert (state.data["room"]["name"], state.data["room"]["kind"]) == ("bob", "direct")
        watched = await b.enter(room["id"], watch=True)
        assert (watched.data["room"]["name"], watched.data["room"]["members"]) == ("alice", room["members"])
        sent = (await a.say(room["id"], "你好 bob")).data["message"]
        assert (await b.expect(MsgType.SEND)).data == sent
        await b.send(MsgType.SYNC, {"roomId": room["id"], "afterId": 0}, "y")
        assert (await b.expect(MsgType.SYNC)).data["messages"] == [sent]
        response = await api.post(
            f"/api/rooms/{room['id']}/read", json={"lastReadId": sent["id"]}, headers=auth(bob.token)
        )
        assert response.status_code == 204
        assert (await b.expect(MsgType.READ)).data == {"roomId": room["id"], "lastReadId": sent["id"], "unread": 0}
        entered = await b.enter(room["id"])
        assert (entered.data["room"]["name"], entered.data["room"]["online"]) == ("alice", 2)
        assert (await a.expect(MsgType.ENTER)).data["user"] == {"id": bob.id, "username": "bob"}


def is_room_created(frame: Envelope) -> bool:
    return frame.msg_type == MsgType.ROOM_CREATED


@pytest.mark.backends
async def test_the_first_message_announces_the_room_to_the_other_member_only(
    server: ServerThread, api: httpx.AsyncClient
) -> None:
    alice, bob, carol = await person(api, "alice"), await person(api, "bob"), await person(api, "carol")
    async with (
        chat_client(server.url, alice.token) as a,
        chat_client(server.url, bob.token) as b1,
        chat_client(server.url, bob.token) as b2,
        chat_client(server.url, carol.token) as c,
    ):
        room = (await open_dm(api, alice, "bob")).json()
        # Opening it tells no one.
        for client in (a, b1, b2, c):
            await client.silent()
        sent = await first_message(a, room["id"], "hi bob")
        for bob_connection in (b1, b2):
            created = await bob_connection.expect(MsgType.ROOM_CREATED)
            assert created.data == {**room, "name": "alice", "online": 1, "unread": 1}
        # Not to alice, who sent it, and not to carol.
        await a.expect(MsgType.SEND, lambda f: f.data["id"] == sent["id"])
        second = (await a.say(room["id"], "are you there?")).data["message"]
        await a.expect(MsgType.SEND, lambda f: f.data["id"] == second["id"])
        await c.silent()
        await a.silent()
        # Only the first message: the second announces nothing.
        await b1.silent()
        await b2.silent()

        # The other way round: the first message from the one who did not open it.
        dave = await person(api, "dave")
        other = (await open_dm(api, dave, "carol")).json()
        async with chat_client(server.url, dave.token) as d:
            await first_message(c, other["id"], "hello dave")
            created = await d.expect(MsgType.ROOM_CREATED)
            assert (created.data["id"], created.data["name"], created.data["creator"]["id"]) == (
                other["id"],
                "carol",
                dave.id,
            )
            await a.silent()
            await b1.silent()


@pytest.mark.backends
async def test_the_first_message_is_the_databases_first(settings: Settings, server: ServerThread) -> None:
    """Two servers on one database: bob's first message goes through one; alice entered the
    empty room on the other, so hers there is checked against the database and announces
    nothing, even to a connection of bob's on her server."""
    with running_server(settings) as second:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as one,
            httpx.AsyncClient(base_url=second.url, timeout=scaled(10)) as two,
        ):
            alice, bob = await person(one, "alice"), await person(one, "bob")
            room = (await open_dm(one, alice, "bob")).json()
            async with (
                chat_client(server.url, alice.token) as a,
                chat_client(server.url, bob.token) as b_here,
                chat_client(second.url, bob.token) as b_there,
            ):
                await a.enter(room["id"])  # empty now: its first message is awaited here
                await first_message(b_there, room["id"], "first, from the other server")
                await a.say(room["id"], "second")
                if settings.redis_url:
                    # Servers sharing a Redis are one cluster: bob's read marker, moved by his
                    # message there, reaches his connection here (and nothing else does).
                    assert (await b_here.expect(MsgType.READ)).data["roomId"] == room["id"]
                await b_here.silent(scaled(0.5))
                assert (await two.get("/api/dms", headers=auth(alice.token))).json()[0]["lastMessage"]["content"] == (
                    "second"
                )


@pytest.mark.backends
async def test_room_records_go_through_the_cache(
    settings: Settings, server: ServerThread, api: httpx.AsyncClient
) -> None:
    """The room by id comes from the cache (Redis on mariadb+redis) with its kind and members, so
    a non-member is refused from the cached copy too."""
    alice, _bob, carol = await person(api, "alice"), await person(api, "bob"), await person(api, "carol")
    room = (await open_dm(api, alice, "bob")).json()
    if settings.redis_url:
        database_id = (await api.get("/api/health")).json()["databaseId"]
        client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
        try:
            cached = json.loads(client.hget(f"{settings.redis_prefix}{database_id}:rooms", str(room["id"])) or "{}")
        finally:
            client.close()
        assert (cached["kind"], cached["members"]) == ("direct", room["members"])
    assert (await api.get(f"/api/rooms/{room['id']}", headers=auth(carol.token))).status_code == 404
    assert (await api.get(f"/api/rooms/{room['id']}", headers=auth(alice.token))).json()["name"] == "bob"


def test_the_empty_rooms_kept_for_a_first_message_stay_bounded(tmp_path: Path) -> None:
    """Only rooms someone here is in or watching are kept past a sweep: the map stays within
    twice what is followed, however many empty direct rooms were ever entered."""
    alice, bob = UserRecord(1, "alice"), UserRecord(2, "bob")
    hub = RoomHub()
    database = Database(f"sqlite:///{tmp_path}/gochat.sqlite3")
    try:
        cache = MemoryCache()
        fanout = Fanout(hub)
        rooms = RoomDirectory(database, cache, fanout, RateLimits(Settings()))
        direct = DirectRooms(database, cache, rooms, hub, fanout)
        watcher = MemoryConnection(alice)
        hub.register(watcher)

        def direct_room(room_id: int) -> RoomRecord:
            return RoomRecord(room_id, "", alice, datetime(2026, 12, 1), kind=RoomKind.DIRECT, members=(alice, bob))

        followed = [direct_room(room_id) for room_id in range(1, 11)]
        for room in followed:
            hub.watch(watcher, room.id)
            direct.expect_first_message(room)
        for room_id in range(100, 5_000):
            direct.expect_first_message(direct_room(room_id))  # entered, then left
        kept = direct._awaiting_first
        assert len(kept) <= 2 * 64 + 1
        assert all(room.id in kept for room in followed)
    finally:
        database.close()
