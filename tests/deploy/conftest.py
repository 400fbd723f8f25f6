"""The deployment kit's fixtures: two real server processes on one MariaDB database and one Redis
prefix (issue 14's set-up), and Debian's nginx running deploy/nginx/gochat.conf in front of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from gochat.server.embedded import free_port
from tests.abuse.headless import Headless, headless_server
from tests.conftest import RedisTarget
from tests.deploy.nginx import Nginx, nginx_binary, running_nginx
from tests.helpers import scaled

# nginx runs on this host: the instances believe its X-Forwarded-For, as docs/deploy.md says.
NGINX_ADDRESS = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Instance:
    """One ``python -m gochat.server`` behind nginx, its output (info and up) in ``log``."""

    server: Headless
    log: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def upstream(self) -> str:
        """The address nginx names it by ($upstream_addr)."""
        return f"127.0.0.1:{self.server.port}"


@pytest.fixture
def nginx_exe() -> str:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run installs it)")
    return binary


@pytest.fixture
def instances(tmp_path: Path, mariadb_url: str, redis_target: RedisTarget) -> Iterator[list[Instance]]:
    """Two server processes as issue 14 runs them: one MariaDB database, one Redis (this test's
    prefix), nginx's address in --forwarded-allow-ips. Started one after the other: the first
    makes the schema the second finds."""
    flags = [
        "--host",
        "127.0.0.1",
        "--redis-url",
        redis_target.url,
        "--redis-prefix",
        redis_target.prefix,
        "--forwarded-allow-ips",
        NGINX_ADDRESS,
        "--log-level",
        "info",
        # The machine's MariaDB is shared by every test worker and stalls under that load
        # (tests/conftest.py's settings say the same); these tests are not about its timeout.
        "--db-timeout",
        str(scaled(15)),
    ]
    with ExitStack() as stack:
        made = []
        for number in (1, 2):
            log = tmp_path / f"instance-{number}.log"
            server = stack.enter_context(headless_server(tmp_path, *flags, database_url=mariadb_url, log=log))
            made.append(Instance(server, log))
        yield made


@pytest.fixture
def nginx(nginx_exe: str, instances: list[Instance], tmp_path: Path) -> Iterator[Nginx]:
    with running_nginx(nginx_exe, tmp_path / "nginx", free_port(), [i.upstream for i in instances]) as proxy:
        yield proxy
