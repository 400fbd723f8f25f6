"""Fixtures of the server tests: a REST client of the real server the root conftest starts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gochat.server.runner import ServerThread
from tests.helpers import scaled


@pytest.fixture
async def api(server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client of ``server`` (each backend) over its real socket.

    A module that needs another server (SQLite only, TLS, in-process) defines its own ``api``,
    which pytest prefers to this one."""
    async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as client:
        yield client
