"""deploy/nginx/gochat.conf: its values agree with the server's, and Debian's nginx running it in
front of two real server processes (one MariaDB database, one Redis) carries REST and WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import httpx

from gochat.desktop import connection
from gochat.desktop.api import ApiError, RestApi
from gochat.protocol import ErrorCode, MsgType
from gochat.server.app import create_app
from gochat.server.config import Settings
from gochat.server.connections import ConnectionLedger
from gochat.server.runner import make_config
from tests.deploy.conftest import Instance
from tests.deploy.nginx import SHIPPED_CONF, UPSTREAM_HEADER, Directive, Nginx, parse, seconds, size
from tests.helpers import ChatClient, chat_client, create_room, register_and_login, scaled, wait_until

TOO_LARGE_NOTICE = "client intended to send too large body"


def shipped_server() -> Directive:
    return parse(SHIPPED_CONF.read_text()).one("server")


def server_pings(tmp_path: Path) -> tuple[float, float]:
    """How often the server pings an open WebSocket, and how long it waits for the pong: what it
    gives uvicorn (make_config), read from the code rather than copied here."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/unused.sqlite3")
    config = make_config(create_app(settings), settings, ConnectionLedger(10, 10, 10))
    assert config.ws_ping_interval is not None, "the server no longer pings WebSockets"
    assert config.ws_ping_timeout is not None
    return config.ws_ping_interval, config.ws_ping_timeout


def desktop_pings() -> tuple[float, float]:
    """The same for the desktop's LiveConnection: websockets' connect() defaults, which it keeps."""
    assert "ping_interval" not in inspect.getsource(connection.LiveConnection), "read the desktop's own value here"
    parameters = inspect.signature(connection.connect).parameters
    interval, timeout = parameters["ping_interval"].default, parameters["ping_timeout"].default
    assert interval is not None, "the desktop no longer pings WebSockets"
    return float(interval), float(timeout)


def test_websocket_timeouts_outlast_the_pings_of_both_ends(tmp_path: Path) -> None:
    """nginx closes a WebSocket silent for its read or send timeout; both ends ping more often,
    and give up on a ping themselves sooner."""
    websocket = shipped_server().one("location", "=", "/ws")
    read = seconds(websocket.value("proxy_read_timeout"))
    send = seconds(websocket.value("proxy_send_timeout"))
    for end, (interval, timeout) in {"server": server_pings(tmp_path), "desktop": desktop_pings()}.items():
        assert read > interval + timeout, f"proxy_read_timeout {read} s against the {end}'s pings"
        assert send > interval + timeout, f"proxy_send_timeout {send} s against the {end}'s pings"


def test_limits_agree_with_the_servers_defaults() -> None:
    """Bodies, header and body timeouts as the server's defaults; idle upstream connections closed
    by nginx before the server would close them."""
    server = shipped_server()
    defaults = Settings()
    assert size(server.value("client_max_body_size")) == defaults.max_body_bytes
    assert size(server.value("client_body_buffer_size")) >= defaults.max_body_bytes  # never to a file
    assert seconds(server.value("client_header_timeout")) == defaults.header_timeout
    assert seconds(server.value("client_body_timeout")) == defaults.body_timeout
    upstream = parse(SHIPPED_CONF.read_text()).one("upstream", "gochat")
    assert seconds(upstream.value("keepalive_timeout")) < defaults.keep_alive_timeout
    too_large = server.one("location", "@too_large").one("return")
    assert too_large.args[0] == "413"
    assert json.loads(too_large.args[1])["error"] == ErrorCode.TOO_LARGE


def test_the_access_log_leaves_out_query_strings() -> None:
    """A WebSocket's ?token= must not reach nginx's access log (docs/security.md)."""
    config = parse(SHIPPED_CONF.read_text())
    log_format = " ".join(config.one("log_format", "gochat").args[1:])
    # $request is the whole request line, $request_uri the path with its query, $arg_token one argument.
    with_query = re.findall(r"\$(?:request|request_uri|args|query_string|arg_\w+)(?!\w)", log_format)
    assert with_query == [], log_format
    assert shipped_server().one("access_log").args[1] == "gochat"


