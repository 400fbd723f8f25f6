"""Metrics: what one server tells Prometheus (GET /metrics in the text format; docs/deploy.md, "Metrics").

One ``Metrics`` per server context, with a registry of its own (never prometheus_client's global
one: tests run several servers in one process, and each must report only itself). What the
services already count as plain integers (messages accepted, deliveries, refusals) and what the
hub knows (connections, rooms, backlogs) is read at scrape time by a collector, so chat pays an
integer increment and no lock; histograms are observed as things happen, the commit ones on the
writer's thread (prometheus_client's metrics are thread-safe).

Served off the public port: on a listener of its own (``--metrics-port``, ``metrics_server``),
and on the public port only to a bearer token (``--metrics-token``, ``with_metrics_for_token``),
any other request for it answered as any unknown path is (404).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn
from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.asgi import make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gochat.server import auth

if TYPE_CHECKING:
    from gochat.server.chat import ChatService
    from gochat.server.hashing import HashingPool
    from gochat.server.hub import RoomHub
    from gochat.server.limits import RateLimits

log = logging.getLogger(__name__)

PATH = "/metrics"

# Messages per group commit: one on a quiet server, up to the writer's MAX_BATCH under load.
COMMIT_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
# A commit: well under a millisecond on SQLite in memory, a few on a disk that flushes, seconds
# when the database stalls (the ACK deadline, --db-timeout, is 4 s by default).
COMMIT_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# One hop between instances through Redis: ~0.1-1 ms on a LAN, more across zones or under load.
REDIS_HOP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# Every kind a refusal may have, reported from the start (0) so rate() works from the first scrape.
REFUSAL_KINDS = ("message", "edit", "login", "registration", "room_create", "password_hashing")


class Metrics:
    """One server's registry: histograms observed as things happen, and the chat figures read at
    scrape time from the services ``watch`` is given."""

    def __init__(self, *, version: str, database_id: str, server_name: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # What the process costs (memory, CPU, descriptors), the Python and its collector: the
        # usual companions of an application's own figures.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        info = Gauge(
            "gochat_instance_info",
            "Always 1: which gochat this is (its version, its database's id, its name).",
            ["version", "database_id", "server_name"],
            registry=self.registry,
        )
        info.labels(version, database_id, server_name).set(1)
        self._commit_batch = Histogram(
            "gochat_commit_batch_messages",
            "Messages per group commit of the message writer (_count: commits, _sum: messages).",
            buckets=COMMIT_BATCH_BUCKETS,
            registry=self.registry,
        )
        self._commit_seconds = Histogram(
            "gochat_commit_seconds",
            "Seconds one group commit of the message writer took (insert, index, commit).",
            buckets=COMMIT_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self._redis_hop = Histogram(
            "gochat_redis_hop_seconds",
            "Seconds a frame took between instances through Redis.",
            buckets=REDIS_HOP_BUCKETS,
            registry=self.registry,
        )
        # The exposition (text format, gzip when asked, ?name[]= filters): prometheus_client's own.
        self.asgi: ASGIApp = make_asgi_app(self.registry)

    def watch(self, hub: RoomHub, chat: ChatService, limits: RateLimits, hashing: HashingPool) -> None:
        """Report these services: their figures read at each scrape, each commit observed."""
        self.registry.register(_ChatCollector(hub, chat, limits, hashing))
        chat.writer.observe_batch = self.observe_commit

    def observe_commit(self, messages: int, seconds: float) -> None:
        """One group commit of ``messages``, which took ``seconds`` (on the writer's thread)."""
        self._commit_batch.observe(messages)
        self._commit_seconds.observe(seconds)

    def observe_redis_hop(self, seconds: float) -> None:
        """One frame's trip from an instance to another through Redis (the cluster layer's)."""
        self._redis_hop.observe(seconds)


class _ChatCollector(Collector):
    """The chat figures, read from the services when Prometheus asks (on the event loop)."""

    def __init__(self, hub: RoomHub, chat: ChatService, limits: RateLimits, hashing: HashingPool) -> None:
        self._hub = hub
        self._chat = chat
        self._limits = limits
        self._hashing = hashing

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        yield GaugeMetricFamily("gochat_connections", "Open WebSocket connections.", value=hub.connection_count)
        yield GaugeMetricFamily(
            "gochat_users_connected",
            "Users with at least one open WebSocket connection.",
            value=len(hub.connected_user_ids()),
        )
        yield GaugeMetricFamily(
            "gochat_rooms_occupied",
            "Rooms with at least one connection present (watching alone does not count).",
            value=hub.occupied_room_count(),
        )
        total, largest = backlog_of(hub)
        yield GaugeMetricFamily(
            "gochat_fanout_backlog_frames",
            "Frames queued to clients and not yet written, over every connection.",
            value=total,
        )
        yield GaugeMetricFamily(
            "gochat_fanout_backlog_max_frames",
            "Frames queued to the one connection furthest behind (closed 1013 past --max-client-backlog).",
            value=largest,
        )
        yield CounterMetricFamily(
            "gochat_messages_in",
            "Messages accepted (SENDs past the checks and the rate limit, queued for storage).",
            value=self._chat.messages_accepted,
        )
        yield CounterMetricFamily(
            "gochat_messages_out",
            "Message frames delivered to connections: one per message per connection in or watching its room.",
            value=hub.message_deliveries,
        )
        refusals = CounterMetricFamily(
            "gochat_rate_limited",
            "Requests refused for speed (rate_limited: 429 or an error frame), by kind.",
            labels=["kind"],
        )
        counts = {kind: 0 for kind in REFUSAL_KINDS}
        counts.update(self._limits.refusals)
        counts["password_hashing"] = self._hashing.refusals
        for kind, count in counts.items():
            refusals.add_metric([kind], count)
        yield refusals


def backlog_of(hub: RoomHub) -> tuple[int, int]:
    """Frames queued and not yet written: over every connection, and the most for one."""
    total = largest = 0
    for connection in hub.connections():
        # The transport's connections have a backlog; the hub's protocol does not ask for one.
        queued: int = getattr(connection, "backlog", 0)
        total += queued
        largest = max(largest, queued)
    return total, largest


# -- serving ------------------------------------------------------------------------------

MetricsOf = Callable[[], "Metrics | None"]


class MetricsEndpoint:
    """The metrics listener's whole app: GET /metrics of the running server (503 until its
    context is up), 404 for any other path, 405 for any other method."""

    def __init__(self, metrics_of: MetricsOf) -> None:
        self._metrics_of = metrics_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; a WebSocket gets nothing here
            return
        if scope["path"] != PATH:
            response = PlainTextResponse("Not found: this listener serves GET /metrics only.\n", 404)
        elif scope["method"] != "GET":
            response = PlainTextResponse("Only GET.\n", 405, headers={"Allow": "GET"})
        elif (metrics := self._metrics_of()) is None:
            response = PlainTextResponse("The server is starting.\n", 503)
        else:
            await metrics.asgi(scope, receive, send)
            return
        await response(scope, receive, send)


def with_metrics_for_token(app: ASGIApp, token: str, metrics_of: MetricsOf) -> ASGIApp:
    """``app``, except that GET /metrics with ``Authorization: Bearer <token>`` is answered with
    the metrics. Without the token the request goes on to ``app``, which answers 404 as for any
    path it does not have: the public port does not say it has metrics at all."""
    expected = token.encode()

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            metrics = metrics_of()
            if metrics is not None and _has_token(scope, expected):
                await metrics.asgi(scope, receive, send)
                return
        await app(scope, receive, send)

    return asgi


def _has_token(scope: Scope, expected: bytes) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            given = auth.bearer_token(value.decode("latin-1"))
            # In constant time: how much of the token matched must not show in the answer's time.
            return given is not None and hmac.compare_digest(given.encode(), expected)
    return False


class _MetricsServer(uvicorn.Server):
    """uvicorn for the metrics listener, inside the chat server's loop: the chat server owns
    the signals (uvicorn's own handlers would take them from it) and says when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def metrics_server(metrics_of: MetricsOf, log_level: str) -> uvicorn.Server:
    """A small uvicorn server for the metrics listener; run it with ``serve(sockets=[...])``
    and stop it with ``should_exit``."""
    config = uvicorn.Config(
        MetricsEndpoint(metrics_of),
        interface="asgi3",
        lifespan="off",
        log_config=None,
        log_level=log_level,
        access_log=False,
        # Prometheus, and an operator's curl now and then: a handful at once is plenty.
        limit_concurrency=32,
        timeout_graceful_shutdown=2,
    )
    return _MetricsServer(config)


def describe_listener(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{PATH}"
