"""Fanout: where the services send what happened, for this server's connections and, when it is
one of several (``--redis-url``), for every server's.

``Delivery`` is what one server does for its own connections when something happens anywhere:
the same code for an event made here and one heard from another server. ``Fanout`` is what the
services call: alone, it delivers at once (in-process fan-out, as fast as ever); in a cluster it
also publishes, sends stream events (messages, edits, deletions) through the cluster's ordered
stream, and asks Redis who is present where.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine
from typing import Any

from gochat.protocol import (
    CloseCode,
    Mentioned,
    Message,
    MessageDeleted,
    MessageEdited,
    Presence,
    User,
    encode_server_frame,
    message_frame,
)
from gochat.server.cluster.events import (
    ClusterEvent,
    Deleted,
    Edited,
    PresenceChanged,
    SessionsEnded,
    StoredBatch,
    StreamEvent,
    ToEveryone,
    ToUser,
    TypingStarted,
)
from gochat.server.cluster.node import ClusterNode
from gochat.server.hub import Connection, RoomHub

log = logging.getLogger(__name__)

# Seconds a shutdown waits for presence changes still on their way to Redis.
SETTLE_TIMEOUT = 5.0


class Delivery:
    """This server's connections, for events from anywhere. Never awaits."""

    def __init__(self, hub: RoomHub) -> None:
        self._hub = hub

    def stream_event(self, event: StreamEvent) -> None:
        hub = self._hub
        match event:
            case StoredBatch():
                wire = event.wire or tuple(message.wire_json() for message in event.messages)
                for message, message_json in zip(event.messages, wire, strict=True):
                    self.message(message, message_json)
            case Edited():
                hub.broadcast(event.message.room_id, encode_server_frame(MessageEdited(event.message)), watchers=True)
                self.notify_mentions(event.message, event.mentioned_before)
            case Deleted():
                deleted = MessageDeleted(event.room_id, event.message_id, event.deleted_by, event.rev)
                hub.broadcast(event.room_id, encode_server_frame(deleted), watchers=True)

    def message(self, message: Message, message_json: str) -> None:
        """A new message: its room (present and watching connections), then who it mentions."""
        self._hub.broadcast(message.room_id, message_frame(message_json), message_id=message.id, watchers=True)
        if message.mentions:
            self.notify_mentions(message)

    def notify_mentions(self, message: Message, already_notified: Collection[int] = ()) -> None:
        """MENTIONED (12) to every connection here of each user the message mentions that is not
        present in its room (a watcher is not present); never to its author, nor to users in
        ``already_notified`` (an edit passes those its earlier text mentioned)."""
        frame: str | None = None
        for user in message.mentions:
            if user.id == message.author.id or user.id in already_notified:
                continue
            for connection in self._hub.connections_of_user(user.id):
                if not self._hub.is_in(connection, message.room_id):
                    frame = frame or encode_server_frame(Mentioned(message))
                    connection.deliver(frame)

    def event(self, event: ClusterEvent, exclude: Connection | None = None) -> None:
        """Any event but a stream event, made here (``exclude``: the connection that caused it,
        which has its answer) or heard from another server."""
        hub = self._hub
        match event:
            case PresenceChanged():
                presence = Presence(event.room_id, event.user, event.online, event.entered)
                hub.broadcast(event.room_id, encode_server_frame(presence), exclude=exclude, watchers=True)
            case ToEveryone():
                hub.broadcast_everyone(event.frame)
            case ToUser():
                for connection in hub.connections_of_user(event.user_id):
                    if connection is not exclude:
                        connection.deliver(event.frame)
            case TypingStarted():
                hub.offer_to_others_present(event.room_id, event.frame, event.user_id)
            case SessionsEnded():
                if event.token_hash is not None:
                    hub.close_all(CloseCode.LOGGED_OUT, event.reason, hub.connections_with_token(event.token_hash))
                if event.user_id is not None:
                    hub.close_all(CloseCode.LOGGED_OUT, event.reason, hub.connections_of_user(event.user_id))
            case _:
                self.stream_event(event)