async def test_rest_and_websockets_through_nginx_and_chat_on_one_instance(
    nginx: Nginx, instances: list[Instance]
) -> None:
    """Through nginx: register and log in, WebSockets upgrade on both instances (least_conn spreads
    them), two people on one instance chat; no token in nginx's logs, nothing else in its error log."""
    upstreams = {instance.upstream for instance in instances}
    async with httpx.AsyncClient(base_url=nginx.url, timeout=scaled(10)) as api:
        health = await api.get("/api/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert health.headers[UPSTREAM_HEADER] in upstreams
        people = [await register_and_login(api) for _ in range(3)]
        room = await create_room(api, people[0][0])
    tokens = [token for token, _ in people]
    async with AsyncExitStack() as stack:
        # One of them the way a browser would have to: the token in the query string.
        clients = [
            await stack.enter_async_context(chat_client(nginx.url, token, via="query" if n == 2 else "header"))
            for n, token in enumerate(tokens)
        ]
        served = [client.ws.response.headers[UPSTREAM_HEADER] for client in clients]
        assert all(client.ws.response.status_code == 101 for client in clients)
        # The second WebSocket goes where the first is not: least_conn.
        assert set(served[:2]) == upstreams, served
        # Three sockets on two instances: two share one. They chat.
        a, b = next(
            (x, y) for i, x in enumerate(clients) for j, y in enumerate(clients) if i < j and served[i] == served[j]
        )
        await a.enter(room["id"])
        await b.enter(room["id"])
        ack = await a.say(room["id"], "hello through nginx")
        heard = await b.expect(MsgType.SEND)
        assert heard.data["id"] == ack.data["message"]["id"]
        assert heard.data["content"] == "hello through nginx"

    # A WebSocket is logged when it ends.
    wait_until(lambda: nginx.access_log.read_text().count('"GET /ws HTTP/1.1" 101') == 3, what="three /ws lines")
    logged = nginx.access_log.read_text() + "\n".join(nginx.logged_problems())
    assert not [token for token in tokens if token in logged]
    assert nginx.logged_problems() == []


async def test_instances_see_the_client_nginx_saw(nginx: Nginx, instances: list[Instance]) -> None:
    """X-Forwarded-For: an instance names the address nginx accepted the connection from, never
    one the client wrote in the header itself."""
    probe = uuid.uuid4().hex
    # Another loopback address than nginx's own (127.0.0.1, which the instances trust as a proxy).
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=nginx.url, transport=transport, timeout=scaled(10)) as api:
        answer = await api.get(f"/api/health?probe={probe}", headers={"X-Forwarded-For": "203.0.113.7"})
    assert answer.status_code == 200
    instance = next(i for i in instances if i.upstream == answer.headers[UPSTREAM_HEADER])
    wait_until(lambda: probe in instance.log.read_text(), what="the instance's access log line")
    line = next(line for line in instance.log.read_text().splitlines() if probe in line)
    client = line.split("uvicorn.access: ", 1)[1].split(" - ", 1)[0].rsplit(":", 1)[0]
    assert client == "127.0.0.2", line


async def test_bodies_are_refused_as_the_instances_refuse_them(nginx: Nginx, instances: list[Instance]) -> None:
    """A body over the server's limit gets nginx's 413 in the server's own JSON; one under it
    passes to an instance."""
    too_large = json.dumps({"username": "x", "password": "p" * 70_000})
    fits = json.dumps({"username": "x", "password": "p" * 60_000})
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=scaled(10)) as api:
        direct = await api.post(f"{instances[0].url}/api/register", content=too_large, headers=headers)
        proxied = await api.post(f"{nginx.url}/api/register", content=too_large, headers=headers)
        passed = await api.post(f"{nginx.url}/api/register", content=fits, headers=headers)
    assert direct.status_code == proxied.status_code == 413
    assert proxied.json() == direct.json()
    assert proxied.headers["Content-Type"] == "application/json"
    assert UPSTREAM_HEADER not in proxied.headers  # nginx answered, no instance read it
    assert passed.status_code != 413, passed.text
    assert passed.headers[UPSTREAM_HEADER] in {i.upstream for i in instances}
    problems = nginx.logged_problems()
    assert len(problems) == 1, problems
    assert TOO_LARGE_NOTICE in problems[0]


async def messages_heard(client: ChatClient, room_id: int, wanted: set[str], within: float) -> set[str]:
    """The contents of the messages ``client`` got in the room, once it has every one of
    ``wanted`` or ``within`` seconds (scaled) have passed."""
    heard: set[str] = set()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(scaled(within)):
            while not wanted <= heard:
                frame = await client.expect(MsgType.SEND, lambda f: f.data["roomId"] == room_id, timeout=within)
                heard.add(frame.data["content"])
    return heard


async def test_people_on_both_instances_hear_every_message(nginx: Nginx, instances: list[Instance]) -> None:
    """Issue 14: four people whom nginx spreads over both instances chat in one room; each of them
    gets every message, whichever instance its author is on."""
    async with httpx.AsyncClient(base_url=nginx.url, timeout=scaled(10)) as api:
        people = [await register_and_login(api) for _ in range(4)]
        room = await create_room(api, people[0][0])
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(chat_client(nginx.url, token)) for token, _ in people]
        served = [client.ws.response.headers[UPSTREAM_HEADER] for client in clients]
        # least_conn, one socket at a time: 1-0, 1-1, 2-1, 2-2.
        assert Counter(served) == Counter({i.upstream: 2 for i in instances}), served
        for client in clients:
            await client.enter(room["id"])
        said = set()
        for n, client in enumerate(clients):
            content = f"person {n} on {served[n]}"
            await client.say(room["id"], content)
            said.add(content)
        heard = await asyncio.gather(*(messages_heard(client, room["id"], said, within=5) for client in clients))
    missing = {f"person {n} on {served[n]}": sorted(said - got) for n, got in enumerate(heard) if said - got}
    assert not missing, f"messages that did not reach people on the other instance: {missing}"


async def test_the_desktop_says_in_words_that_no_instance_is_answering(nginx: Nginx, instances: list[Instance]) -> None:
    """Found in a trial of the desktop behind this nginx: with every instance down, deleting a
    message said "Not deleted: The server answered 502." nginx's own error page has none of the
    instances' JSON words, so the desktop says what a 502, 503 or 504 from the address means."""
    api = RestApi(nginx.url)
    try:
        await api.check_server()
        for instance in instances:
            instance.server.process.kill()
            instance.server.process.wait(10)
        try:
            await api.login("nobody", "no password at all")
        except ApiError as error:
            assert error.status == 502
            assert error.message == "No server is answering behind this address right now (502); try again in a moment."
        else:
            raise AssertionError("a login with no instance answering succeeded")
    finally:
        await api.close()
