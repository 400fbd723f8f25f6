"""The desktop's REST client never leaves a socket open (issue 12): a login cancelled while the
TLS handshake waits for the server closes its connection. Before, httpcore dropped it unclosed:
the server kept a half-open TLS connection and the desktop leaked a descriptor per attempt.

A real listening socket that accepts and never answers the ClientHello stands in for a slow
server; its side of the connection sees the end of the stream once the client closes.
"""

from __future__ import annotations

import asyncio
import socket

import httpcore
import httpx

from gochat.desktop.api import CLOSED, ApiError, RestApi
from gochat.desktop.sockets import closing_transport
from tests.helpers import scaled


async def _cancelled_mid_handshake() -> bytes:
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def keep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put((reader, writer))

    server = await asyncio.start_server(keep, "127.0.0.1", 0, family=socket.AF_INET)
    port = server.sockets[0].getsockname()[1]
    api = RestApi(f"https://127.0.0.1:{port}", timeout=scaled(30))
    attempt = asyncio.ensure_future(api.check_server())
    reader, writer = await asyncio.wait_for(accepted.get(), scaled(10))
    hello = await asyncio.wait_for(reader.read(5), scaled(10))
    assert hello[:1] == b"\x16"  # a TLS handshake record: the client waits for the answer
    attempt.cancel()
    await asyncio.gather(attempt, return_exceptions=True)
    rest = await asyncio.wait_for(reader.read(), scaled(10))  # returns once the client has closed
    await api.close()
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return rest


def test_a_login_cancelled_during_the_tls_handshake_closes_its_socket() -> None:
    # filterwarnings = error: an unclosed transport's ResourceWarning fails the test too.
    asyncio.run(_cancelled_mid_handshake())


def test_the_closing_backend_is_the_one_httpx_connects_with() -> None:
    pool = closing_transport(True)._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    assert type(pool._network_backend).__name__ == "_ClosingBackend"
    assert isinstance(closing_transport(False), httpx.AsyncHTTPTransport)


def test_a_request_after_the_client_was_closed_is_an_api_error() -> None:
    """Before: a task of a login that had just ended met httpx's bare RuntimeError."""

    async def after_close() -> ApiError:
        api = RestApi("http://127.0.0.1:9")
        await api.close()
        try:
            await api.rooms(mine=True)
        except ApiError as error:
            return error
        raise AssertionError("a closed client sent a request")

    error = asyncio.run(after_close())
    assert error.failure == CLOSED
    assert error.message == "Not sent: logged out of 127.0.0.1:9."
