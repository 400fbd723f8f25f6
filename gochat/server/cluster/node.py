"""ClusterNode: this server as one of several sharing a database and a Redis (``--redis-url``).

It publishes what happens here on one Redis pub/sub channel, hears the others on it, and hands
every event to this server's ``Delivery`` (its own connections): stream events in rev order
through an ``OrderedStream``, the rest as they come. Presence counts live in Redis
(presence.py). Why pub/sub and not Streams, and the failure cases: docs/architecture.md,
"Several instances".

MariaDB stays the source of truth. Whenever the stream may have missed something — a gap that
stays open ``GAP_WAIT`` (a server killed between its commit and its publish), Redis away
(polled every ``POLL_WHILE_AWAY``), Redis back — it reads the database from its position
(store/stream.py) and delivers what it missed, in order, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gochat.protocol import User
from gochat.server.cluster import events
from gochat.server.cluster.events import ClusterEvent, PresenceChanged, StreamEvent
from gochat.server.cluster.ordering import OrderedStream
from gochat.server.cluster.presence import HEARTBEAT, Change, Gone, OnlineCounts, RedisPresence
from gochat.server.errors import StorageUnavailable
from gochat.server.store import stream
from gochat.server.store.database import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds a gap in the stream may stay open before the database is read for it: commits on two
# servers a moment apart reach a third in either order, and the later one waits this long at
# most for the earlier.
GAP_WAIT = 0.2
# Seconds between reads of the database while Redis is away.
POLL_WHILE_AWAY = 1.0
# Messages (and changes) read per catch-up statement.
CATCH_UP_PAGE = 1000
# Events published per Redis round trip at most.
PUBLISH_BATCH = 500
# Events waiting to be published at most (Redis slower than this server): past it they are
# dropped, and the other servers read the stream from the database instead.
OUTBOX_MAX = 50_000
# Redis calls that take longer fail (a hung Redis must not hang ENTER).
REDIS_TIMEOUT = 2.0
# Heartbeats between recounts of this server's share of presence in Redis.
RECOUNT_EVERY = 6


class ClusterNode:
    def __init__(
        self,
        redis_url: str,
        namespace: str,
        database: Database,
        on_event: Callable[[ClusterEvent], None],
        on_stream: Callable[[StreamEvent], None],
        local_share: Callable[[], tuple[set[tuple[int, User]], set[User]]],
        on_hop: Callable[[float], None] | None = None,
    ) -> None:
        """``on_event``: deliver another server's event here; ``on_stream``: deliver a stream
        event (from anywhere) here, in rev order; ``local_share``: who is present in which room
        here and who is connected here (counted again in Redis after it lost them)."""
        self.server_id = uuid.uuid4().hex[:12]
        self._channel = f"{namespace}:events"
        self._servers_key = f"{namespace}:servers"
        self._database = database
        self._on_event = on_event
        self._on_stream = on_stream
        self._local_share = local_share
        self._on_hop = on_hop
        self._redis = aioredis.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, health_check_interval=10
        )
        # The subscription waits for messages as long as none come: no read timeout on it.
        self._subscriber = aioredis.from_url(
            redis_url, socket_connect_timeout=REDIS_TIMEOUT, socket_keepalive=True, health_check_interval=10
        )
        self.presence = RedisPresence(self._redis, namespace, self.server_id)
        self.stream: OrderedStream | None = None
        # Users present per room on the whole cluster, as last heard (REST lists, room views).
        self.online = OnlineCounts()
        self._outbox: asyncio.Queue[tuple[ClusterEvent, float]] = asyncio.Queue()
        self._subscribed = False
        self._redis_ok = True
        self._catching_up: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._presence_lock = asyncio.Lock()
        self._servers = 1

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        position = await self._database.run(stream.current_position)
        self.stream = OrderedStream(position, self._on_stream)
        for name, work in (
            ("subscriber", self._subscribe_forever),
            ("publisher", self._publish_forever),
            ("heartbeat", self._heartbeat_forever),
            ("gaps", self._watch_gaps),
        ):
            task = asyncio.create_task(work(), name=f"cluster-{name}")
            task.add_done_callback(_log_if_failed)
            self._tasks.append(task)

    async def close(self) -> None:
        """Stop taking part. This server's share of presence stays in Redis until it expires
        (SERVER_EXPIRY after the last heartbeat), when another server takes it back and
        announces who did not come back: a restart, like a kill, shows nobody leaving and
        entering again (its connections close with 1001 and reconnect to another server)."""
        tasks = [*self._tasks, *([self._catching_up] if self._catching_up is not None else [])]
        for task in tasks:
            task.cancel()
        # Bounded: a Redis call caught mid-way must not hold the server's shutdown.
        await asyncio.wait(tasks, timeout=REDIS_TIMEOUT)
        for client in (self._redis, self._subscriber):
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(client.aclose(), REDIS_TIMEOUT)

    @property
    def ok(self) -> bool:
        """Events cross between servers live (subscribed, and Redis answers)."""
        return self._subscribed and self._redis_ok

    @property
    def servers(self) -> int:
        """Servers alive on the cluster at the last heartbeat (this one at least)."""
        return self._servers

    # -- outgoing -------------------------------------------------------------------------

    def publish(self, event: ClusterEvent) -> None:
        """Tell the other servers (this one has acted on it already). Dropped while Redis is away:
        stream events are read back from the database, the rest are live hints."""
        if not self.ok:
            return
        if self._outbox.qsize() >= OUTBOX_MAX:
            self._redis_failed(RuntimeError(f"{OUTBOX_MAX} events wait for Redis"))
            return
        self._outbox.put_nowait((event, time.time()))

    def sequence(self, event: StreamEvent) -> None:
        """A stream event made here: delivered here in rev order, and published."""
        assert self.stream is not None
        self.stream.offer(event)
        self.publish(event)
        if self.stream.held and not self.ok:
            self._catch_up_soon()  # no other server's event will come to fill the gap

    async def _publish_forever(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < PUBLISH_BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for event, sent_at in batch:
                        pipe.publish(self._channel, events.encode(event, self.server_id, sent_at))
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)

    # -- incoming -------------------------------------------------------------------------

    async def _subscribe_forever(self) -> None:
        backoff = 0.05
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed = True
                self._redis_ok = True
                backoff = 0.05
                log.info("cluster: subscribed to %s as server %s", self._channel, self.server_id)
                # Whatever was said while this server was not listening, the database has; the
                # counts are read again whole (a restarted Redis numbers versions from 0 again).
                self.online.forget()
                await self._count_again()
                self._catch_up_soon()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._received(message["data"])
            except (RedisError, OSError) as exc:
                if self._subscribed:
                    log.warning("cluster: lost Redis (%s); cross-instance delivery paused", exc)
                self._subscribed = False
            finally:
                with contextlib.suppress(RedisError, OSError, RuntimeError, TimeoutError):
                    await asyncio.wait_for(pubsub.aclose(), REDIS_TIMEOUT)  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, 1.0)

    def _received(self, data: bytes | str) -> None:
        if events.from_origin(data, self.server_id):
            return  # its own, acted on when it was made
        try:
            received = events.decode(data)
        except (ValueError, KeyError, TypeError):
            log.warning("cluster: ignored a malformed event", exc_info=True)
            return
        if self._on_hop is not None:
            self._on_hop(max(0.0, time.time() - received.sent_at))
        event = received.event
        if isinstance(event, events.StoredBatch | events.Edited | events.Deleted):
            assert self.stream is not None
            self.stream.offer(event)
            return
        if isinstance(event, PresenceChanged):
            self.online.note(event.room_id, event.version, event.online)
        self._on_event(event)

    # -- the database behind the stream ----------------------------------------------------

    async def _watch_gaps(self) -> None:
        assert self.stream is not None
        last_poll = time.monotonic()
        while True:
            await asyncio.sleep(GAP_WAIT / 4)
            age = self.stream.gap_age()
            if age is not None and age >= GAP_WAIT:
                self._catch_up_soon()
            elif not self.ok and time.monotonic() - last_poll >= POLL_WHILE_AWAY:
                last_poll = time.monotonic()
                self._catch_up_soon()

    def _catch_up_soon(self) -> None:
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.create_task(self._catch_up(), name="cluster-catch-up")
            self._catching_up.add_done_callback(_log_if_failed)

    async def _catch_up(self) -> None:
        assert self.stream is not None
        while True:
            try:
                changes = await self._database.run(stream.changes_since, self.stream.position, CATCH_UP_PAGE)
            except StorageUnavailable as exc:
                log.warning("cluster: cannot read the stream from the database: %s", exc.detail or exc.message)
                return  # the next gap check or poll asks again
            self.stream.caught_up(changes)
            if not changes.more:
                return

    # -- presence ---------------------------------------------------------------------------

    async def entered(self, room_id: int, user: User) -> Change | None:
        """This server now has ``user`` present in the room; None while Redis is away (the
        caller falls back to its own count)."""
        change = await self._presence_call(self.presence.enter(room_id, user))
        if change is not None:
            self.online.note(room_id, change.version, change.online)
        return change

    async def left(self, room_id: int, user_id: int) -> Change | None:
        change = await self._presence_call(self.presence.leave(room_id, user_id))
        if change is not None:
            self.online.note(room_id, change.version, change.online)
        return change

    async def connected(self, user: User) -> None:
        await self._presence_call(self.presence.connect(user))

    async def disconnected(self, user_id: int) -> None:
        await self._presence_call(self.presence.disconnect(user_id))

    async def members(self, room_id: int) -> list[User] | None:
        found = await self._presence_call(self.presence.members(room_id))
        if found is None:
            return None
        version, users = found
        # The count as of the list (an ENTER reads it just before announcing the entrant).
        self.online.note(room_id, version, len(users))
        return users

    async def online_users(self, user_ids: list[int]) -> set[int] | None:
        return await self._presence_call(self.presence.online_users(user_ids))

    async def _presence_call(self, call: Awaitable[T]) -> T | None:
        # One at a time, in the order asked: a leave never overtakes the enter before it.
        async with self._presence_lock:
            try:
                result = await call
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
                return None
        self._redis_ok = True
        return result

    def _redis_failed(self, exc: BaseException) -> None:
        if self._redis_ok:
            log.warning("cluster: Redis is not answering (%s); cross-instance delivery paused", exc)
        self._redis_ok = False

    async def _count_again(self) -> None:
        """Make Redis count exactly this server's share again (after Redis was away or restarted,
        or took this server for dead): add what is here and missing, take back what is gone."""
        present, connected = self._local_share()
        async with self._presence_lock:
            counted_pairs, counted_users = await self.presence.counted_here()
            here_pairs = {(room_id, user.id) for room_id, user in present}
            for room_id, user in present:
                if (room_id, user.id) not in counted_pairs:
                    await self.presence.enter(room_id, user)
            stale = sorted(counted_pairs - here_pairs)
            names = await self.presence.names([user_id for _, user_id in stale])
            for room_id, user_id in stale:
                # Left while Redis was away: announced here then, now to the other servers.
                change = await self.presence.leave(room_id, user_id)
                if change.announce:
                    gone = Gone(room_id, User(user_id, names.get(user_id, "")), change.online, change.version)
                    self._announce_gone([gone])
            for user in connected:
                if user.id not in counted_users:
                    await self.presence.connect(user)
            for user_id in counted_users - {user.id for user in connected}:
                await self.presence.disconnect(user_id)
            everywhere = await self.presence.rooms_with_presence() if not self.online else []
            rooms = sorted({room_id for room_id, _ in present} | set(self.online.rooms()) | set(everywhere))
            self._note_counts(await self.presence.online_counts(rooms))

    async def _heartbeat_forever(self) -> None:
        beats = 0
        while True:
            beats += 1
            try:
                unlisted, dead = await self.presence.heartbeat()
                self._redis_ok = True
                # Now and then in any case: a share that drifted (a change lost with a timeout)
                # is set right within RECOUNT_EVERY heartbeats.
                if (unlisted or beats % RECOUNT_EVERY == 0) and self._subscribed:
                    await self._count_again()
                for server in dead:
                    gone = await self.presence.reap(server)
                    if gone:
                        log.info("cluster: server %s stopped answering; %d presences ended", server, len(gone))
                        self._announce_gone(gone)
                # What a server committed but never published (killed between the two) leaves no
                # gap until something follows it: a look at the database now and then finds it.
                self._catch_up_soon()
                self._note_counts(await self.presence.online_counts(self.online.rooms()))
                self._servers = max(1, int(await self._redis.zcard(self._servers_key)))
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
            await asyncio.sleep(HEARTBEAT)

    def _note_counts(self, counts: dict[int, tuple[int, int]]) -> None:
        for room_id, (version, online) in counts.items():
            self.online.note(room_id, version, online)

    def _announce_gone(self, gone: list[Gone]) -> None:
        for item in gone:
            event = PresenceChanged(item.room_id, item.user, False, item.online, item.version)
            self.online.note(item.room_id, item.version, item.online)
            self._on_event(event)
            self.publish(event)


def _log_if_failed(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("cluster task %s failed", task.get_name(), exc_info=task.exception())
