"""``--certfile``/``--keyfile``: https and wss on one port, nothing in clear on it, and a wrong
file is one clear line at start-up. Real sockets and a real certificate from
gochat/certificates.py (self-signed, trusted here as its own CA)."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage

from gochat.certificates import CertificatePair, der_fingerprint, make_self_signed
from gochat.protocol import MsgType
from gochat.server.config import Settings
from gochat.server.embedded import free_port
from gochat.server.runner import ServerStartError, ServerThread, describe
from gochat.server.tls import certificate_problem
from tests.conftest import running_server
from tests.helpers import ChatClient, auth, create_room, register_and_login, scaled


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> CertificatePair:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_pair(tmp_path_factory: pytest.TempPathFactory) -> CertificatePair:
    return make_self_signed(tmp_path_factory.mktemp("tls-other"))


@pytest.fixture
def tls_server(sqlite_settings: Settings, pair: CertificatePair) -> Iterator[ServerThread]:
    settings = dataclasses.replace(sqlite_settings, certfile=str(pair.certfile), keyfile=str(pair.keyfile))
    with running_server(settings) as thread:
        yield thread


@pytest.fixture
def trust(pair: CertificatePair) -> ssl.SSLContext:
    """A client that trusts exactly this self-signed certificate."""
    return ssl.create_default_context(cafile=str(pair.certfile))


@pytest.fixture
async def api(tls_server: ServerThread, trust: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=tls_server.url, verify=trust, timeout=scaled(10)) as client:
        yield client


def wss_url(server: ServerThread) -> str:
    return f"wss://127.0.0.1:{server.port}/ws"


async def test_https_and_wss_share_one_port(
    tls_server: ServerThread, api: httpx.AsyncClient, trust: ssl.SSLContext, pair: CertificatePair
) -> None:
    assert tls_server.url == f"https://127.0.0.1:{tls_server.port}"
    assert "https://" in describe(tls_server.settings, 8443)
    assert "wss://" in describe(tls_server.settings, 8443)
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with connect(wss_url(tls_server), additional_headers=auth(token), ssl=trust) as ws:
        # The certificate the handshake got is the pair's: what a desktop pins by fingerprint.
        ssl_object = ws.transport.get_extra_info("ssl_object")
        assert der_fingerprint(ssl_object.getpeercert(binary_form=True)) == pair.fingerprint
        client = ChatClient(ws)
        await client.enter(room["id"])
        ack = await client.say(room["id"], "over TLS")
    page = (await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(token))).json()
    assert ack.msg_type == MsgType.ACK
    assert [m["id"] for m in page] == [ack.data["message"]["id"]]


async def test_plain_http_and_ws_to_a_tls_port_get_no_service(tls_server: ServerThread, api: httpx.AsyncClient) -> None:
    plain = f"http://127.0.0.1:{tls_server.port}"
    async with httpx.AsyncClient(timeout=scaled(5)) as cleartext:
        with pytest.raises(httpx.TransportError):
            await cleartext.post(f"{plain}/api/login", json={"username": "alice", "password": "in clear"})
        with pytest.raises(httpx.TransportError):
            await cleartext.get(f"{plain}/api/health")
    with pytest.raises((InvalidMessage, OSError)):
        async with connect(f"ws://127.0.0.1:{tls_server.port}/ws", open_timeout=scaled(5)):
            pass
    # The port still serves whoever speaks TLS.
    assert (await api.get("/api/health")).json()["status"] == "ok"


# The TLS client hello is what uvicorn reports as an invalid request: logged, and refused.
@pytest.mark.expect_log(level="WARNING", logger="uvicorn.error", text="Invalid HTTP request received")
async def test_a_server_without_certificates_speaks_plain_http(sqlite_server: ServerThread) -> None:
    assert not sqlite_server.settings.tls
    assert sqlite_server.url.startswith("http://")
    async with httpx.AsyncClient(timeout=scaled(5)) as client:
        assert (await client.get(f"{sqlite_server.url}/api/health")).status_code == 200
        with pytest.raises(httpx.TransportError):
            await client.get(f"https://127.0.0.1:{sqlite_server.port}/api/health")


def test_wrong_tls_files_are_named_with_what_is_wrong(
    tmp_path: Path, pair: CertificatePair, other_pair: CertificatePair
) -> None:
    cert, key = str(pair.certfile), str(pair.keyfile)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    missing = str(tmp_path / "missing.pem")
    assert certificate_problem(cert, key) is None
    cases = {
        (missing, key): f"cannot read the TLS certificate {missing}: No such file or directory",
        (cert, missing): f"cannot read the TLS key {missing}: No such file or directory",
        (str(garbage), key): f"the TLS certificate {garbage} is not a PEM certificate",
        (key, key): f"the TLS certificate {key} is not a PEM certificate",
        (cert, cert): f"the TLS key {cert} is not a PEM private key",
        (cert, str(other_pair.keyfile)): f"the TLS key {other_pair.keyfile} is not the key of the certificate {cert}",
    }
    for (certfile, keyfile), problem in cases.items():
        assert certificate_problem(certfile, keyfile) == problem


@pytest.mark.parametrize("wrong", ["missing", "mismatched"])
def test_a_headless_server_with_a_wrong_tls_file_exits_with_one_line(
    tmp_path: Path, pair: CertificatePair, other_pair: CertificatePair, wrong: str
) -> None:
    keyfile = str(tmp_path / "missing-key.pem") if wrong == "missing" else str(other_pair.keyfile)
    arguments = ["--port", str(free_port()), "--database-url", f"sqlite:///{tmp_path}/db.sqlite3"]
    result = subprocess.run(
        [sys.executable, "-m", "gochat.server", *arguments, "--certfile", str(pair.certfile), "--keyfile", keyfile],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "ERROR" in lines[0]
    assert keyfile in lines[0]


def test_an_embedded_server_with_a_wrong_tls_file_says_why(
    sqlite_settings: Settings, pair: CertificatePair, other_pair: CertificatePair
) -> None:
    settings = dataclasses.replace(sqlite_settings, certfile=str(pair.certfile), keyfile=str(other_pair.keyfile))
    with pytest.raises(ServerStartError, match="is not the key of the certificate"):
        ServerThread(settings).start()


def _silent_tls_client(server: ServerThread, trust: ssl.SSLContext) -> socket.socket:
    """A TCP connection to ``server`` that never sends its ClientHello, once the server has
    accepted it (it accepts in order: a later request answered means this one was taken)."""
    assert server.port is not None
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=scaled(10))
    with httpx.Client(verify=trust) as client:
        assert client.get(f"{server.url}/api/health").status_code == 200
    return silent


def test_a_client_silent_in_its_tls_handshake_does_not_keep_the_server_from_stopping(
    sqlite_settings: Settings, pair: CertificatePair, trust: ssl.SSLContext
) -> None:
    """Before: the connection uvicorn never heard of stayed open; closing the loop then failed
    (an ERROR "the embedded server failed", an unclosed transport)."""
    settings = dataclasses.replace(sqlite_settings, certfile=str(pair.certfile), keyfile=str(pair.keyfile))
    server = ServerThread(settings)
    server.start()
    silent = _silent_tls_client(server, trust)
    try:
        server.stop()
        assert server._thread is not None
        assert not server._thread.is_alive()
        assert server._error is None
        assert silent.recv(1) == b""  # the server hung up on it
    finally:
        silent.close()


def test_a_tls_handshake_gets_the_header_timeout(
    sqlite_settings: Settings, pair: CertificatePair, trust: ssl.SSLContext
) -> None:
    """Before: a client that never finished its handshake held its connection for 60 s."""
    settings = dataclasses.replace(
        sqlite_settings, certfile=str(pair.certfile), keyfile=str(pair.keyfile), header_timeout=0.5
    )
    server = ServerThread(settings)
    server.start()
    try:
        silent = _silent_tls_client(server, trust)
        with silent:
            silent.settimeout(scaled(10))
            assert silent.recv(1) == b""  # hung up on, long before 60 s
    finally:
        server.stop()
