"""ServerContext: every service of one running server, built once by the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from gochat import __version__
from gochat.protocol import CloseCode
from gochat.server.accounts import Accounts
from gochat.server.cache import Cache, create_cache
from gochat.server.chat import ChatService
from gochat.server.cluster.node import ClusterNode
from gochat.server.config import Settings
from gochat.server.direct import DirectRooms
from gochat.server.edits import MessageEdits
from gochat.server.errors import StorageUnavailable
from gochat.server.fanout import Fanout
from gochat.server.hashing import HashingPool
from gochat.server.history import History
from gochat.server.hub import RoomHub
from gochat.server.limits import RateLimits
from gochat.server.metrics import Metrics
from gochat.server.people import People
from gochat.server.reading import ReadMarkers
from gochat.server.records import UserRecord
from gochat.server.rooms import RoomDirectory
from gochat.server.search import MessageSearch
from gochat.server.store import queries
from gochat.server.store.database import Database, DatabaseTimeouts
from gochat.server.token_sweep import TokenSweeper

log = logging.getLogger(__name__)


def cache_namespace(prefix: str, database_id: str) -> str:
    """Every cache key starts with this: the operator's prefix, then the database's id."""
    return f"{prefix}{database_id}:"


@dataclass(slots=True)
class ServerContext:
    settings: Settings
    database: Database
    cache: Cache
    hub: RoomHub
    accounts: Accounts
    rooms: RoomDirectory
    chat: ChatService
    markers: ReadMarkers
    history: History
    search: MessageSearch
    sweeper: TokenSweeper
    hashing: HashingPool
    edits: MessageEdits
    direct: DirectRooms
    people: People
    fanout: Fanout
    # What every cache key starts with: the operator's prefix, then this database's id.
    cache_namespace: str = ""
    # The database's own random id: clients tell two servers at one address apart by it.
    database_id: str = ""
    closing: bool = False
    # What GET /metrics reports (gochat/server/metrics.py).
    metrics: Metrics = field(kw_only=True)
    _all_closed: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def open(cls, settings: Settings) -> ServerContext:
        timeouts = DatabaseTimeouts(settings.db_connect_timeout, settings.db_timeout, settings.health_timeout)
        database = Database(settings.resolved_database_url(), timeouts=timeouts)
        await database.call(database.create_schema)
        # The cache lives in the database's own namespace: a cache must never outlive or cross
        # its database, and servers on different databases may share one Redis.
        database_id = await database.run(queries.database_id)
        namespace = cache_namespace(settings.redis_prefix, database_id)
        cache = create_cache(settings.redis_url, namespace)
        if settings.redis_url:
            log.info("Redis keys of this database start with %r", namespace)
        hub = RoomHub()
        fanout = Fanout(hub)
        metrics = Metrics(version=__version__, database_id=database_id, server_name=settings.server_name)
        if settings.redis_url:
            # One of several servers on this database (docs/architecture.md, "Several instances").
            fanout.cluster = ClusterNode(
                settings.redis_url,
                namespace.rstrip(":"),
                database,
                on_event=fanout.delivery.event,
                on_stream=fanout.delivery.stream_event,
                local_share=hub.local_share,
                on_hop=metrics.observe_redis_hop,
            )
        limits = RateLimits(settings)
        hashing = HashingPool(settings.hash_concurrency, settings.hash_wait)
        rooms = RoomDirectory(database, cache, fanout, limits)
        markers = ReadMarkers(database, fanout)
        history = History(database, rooms)
        search = MessageSearch(database, rooms)
        direct = DirectRooms(database, cache, rooms, hub, fanout)
        chat = ChatService(database, rooms, hub, fanout, markers, history, limits, direct)
        if fanout.cluster is not None:
            await fanout.cluster.start()
        chat.writer.start()
        edits = MessageEdits(database, rooms, fanout, limits, settings.admins)
        accounts = Accounts(database, cache, timedelta(seconds=settings.token_ttl), limits, hashing)
        sweeper = TokenSweeper(database, accounts, hub)
        sweeper.start()
        metrics.watch(hub, chat, limits, hashing)
        return cls(
            settings,
            database,
            cache,
            hub,
            accounts,
            rooms,
            chat,
            markers,
            history,
            search,
            sweeper,
            hashing,
            edits,
            direct,
            People(database, fanout),
            fanout,
            namespace,
            database_id,
            metrics=metrics,
        )

    async def logout(self, token_hash: str) -> None:
        """The token ends; its sockets close now, on every server (at the latest at the next token
        sweep of a server that did not hear of it)."""
        await self.accounts.logout(token_hash)
        self.fanout.end_sessions("logged out", token_hash=token_hash)

    async def logout_everywhere(self, user: UserRecord) -> None:
        """Every token of the user ends; their sockets close now, on every server."""
        await self.accounts.logout_everywhere(user)
        self.fanout.end_sessions("logged out everywhere", user_id=user.id)

    async def storage_health(self) -> dict[str, Any]:
        try:
            await self.database.check()
        except StorageUnavailable as exc:  # health reports the failure instead of raising it
            # The kind of failure (TimeoutError, OperationalError), not the driver's words: health
            # answers anyone who asks.
            return {"backend": self.database.backend, "ok": False, "error": type(exc.__cause__ or exc).__name__}
        return {"backend": self.database.backend, "ok": True}

    def cluster_health(self) -> dict[str, Any] | None:
        """None for a server on its own; else whether events cross between servers live."""
        cluster = self.fanout.cluster
        if cluster is None:
            return None
        health: dict[str, Any] = {"ok": cluster.ok, "instances": cluster.servers}
        if not cluster.ok:
            health["message"] = "cross-instance delivery paused"
        return health

    def begin_shutdown(self) -> None:
        """Stop taking chat: close every WebSocket with 1001 (queued frames go out first)."""
        self.closing = True
        self.fanout.stopping = True
        self.hub.close_all(CloseCode.GOING_AWAY, "server shutting down")

    def connection_closed(self) -> None:
        if self.hub.connection_count == 0:
            self._all_closed.set()

    async def wait_connections_closed(self, within: float) -> None:
        if self.hub.connection_count == 0:
            return
        self._all_closed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_closed.wait(), within)

    async def close(self) -> None:
        """Flush every pending write, then release storage and cache."""
        await self.sweeper.close()
        await self.chat.writer.close()
        await self.direct.close()  # announcements of the last messages committed
        await self.fanout.settle()  # presence changes on their way to Redis
        if self.fanout.cluster is not None:
            await self.fanout.cluster.close()
        await self.cache.close()
        self.hashing.close()
        await self.database.call(lambda: None)
        self.database.close()
        log.info("storage flushed and closed")
