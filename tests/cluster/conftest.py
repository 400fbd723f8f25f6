"""Several real ``python -m gochat.server`` processes on one MariaDB database and one Redis (a
key prefix of the test's own): a cluster as an operator runs one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from gochat.server.embedded import free_port
from tests.conftest import RedisTarget
from tests.helpers import scaled


@dataclass
class Instance:
    """One server process of the cluster."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no shutdown, no goodbye to Redis."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(scaled(20))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Cluster:
    database_url: str
    redis_url: str
    redis_prefix: str
    folder: Path
    instances: list[Instance] = field(default_factory=list)

    def start(self, count: int, *extra: str) -> list[Instance]:
        """``count`` more servers, started together; returns them once every one is healthy."""
        started = [self._spawn(*extra) for _ in range(count)]
        for instance in started:
            _wait_until_healthy(instance)
        return started

    def _spawn(self, *extra: str) -> Instance:
        port = free_port()
        log = self.folder / f"server-{port}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gochat.server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--database-url",
                    self.database_url,
                    "--redis-url",
                    self.redis_url,
                    "--redis-prefix",
                    self.redis_prefix,
                    # Throughput tests send faster than a person: the message limit is tested
                    # in tests/abuse, not here.
                    "--message-rate",
                    "0",
                    *extra,
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONASYNCIODEBUG": ""},
            )
        instance = Instance(port, process, log)
        self.instances.append(instance)
        return instance

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()


def _wait_until_healthy(instance: Instance, timeout: float = 60) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            raise AssertionError(f"server on {instance.port} exited:\n{instance.output()}")
        try:
            health = httpx.get(f"{instance.url}/api/health", timeout=1)
            if health.status_code == 200 and health.json().get("cluster", {}).get("ok"):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server on {instance.port} did not come up:\n{instance.output()}")


@pytest.fixture
def make_cluster(
    new_mariadb_database: Callable[[], str], redis_target: RedisTarget, tmp_path: Path
) -> Iterator[Callable[..., Cluster]]:
    """Clusters on a fresh MariaDB database and this test's Redis prefix (or a Redis URL given)."""
    made: list[Cluster] = []

    def make(redis_url: str | None = None) -> Cluster:
        cluster = Cluster(new_mariadb_database(), redis_url or redis_target.url, redis_target.prefix, tmp_path)
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop()
        for cluster in made:
            for instance in cluster.instances:
                # A server that logged an error or a traceback failed, whatever the test saw.
                text = instance.output()
                assert "Traceback" not in text, text
                assert " ERROR " not in text, text


@pytest.fixture
def cluster3(make_cluster: Callable[..., Cluster]) -> Cluster:
    """Three servers on one database and one Redis."""
    cluster = make_cluster()
    cluster.start(3)
    return cluster
