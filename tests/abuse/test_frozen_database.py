"""A frozen database (issue 12, "a hung database hangs everything"): a private MariaDB the test
owns is stopped with SIGSTOP under a real server (ServerThread, real sockets, default timeouts).
Health answers `down` within 2 s, a SEND gets `unavailable` within 5 s, login and the room list
503; after SIGCONT the same server recovers by itself, and a message sent again with its
clientMsgId is stored once."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pymysql
import pytest

from gochat.protocol import MsgType
from gochat.server.config import Settings
from tests.conftest import running_server
from tests.helpers import (
    PASSWORD,
    Envelope,
    auth,
    chat_client,
    create_room,
    eventually,
    register_and_login,
    scaled,
    wait_until,
)

MARIADBD = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
INSTALL_DB = shutil.which("mariadb-install-db")

T = TypeVar("T")


@dataclass(frozen=True)
class PrivateMariaDB:
    process: subprocess.Popen[bytes]
    url: str

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=1).close()
    except pymysql.err.MySQLError:
        return False
    return True


@pytest.fixture(scope="module")
def private_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    """A MariaDB server of this module's own (its data directory, port and socket), so stopping it
    stops nobody else's tests. Start-up costs a second or two, once per module."""
    if MARIADBD is None or INSTALL_DB is None:
        pytest.skip("mariadbd and mariadb-install-db are not installed (Debian: apt install mariadb-server)")
    folder: Path = tmp_path_factory.mktemp("mariadb")
    data = folder / "data"
    subprocess.run(
        [INSTALL_DB, "--no-defaults", f"--datadir={data}", "--skip-test-db"],
        check=True,
        capture_output=True,
        timeout=scaled(60),
    )
    port = _free_port()
    command = [
        MARIADBD,
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={folder / 'mariadb.sock'}",
        f"--pid-file={folder / 'mariadb.pid'}",
        f"--log-error={folder / 'error.log'}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--skip-grant-tables",  # root with no password, on loopback only, for a throwaway server
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=16M",
    ]
    if os.geteuid() == 0:
        command.append("--user=root")  # mariadbd refuses to run as root unless told to
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: process.poll() is not None or _answers(port), 30, "the private MariaDB")
        assert process.poll() is None, (folder / "error.log").read_text()
        with pymysql.connect(host="127.0.0.1", port=port, user="root") as admin, admin.cursor() as cursor:
            cursor.execute("CREATE DATABASE gochat CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        yield PrivateMariaDB(process, f"mysql+pymysql://root@127.0.0.1:{port}/gochat")
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            process.terminate()
            try:
                process.wait(timeout=scaled(30))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _timed(started: float) -> float:
    return time.monotonic() - started


@pytest.mark.allow_logged_errors  # every request the frozen database fails is logged, rightly
async def test_a_frozen_database_is_answered_unavailable_and_recovered_from(private_mariadb: PrivateMariaDB) -> None:
    with running_server(Settings(host="127.0.0.1", port=0, database_url=private_mariadb.url)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=scaled(15)) as api:
            token, alice = await register_and_login(api)
            room = await create_room(api, token)
            async with chat_client(server.url, token) as chat:
                await chat.enter(room["id"])
                await chat.say(room["id"], "before the freeze")

                private_mariadb.freeze()
                try:
                    started = time.monotonic()
                    health = await api.get("/api/health")
                    assert _timed(started) < scaled(2)
                    assert health.status_code == 503
                    assert health.json()["status"] == "down"
                    assert health.json()["storage"] == {"backend": "mysql", "ok": False, "error": "TimeoutError"}

                    async def send_in_the_freeze() -> Envelope:
                        frozen = {"roomId": room["id"], "content": "in the freeze", "clientMsgId": "f1"}
                        await chat.send(MsgType.SEND, frozen)
                        return await chat.expect(MsgType.ERROR, lambda f: f.data.get("clientMsgId") == "f1")

                    async def timed(request: Awaitable[T]) -> tuple[T, float]:
                        started = time.monotonic()
                        return await request, _timed(started)

                    # At once, as a room full of people would: each is answered in its own time.
                    (error, sent_in), (login, login_in), (rooms, rooms_in) = await asyncio.gather(
                        timed(send_in_the_freeze()),
                        timed(api.post("/api/login", json={"username": alice["username"], "password": PASSWORD})),
                        timed(api.get("/api/rooms", headers=auth(token))),
                    )
                    assert sent_in < scaled(5)
                    assert (error.data["code"], error.data["msgType"]) == ("unavailable", MsgType.SEND)
                    assert login_in < scaled(5)
                    assert (login.status_code, login.json()["error"]) == (503, "unavailable")
                    assert rooms_in < scaled(5)
                    assert (rooms.status_code, rooms.json()["error"]) == (503, "unavailable")
                finally:
                    private_mariadb.thaw()

                async def healthy() -> bool:
                    return (await api.get("/api/health")).status_code == 200

                await eventually(healthy, 20, "health after the database came back")
                # The same connection, the same server: sending again with the same clientMsgId
                # stores the message once, whether or not the frozen database had taken it.
                ack = await chat.say(room["id"], "in the freeze", "f1")
                assert ack.data["message"]["content"] == "in the freeze"
                await chat.say(room["id"], "after the freeze")
            newer = await api.post("/api/login", json={"username": alice["username"], "password": PASSWORD})
            assert newer.status_code == 200
            history = await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(token))
            contents = [m["content"] for m in history.json()]
            assert contents == ["before the freeze", "in the freeze", "after the freeze"]
