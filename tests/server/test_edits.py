"""Edits and deletions (issue 13; docs/protocol.md, "Edits and deletions" and "Catching up on
edits and deletions"): PATCH and DELETE /api/rooms/{roomId}/messages/{id}, MESSAGE_EDITED (10)
and MESSAGE_DELETED (11) seen live, tombstones everywhere, the text gone from the database,
revs, catching up with afterRev, server admins — on both backends, over real sockets."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, insert, select

from gochat.protocol import MESSAGE_MAX, MsgType
from gochat.server import chat
from gochat.server.config import Settings, settings_from_args
from gochat.server.runner import ServerThread
from gochat.server.store import models
from gochat.server.store.database import create_db_engine
from tests.conftest import running_server
from tests.helpers import ChatClient, auth, chat_client, create_room, register_and_login, scaled, unique_name


@pytest.fixture
def engine(server: ServerThread) -> Iterator[Engine]:
    """The server's own database, to read rows as they are stored."""
    engine = create_db_engine(server.settings.resolved_database_url())
    yield engine
    engine.dispose()


def url(room_id: int, message_id: int) -> str:
    return f"/api/rooms/{room_id}/messages/{message_id}"


async def edit(api: httpx.AsyncClient, token: str, room_id: int, message_id: int, content: object) -> httpx.Response:
    return await api.patch(url(room_id, message_id), json={"content": content}, headers=auth(token))


async def delete(api: httpx.AsyncClient, token: str, room_id: int, message_id: int) -> httpx.Response:
    return await api.delete(url(room_id, message_id), headers=auth(token))


async def history(api: httpx.AsyncClient, token: str, room_id: int) -> list[dict[str, Any]]:
    response = await api.get(f"/api/rooms/{room_id}/messages", headers=auth(token))
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()
    return messages


async def post(server: ServerThread, token: str, room_id: int, *texts: str) -> list[dict[str, Any]]:
    """Send messages (watching the room, no presence); the stored messages, as acknowledged."""
    async with chat_client(server.url, token) as c:
        await c.send(MsgType.ENTER, {"roomId": room_id, "watch": True})
        await c.expect(MsgType.ROOM_STATE)
        return [(await c.say(room_id, text)).data["message"] for text in texts]


async def watch(c: ChatClient, room_id: int) -> None:
    await c.send(MsgType.ENTER, {"roomId": room_id, "watch": True}, "w")
    await c.expect(MsgType.ROOM_STATE, lambda f: f.request_id == "w")


def stored_row(engine: Engine, message_id: int) -> Any:
    with engine.connect() as connection:
        return connection.execute(select(models.Message.__table__).where(models.Message.id == message_id)).one()


def make_direct_room(engine: Engine, a: int, b: int) -> int:
    """A direct room of users ``a`` and ``b``, written as the direct-messages code stores one."""
    with engine.begin() as connection:
        room_id = connection.execute(
            insert(models.Room).values(
                user_id=a, room_name="direct", room_name_key=unique_name("direct:"), kind="direct"
            )
        ).inserted_primary_key[0]
        connection.execute(
            insert(models.DirectRoom).values(room_id=room_id, user_low_id=min(a, b), user_high_id=max(a, b))
        )
    return int(room_id)


