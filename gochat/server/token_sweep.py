"""Keeping open WebSockets in step with their tokens' sessions.

A WebSocket authenticates once, at its handshake; afterwards its token may expire (``--token-ttl``
after its last use) or be logged out on another server sharing the database. Every sweep, on an
interval well under the lifetime, this

- renews the sessions of connections that sent a frame since the last sweep: chatting is using
  the token, so a person in a conversation is never logged out in the middle of it;
- closes with 4001 (logged out) every connection whose session has ended;
- deletes expired sessions, so the table holds only live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from gochat.protocol import CloseCode
from gochat.server.accounts import Accounts
from gochat.server.errors import StorageUnavailable
from gochat.server.hub import RoomHub
from gochat.server.store import queries
from gochat.server.store.database import Database
from gochat.server.store.models import utcnow

log = logging.getLogger(__name__)

# How late, at most, a socket of an expired or elsewhere-logged-out token is closed.
MAX_SWEEP_INTERVAL = timedelta(seconds=60)


class TokenSweeper:
    def __init__(
        self, database: Database, accounts: Accounts, hub: RoomHub, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._db = database
        self._accounts = accounts
        self._hub = hub
        self._clock = clock
        # A quarter of the lifetime for the short ones tests use: a socket outlives its token
        # by at most that.
        self.interval = min(MAX_SWEEP_INTERVAL, accounts.token_ttl / 4).total_seconds()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="token-sweep")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except StorageUnavailable as exc:
                # Storage being away is reported by whatever else needs it; one line here.
                if not self._failing:
                    log.warning("cannot check tokens of open connections: %s", exc.detail or exc.message)
                self._failing = True
            except Exception:
                log.exception("checking the tokens of open connections failed")
            else:
                self._failing = False

    async def sweep(self) -> None:
        now = self._clock()
        expired_before = self._accounts.expired_before(now)
        connections = self._hub.connections()
        used = sorted({c.token_hash for c in connections if c.used})
        for connection in connections:
            connection.used = False
        if used:
            await self._db.run(queries.renew_sessions, used, now=now, expired_before=expired_before)
        hashes = sorted({c.token_hash for c in connections})
        if hashes:
            live = await self._db.run(queries.live_sessions, hashes, expired_before=expired_before)
            ended = [c for c in connections if c.token_hash not in live]
            if ended:
                log.info("closing %d connection(s) whose login expired or was logged out", len(ended))
                self._hub.close_all(CloseCode.LOGGED_OUT, "logged out", ended)
        await self._db.run(queries.delete_expired_sessions, expired_before=expired_before)
