"""Oversized request bodies (issue 12: one chunked 400 MB POST to /api/register took the server
from 90 to 1,230 MiB): refused with 413 at once, never buffered."""

from __future__ import annotations

import dataclasses
import select
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from gochat.server.config import DEFAULT_MAX_BODY_BYTES, Settings
from tests.abuse.headless import headless_server
from tests.conftest import in_process_api
from tests.helpers import PASSWORD, scaled, unique_name

LIMIT = DEFAULT_MAX_BODY_BYTES
CHUNK = 16 * 1024


def _refused_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "too_large"
    assert str(LIMIT) in response.json()["message"]
    assert response.headers["connection"] == "close"


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(settings: Settings) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += CHUNK
            yield b"x" * CHUNK

    async with in_process_api(settings) as api:
        headers = {"content-length": str(100 * CHUNK), "content-type": "application/json"}
        response = await api.post("/api/register", content=body(), headers=headers)
    _refused_too_large(response)
    assert sent == 0


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(settings: Settings) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:  # no length: httpx sends it chunked
        nonlocal sent
        for _ in range(10_000):  # 160 MB if it were all read
            sent += CHUNK
            yield b"x" * CHUNK

    async with in_process_api(settings) as api:
        response = await api.post("/api/register", content=body(), headers={"content-type": "application/json"})
    _refused_too_large(response)
    assert LIMIT < sent <= LIMIT + CHUNK


async def test_a_body_within_the_limit_reaches_the_route(settings: Settings) -> None:
    name = unique_name()
    padding = "p" * (LIMIT - 200)  # an unknown field: ignored by the route, but read
    async with in_process_api(settings) as api:
        response = await api.post("/api/register", json={"username": name, "password": PASSWORD, "x": padding})
        assert len(response.request.content) <= LIMIT
        assert response.status_code == 201, response.text
        chunked = await api.post(
            "/api/login",
            content=_chunks(f'{{"username":"{name}","password":"{PASSWORD}"}}'),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 200, chunked.text


async def _chunks(text: str) -> AsyncIterator[bytes]:
    for start in range(0, len(text), 7):
        yield text[start : start + 7].encode()


async def test_the_limit_is_a_setting(settings: Settings) -> None:
    async with in_process_api(dataclasses.replace(settings, max_body_bytes=100)) as api:
        response = await api.post("/api/login", json={"username": "someone", "password": "p" * 100})
    assert response.status_code == 413, response.text


def _post_chunked(port: int, total: int) -> tuple[int, bytes]:
    """Stream a chunked POST /api/register of ``total`` bytes until the server answers or hangs
    up: how much was sent, and the answer."""
    chunk = b"x" * (64 * 1024)
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(10)) as sock:
        sock.sendall(
            b"POST /api/register HTTP/1.1\r\nHost: gochat\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered (or closed): stop sending
                sock.sendall(framed)
                sent += len(chunk)
            else:
                sock.sendall(b"0\r\n\r\n")  # the whole body was sent: end it
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    return sent, answer


def test_a_400_mb_chunked_register_is_refused_after_the_limit_and_the_server_does_not_grow(tmp_path: Path) -> None:
    with headless_server(tmp_path) as server:
        server.reset_peak()
        before = server.status("VmRSS")
        sent, answer = _post_chunked(server.port, 400 * 1024 * 1024)
        peak = server.status("VmHWM")
        assert server.process.poll() is None
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"error":"too_large"' in answer.replace(b" ", b"")
    # What the client got into the kernel's buffers before the answer came: far below 400 MB.
    assert sent < 32 * 1024 * 1024, f"{sent / 2**20:.0f} MiB sent before the server refused"
    assert peak - before < 20 * 1024, f"the server grew by {(peak - before) / 1024:.0f} MiB"
