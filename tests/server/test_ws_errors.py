"""Bad frames get error frames naming the request, nothing is stored, and the connection lives."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gochat.protocol import MAX_FRAME_BYTES, MsgType
from gochat.server.runner import ServerThread
from tests.helpers import ChatClient, auth, chat_client, create_room, register_and_login, scaled


@pytest.fixture
async def api(sqlite_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sqlite_server.url, timeout=scaled(10)) as client:
        yield client


BAD_FRAMES = [
    # These two first, while the client has not entered the room.
    ('{"msgType": 3, "data": {"roomId": ROOM}}', "not_in_room"),
    ('{"msgType": 2, "data": {"roomId": ROOM, "content": "x"}}', "not_in_room"),
    ("not json", "bad_json"),
    ("[1, 2]", "bad_frame"),
    ('{"msgType": 99, "data": {}}', "unknown_type"),
    ('{"msgType": "2", "data": {}}', "unknown_type"),
    ('{"msgType": 2}', "bad_frame"),
    ('{"msgType": 2, "data": {"roomId": ROOM, "content": ""}}', "validation"),
    ('{"msgType": 2, "data": {"roomId": ROOM, "content": " \\n\\t "}}', "validation"),
    ('{"msgType": 2, "data": {"roomId": ROOM, "content": "CONTENT4001"}}', "validation"),
    ('{"msgType": 2, "data": {"roomId": ROOM, "content": 5}}', "validation"),
    ('{"msgType": 2, "data": {"roomId": ROOM, "content": "x\\ud800"}}', "validation"),
    ('{"msgType": 2, "data": {"roomId": "1", "content": "x"}}', "validation"),
    ('{"msgType": 2, "data": {"roomId": true, "content": "x"}}', "validation"),
    ('{"msgType": 2, "data": {"roomId": 99999999999999999999999, "content": "x"}}', "validation"),
    ('{"msgType": 2, "data": {"roomId": ROOM, "content": "x", "clientMsgId": ""}}', "validation"),
    ('{"msgType": 1, "data": {"roomId": 987654}}', "not_found"),
    ('{"msgType": 7, "data": {"roomId": ROOM, "afterId": -1}}', "validation"),
]


async def test_each_bad_frame_gets_an_error_frame_and_the_connection_stays_open(
    sqlite_server: ServerThread, api: httpx.AsyncClient
) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(sqlite_server.url, token) as c:
        for raw, code in BAD_FRAMES:
            # Enter once the not-in-room cases are done.
            text = raw.replace("ROOM", str(room["id"])).replace("CONTENT4001", "y" * 4001)
            if code == "validation" and '"msgType": 2' in raw:
                await c.enter(room["id"])
            payload = json.loads(text) if text.startswith("{") and "ud800" not in text else None
            if isinstance(payload, dict):
                payload["requestId"] = "req-7"
                text = json.dumps(payload)
            await c.ws.send(text)
            error = await c.expect(MsgType.ERROR)
            assert error.data["code"] == code, (raw, error)
            assert error.data["message"]
            if isinstance(payload, dict) and code != "unknown_type":
                assert error.request_id == "req-7", raw
        # Still open and working, and nothing was stored.
        await c.enter(room["id"])
        await c.say(room["id"], "still here")
    history = await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(token))
    assert [m["content"] for m in history.json()] == ["still here"]


async def test_a_4000_character_message_is_fine_and_4001_is_not(
    sqlite_server: ServerThread, api: httpx.AsyncClient
) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(sqlite_server.url, token) as c:
        await c.enter(room["id"])
        ack = await c.say(room["id"], "字" * 4000)
        assert ack.data["message"]["content"] == "字" * 4000
        await c.send(MsgType.SEND, {"roomId": room["id"], "content": "字" * 4001, "clientMsgId": "long"}, "r")
        error = await c.expect(MsgType.ERROR)
        assert error.data["code"] == "validation"
        assert error.data["clientMsgId"] == "long"


async def test_frames_over_64_kib_are_refused_but_the_connection_lives(
    sqlite_server: ServerThread, api: httpx.AsyncClient
) -> None:
    token, _ = await register_and_login(api)
    async with chat_client(sqlite_server.url, token) as c:
        await c.ws.send(json.dumps({"msgType": 2, "data": {"roomId": 1, "content": "x" * MAX_FRAME_BYTES}}))
        error = await c.expect(MsgType.ERROR)
        assert error.data["code"] == "frame_too_large"
        await c.send(MsgType.SYNC, {"roomId": 424242, "afterId": 0})
        assert (await c.expect(MsgType.ERROR)).data["code"] == "not_found"


async def drain(client: ChatClient) -> None:
    while True:
        await client.next()


async def test_a_flood_of_bad_frames_is_abuse_and_closes_the_connection(
    sqlite_server: ServerThread, api: httpx.AsyncClient
) -> None:
    token, _ = await register_and_login(api)
    async with chat_client(sqlite_server.url, token) as c:
        for _ in range(60):
            await c.ws.send("garbage")
        with pytest.raises(ConnectionClosed) as closed:
            await drain(c)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        # The server itself is fine.
        assert (await api.get("/api/health")).status_code == 200


async def test_tokens_in_websocket_urls_never_reach_the_log(
    sqlite_server: ServerThread, api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token, _ = await register_and_login(api)
    caplog.set_level("DEBUG")
    async with chat_client(sqlite_server.url, token, via="query") as c:
        await c.send(MsgType.SYNC, {"roomId": 1, "afterId": 0})
        await c.expect(MsgType.ERROR)
    server_loggers = ("uvicorn", "gochat", "fastapi", "starlette")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(server_loggers))
    assert "/ws?token=***" in logged
    assert token not in logged


@pytest.mark.allow_logged_errors
async def test_storage_failing_at_the_handshake_refuses_with_503_and_a_reason(
    sqlite_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When storage cannot say whose token it is, the WebSocket is refused as REST would answer."""
    ctx = sqlite_server.context
    assert ctx is not None

    class StorageDown:
        def begin(self) -> None:
            raise OperationalError("SELECT ... FROM sessions", {}, Exception("disk I/O error"))

    # The driver fails under the storage layer, which must turn it into the domain's error.
    monkeypatch.setattr(ctx.database, "sessions", StorageDown())
    with pytest.raises(InvalidStatus) as refused:
        async with chat_client(sqlite_server.url, "any-token"):
            pass
    assert refused.value.response.status_code == 503
    body = json.loads(refused.value.response.body)
    assert body["error"] == "unavailable"
    assert body["message"]


