"""``python -m gochat.server`` as an admin runs it: flags, start-up line, SIGTERM, port taken."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from gochat.protocol import MsgType
from gochat.server.config import Settings, settings_from_args
from gochat.server.embedded import free_port
from gochat.server.runner import describe
from tests.helpers import chat_client, create_room, register_and_login, scaled


def start_server(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gochat.server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_until_healthy(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


@pytest.fixture
def headless(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    port = free_port()
    database = tmp_path / "headless.sqlite3"
    # The env var says one port, the flag another: the flag wins.
    process = start_server(
        "--port", str(port), env={"GOCHAT_PORT": "1", "GOCHAT_DATABASE_URL": f"sqlite:///{database}"}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield process, url, database
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def test_help_explains_every_flag_and_its_env_var() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gochat.server", "--help"], capture_output=True, text=True, check=True
    )
    for flag, env in [
        ("--host", "GOCHAT_HOST"),
        ("--port", "GOCHAT_PORT"),
        ("--database-url", "GOCHAT_DATABASE_URL"),
        ("--redis-url", "GOCHAT_REDIS_URL"),
        ("--log-level", "GOCHAT_LOG_LEVEL"),
        ("--name", "GOCHAT_SERVER_NAME"),
        ("--announce", "GOCHAT_ANNOUNCE"),
        ("--certfile", "GOCHAT_CERTFILE"),
        ("--keyfile", "GOCHAT_KEYFILE"),
        ("--token-ttl", "GOCHAT_TOKEN_TTL"),
        ("--api-docs", "GOCHAT_API_DOCS"),
    ]:
        assert flag in result.stdout
        assert env in result.stdout


def test_flags_win_over_environment() -> None:
    env = {"GOCHAT_PORT": "9000", "GOCHAT_HOST": "0.0.0.0", "GOCHAT_REDIS_URL": "redis://env"}
    settings = settings_from_args(["--port", "9100"], env)
    assert (settings.port, settings.host, settings.redis_url) == (9100, "0.0.0.0", "redis://env")


def test_startup_line_masks_passwords() -> None:
    settings = Settings(database_url="mysql+pymysql://chat:s3cret@db/chat", redis_url="redis://:hunter2@cache:6379/0")
    line = describe(settings, 8080)
    assert "s3cret" not in line
    assert "hunter2" not in line
    assert "http://127.0.0.1:8080" in line
    assert "mysql+pymysql://chat:***@db/chat" in line


def test_sigterm_closes_with_1001_and_loses_no_acknowledged_message(
    headless: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, url, database = headless

    async def chat_until_closed() -> tuple[dict[str, int], list[int]]:
        acknowledged: dict[str, int] = {}
        close_codes: list[int] = []
        async with httpx.AsyncClient(base_url=url, timeout=scaled(10)) as api:
            tokens = [(await register_and_login(api))[0] for _ in range(3)]
            room = await create_room(api, tokens[0])

        async def talker(index: int, token: str) -> None:
            async with chat_client(url, token) as c:
                await c.enter(room["id"])
                sent = 0

                async def send_forever() -> None:
                    nonlocal sent
                    while True:
                        await c.send(
                            MsgType.SEND,
                            {"roomId": room["id"], "content": f"t{index}-{sent}", "clientMsgId": f"t{index}-{sent}"},
                        )
                        sent += 1
                        await asyncio.sleep(0.002)

                sending = asyncio.create_task(send_forever())
                try:
                    while True:
                        frame = await c.next(timeout=scaled(30))
                        if frame.msg_type == MsgType.ACK:
                            acknowledged[frame.data["clientMsgId"]] = frame.data["message"]["id"]
                except ConnectionClosed as closed:
                    close_codes.append(closed.rcvd.code if closed.rcvd is not None else -1)
                finally:
                    sending.cancel()

        async def terminate_soon() -> None:
            while len(acknowledged) < 150:
                await asyncio.sleep(0.05)
            process.send_signal(signal.SIGTERM)

        await asyncio.gather(*(talker(i, t) for i, t in enumerate(tokens)), terminate_soon())
        return acknowledged, close_codes

    acknowledged, close_codes = asyncio.run(chat_until_closed())
    assert process.wait(30) == 0
    output = process.stdout.read() if process.stdout else ""
    assert "gochat serving http://127.0.0.1:" in output
    assert close_codes == [1001, 1001, 1001]
    with sqlite3.connect(database) as db:
        stored = dict(db.execute("SELECT client_msg_id, id FROM messages").fetchall())
    missing = {k: v for k, v in acknowledged.items() if stored.get(k) != v}
    assert not missing, f"{len(missing)} acknowledged messages were lost"
    assert len(acknowledged) >= 150


def test_a_taken_port_is_a_clear_error(headless: tuple[subprocess.Popen[str], str, Path]) -> None:
    _, url, _ = headless
    port = url.rsplit(":", 1)[1]
    second = start_server("--port", port, "--database-url", "sqlite:///:memory:")
    output, _ = second.communicate(timeout=30)
    assert second.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--port", "http"], {}, "--port"),
        ([], {"GOCHAT_PORT": "99999"}, "--port"),
        ([], {"GOCHAT_LOG_LEVEL": "chatty"}, "GOCHAT_LOG_LEVEL"),
    ],
)
def test_bad_settings_are_usage_errors_not_tracebacks(
    argv: list[str], env: dict[str, str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: the server's main() reads its settings first, with exactly this call; a process
    # exiting 2 with one line and no traceback is held by test_a_taken_port_is_a_clear_error.
    with pytest.raises(SystemExit) as exited:
        settings_from_args(argv, {**os.environ, **env})
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert expected in stderr
    assert "Traceback" not in stderr