class Fanout:
    def __init__(self, hub: RoomHub, cluster: ClusterNode | None = None) -> None:
        self._hub = hub
        self.delivery = Delivery(hub)
        self.cluster = cluster
        # Presence changes made here that wait for Redis, in order (leaving is not awaited).
        self._pending: set[asyncio.Task[None]] = set()
        # Set when this server shuts down: its people are on their way to another server.
        self.stopping = False

    # -- the stream: messages, edits, deletions --------------------------------------------

    def stored(self, messages: list[tuple[Message, str]]) -> None:
        """New messages committed here together (id order), each with its wire JSON."""
        if not messages:
            return
        if self.cluster is None:
            for message, message_json in messages:
                self.delivery.message(message, message_json)
            return
        revs = [message.rev for message, _ in messages]
        batch = StoredBatch(
            min(revs), max(revs), tuple(message for message, _ in messages), tuple(wire for _, wire in messages)
        )
        self.cluster.sequence(batch)

    def edited(self, message: Message, mentioned_before: Collection[int]) -> None:
        self._stream(Edited(message.rev, message, frozenset(mentioned_before)))

    def deleted(self, room_id: int, message_id: int, deleted_by: User, rev: int) -> None:
        self._stream(Deleted(rev, room_id, message_id, deleted_by))

    def _stream(self, event: StreamEvent) -> None:
        if self.cluster is None:
            self.delivery.stream_event(event)
        else:
            self.cluster.sequence(event)

    # -- everything else ---------------------------------------------------------------------

    def to_everyone(self, frame: str) -> None:
        self._event(ToEveryone(frame))

    def to_user(self, user_id: int, frame: str, exclude: Connection | None = None) -> None:
        self._event(ToUser(user_id, frame), exclude)

    def typing(self, room_id: int, user_id: int, frame: str) -> None:
        self._event(TypingStarted(room_id, user_id, frame))

    def end_sessions(self, reason: str, *, token_hash: str | None = None, user_id: int | None = None) -> None:
        """Close with 4001 the token's connections, or all the user's, on every server."""
        self._event(SessionsEnded(reason, token_hash, user_id))

    def _event(self, event: ClusterEvent, exclude: Connection | None = None) -> None:
        self.delivery.event(event, exclude)
        if self.cluster is not None:
            self.cluster.publish(event)

    # -- presence ----------------------------------------------------------------------------

    def online(self, room_id: int) -> int:
        """Users present in the room, on every server."""
        if self.cluster is None or not self.cluster.ok:
            return self._hub.online(room_id)
        return max(self.cluster.online.get(room_id), self._hub.online(room_id))

    async def members(self, room_id: int) -> list[User]:
        """Who is present in the room, on every server, by name."""
        here = self._hub.members(room_id)
        if self.cluster is None:
            return here
        found = await self.cluster.members(room_id)
        if found is None:
            return here
        everyone = {user.id: user for user in found} | {user.id: user for user in here}
        return sorted(everyone.values(), key=lambda u: (u.username.casefold(), u.id))

    async def present(self, room_id: int, user: User, newly_here: bool) -> bool:
        """``user`` is present in the room here (``newly_here``: their first connection in it here);
        whether to announce them (their first presence in it anywhere)."""
        if self.cluster is None or not newly_here:
            return newly_here
        change = await self.cluster.entered(room_id, user)
        return newly_here if change is None else change.announce

    def absent(self, room_id: int, user: User, exclude: Connection | None = None) -> None:
        """``user``'s last connection here left the room: announced once they are gone everywhere.
        Not while this server shuts down in a cluster: its people reconnect to another server in
        a moment, so its share of presence is left to expire as a killed server's would (only
        those who do not come back are announced, within 30 s)."""
        if self.cluster is None:
            self.announce(room_id, user, entered=False, exclude=exclude)
            return
        if self.stopping:
            return
        self._later(self._absent(room_id, user, exclude))

    async def _absent(self, room_id: int, user: User, exclude: Connection | None) -> None:
        assert self.cluster is not None
        change = await self.cluster.left(room_id, user.id)
        if change is None or change.announce:
            self.announce(room_id, user, entered=False, exclude=exclude)

    def announce(self, room_id: int, user: User, *, entered: bool, exclude: Connection | None = None) -> None:
        version = 0 if self.cluster is None else self.cluster.online.version(room_id)
        self._event(PresenceChanged(room_id, user, entered, self.online(room_id), version), exclude)

    def connected(self, user: User, first_here: bool) -> None:
        if self.cluster is not None and first_here:
            self._later(self.cluster.connected(user))

    def disconnected(self, user: User, last_here: bool) -> None:
        if self.cluster is not None and last_here and not self.stopping:
            self._later(self.cluster.disconnected(user.id))

    async def online_users(self, user_ids: list[int]) -> set[int]:
        """Which of these users are connected, to any server."""
        here = self._hub.connected_user_ids() & set(user_ids)
        if self.cluster is None:
            return here
        found = await self.cluster.online_users(user_ids)
        return here if found is None else here | found

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a presence change for the cluster failed", exc_info=task.exception())

    async def settle(self) -> None:
        """Wait for presence changes still on their way to Redis (shutdown, tests), a few
        seconds at most: each Redis call has its own timeout, but they run one at a time."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=SETTLE_TIMEOUT)
