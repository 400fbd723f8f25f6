"""RoomHub: who is connected, who is in which room, and fan-out of frames. No sockets.

The seed kept this in module globals (``rooms``, ``users``) guarded by a mutex and fed by
channels. Here it is one object owned by the app, touched only from the event loop, so it
needs no locks. A connection is anything with ``deliver`` and ``close``; the WebSocket
transport supplies real ones, tests supply lists.

Fan-out never awaits: ``deliver`` only queues a frame that was encoded once for the whole
room, so one slow client cannot hold up the others.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from gochat.server.records import UserRecord


class Connection(Protocol):
    """One authenticated client connection, as the hub sees it."""

    id: int
    user: UserRecord
    token_hash: str
    # A frame arrived since the token sweep last looked: the connection is using its token.
    used: bool

    def deliver(self, frame: str) -> None:
        """Queue a frame for sending; never blocks."""

    def offer(self, frame: str) -> bool:
        """Queue a frame that may be dropped (typing) only when the connection is keeping up;
        True when queued. Never closes the connection for its backlog."""

    def close(self, code: int, reason: str) -> None:
        """Ask the transport to close this connection; never blocks."""


_ids = itertools.count(1)


def next_connection_id() -> int:
    return next(_ids)


@dataclass(slots=True)
class _RoomPresence:
    connections: dict[int, Connection] = field(default_factory=dict)
    # user id -> how many of that user's connections are in the room (several devices).
    users: dict[int, int] = field(default_factory=dict)
    user_records: dict[int, UserRecord] = field(default_factory=dict)
    # Connections that follow the room's messages without being present (watching).
    watchers: dict[int, Connection] = field(default_factory=dict)
    # Connections between "entered" (or "started watching") and "was sent the room state": their
    # frames wait here, tagged with the message id they carry, so history and live messages
    # neither gap nor overlap.
    joining: dict[int, list[tuple[int | None, str]]] = field(default_factory=dict)
    # A direct room's two members (who may be mentioned in it); None for a public room.
    direct_members: frozenset[int] | None = None
    # Connections whose room state carried messages up to an id not yet broadcast here (another
    # server committed them; the cluster's stream delivers them a moment later): not again.
    floors: dict[int, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.connections and not self.watchers


class RoomHub:
    def __init__(self) -> None:
        self._connections: dict[int, Connection] = {}
        self._rooms: dict[int, _RoomPresence] = {}
        self._rooms_of: dict[int, set[int]] = {}  # connection id -> rooms it is present in
        self._watching_of: dict[int, set[int]] = {}  # connection id -> rooms it watches
        self._by_user: dict[int, dict[int, Connection]] = {}  # user id -> their connections
        # The highest message id broadcast (ids are broadcast in rising order).
        self._released_id = 0
        self.message_deliveries = 0  # message frames queued (or held) for connections: metrics.py

    # -- connections -------------------------------------------------------------------

    def register(self, connection: Connection) -> None:
        self._connections[connection.id] = connection
        self._rooms_of[connection.id] = set()
        self._watching_of[connection.id] = set()
        self._by_user.setdefault(connection.user.id, {})[connection.id] = connection

    def unregister(self, connection: Connection) -> list[int]:
        """Forget a connection; returns the rooms its user is no longer present in."""
        left = [room_id for room_id in sorted(self._rooms_of.get(connection.id, ())) if self.leave(connection, room_id)]
        for room_id in list(self._watching_of.get(connection.id, ())):
            self.unwatch(connection, room_id)
        self._connections.pop(connection.id, None)
        self._rooms_of.pop(connection.id, None)
        self._watching_of.pop(connection.id, None)
        mine = self._by_user.get(connection.user.id)
        if mine is not None:
            mine.pop(connection.id, None)
            if not mine:
                del self._by_user[connection.user.id]
        return left

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def connected_user_ids(self) -> set[int]:
        """Who is connected (one person on two devices is one)."""
        return set(self._by_user)

    def connections(self) -> list[Connection]:
        return list(self._connections.values())

    def local_share(self) -> tuple[set[tuple[int, UserRecord]], set[UserRecord]]:
        """Who is present in which room here, and who is connected here (a cluster counts these
        again in Redis after losing them)."""
        present = {(room_id, user) for room_id, room in self._rooms.items() for user in room.user_records.values()}
        connected = {next(iter(mine.values())).user for mine in self._by_user.values() if mine}
        return present, connected

    def connections_with_token(self, token_hash: str) -> list[Connection]:
        return [c for c in self._connections.values() if c.token_hash == token_hash]

    def connections_of_user(self, user_id: int) -> list[Connection]:
        return list(self._by_user.get(user_id, {}).values())

    # -- presence ----------------------------------------------------------------------

    def enter(self, connection: Connection, room_id: int) -> bool:
        """Put a connection in a room, holding its live frames until ``finish_join``.

        Returns True when the user was not present in the room before (announce them).
        """
        presence = self._rooms.setdefault(room_id, _RoomPresence())
        if connection.id in presence.connections:
            return False
        presence.connections[connection.id] = connection
        presence.joining[connection.id] = []
        self._rooms_of[connection.id].add(room_id)
        count = presence.users.get(connection.user.id, 0)
        presence.users[connection.user.id] = count + 1
        presence.user_records[connection.user.id] = connection.user
        return count == 0

    def watch(self, connection: Connection, room_id: int) -> bool:
        """Follow a room's messages without being present. Returns True when the connection was
        neither watching nor present: its live frames are then held until ``finish_join`` (the
        watch reply's unread count and the live messages must not overlap)."""
        presence = self._rooms.setdefault(room_id, _RoomPresence())
        if connection.id in presence.watchers:
            return False
        presence.watchers[connection.id] = connection
        self._watching_of[connection.id].add(room_id)
        if connection.id in presence.connections:
            return False  # already gets the room's frames, in order: nothing to hold
        presence.joining[connection.id] = []
        return True

    def unwatch(self, connection: Connection, room_id: int) -> bool:
        """Stop watching; True when the connection was watching."""
        presence = self._rooms.get(room_id)
        if presence is None or presence.watchers.pop(connection.id, None) is None:
            return False
        watching = self._watching_of.get(connection.id)
        if watching is not None:
            watching.discard(room_id)
        if connection.id not in presence.connections:
            presence.joining.pop(connection.id, None)
            presence.floors.pop(connection.id, None)
        if presence.empty:
            del self._rooms[room_id]
        return True

    def is_watching(self, connection: Connection, room_id: int) -> bool:
        return room_id in self._watching_of.get(connection.id, ())

    def may_send(self, connection: Connection, room_id: int) -> bool:
        """Present or watching: either may post to the room."""
        return self.is_in(connection, room_id) or self.is_watching(connection, room_id)

    def finish_join(self, connection: Connection, room_id: int, history_upto: int) -> None:
        """Release held frames, skipping messages the room state already carried."""
        presence = self._rooms.get(room_id)
        if presence is None:
            return
        held = presence.joining.pop(connection.id, None)
        for message_id, frame in held or ():
            if message_id is None or message_id > history_upto:
                connection.deliver(frame)
        if history_upto > self._released_id:
            presence.floors[connection.id] = history_upto

    def leave(self, connection: Connection, room_id: int) -> bool:
        """Take a connection out of a room. Returns True when its user is now absent."""
        presence = self._rooms.get(room_id)
        if presence is None or presence.connections.pop(connection.id, None) is None:
            return False
        # A connection handles one frame at a time, so no watch reply is being held now.
        presence.joining.pop(connection.id, None)
        presence.floors.pop(connection.id, None)
        rooms_of = self._rooms_of.get(connection.id)
        if rooms_of is not None:
            rooms_of.discard(room_id)
        remaining = presence.users[connection.user.id] - 1
        if remaining:
            presence.users[connection.user.id] = remaining
            return False
        del presence.users[connection.user.id]
        del presence.user_records[connection.user.id]
        if presence.empty:
            del self._rooms[room_id]
        return True

    def is_user_present(self, room_id: int, user_id: int) -> bool:
        """Whether any connection of the user is present in the room here."""
        presence = self._rooms.get(room_id)
        return presence is not None and user_id in presence.users

    def is_in(self, connection: Connection, room_id: int) -> bool:
        return room_id in self._rooms_of.get(connection.id, ())

    def members(self, room_id: int) -> list[UserRecord]:
        presence = self._rooms.get(room_id)
        if presence is None:
            return []
        return sorted(presence.user_records.values(), key=lambda u: (u.username.casefold(), u.id))

    def is_followed(self, room_id: int) -> bool:
        """Whether any connection is in or watching the room (only those may send to it)."""
        return room_id in self._rooms

    def occupied_room_count(self) -> int:
        """Rooms with at least one connection present (watchers alone do not count)."""
        return sum(1 for presence in self._rooms.values() if presence.connections)

    def online(self, room_id: int) -> int:
        presence = self._rooms.get(room_id)
        return 0 if presence is None else len(presence.users)

    # -- fan-out -----------------------------------------------------------------------

    def broadcast(
        self,
        room_id: int,
        frame: str,
        *,
        message_id: int | None = None,
        exclude: Connection | None = None,
        watchers: bool = False,
    ) -> int:
        """Queue one encoded frame for every connection in a room (and, with ``watchers``, every
        connection watching it, once each); returns how many got it."""
        if message_id is not None and message_id > self._released_id:
            self._released_id = message_id
        presence = self._rooms.get(room_id)
        if presence is None:
            return 0
        excluded = exclude.id if exclude is not None else None
        sent = self._deliver(presence, presence.connections, frame, message_id, excluded, skip=None)
        if watchers and presence.watchers:
            # A connection both present and watching has had it already.
            sent += self._deliver(presence, presence.watchers, frame, message_id, excluded, skip=presence.connections)
        if message_id is not None:
            self.message_deliveries += sent
        return sent

    @staticmethod
    def _deliver(
        presence: _RoomPresence,
        connections: dict[int, Connection],
        frame: str,
        message_id: int | None,
        excluded: int | None,
        skip: dict[int, Connection] | None,
    ) -> int:
        """Queue the frame for each connection (or hold it for one still joining)."""
        joining = presence.joining
        floors = presence.floors
        sent = 0
        for connection_id, connection in connections.items():
            if connection_id == excluded or (skip is not None and connection_id in skip):
                continue
            if floors and message_id is not None and connection_id in floors:
                if message_id <= floors[connection_id]:
                    continue  # its room state had it
                del floors[connection_id]
            held = joining.get(connection_id) if joining else None
            if held is not None:
                held.append((message_id, frame))
            else:
                connection.deliver(frame)
            sent += 1
        return sent

    def offer_to_others_present(self, room_id: int, frame: str, user_id: int) -> int:
        """Offer a droppable frame (typing) to every connection present in the room (not
        watching, not still joining) whose user is not ``user_id``; returns how many took it."""
        presence = self._rooms.get(room_id)
        if presence is None:
            return 0
        taken = 0
        for connection_id, connection in presence.connections.items():
            if connection.user.id != user_id and connection_id not in presence.joining and connection.offer(frame):
                taken += 1
        return taken

    def note_direct_members(self, room_id: int, member_ids: frozenset[int]) -> None:
        """Remember, while anyone is in or watching the room here, that it is a direct room of
        these two users: sending to it then needs no look-up to know who may be mentioned."""
        presence = self._rooms.get(room_id)
        if presence is not None:
            presence.direct_members = member_ids

    def direct_members(self, room_id: int) -> frozenset[int] | None:
        """A direct room's members as noted by ``note_direct_members``; None otherwise."""
        presence = self._rooms.get(room_id)
        return None if presence is None else presence.direct_members

    def broadcast_everyone(self, frame: str) -> None:
        for connection in self._connections.values():
            connection.deliver(frame)

    def close_all(self, code: int, reason: str, connections: Iterable[Connection] | None = None) -> None:
        for connection in list(self._connections.values() if connections is None else connections):
            connection.close(code, reason)
