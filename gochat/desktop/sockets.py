"""httpx connections that never leave a socket open when a TLS handshake is cancelled. No Qt.

httpcore (1.0.9) closes the TCP connection when its TLS handshake fails with an Exception, but
not when the task is cancelled mid-handshake (the person pressed Cancel, the app shut down, a
timeout of ours): the connection is dropped without closing its socket, so the server kept a
half-open TLS connection and the desktop leaked a file descriptor per abandoned login.
``closing_transport`` gives httpx a network backend whose streams close themselves then.
"""

# ruff: noqa: ASYNC109 - httpcore's stream interface takes its timeouts as arguments

from __future__ import annotations

import ssl
import typing

import httpcore
import httpx


class _ClosingStream(httpcore.AsyncNetworkStream):
    """A TCP stream that closes itself when its TLS handshake does not finish, whatever the cause."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            return await self._inner.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            # Closing the transport happens before aclose's first await: a second cancellation
            # cannot stop it.
            await self._inner.aclose()
            raise

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _ClosingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _ClosingStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _ClosingStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def closing_transport(verify: ssl.SSLContext | bool) -> httpx.AsyncHTTPTransport:
    """httpx's own transport, its connections made through ``_ClosingBackend``."""
    transport = httpx.AsyncHTTPTransport(verify=verify)
    # httpx takes no network backend; its pool (httpcore's public AsyncConnectionPool) keeps the
    # one it was given here. tests/desktop/test_api_sockets.py fails if either name moves.
    pool = transport._pool
    pool._network_backend = _ClosingBackend(pool._network_backend)
    return transport
