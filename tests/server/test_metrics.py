"""GET /metrics (issue 14): a headless server's figures in the Prometheus text format, on a
listener of its own or on the public port for a token, and nowhere unless asked for."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gochat.protocol import MsgType
from gochat.server.config import Settings, settings_from_args
from gochat.server.embedded import EmbeddedServer, free_port
from gochat.server.errors import RateLimited
from gochat.server.hashing import HashingPool
from gochat.server.hub import RoomHub
from gochat.server.limits import RateLimits
from gochat.server.metrics import Metrics, backlog_of
from gochat.server.records import UserRecord
from tests.abuse.headless import headless_server
from tests.helpers import auth, chat_client, create_room, eventually, register_and_login, scaled
from tests.server.memory import MemoryConnection

TOKEN = "a-scrape-token-of-32-characters!"


class Scrape:
    """One scrape, parsed by prometheus_client's own parser: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[sample.name, frozenset(sample.labels.items())] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples[name, frozenset(labels.items())]


async def scrape(url: str, **headers: str) -> Scrape:
    async with httpx.AsyncClient(timeout=scaled(5)) as client:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports a process listens on, from /proc: its sockets' inodes against the kernel's tables."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed since the listing
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(match.group(1))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def test_metrics_port_reports_connections_messages_commits_and_refusals(tmp_path: Path) -> None:
    metrics_port = free_port()
    flags = ["--metrics-port", str(metrics_port), "--metrics-token", TOKEN]
    # Five messages a connection at once, then one a 100 s: the sixth is refused.
    flags += ["--message-burst", "5", "--message-rate", "0.01"]
    with headless_server(tmp_path, *flags) as server:
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        before = await scrape(metrics_url)
        assert before.value("gochat_connections") == 0
        assert before.value("gochat_messages_in_total") == 0
        assert before.value("gochat_rate_limited_total", kind="message") == 0
        assert before.value("gochat_instance_info", **_info_labels(before)) == 1
        async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as api:
            alice, _ = await register_and_login(api)
            bob, _ = await register_and_login(api)
            room = await create_room(api, alice)
        async with chat_client(server.url, alice) as sender, chat_client(server.url, bob) as reader:
            await sender.enter(room["id"])
            await reader.enter(room["id"])
            present = await scrape(metrics_url)
            assert present.value("gochat_connections") == 2
            assert present.value("gochat_users_connected") == 2
            assert present.value("gochat_rooms_occupied") == 1
            for n in range(5):
                await sender.say(room["id"], f"hello {n}")
            for n in range(5):
                await reader.expect(MsgType.SEND, lambda f, n=n: f.data["content"] == f"hello {n}")
            chatted = await scrape(metrics_url)
            assert chatted.value("gochat_messages_in_total") == 5
            # Each message to each of the two connections in the room.
            assert chatted.value("gochat_messages_out_total") == 10
            assert chatted.value("gochat_fanout_backlog_frames") >= 0

            # The writer thread observes a commit just after handing its results to the loop.
            async def all_committed() -> bool:
                return (await scrape(metrics_url)).value("gochat_commit_batch_messages_sum") == 5

            await eventually(all_committed, what="5 messages in commit batches")
            commits = await scrape(metrics_url)
            batches = commits.value("gochat_commit_batch_messages_count")
            assert 1 <= batches <= 5
            assert commits.value("gochat_commit_seconds_count") == batches
            assert commits.value("gochat_commit_seconds_sum") > 0
            assert commits.value("gochat_commit_seconds_bucket", le="+Inf") == batches
            assert commits.value("gochat_redis_hop_seconds_count") == 0  # one instance: no hops

            await sender.send(MsgType.SEND, {"roomId": room["id"], "content": "one too many", "clientMsgId": "six"})
            refusal = await sender.expect(MsgType.ERROR, lambda f: f.data.get("clientMsgId") == "six")
            assert refusal.data["code"] == "rate_limited"
            refused = await scrape(metrics_url)
            assert refused.value("gochat_rate_limited_total", kind="message") == 1
            assert refused.value("gochat_messages_in_total") == 5

        # The public port: the token's, and nobody else's (404, as for any path it does not have).
        public = f"{server.url}/metrics"
        async with httpx.AsyncClient(timeout=scaled(5)) as client:
            assert (await client.get(public)).status_code == 404
            wrong = await client.get(public, headers=auth("not-the-token-not-the-token"))
            assert wrong.status_code == 404
            assert wrong.json()["error"] == "not_found"
            assert (await client.post(public, headers=auth(TOKEN))).status_code == 404
            # The metrics listener serves GET /metrics and nothing else.
            assert (await client.get(f"http://127.0.0.1:{metrics_port}/api/health")).status_code == 404
            assert (await client.post(metrics_url)).status_code == 405
        assert (await scrape(public, **auth(TOKEN))).value("gochat_messages_in_total") == 5
        assert listening_ports(server.process.pid) == {server.port, metrics_port}


