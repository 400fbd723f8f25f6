"""GET /metrics (issue 14): a headless server's figures in the Prometheus text format, on a
listener of its own or on the public port for a token, and nowhere unless asked for."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gochat.protocol import MsgType
from gochat.server.config import Settings, settings_from_args
from gochat.server.embedded import EmbeddedServer, free_port
from tests.abuse.headless import headless_server
from tests.helpers import auth, chat_client, create_room, eventually, register_and_login, scaled

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
        target = os.readlink(f"/proc/{pid}/fd/{fd}") if os.path.exists(f"/proc/{pid}/fd/{fd}") else ""
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
