"""The protocol is JSON in text frames: a binary frame is refused with an error frame and the
connection lives; a text frame that is not UTF-8 ends the connection with 1007, quietly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from gochat.protocol import CloseCode, MsgType
from gochat.server.runner import ServerThread
from tests.helpers import auth, chat_client, create_room, register_and_login, scaled


@pytest.fixture
async def api(sqlite_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sqlite_server.url, timeout=scaled(10)) as client:
        yield client


async def test_a_binary_frame_gets_a_bad_frame_error_and_nothing_is_stored(
    sqlite_server: ServerThread, api: httpx.AsyncClient
) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(sqlite_server.url, token) as c:
        await c.enter(room["id"])
        # A well-formed SEND, but in a binary frame: today's server would store it.
        frame = {"msgType": MsgType.SEND, "data": {"roomId": room["id"], "content": "in binary"}, "requestId": "b1"}
        await c.ws.send(json.dumps(frame).encode())
        error = await c.expect(MsgType.ERROR)
        assert error.data["code"] == "bad_frame"
        assert "text" in error.data["message"]
        # The connection stays open and serves the next text frame.
        await c.say(room["id"], "in text")
    history = await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(token))
    assert [m["content"] for m in history.json()] == ["in text"]


async def test_invalid_utf8_in_a_text_frame_closes_with_1007_and_logs_no_error(
    sqlite_server: ServerThread, api: httpx.AsyncClient
) -> None:
    # The log guard (tests/conftest.py) fails this test on any WARNING or ERROR record, such as
    # the traceback uvicorn logs for this frame.
    token, _ = await register_and_login(api)
    async with chat_client(sqlite_server.url, token) as c:
        await c.ws.send(b'{"msgType": 2, "data": {"content": "\xff\xfe"}}', text=True)
        with pytest.raises(ConnectionClosed) as closed:
            await c.next()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.INVALID_DATA == 1007
    # The server is fine and takes the next connection.
    async with chat_client(sqlite_server.url, token) as c:
        room = await create_room(api, token)
        await c.enter(room["id"])
