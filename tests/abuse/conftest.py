"""What the hostile-client cases share: the app in-process, reached from chosen addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from gochat.server.app import create_app
from gochat.server.config import Settings
from tests.helpers import scaled

ClientFrom = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def clients_of(settings: Settings) -> AsyncIterator[ClientFrom]:
    """The app of ``settings`` served in-process (lifespan run); ``client_from(address)`` is an
    HTTP client the server sees as coming from that address (scope["client"])."""
    app = create_app(settings)
    made: list[httpx.AsyncClient] = []

    def client_from(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000 + len(made)))
        client = httpx.AsyncClient(transport=transport, base_url="http://gochat.test", timeout=scaled(10))
        made.append(client)
        return client

    async with app.router.lifespan_context(app):
        try:
            yield client_from
        finally:
            for client in made:
                await client.aclose()
