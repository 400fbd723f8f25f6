"""Whose address a request has: the socket's peer, or X-Forwarded-For only when the peer is a
proxy listed in --forwarded-allow-ips (uvicorn's own default believes 127.0.0.1; ours no one).
Per-address limits key on it, so a forged header must not buy a client a fresh share."""

from __future__ import annotations

import dataclasses
import logging
import socket

import httpx
import pytest

from gochat.server.config import Settings
from gochat.server.guarded_http import TrustedProxies
from gochat.server.runner import ServerThread
from tests.conftest import running_server
from tests.helpers import scaled

FORGED = {"X-Forwarded-For": "203.0.113.7"}


def clients_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The client address of each request, as uvicorn's access log has it (scope["client"])."""
    return [r.getMessage().split(" - ")[0].rsplit(":", 1)[0] for r in caplog.records if r.name == "uvicorn.access"]


def get_health(server: ServerThread, headers: dict[str, str]) -> None:
    response = httpx.get(f"{server.url}/api/health", headers=headers, timeout=scaled(10))
    assert response.status_code == 200


def test_x_forwarded_for_is_ignored_by_default(sqlite_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    with running_server(sqlite_settings) as server:
        get_health(server, FORGED)
    assert clients_logged(caplog) == ["127.0.0.1"]


def test_x_forwarded_for_names_the_client_behind_a_listed_proxy(
    sqlite_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    with running_server(dataclasses.replace(sqlite_settings, forwarded_allow_ips="127.0.0.1")) as server:
        get_health(server, FORGED)
        get_health(server, {})  # the proxy's own request
    assert clients_logged(caplog) == ["203.0.113.7", "127.0.0.1"]


def test_a_peer_not_listed_is_not_believed(sqlite_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    with running_server(dataclasses.replace(sqlite_settings, forwarded_allow_ips="10.0.0.0/8")) as server:
        get_health(server, FORGED)
    assert clients_logged(caplog) == ["127.0.0.1"]


def test_the_rule_is_uvicorns() -> None:
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    headers = [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.7, 10.1.2.3")]
    # The right-most address that is not a trusted proxy: what comes before it may be forged.
    assert proxies.client_of("127.0.0.1", headers) == "203.0.113.7"
    assert proxies.client_of("192.0.2.1", headers) == "192.0.2.1"
    assert proxies.client_of("127.0.0.1", []) == "127.0.0.1"
    assert "127.0.0.1" in proxies
    assert "192.0.2.1" not in TrustedProxies("")


def _request_on_new_connection(server: ServerThread, forwarded_for: str) -> socket.socket:
    assert server.port is not None
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=scaled(10))
    sock.sendall(
        f"GET /api/health HTTP/1.1\r\nHost: gochat\r\nX-Forwarded-For: {forwarded_for}\r\n\r\n".encode("ascii")
    )
    return sock


def test_connections_behind_a_proxy_count_against_the_client_it_names(sqlite_settings: Settings) -> None:
    settings = dataclasses.replace(sqlite_settings, forwarded_allow_ips="127.0.0.1", max_connections_per_address=2)
    with running_server(settings) as server:
        held = [_request_on_new_connection(server, "203.0.113.7") for _ in range(2)]
        try:
            assert all(sock.recv(65536).startswith(b"HTTP/1.1 200 ") for sock in held)
            third = _request_on_new_connection(server, "203.0.113.7")
            other = _request_on_new_connection(server, "203.0.113.8")
            with third, other:
                refused = third.recv(65536)
                assert refused.startswith(b"HTTP/1.1 503 "), refused[:100]
                assert b'"error": "unavailable"' in refused
                assert other.recv(65536).startswith(b"HTTP/1.1 200 ")
        finally:
            for sock in held:
                sock.close()
