"""Idle sockets, half-sent requests and connection floods (issue 12: 3,000 of each were held
forever; 20,000 idle sockets used every file descriptor and /api/health failed for everyone).

Each flood comes from many loopback addresses (127.1.x.y: Linux answers on all of 127/8), so the
per-address cap alone cannot be what stops it; the health check and the chat come from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gochat.protocol import MsgType
from gochat.server.config import Settings
from gochat.server.connections import ConnectionLedger, ConnectionTicket
from gochat.server.runner import ServerThread
from tests.abuse.headless import headless_server
from tests.conftest import running_server
from tests.helpers import chat_client, create_room, eventually, register_and_login, scaled


@pytest.fixture(autouse=True, scope="module")
def descriptors_for_the_flood() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def flood_address(index: int) -> str:
    return f"127.1.{index // 200}.{index % 200 + 1}"


def open_socket(port: int, source: str = "127.0.0.1", send: bytes = b"") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(scaled(10))
    sock.connect(("127.0.0.1", port))
    if send:
        sock.sendall(send)
    return sock


def flood(port: int, count: int, per_address: int, send: bytes = b"") -> list[socket.socket]:
    return [open_socket(port, flood_address(n // per_address), send) for n in range(count)]


def is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed it (without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def wait_all_closed(sockets: list[socket.socket], timeout: float) -> float:
    """Seconds until the server has closed every one of ``sockets``; fail after ``timeout``."""
    started = time.monotonic()
    deadline = started + scaled(timeout)
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        remaining = len(sockets)
        while remaining:
            left = deadline - time.monotonic()
            assert left > 0, f"{remaining} of {len(sockets)} sockets still open after {scaled(timeout):.0f} s"
            for key, _ in selector.select(min(left, 1.0)):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if is_closed(sock):
                    selector.unregister(sock)
                    remaining -= 1
    return time.monotonic() - started


@contextmanager
def closing_all(sockets: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def health(server: ServerThread) -> int:
    return httpx.get(f"{server.url}/api/health", timeout=scaled(5)).status_code


# The ledger by itself: who is refused and who is closed to make room.


def test_an_address_over_its_share_is_refused() -> None:
    ledger = ConnectionLedger(max_total=100, max_per_address=2, max_pending=100)
    assert ledger.admit("10.0.0.1", lambda: None) is not None
    assert ledger.admit("10.0.0.1", lambda: None) is not None
    assert ledger.admit("10.0.0.1", lambda: None) is None
    assert ledger.admit("10.0.0.2", lambda: None) is not None


def test_a_full_pending_budget_closes_its_oldest_for_a_newcomer_but_never_a_proven_connection() -> None:
    closed: list[str] = []
    ledger = ConnectionLedger(max_total=4, max_per_address=0, max_pending=2)

    def admit(name: str) -> ConnectionTicket | None:
        return ledger.admit(name, lambda: closed.append(name))

    websocket = admit("websocket")
    assert websocket is not None
    websocket.proven()
    admit("idle 1")
    admit("idle 2")
    admit("idle 3")  # the pending budget is full: the oldest pending goes
    assert closed == ["idle 1"]
    health_check = admit("health")
    assert health_check is not None
    health_check.proven()
    assert closed == ["idle 1", "idle 2"]
    assert (ledger.total, len(ledger.pending)) == (3, 1)
    late = admit("late")
    assert late is not None
    assert closed == ["idle 1", "idle 2"]
    # Full: what is pending goes first...
    later = admit("later")
    assert later is not None
    assert closed == ["idle 1", "idle 2", "idle 3"]
    assert ledger.total == 4
    # ...and with nothing pending, a newcomer is refused.
    late.proven()
    later.proven()
    assert admit("refused") is None
    assert closed == ["idle 1", "idle 2", "idle 3"]


def test_a_released_ticket_frees_its_place() -> None:
    ledger = ConnectionLedger(max_total=1, max_per_address=1, max_pending=1)
    ticket = ledger.admit("a", lambda: None)
    assert ticket is not None
    ticket.proven()
    assert ledger.admit("a", lambda: None) is None
    ticket.release()
    ticket.release()  # twice is once
    assert (ledger.total, dict(ledger.per_address)) == (0, {})
    assert ledger.admit("a", lambda: None) is not None


# A real server.


def test_a_connection_that_sends_no_request_is_closed_after_the_header_timeout(sqlite_settings: Settings) -> None:
    with running_server(dataclasses.replace(sqlite_settings, header_timeout=1.0)) as server:
        assert server.port is not None
        with closing_all([open_socket(server.port)]) as idle:
            assert wait_all_closed(idle, timeout=5) > 0.8


def test_a_request_trickled_a_byte_at_a_time_is_closed_after_the_header_timeout(sqlite_settings: Settings) -> None:
    with running_server(dataclasses.replace(sqlite_settings, header_timeout=1.0)) as server:
        assert server.port is not None
        request = b"GET /api/health HTTP/1.1\r\nHost: gochat\r\nX-Slow: " + b"a" * 100
        with closing_all([open_socket(server.port)]) as (sock,):
            started = time.monotonic()
            closed = False
            for byte in request:  # slowloris: each byte restarts uvicorn's own keep-alive timer
                try:
                    sock.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                if is_closed(sock):
                    closed = True
                    break
                time.sleep(0.05)
            assert closed, "the half-sent request was held"
            assert time.monotonic() - started < scaled(4)


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(sqlite_settings: Settings) -> None:
    with running_server(dataclasses.replace(sqlite_settings, keep_alive_timeout=1, header_timeout=30)) as server:
        assert server.port is not None
        with closing_all([open_socket(server.port, send=b"GET /api/health HTTP/1.1\r\nHost: gochat\r\n\r\n")]) as socks:
            assert socks[0].recv(4096).startswith(b"HTTP/1.1 200 ")
            assert wait_all_closed(socks, timeout=5) < scaled(3)


def test_headers_over_the_limit_are_refused_with_431(sqlite_settings: Settings) -> None:
    with running_server(sqlite_settings) as server:
        assert server.port is not None
        big = b"GET /api/health HTTP/1.1\r\nHost: gochat\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n"
        with closing_all([open_socket(server.port, send=big)]) as (sock,):
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        assert b'"error": "too_large"' in answer


def test_a_body_that_never_arrives_is_answered_408_after_the_body_timeout(sqlite_settings: Settings) -> None:
    with running_server(dataclasses.replace(sqlite_settings, body_timeout=1.0)) as server:
        assert server.port is not None
        half = b"POST /api/login HTTP/1.1\r\nHost: gochat\r\nContent-Length: 100\r\n\r\n{"
        with closing_all([open_socket(server.port, send=half)]) as (sock,):
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]


def test_an_address_over_its_share_is_closed_at_once_and_others_are_served(sqlite_settings: Settings) -> None:
    with running_server(dataclasses.replace(sqlite_settings, max_connections_per_address=5)) as server:
        assert server.port is not None
        with closing_all([open_socket(server.port, source="127.1.0.9") for _ in range(6)]) as socks:
            assert wait_all_closed(socks[5:], timeout=5) < scaled(2)  # the 6th, long before any timeout
            assert not any(is_closed(sock) for sock in socks[:5])
            assert health(server) == 200


async def test_a_flood_of_idle_and_half_sent_sockets_leaves_health_and_chat_served(tmp_path: Path) -> None:
    """The issue's probe: 5,000 idle sockets and 2,000 half-sent requests, from 35 addresses
    (200 each: under the default share of 256), against a server whose pending budget is 1,000.
    While it lasts, a new client's health check is answered every time, the server never holds
    much more than the budget, and a logged-in user chats; then the header timeout closes the rest."""
    budget = 1_000
    flags = ("--header-timeout", "3", "--max-pending-connections", str(budget))
    with headless_server(tmp_path, *flags) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as api:
            (alice, _), (bob, _) = await register_and_login(api), await register_and_login(api)
            room = await create_room(api, alice)
        async with chat_client(server.url, alice) as chat:
            await chat.enter(room["id"])
            baseline = server.open_descriptors()

            async def flood_all() -> list[socket.socket]:
                # Blocking sockets, on a thread: the chat's event loop must not stall meanwhile.
                idle = await asyncio.to_thread(flood, server.port, 5_000, 200)
                half = b"POST /api/register HTTP/1.1\r\nHost: x\r\n"
                return idle + await asyncio.to_thread(flood, server.port, 2_000, 200, half)

            started = time.monotonic()
            flooding = asyncio.create_task(flood_all())
            most_held, health_checks = 0, []
            no_reuse = httpx.Limits(max_keepalive_connections=0)  # each check on a new connection
            async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10), limits=no_reuse) as fresh:
                while not flooding.done():
                    most_held = max(most_held, server.open_descriptors() - baseline)
                    checked = time.monotonic()
                    assert (await fresh.get("/api/health")).status_code == 200
                    health_checks.append(time.monotonic() - checked)
                    await asyncio.sleep(0.1)
            sockets = await flooding
            opened = time.monotonic() - started
            with closing_all(sockets):
                assert most_held <= budget + 50, f"the server held {most_held} connections of the flood"
                assert len(health_checks) >= 3
                # A logged-in user already in a room chats, and one who (re)connects now is let in.
                ack = await chat.say(room["id"], "still here")
                assert ack.data["message"]["content"] == "still here"
                async with chat_client(server.url, bob) as late:
                    await late.enter(room["id"])
                    await late.say(room["id"], "me too")
                    await chat.expect(MsgType.SEND, lambda f: f.data["content"] == "me too")
                # Then the header timeout closes what is left of the flood.
                closing = await asyncio.to_thread(wait_all_closed, sockets, 10)
    print(
        f"7,000 flood sockets opened in {opened:.1f} s; the server held at most {most_held} of them; "
        f"{len(health_checks)} health checks meanwhile, all 200, slowest {max(health_checks):.2f} s; "
        f"every flood socket closed {closing:.1f} s later"
    )


async def test_a_websocket_counts_against_its_address_until_it_closes(sqlite_settings: Settings) -> None:
    with running_server(sqlite_settings) as server:
        assert server.port is not None
        async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as api:
            token, _ = await register_and_login(api)
    # The share is counted as the server runs: restart with a share of 2 and open two WebSockets.
    with running_server(dataclasses.replace(sqlite_settings, max_connections_per_address=2)) as server:
        assert server.port is not None
        port = server.port
        async with chat_client(server.url, token), chat_client(server.url, token) as second:
            third = await asyncio.to_thread(open_socket, port)
            with closing_all([third]):
                assert await asyncio.to_thread(wait_all_closed, [third], 2) < scaled(1)
            await second.ws.close()
            # Its place is given back when it closes: a new connection is admitted again.

            async def admitted() -> bool:
                try:
                    return await asyncio.to_thread(health, server) == 200
                except httpx.TransportError:
                    return False

            await eventually(admitted, timeout=5, what="a place given back")