async def test_a_server_shutting_down_refuses_a_handshake_with_503_not_401(
    sqlite_server: ServerThread, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client reconnecting while the server stops keeps its login: 401 would tell it the token
    is gone (the desktop then logs its person out); 503 says come back shortly."""
    token, _ = await register_and_login(api)
    ctx = sqlite_server.context
    assert ctx is not None
    monkeypatch.setattr(ctx, "closing", True)
    with pytest.raises(InvalidStatus) as refused:
        async with chat_client(sqlite_server.url, token):
            pass
    assert refused.value.response.status_code == 503
    assert json.loads(refused.value.response.body)["error"] == "unavailable"


@pytest.mark.unthrottled_messages
async def test_members_leaving_in_the_middle_of_a_burst_cost_the_room_nothing(
    sqlite_server: ServerThread, api: httpx.AsyncClient
) -> None:
    """Members close (or vanish) while the room's messages are being written to them: the
    server stops writing to each the moment its close arrives, and the rest get every message."""
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    leaver_tokens = [(await register_and_login(api))[0] for _ in range(10)]
    burst = 300
    async with contextlib.AsyncExitStack() as stack:
        talker = await stack.enter_async_context(chat_client(sqlite_server.url, token))
        reader = await stack.enter_async_context(chat_client(sqlite_server.url, token))
        await talker.enter(room["id"])
        await reader.enter(room["id"])
        leavers = [await stack.enter_async_context(chat_client(sqlite_server.url, t)) for t in leaver_tokens]
        for leaver in leavers:
            await leaver.enter(room["id"])
        for i in range(burst):
            await talker.send(MsgType.SEND, {"roomId": room["id"], "content": f"b{i}", "clientMsgId": f"b{i}"})
            if i % 30 == 15:
                leaver = leavers.pop()
                if len(leavers) % 2:
                    # A close frame while frames to it are still queued; not reading, it would
                    # not see the server's answer, so it drops the connection soon after.
                    leaver.ws.close_timeout = 0.05
                    await leaver.ws.close()
                else:
                    leaver.ws.transport.abort()  # the connection drops without a word
        contents = [(await reader.expect(MsgType.SEND)).data["content"] for _ in range(burst)]
        assert contents == [f"b{i}" for i in range(burst)]
        for i in range(burst):
            await talker.expect(MsgType.ACK, lambda f, i=i: f.data.get("clientMsgId") == f"b{i}")  # type: ignore[misc]
