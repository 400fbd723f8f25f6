"""Test clients that speak only the public API: httpx for REST, websockets for /ws."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from gochat.protocol import MsgType

PASSWORD = "correct horse 42"


@dataclass(frozen=True, slots=True)
class Envelope:
    """A server frame as it is on the wire: its msgType, its data as plain JSON, its requestId.
    These tests check the wire itself, so they read frames without the protocol's classes."""

    msg_type: int
    data: dict[str, Any]
    request_id: str | None = None


def decode_envelope(text: str | bytes) -> Envelope:
    envelope = json.loads(text)
    assert isinstance(envelope, dict), text
    assert isinstance(envelope.get("msgType"), int), text
    data = envelope.get("data")
    assert isinstance(data, dict), text
    request_id = envelope.get("requestId")
    return Envelope(envelope["msgType"], data, request_id if isinstance(request_id, str) else None)


REPOSITORY = Path(__file__).resolve().parents[1]


def run_bench(folder: Path, *arguments: str) -> tuple[dict[str, Any], str]:
    """``python -m bench ARGUMENTS`` from the repository's root (the bench is not in the package),
    which must succeed: its JSON report and its output."""
    output = folder / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", *arguments, "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPOSITORY,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(output.read_text())
    return report, result.stdout


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def login(api: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await api.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def register_and_login(api: httpx.AsyncClient, username: str | None = None) -> tuple[str, dict[str, Any]]:
    name = username or unique_name()
    response = await api.post("/api/register", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    token = await login(api, name)
    return token, response.json()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_room(api: httpx.AsyncClient, token: str, name: str | None = None) -> dict[str, Any]:
    response = await api.post("/api/rooms", json={"name": name or unique_name("room ")}, headers=auth(token))
    assert response.status_code == 201, response.text
    room: dict[str, Any] = response.json()
    return room


class ChatClient:
    """A /ws connection with helpers to send frames and wait for particular ones."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.skipped: list[Envelope] = []

    async def send(self, msg_type: int, data: dict[str, Any], request_id: str | None = None) -> None:
        envelope: dict[str, Any] = {"msgType": msg_type, "data": data}
        if request_id is not None:
            envelope["requestId"] = request_id
        await self.ws.send(json.dumps(envelope, ensure_ascii=False))

    async def next(self, timeout: float = 10.0) -> Envelope:
        """The next frame off the socket (ignoring ``skipped``); ``timeout`` is scaled."""
        raw = await asyncio.wait_for(self.ws.recv(), scaled(timeout))
        return decode_envelope(raw)

    async def expect(
        self, msg_type: int, where: Callable[[Envelope], bool] | None = None, timeout: float = 10.0
    ) -> Envelope:
        """The oldest unclaimed frame of this type (matching ``where``), waiting if need be.

        Frames passed over while waiting stay in ``skipped`` for later calls, in arrival order.
        """

        def wanted(frame: Envelope) -> bool:
            return frame.msg_type == msg_type and (where is None or where(frame))

        for index, frame in enumerate(self.skipped):
            if wanted(frame):
                return self.skipped.pop(index)
        async with asyncio.timeout(scaled(timeout)):
            while True:
                frame = await self.next(timeout)
                if wanted(frame):
                    return frame
                self.skipped.append(frame)

    async def silent(self, seconds: float = 0.3) -> None:
        """Assert nothing arrives for a while."""
        try:
            frame = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame!r}")

    async def enter(self, room_id: int, **extra: Any) -> Envelope:
        request_id = uuid.uuid4().hex
        await self.send(MsgType.ENTER, {"roomId": room_id, **extra}, request_id)
        return await self.expect(MsgType.ROOM_STATE, lambda f: f.request_id == request_id)

    async def say(self, room_id: int, content: str, client_msg_id: str | None = None) -> Envelope:
        """Send a message and wait for its acknowledgement."""
        cid = client_msg_id or uuid.uuid4().hex
        await self.send(MsgType.SEND, {"roomId": room_id, "content": content, "clientMsgId": cid})
        return await self.expect(MsgType.ACK, lambda f: f.data.get("clientMsgId") == cid)


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/ws"


@asynccontextmanager
async def chat_client(base_url: str, token: str, *, via: str = "header") -> AsyncIterator[ChatClient]:
    if via == "header":
        async with connect(ws_url(base_url), additional_headers=auth(token), max_size=None) as ws:
            yield ChatClient(ws)
    else:
        async with connect(f"{ws_url(base_url)}?token={token}", max_size=None) as ws:
            yield ChatClient(ws)


# Every wait in the tests is multiplied by this (websockets' MS): GOCHAT_TEST_TIMEOUT_FACTOR=3
# on a slow or loaded machine. It never shortens a wait below what the test names.
TIMEOUT_FACTOR = max(float(os.environ.get("GOCHAT_TEST_TIMEOUT_FACTOR", "1")), 1.0)


def scaled(seconds: float) -> float:
    """A timeout in seconds, scaled for this machine."""
    return seconds * TIMEOUT_FACTOR


def scaled_ms(milliseconds: int) -> int:
    """A timeout in milliseconds (Qt's, qtbot's), scaled for this machine."""
    return int(milliseconds * TIMEOUT_FACTOR)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "the condition") -> None:
    """Poll ``condition`` (another process or thread's state, which has no event to wait on)
    until it holds; fail after ``timeout`` seconds, scaled."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come within {scaled(timeout):.1f} s")
        time.sleep(0.02)


async def eventually(
    condition: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "the condition"
) -> None:
    """``wait_until`` for a condition that must be awaited (a request to a server)."""
    deadline = time.monotonic() + scaled(timeout)
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come within {scaled(timeout):.1f} s")
        await asyncio.sleep(0.02)