@pytest.mark.backends
async def test_the_author_edits_and_the_room_sees_it(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, _ = await register_and_login(api)
    bob, _ = await register_and_login(api)
    carol, _ = await register_and_login(api)
    room = await create_room(api, alice)
    [original] = await post(server, alice, room["id"], "helo 你好")
    async with chat_client(server.url, bob) as present, chat_client(server.url, carol) as watcher:
        await present.enter(room["id"])
        await watch(watcher, room["id"])

        response = await edit(api, alice, room["id"], original["id"], "hello 你好 (fixed)")
        assert response.status_code == 200, response.text
        edited = response.json()
        assert edited["content"] == "hello 你好 (fixed)"
        assert edited["editedAt"] is not None
        assert edited["rev"] > original["rev"]
        assert {k: edited[k] for k in ("id", "roomId", "author", "createdAt", "deleted")} == {
            k: original[k] for k in ("id", "roomId", "author", "createdAt", "deleted")
        }
        # Everyone in the room and everyone watching it: the message as it now is.
        assert (await present.expect(MsgType.MESSAGE_EDITED)).data == edited
        assert (await watcher.expect(MsgType.MESSAGE_EDITED)).data == edited

    [shown] = await history(api, bob, room["id"])
    assert shown == edited


@pytest.mark.backends
async def test_only_the_author_edits(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, _ = await register_and_login(api)  # the room's creator
    bob, _ = await register_and_login(api)
    room = await create_room(api, alice)
    [bobs] = await post(server, bob, room["id"], "bob's words")
    for someone_else in (alice, (await register_and_login(api))[0]):
        response = await edit(api, someone_else, room["id"], bobs["id"], "not yours")
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "forbidden"
    [shown] = await history(api, bob, room["id"])
    assert (shown["content"], shown["editedAt"], shown["rev"]) == ("bob's words", None, bobs["rev"])


async def test_an_edit_is_checked_like_a_message(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, _ = await register_and_login(api)
    room = await create_room(api, alice)
    [message] = await post(server, alice, room["id"], "text")
    for content in ("", "   ", "x" * (MESSAGE_MAX + 1), 42, None):
        response = await edit(api, alice, room["id"], message["id"], content)
        assert response.status_code == 422, (content, response.text)
        assert response.json()["error"] == "validation"
    response = await api.patch(url(room["id"], message["id"]), json={}, headers=auth(alice))
    assert response.status_code == 422
    assert (await history(api, alice, room["id"]))[0]["content"] == "text"


@pytest.mark.backends
async def test_what_is_not_there_is_404(server: ServerThread, api: httpx.AsyncClient, engine: Engine) -> None:
    alice, alice_user = await register_and_login(api)
    bob, bob_user = await register_and_login(api)
    carol, _ = await register_and_login(api)
    room = await create_room(api, alice)
    other = await create_room(api, alice)
    [message] = await post(server, alice, room["id"], "here")

    async def both_404(token: str, room_id: int, message_id: int) -> list[dict[str, Any]]:
        edited = await edit(api, token, room_id, message_id, "changed")
        deleted = await delete(api, token, room_id, message_id)
        assert (edited.status_code, deleted.status_code) == (404, 404), (edited.text, deleted.text)
        return [edited.json(), deleted.json()]

    never = 10**9
    await both_404(alice, room["id"], never)  # an id never used
    await both_404(alice, other["id"], message["id"])  # a message of another room
    unknown_room = await both_404(alice, never, message["id"])  # a room that does not exist
    assert unknown_room[0] == {"error": "not_found", "message": f"There is no room {never}."}

    # Someone else's direct room: answered exactly as a room id never used.
    direct = make_direct_room(engine, alice_user["id"], bob_user["id"])
    [in_direct] = await post(server, bob, direct, "just us")
    for answer in await both_404(carol, direct, in_direct["id"]):
        assert answer == {"error": "not_found", "message": f"There is no room {direct}."}
    # Its members may.
    assert (await edit(api, bob, direct, in_direct["id"], "just us two")).status_code == 200
    # A direct room's creator (who asked first) may delete in it, as a room's creator may.
    [second] = await post(server, bob, direct, "one more")
    assert (await delete(api, alice, direct, in_direct["id"])).status_code == 204
    assert (await delete(api, bob, direct, second["id"])).status_code == 204

    # A deleted message: editing or deleting it again is a 404.
    assert (await delete(api, alice, room["id"], message["id"])).status_code == 204
    await both_404(alice, room["id"], message["id"])


@pytest.mark.backends
async def test_who_may_delete(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, _ = await register_and_login(api)  # the room's creator
    bob, _ = await register_and_login(api)
    carol, _ = await register_and_login(api)
    room = await create_room(api, alice)
    bobs = await post(server, bob, room["id"], "one", "two")
    alices = await post(server, alice, room["id"], "three")
    # Neither the author nor the creator (nor an admin): refused, and nothing changes.
    for target in (bobs[0], alices[0]):
        response = await delete(api, carol, room["id"], target["id"])
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "forbidden"
    assert (await delete(api, bob, room["id"], alices[0]["id"])).status_code == 403  # not the creator
    assert [m["deleted"] for m in await history(api, carol, room["id"])] == [False, False, False]
    # The author; the room's creator, a message of someone else's.
    assert (await delete(api, bob, room["id"], bobs[0]["id"])).status_code == 204
    assert (await delete(api, alice, room["id"], bobs[1]["id"])).status_code == 204
    assert [m["deleted"] for m in await history(api, carol, room["id"])] == [True, True, False]


@pytest.mark.backends
async def test_a_deletion_leaves_a_tombstone(server: ServerThread, api: httpx.AsyncClient, engine: Engine) -> None:
    alice, alice_user = await register_and_login(api)
    bob, _ = await register_and_login(api)
    carol, _ = await register_and_login(api)
    room = await create_room(api, alice)
    before, doomed, after = await post(server, alice, room["id"], "first", "secret 秘密", "last")
    async with chat_client(server.url, bob) as present, chat_client(server.url, carol) as watcher:
        await present.enter(room["id"])
        await watch(watcher, room["id"])
        assert (await delete(api, alice, room["id"], doomed["id"])).status_code == 204
        seen = [(await c.expect(MsgType.MESSAGE_DELETED)).data for c in (present, watcher)]
    assert seen[0] == seen[1]
    assert seen[0]["roomId"] == room["id"]
    assert seen[0]["id"] == doomed["id"]
    assert seen[0]["deletedBy"] == alice_user
    assert seen[0]["rev"] > after["rev"]

    tombstone = {
        **doomed,
        "content": "",
        "mentions": [],
        "deleted": True,
        "rev": seen[0]["rev"],
    }
    tombstone.pop("clientMsgId")
    # REST history keeps its place, id, author and createdAt; only its text is gone.
    shown = await history(api, bob, room["id"])
    assert [m["id"] for m in shown] == [before["id"], doomed["id"], after["id"]]
    assert {k: v for k, v in shown[1].items() if k != "clientMsgId"} == tombstone
    # In the database too: the text is gone, not hidden.
    row = stored_row(engine, doomed["id"])
    assert (row.content, row.mentions, row.rev) == ("", None, seen[0]["rev"])
    assert row.deleted_at is not None
    # ENTER's page and SYNC show the same tombstone.
    async with chat_client(server.url, bob) as c:
        entered = await c.enter(room["id"])
        assert [m["deleted"] for m in entered.data["messages"]] == [False, True, False]
        await c.send(MsgType.SYNC, {"roomId": room["id"], "afterId": 0}, "s")
        synced = await c.expect(MsgType.SYNC, lambda f: f.request_id == "s")
        assert synced.data["messages"][1]["content"] == ""
        assert synced.data["messages"][1]["deleted"] is True
        assert "changed" not in synced.data
        assert "rev" not in synced.data


@pytest.mark.backends
async def test_a_deleted_message_is_not_unread(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, _ = await register_and_login(api)
    bob, _ = await register_and_login(api)
    room = await create_room(api, alice)
    messages = await post(server, alice, room["id"], "one", "two", "three")
    assert (await api.get(f"/api/rooms/{room['id']}", headers=auth(bob))).json()["unread"] == 3
    assert (await delete(api, alice, room["id"], messages[1]["id"])).status_code == 204
    assert (await api.get(f"/api/rooms/{room['id']}", headers=auth(bob))).json()["unread"] == 2


@pytest.mark.backends
async def test_revs_rise_with_every_change(server: ServerThread, api: httpx.AsyncClient, engine: Engine) -> None:
    alice, _ = await register_and_login(api)
    room = await create_room(api, alice)
    first = await post(server, alice, room["id"], "a", "b", "c")
    revs = [m["rev"] for m in first]
    revs.append((await edit(api, alice, room["id"], first[0]["id"], "a2")).json()["rev"])
    assert (await delete(api, alice, room["id"], first[1]["id"])).status_code == 204
    revs.append(stored_row(engine, first[1]["id"]).rev)
    revs += [m["rev"] for m in await post(server, alice, room["id"], "d")]
    revs.append((await edit(api, alice, room["id"], first[0]["id"], "a3")).json()["rev"])
    assert revs == sorted(set(revs))
    assert revs[0] > 0
    with engine.connect() as connection:
        sequence = connection.scalar(select(models.Sequence.value).where(models.Sequence.name == "rev"))
    assert sequence == revs[-1]


@pytest.mark.backends
async def test_a_reconnecting_client_catches_up(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, _ = await register_and_login(api)
    bob, _ = await register_and_login(api)
    room = await create_room(api, alice)
    await post(server, alice, room["id"], "one", "two", "three")
    # Bob sees the room, then goes away holding the last id and the highest rev he saw.
    async with chat_client(server.url, bob) as c:
        seen = (await c.enter(room["id"])).data["messages"]
    last_id, last_rev = seen[-1]["id"], max(m["rev"] for m in seen)

    edited = (await edit(api, alice, room["id"], seen[0]["id"], "one, fixed")).json()
    assert (await delete(api, alice, room["id"], seen[1]["id"])).status_code == 204
    [newer] = await post(server, alice, room["id"], "four")

    async with chat_client(server.url, bob) as c:
        entered = await c.enter(room["id"], afterId=last_id, afterRev=last_rev)
        assert [m["id"] for m in entered.data["messages"]] == [newer["id"]]
        changed = entered.data["changed"]
        assert [m["id"] for m in changed] == [seen[0]["id"], seen[1]["id"]]  # lowest rev first
        assert changed[0] == edited
        assert (changed[1]["deleted"], changed[1]["content"], changed[1]["mentions"]) == (True, "", [])
        assert entered.data["rev"] == newer["rev"]
        assert entered.data["hasNewer"] is False

        await c.send(MsgType.SYNC, {"roomId": room["id"], "afterId": last_id, "afterRev": last_rev}, "s1")
        synced = await c.expect(MsgType.SYNC, lambda f: f.request_id == "s1")
        assert synced.data["messages"] == entered.data["messages"]
        assert synced.data["changed"] == changed
        assert synced.data["rev"] == entered.data["rev"]

        # Caught up: nothing more, and the rev stays.
        await c.send(MsgType.SYNC, {"roomId": room["id"], "afterId": newer["id"], "afterRev": synced.data["rev"]}, "s2")
        again = await c.expect(MsgType.SYNC, lambda f: f.request_id == "s2")
        assert (again.data["messages"], again.data["changed"], again.data["rev"]) == ([], [], synced.data["rev"])
        assert again.data["hasNewer"] is False
        # ENTER without afterId: afterRev means nothing there.
        plain = await c.enter(room["id"], afterRev=0)
        assert "changed" not in plain.data
        assert "rev" not in plain.data


async def test_changes_come_in_pages(
    server: ServerThread, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = await register_and_login(api)
    room = await create_room(api, alice)
    messages = await post(server, alice, room["id"], "a", "b", "c")
    start = messages[-1]["rev"]
    for message in messages:
        assert (await edit(api, alice, room["id"], message["id"], message["content"] + "!")).status_code == 200
    monkeypatch.setattr(chat, "SYNC_PAGE", 2)
    async with chat_client(server.url, alice) as c:
        await c.send(MsgType.SYNC, {"roomId": room["id"], "afterId": messages[-1]["id"], "afterRev": start}, "p1")
        first = (await c.expect(MsgType.SYNC, lambda f: f.request_id == "p1")).data
        # Two of three changes: hasNewer, and the rev of the last change given, to ask again from.
        assert [m["content"] for m in first["changed"]] == ["a!", "b!"]
        assert first["hasNewer"] is True
        assert first["rev"] == first["changed"][-1]["rev"]
        await c.send(
            MsgType.SYNC, {"roomId": room["id"], "afterId": messages[-1]["id"], "afterRev": first["rev"]}, "p2"
        )
        second = (await c.expect(MsgType.SYNC, lambda f: f.request_id == "p2")).data
        assert [m["content"] for m in second["changed"]] == ["c!"]
        assert second["hasNewer"] is False
        assert second["rev"] == second["changed"][-1]["rev"]


async def test_edits_are_paced(settings: Settings) -> None:
    paced = dataclasses.replace(settings, message_rate=0.01, message_burst=1)  # two edits, then 429
    with running_server(paced) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as api:
            alice, _ = await register_and_login(api)
            room = await create_room(api, alice)
            [message] = await post(server, alice, room["id"], "text")
            for n in range(2):
                assert (await edit(api, alice, room["id"], message["id"], f"edit {n}")).status_code == 200
            refused = await edit(api, alice, room["id"], message["id"], "one too many")
            assert refused.status_code == 429
            assert refused.json()["error"] == "rate_limited"
            assert refused.json()["retryAfter"] > 0
            assert int(refused.headers["Retry-After"]) >= 1
            assert (await history(api, alice, room["id"]))[0]["content"] == "edit 1"


def test_admins_from_flags_and_env() -> None:
    assert settings_from_args([], env={}).admins == ()
    assert settings_from_args([], env={"GOCHAT_ADMINS": " root, 管理员 ,,"}).admins == ("root", "管理员")
    flags = ["--admin", "alice", "--admin", "Bob"]
    assert settings_from_args(flags, env={"GOCHAT_ADMINS": "root"}).admins == ("alice", "Bob")  # the flag wins


@pytest.mark.backends
async def test_a_server_admin_deletes_anything(settings: Settings) -> None:
    admin_name = unique_name("admin")
    # Named in another case: compared as usernames are.
    with running_server(dataclasses.replace(settings, admins=(admin_name.upper(),))) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as api:
            admin, admin_user = await register_and_login(api, admin_name)
            alice, _ = await register_and_login(api)
            assert (await api.get("/api/me", headers=auth(admin))).json() == {**admin_user, "admin": True}
            assert (await api.get("/api/me", headers=auth(alice))).json()["admin"] is False
            room = await create_room(api, alice)
            [message] = await post(server, alice, room["id"], "spam")
            # An admin deletes, but does not edit, what others wrote.
            assert (await edit(api, admin, room["id"], message["id"], "mine now")).status_code == 403
            assert (await delete(api, admin, room["id"], message["id"])).status_code == 204
            assert (await history(api, alice, room["id"]))[0]["deleted"] is True


async def test_admins_from_the_environment(settings: Settings) -> None:
    admin_name = unique_name("admin")
    from_env = settings_from_args(
        ["--port", "0", "--database-url", settings.database_url], env={"GOCHAT_ADMINS": f"x,{admin_name}"}
    )
    with running_server(from_env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as api:
            admin, _ = await register_and_login(api, admin_name)
            assert (await api.get("/api/me", headers=auth(admin))).json()["admin"] is True


@pytest.mark.backends
async def test_an_edit_works_mentions_out_again(server: ServerThread, api: httpx.AsyncClient) -> None:
    alice, _ = await register_and_login(api)
    bob, bob_user = await register_and_login(api)
    carol, carol_user = await register_and_login(api)
    room = await create_room(api, alice)
    [message] = await post(server, alice, room["id"], f"hi @{bob_user['username']}")
    assert message["mentions"] == [bob_user]
    async with chat_client(server.url, bob) as bobs, chat_client(server.url, carol) as carols:
        for c in (bobs, carols):  # connected (an answer proves it), in no room
            await c.send(MsgType.ENTER, {"roomId": 10**9}, "x")
            await c.expect(MsgType.ERROR, lambda f: f.request_id == "x")
        text = f"hi @{bob_user['username']} and @{carol_user['username']}"
        edited = (await edit(api, alice, room["id"], message["id"], text)).json()
        assert edited["mentions"] == [bob_user, carol_user]
        # Carol is newly mentioned: MENTIONED with the message as edited. Bob was mentioned already.
        assert (await carols.expect(MsgType.MENTIONED)).data == {"message": edited}
        again = (await edit(api, alice, room["id"], message["id"], text + "!")).json()
        assert again["mentions"] == [bob_user, carol_user]
        await carols.silent()
        await bobs.silent()
        dropped = (await edit(api, alice, room["id"], message["id"], "hi all")).json()
        assert dropped["mentions"] == []
    [shown] = await history(api, alice, room["id"])
    assert shown["mentions"] == []
