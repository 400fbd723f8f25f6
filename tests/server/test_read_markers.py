"""Read markers and unread counts: POST /api/rooms/{id}/read, lastReadId + unread on room objects,
and READ (13) to the user's other connections — on both backends, over real sockets."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest

from gochat.protocol import MsgType
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from tests.helpers import auth, chat_client, create_room, register_and_login, scaled


async def room_as(api: httpx.AsyncClient, token: str, room_id: int) -> dict[str, Any]:
    listed = (await api.get("/api/rooms", headers=auth(token))).json()
    one = (await api.get(f"/api/rooms/{room_id}", headers=auth(token))).json()
    [from_list] = [r for r in listed if r["id"] == room_id]
    assert from_list == one  # the list and the room by id agree
    return one


async def read(api: httpx.AsyncClient, token: str, room_id: int, body: object) -> httpx.Response:
    return await api.post(f"/api/rooms/{room_id}/read", json=body, headers=auth(token))


async def post(server: ServerThread, token: str, room_id: int, *texts: str) -> list[int]:
    async with chat_client(server.url, token) as c:
        await c.send(MsgType.ENTER, {"roomId": room_id, "watch": True})
        await c.expect(MsgType.ROOM_STATE)
        return [(await c.say(room_id, text)).data["message"]["id"] for text in texts]


@pytest.mark.backends
async def test_counts_follow_the_marker(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, _ = await register_and_login(api)
    bob, _ = await register_and_login(api)
    room = await create_room(api, alice)
    assert (room["lastReadId"], room["unread"]) == (None, 0)

    ids = await post(server, alice, room["id"], "one", "two", "three")
    await post(server, bob, room["id"], "bob's own")
    # Never entered: no marker, and every message from someone else counts.
    assert (await room_as(api, bob, room["id"]))["lastReadId"] is None
    assert (await room_as(api, bob, room["id"]))["unread"] == 3
    # Alice's own messages never count for her.
    assert (await room_as(api, alice, room["id"]))["unread"] == 1

    assert (await read(api, bob, room["id"], {"lastReadId": ids[0]})).status_code == 204
    seen = await room_as(api, bob, room["id"])
    assert (seen["lastReadId"], seen["unread"]) == (ids[0], 2)
    # Only forward: an older id changes nothing.
    assert (await read(api, bob, room["id"], {"lastReadId": 0})).status_code == 204
    assert (await room_as(api, bob, room["id"]))["lastReadId"] == ids[0]
    # Never past the room's newest message (ids are shared by every room).
    assert (await read(api, bob, room["id"], {"lastReadId": 10**12})).status_code == 204
    seen = await room_as(api, bob, room["id"])
    newest = (await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(bob))).json()[-1]["id"]
    assert (seen["lastReadId"], seen["unread"]) == (newest, 0)
    await post(server, alice, room["id"], "four")
    assert (await room_as(api, bob, room["id"]))["unread"] == 1


async def test_bad_read_requests_get_clear_errors(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    for body in ({}, {"lastReadId": -1}, {"lastReadId": True}, {"lastReadId": 1.5}, {"lastReadId": "7"}, [], None):
        response = await read(api, token, room["id"], body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] == "validation"
    missing = await read(api, token, 999_999, {"lastReadId": 1})
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    unauthorised = await api.post(f"/api/rooms/{room['id']}/read", json={"lastReadId": 1})
    assert unauthorised.status_code == 401


async def test_first_enter_makes_the_room_yours_with_nothing_unread(
    server: ServerThread, api: httpx.AsyncClient
) -> None:
    alice, _ = await register_and_login(api)
    bob, _ = await register_and_login(api)
    room = await create_room(api, alice)
    ids = await post(server, alice, room["id"], "a", "b")
    async with chat_client(server.url, bob) as phone, chat_client(server.url, bob) as laptop:
        state = await phone.enter(room["id"])
        # The history just shown is not unread: the marker starts at the newest message.
        assert (state.data["lastReadId"], state.data["unread"], state.data["lastMessageId"]) == (ids[-1], 0, ids[-1])
        assert (state.data["room"]["lastReadId"], state.data["room"]["unread"]) == (ids[-1], 0)
        # Bob's other device learns the room is his now; the entering one already knows.
        joined = await laptop.expect(MsgType.READ)
        assert joined.data == {"roomId": room["id"], "lastReadId": ids[-1], "unread": 0}
        await phone.silent()
        # Entering again never moves the marker back or forward.
        more = await post(server, alice, room["id"], "c")
        await phone.expect(MsgType.SEND)
        again = await phone.enter(room["id"])
        assert (again.data["lastReadId"], again.data["unread"], again.data["lastMessageId"]) == (ids[-1], 1, more[0])

        # Reading on one device tells every device.
        assert (await read(api, bob, room["id"], {"lastReadId": more[0]})).status_code == 204
        for device in (phone, laptop):
            moved = await device.expect(MsgType.READ)
            assert moved.data == {"roomId": room["id"], "lastReadId": more[0], "unread": 0}
        # A read that moves nothing says nothing.
        assert (await read(api, bob, room["id"], {"lastReadId": ids[0]})).status_code == 204
        await laptop.silent()


@pytest.mark.backends
async def test_counts_survive_a_restart(settings: Settings, api: httpx.AsyncClient, server: ServerThread) -> None:
    alice, _ = await register_and_login(api)
    bob, _ = await register_and_login(api)
    room = await create_room(api, alice)
    ids = await post(server, alice, room["id"], *(f"m{i}" for i in range(5)))
    await read(api, bob, room["id"], {"lastReadId": ids[1]})
    server.stop()
    again = ServerThread(dataclasses.replace(settings, port=server.port))
    again.start()
    try:
        async with httpx.AsyncClient(base_url=again.url, timeout=scaled(10)) as fresh:
            mine = await room_as(fresh, bob, room["id"])
    finally:
        again.stop()
    assert (mine["lastReadId"], mine["unread"]) == (ids[1], 3)


def test_health_names_the_database_so_clients_tell_servers_apart(sqlite_settings: Settings, tmp_path: Path) -> None:
    def database_id(settings: Settings) -> str:
        thread = ServerThread(settings)
        thread.start()
        try:
            health = httpx.get(f"{thread.url}/api/health", timeout=scaled(10)).json()
        finally:
            thread.stop()
        assert isinstance(health["databaseId"], str)
        return str(health["databaseId"])

    first = database_id(sqlite_settings)
    assert len(first) >= 16
    assert database_id(sqlite_settings) == first  # the same database after a restart
    other = dataclasses.replace(sqlite_settings, database_url=f"sqlite:///{tmp_path}/other.sqlite3")
    assert database_id(other) != first
