"""One client that stops reading never holds up the room: it is cut off at its backlog limit
(close 1013) while everyone else gets every message, and it catches up with SYNC.

The server runs in its own process, so its CPU is not shared with the five clients here, and the
readers only scan frames (no JSON parsing) so that they are never the slow ones."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gochat.server.embedded import free_port
from tests.helpers import auth, chat_client, create_room, register_and_login, scaled, ws_url
from tests.server.test_headless import start_server, wait_until_healthy

# Above the writer's largest batch (1000), which a reading client may receive all at once;
# far below what a client that stopped reading piles up.
BACKLOG = 3000
MESSAGES = 6000
TEXT = "x" * 3000  # large frames fill the slow client's socket buffers sooner
MESSAGE_ID = re.compile(r'^\{"msgType":2,"data":\{"id":(\d+),')


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = start_server(
        "--port",
        str(port),
        "--max-client-backlog",
        str(BACKLOG),
        "--database-url",
        f"sqlite:///{tmp_path}/slow.sqlite3",
        # A load far beyond what people type: it is about backlogs, not the message limit.
        "--message-rate",
        "0",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


async def read_until_closed(ws: ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), scaled(30))


async def enter(ws: ClientConnection, room_id: int) -> None:
    await ws.send(json.dumps({"msgType": 1, "data": {"roomId": room_id}}))
    while '"msgType":6' not in str(await ws.recv()):
        pass


async def test_a_client_that_stops_reading_is_cut_off_and_the_room_is_not(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url, timeout=scaled(30)) as api:
        sender_token, _ = await register_and_login(api)
        slow_token, _ = await register_and_login(api)
        fast_tokens = [(await register_and_login(api))[0] for _ in range(3)]
        room = await create_room(api, sender_token)

    # The slow client enters, then never reads again: with a small receive window and a short
    # library queue, the server's sends to it back up.
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", int(server_url.rsplit(":", 1)[1])))
    slow = await connect(ws_url(server_url), sock=raw, additional_headers=auth(slow_token), max_queue=4, max_size=None)
    await enter(slow, room["id"])

    ready = asyncio.Semaphore(0)

    async def fast_reader(token: str) -> list[int]:
        ids: list[int] = []
        async with connect(ws_url(server_url), additional_headers=auth(token), max_size=None) as ws:
            await enter(ws, room["id"])
            ready.release()
            while len(ids) < MESSAGES:
                found = MESSAGE_ID.match(str(await asyncio.wait_for(ws.recv(), scaled(60))))
                if found:
                    ids.append(int(found.group(1)))
        return ids

    readers = [asyncio.create_task(fast_reader(token)) for token in fast_tokens]
    for _ in fast_tokens:
        await ready.acquire()
    async with connect(ws_url(server_url), additional_headers=auth(sender_token), max_size=None) as sender:
        await enter(sender, room["id"])

        async def count_acks() -> int:
            acks = 0
            while acks < MESSAGES:
                if str(await asyncio.wait_for(sender.recv(), scaled(60))).startswith('{"msgType":4'):
                    acks += 1
            return acks

        acknowledging = asyncio.create_task(count_acks())
        for i in range(MESSAGES):
            frame = {"msgType": 2, "data": {"roomId": room["id"], "content": f"{i} {TEXT}", "clientMsgId": f"m{i}"}}
            await sender.send(json.dumps(frame))
            if i % 25 == 0:
                await asyncio.sleep(0)
        results = await asyncio.gather(*readers)
        assert await acknowledging == MESSAGES

    # Everyone who reads got every message, once, in order.
    for ids in results:
        assert len(ids) == MESSAGES
        assert ids == sorted(set(ids))
    # The one who did not read was closed with 1013 ("try again later") instead of being waited for.
    with pytest.raises(ConnectionClosed) as closed:
        await read_until_closed(slow)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    # And it catches up from its last id when it returns.
    async with chat_client(server_url, slow_token) as back:
        last_seen, got = 0, []
        while True:
            await back.send(7, {"roomId": room["id"], "afterId": last_seen})
            page = await back.expect(7)
            got.extend(m["id"] for m in page.data["messages"])
            if not page.data["hasNewer"]:
                break
            last_seen = got[-1]
    assert got == results[0]


async def test_a_client_that_sends_faster_than_it_reads_is_slowed_down_not_cut_off(tmp_path: Path) -> None:
    # Its own ACKs and broadcasts pile up while it only sends: the server stops reading its
    # frames until it reads again, instead of closing it for a backlog of its own making.
    port = free_port()
    process = start_server(
        "--port",
        str(port),
        "--max-client-backlog",
        "100",
        "--database-url",
        f"sqlite:///{tmp_path}/s.sqlite3",
        "--message-rate",
        "0",  # a flood on purpose: it is about flow control, not the message limit
    )
    url = f"http://127.0.0.1:{port}"
    count = 600
    try:
        wait_until_healthy(url, process)
        async with httpx.AsyncClient(base_url=url, timeout=scaled(30)) as api:
            token, _ = await register_and_login(api)
            room = await create_room(api, token)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", port))
        async with connect(ws_url(url), sock=raw, additional_headers=auth(token), max_queue=4, max_size=None) as ws:
            await enter(ws, room["id"])

            async def send_all() -> None:
                for i in range(count):
                    frame = {
                        "msgType": 2,
                        "data": {"roomId": room["id"], "content": f"{i} {TEXT}", "clientMsgId": f"p{i}"},
                    }
                    await ws.send(json.dumps(frame))

            sending = asyncio.create_task(send_all())
            await asyncio.sleep(3)  # not reading meanwhile: far more than 100 frames are owed to us
            acked: list[int] = []
            while len(acked) < count:
                frame = json.loads(await asyncio.wait_for(ws.recv(), scaled(30)))
                assert frame["msgType"] in (2, 4), frame
                if frame["msgType"] == 4:
                    acked.append(frame["data"]["message"]["id"])
            await sending
        assert acked == sorted(set(acked))
    finally:
        process.terminate()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()