def test_no_metrics_anywhere_by_default(tmp_path: Path) -> None:
    with headless_server(tmp_path) as server:
        assert listening_ports(server.process.pid) == {server.port}  # no second listener
        assert httpx.get(f"{server.url}/metrics", timeout=scaled(5)).status_code == 404


def test_a_taken_metrics_port_ends_start_up_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "gochat.server", "--port", str(free_port()), "--metrics-port", str(port)]
        command += ["--database-url", f"sqlite:///{tmp_path}/taken.sqlite3"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=scaled(60))
    assert result.returncode == 2
    assert f"cannot listen for metrics on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_desktop_hosting_never_serves_metrics(tmp_path: Path) -> None:
    hosted = EmbeddedServer.for_desktop(name="host", port=0, let_others_join=True, certificate_dir=tmp_path)
    assert (hosted.settings.metrics_port, hosted.settings.metrics_token) == (None, None)


def test_metrics_flags_and_environment() -> None:
    assert (Settings().metrics_port, Settings().metrics_token) == (None, None)
    settings = settings_from_args([], {"GOCHAT_METRICS_PORT": "9464", "GOCHAT_METRICS_TOKEN": TOKEN})
    assert (settings.metrics_port, settings.metrics_host, settings.metrics_token) == (9464, "127.0.0.1", TOKEN)
    flagged = settings_from_args(["--metrics-port", "9100", "--metrics-host", "0.0.0.0"], {"GOCHAT_METRICS_PORT": "1"})
    assert (flagged.metrics_port, flagged.metrics_host) == (9100, "0.0.0.0")


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["--metrics-token", "short"], {}), ([], {"GOCHAT_METRICS_TOKEN": "short"}), (["--metrics-port", "x"], {})],
)
def test_a_weak_token_or_a_bad_port_is_a_usage_error(
    argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        settings_from_args(argv, env)
    assert exited.value.code == 2
    assert "metrics" in capsys.readouterr().err


def _info_labels(result: Scrape) -> dict[str, str]:
    [labels] = [dict(key) for name, key in result.samples if name == "gochat_instance_info"]
    assert set(labels) == {"version", "database_id", "server_name"}
    assert labels["database_id"]
    return labels


class QueuedConnection(MemoryConnection):
    """A hub connection whose delivered frames are all still queued: its backlog."""

    @property
    def backlog(self) -> int:
        return len(self.frames)


def test_the_hub_counts_message_frames_per_connection_and_rooms_with_someone_present() -> None:
    hub = RoomHub()
    alice, bob, watcher = (QueuedConnection(UserRecord(n, f"user{n}")) for n in (1, 2, 3))
    for connection in (alice, bob, watcher):
        hub.register(connection)
    for connection in (alice, bob):
        hub.enter(connection, 7)
        hub.finish_join(connection, 7, 0)
    hub.watch(watcher, 8)  # watching alone: room 8 is not occupied
    hub.finish_join(watcher, 8, 0)
    hub.watch(watcher, 7)
    hub.finish_join(watcher, 7, 0)
    assert hub.occupied_room_count() == 1
    hub.broadcast(7, '{"msgType":2}', message_id=1, watchers=True)  # a message: 3 deliveries
    hub.broadcast(7, '{"msgType":1}', watchers=True)  # presence: not a message
    hub.broadcast(7, '{"msgType":2}', message_id=2, exclude=bob)  # present only, bob excluded: 1
    assert hub.message_deliveries == 4
    assert backlog_of(hub) == (7, 3)  # alice 3 frames, bob 2, the watcher 2
    hub.register(MemoryConnection(UserRecord(4, "user4")))  # no backlog to tell: counted as none
    assert backlog_of(hub) == (7, 3)


async def test_every_refusal_kind_is_counted_and_reported_from_zero() -> None:
    # A clock that stands still: nothing refills.
    limits = RateLimits(Settings(login_burst=1, register_burst=1, room_create_burst=1, message_burst=1), lambda: 0.0)
    hashing = HashingPool(1, 0.01)
    metrics = Metrics(version="9.9", database_id="db1", server_name="here")
    hub = RoomHub()
    chat = _StubChat()
    metrics.watch(hub, chat, limits, hashing)
    try:
        first = _families(metrics)
        assert {kind: first.value("gochat_rate_limited_total", kind=kind) for kind in _KINDS} == dict.fromkeys(
            _KINDS, 0
        )
        for allowed, attempt in (
            (1, lambda: limits.begin_login("name", None)),
            (1, lambda: limits.register("10.0.0.1")),
            (1, lambda: limits.create_room(1)),
            (1, lambda: limits.send(1, "c1")),
            (2, lambda: limits.edit(1)),  # a user's edits: twice a connection's messages
        ):
            for _ in range(allowed):
                attempt()
            with pytest.raises(RateLimited):
                attempt()
        release = threading.Event()
        busy = asyncio.create_task(hashing.run(release.wait))
        await asyncio.sleep(0)  # it takes the only turn: the next waits 10 ms for one, then 429
        with pytest.raises(RateLimited):
            await hashing.run(lambda: None)
        release.set()
        await busy
        chat.messages_accepted = 4
        metrics.observe_commit(3, 0.002)
        metrics.observe_commit(1, 0.001)
        metrics.observe_redis_hop(0.0004)
        after = _families(metrics)
        counts = {kind: after.value("gochat_rate_limited_total", kind=kind) for kind in _KINDS}
        assert counts == dict.fromkeys(_KINDS, 1)
        assert after.value("gochat_messages_in_total") == 4
        assert after.value("gochat_commit_batch_messages_count") == 2
        assert after.value("gochat_commit_batch_messages_sum") == 4
        assert after.value("gochat_commit_batch_messages_bucket", le="2.0") == 1
        assert after.value("gochat_commit_seconds_sum") == pytest.approx(0.003)
        assert after.value("gochat_redis_hop_seconds_bucket", le="0.0005") == 1
        assert after.value("gochat_instance_info", version="9.9", database_id="db1", server_name="here") == 1
        assert chat.writer.observe_batch == metrics.observe_commit
        # Each server its own registry: another one reports none of this.
        assert (
            _families(Metrics(version="9.9", database_id="db2", server_name="there"))
            .samples.keys()
            .isdisjoint({("gochat_messages_in_total", frozenset())})
        )
    finally:
        hashing.close()


_KINDS = ("message", "edit", "login", "registration", "room_create", "password_hashing")


class _StubWriter:
    observe_batch = None


class _StubChat:
    """What Metrics reads of ChatService: its count of messages accepted, and its writer."""

    def __init__(self) -> None:
        self.messages_accepted = 0
        self.writer = _StubWriter()


def _families(metrics: Metrics) -> Scrape:
    return Scrape(generate_latest(metrics.registry).decode())
