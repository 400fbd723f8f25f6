"""Who is where on the whole cluster, kept in Redis by atomic scripts.

Keys (``ns``: the server's Redis namespace, one per database):

- ``{ns}:presence:{room}``  hash user id -> how many servers have the user present in the room
- ``{ns}:presence-of:{server}``  set of "room:user" this server counts (so its share can be
  taken back when it dies)
- ``{ns}:online`` / ``{ns}:online-of:{server}``  the same for "connected at all"
- ``{ns}:presence-version``  hash room id -> a number that rises with each change of who is
  present in the room (counts heard in any order: the highest version's is the current one)
- ``{ns}:names``  hash user id -> username (member lists name who is present elsewhere)
- ``{ns}:servers``  sorted set server id -> last heartbeat (Redis's own clock, milliseconds)

A server counts a user once per room however many of their connections it holds (its hub counts
those), so the hash counts servers, and "entered"/"left" are announced by whichever server moves
a user's count from 0 to 1 or from 1 to 0: once across the cluster. A server whose heartbeat is
older than ``SERVER_EXPIRY`` is dead: the first server to notice takes its share back in one
script (so only one announces who left) and announces those now gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from gochat.protocol import User

# Seconds between heartbeats, and after which a silent server is taken for dead (issue 14: its
# users are announced gone within 30 s: at most SERVER_EXPIRY + HEARTBEAT after it stopped).
HEARTBEAT = 5.0
SERVER_EXPIRY = 15.0

# A room's presence version (``{ns}:presence-version`` room -> n) rises with every change of who
# is present in it, in the same script, so a count always travels with the version it is of.
# KEYS: presence:{room}, presence-of:{server}, names, presence-version; ARGV: "room:user", user
# id, username, room id. Returns {the user's count after, users present, version}.
_ENTER = """
local function version() return tonumber(redis.call('HGET', KEYS[4], ARGV[4])) or 0 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return {-1, redis.call('HLEN', KEYS[1]), version()} end
local n = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
local v = n == 1 and redis.call('HINCRBY', KEYS[4], ARGV[4], 1) or version()
return {n, redis.call('HLEN', KEYS[1]), v}
"""
# KEYS: presence:{room}, presence-of:{server}, presence-version; ARGV: "room:user", user id, room id.
_LEAVE = """
local function version() return tonumber(redis.call('HGET', KEYS[3], ARGV[3])) or 0 end
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return {-1, redis.call('HLEN', KEYS[1]), version()} end
local n = redis.call('HINCRBY', KEYS[1], ARGV[2], -1)
local v
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[2])
  v = redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
else
  v = version()
end
return {n, redis.call('HLEN', KEYS[1]), v}
"""
_CONNECT = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then redis.call('HINCRBY', KEYS[1], ARGV[1], 1) end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
"""
_DISCONNECT = """
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then
  if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
end
return 1
"""
# KEYS[1] servers; ARGV: server id, expiry ms. Returns {1 if this server was not listed (new, or
# taken for dead meanwhile), dead server ids...}.
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
table.insert(dead, 1, added)
return dead
"""
# KEYS: presence-of:{dead}, online-of:{dead}, online, servers, presence-version; ARGV: namespace,
# dead id. Returns {room, user, online after, version, ...} for each user now gone from a room.
_REAP = """
local gone = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local room, user = string.match(member, '(%d+):(%d+)')
  local key = ARGV[1] .. ':presence:' .. room
  if redis.call('HINCRBY', key, user, -1) <= 0 then
    redis.call('HDEL', key, user)
    table.insert(gone, room)
    table.insert(gone, user)
    table.insert(gone, redis.call('HLEN', key))
    table.insert(gone, redis.call('HINCRBY', KEYS[5], room, 1))
  end
end
for _, user in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then redis.call('HDEL', KEYS[3], user) end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[4], ARGV[2])
return gone
"""


@dataclass(frozen=True, slots=True)
class Change:
    """A user's presence in a room after this server's change: ``announce`` when it moved the
    user's count across the cluster between 0 and 1; ``online``: users present after it, as of
    the room's presence ``version``."""

    announce: bool
    online: int
    version: int


@dataclass(frozen=True, slots=True)
class Gone:
    room_id: int
    user: User
    online: int
    version: int


class OnlineCounts:
    """Users present per room on the whole cluster, as last heard. Counts reach a server from its
    own scripts, from other servers' events and from its reads of Redis, in any order (a count
    read a moment ago may land after a newer one): the count of the highest version wins."""

    def __init__(self) -> None:
        self._counts: dict[int, tuple[int, int]] = {}

    def note(self, room_id: int, version: int, online: int) -> None:
        known = self._counts.get(room_id)
        if known is None or version >= known[0]:
            self._counts[room_id] = (version, online)

    def get(self, room_id: int) -> int:
        return self._counts.get(room_id, (0, 0))[1]

    def version(self, room_id: int) -> int:
        return self._counts.get(room_id, (0, 0))[0]

    def rooms(self) -> list[int]:
        return sorted(self._counts)

    def forget(self) -> None:
        """Redis came back, maybe empty: its versions may start again from 0."""
        self._counts.clear()

    def __bool__(self) -> bool:
        return bool(self._counts)


class RedisPresence:
    def __init__(self, client: aioredis.Redis, namespace: str, server_id: str) -> None:
        self._redis = client
        self._ns = namespace
        self._server = server_id
        self._enter = client.register_script(_ENTER)
        self._leave = client.register_script(_LEAVE)
        self._connect = client.register_script(_CONNECT)
        self._disconnect = client.register_script(_DISCONNECT)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._reap = client.register_script(_REAP)
        self._versions = f"{namespace}:presence-version"

    def _room(self, room_id: int) -> str:
        return f"{self._ns}:presence:{room_id}"

    def _of(self, kind: str, server: str) -> str:
        return f"{self._ns}:{kind}-of:{server}"

    async def enter(self, room_id: int, user: User) -> Change:
        keys = [self._room(room_id), self._of("presence", self._server), f"{self._ns}:names", self._versions]
        count, online, version = await self._enter(keys, [f"{room_id}:{user.id}", user.id, user.username, room_id])
        return Change(int(count) == 1, int(online), int(version))

    async def leave(self, room_id: int, user_id: int) -> Change:
        keys = [self._room(room_id), self._of("presence", self._server), self._versions]
        count, online, version = await self._leave(keys, [f"{room_id}:{user_id}", user_id, room_id])
        return Change(int(count) == 0, int(online), int(version))

    async def connect(self, user: User) -> None:
        keys = [f"{self._ns}:online", self._of("online", self._server), f"{self._ns}:names"]
        await self._connect(keys, [user.id, user.username])

    async def disconnect(self, user_id: int) -> None:
        await self._disconnect([f"{self._ns}:online", self._of("online", self._server)], [user_id])

    async def members(self, room_id: int) -> tuple[int, list[User]]:
        """The room's presence version and who is present in it then."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hkeys(self._room(room_id))
            pipe.hget(self._versions, room_id)
            user_ids, version = await pipe.execute()
        names = await self.names([int(i) for i in user_ids])
        return int(version or 0), [User(user_id, name) for user_id, name in names.items()]

    async def names(self, user_ids: list[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        names = await self._redis.hmget(f"{self._ns}:names", user_ids)
        return {user_id: _text(name) for user_id, name in zip(user_ids, names, strict=True) if name is not None}

    async def rooms_with_presence(self) -> list[int]:
        """Every room someone is present in, on any server (a server starting learns the counts)."""
        prefix = f"{self._ns}:presence:"
        found = []
        async for key in self._redis.scan_iter(match=f"{prefix}*", count=1000):
            suffix = _text(key).removeprefix(prefix)
            if suffix.isdigit():
                found.append(int(suffix))
        return found

    async def online_counts(self, room_ids: list[int]) -> dict[int, tuple[int, int]]:
        """Room id -> (presence version, users present), each pair read at one moment."""
        if not room_ids:
            return {}
        async with self._redis.pipeline(transaction=True) as pipe:
            for room_id in room_ids:
                pipe.hlen(self._room(room_id))
            pipe.hmget(self._versions, room_ids)
            *counts, versions = await pipe.execute()
        return {
            room_id: (int(version or 0), int(count))
            for room_id, count, version in zip(room_ids, counts, versions, strict=True)
        }

    async def online_users(self, user_ids: list[int]) -> set[int]:
        if not user_ids:
            return set()
        counts = await self._redis.hmget(f"{self._ns}:online", user_ids)
        return {user_id for user_id, count in zip(user_ids, counts, strict=True) if count and int(count) > 0}

    async def counted_here(self) -> tuple[set[tuple[int, int]], set[int]]:
        """What Redis holds as this server's share: (room, user) present, users connected."""
        present = await self._redis.smembers(self._of("presence", self._server))
        connected = await self._redis.smembers(self._of("online", self._server))
        pairs = {(int(room), int(user)) for room, user in (_text(m).split(":") for m in present)}
        return pairs, {int(u) for u in connected}

    async def heartbeat(self) -> tuple[bool, list[str]]:
        """Mark this server alive; returns (whether it was not listed — new, or reaped meanwhile
        so its share must be counted again —, servers past their expiry)."""
        reply = await self._heartbeat([f"{self._ns}:servers"], [self._server, int(SERVER_EXPIRY * 1000)])
        return bool(int(reply[0])), [_text(s) for s in reply[1:] if _text(s) != self._server]

    async def reap(self, server: str) -> list[Gone]:
        """Take a dead server's share back; who is now gone from which room."""
        keys = [
            self._of("presence", server),
            self._of("online", server),
            f"{self._ns}:online",
            f"{self._ns}:servers",
            self._versions,
        ]
        flat = await self._reap(keys, [self._ns, server])
        gone = [flat[i : i + 4] for i in range(0, len(flat), 4)]
        if not gone:
            return []
        names = await self.names([int(g[1]) for g in gone])
        return [
            Gone(int(room), User(int(user), names.get(int(user), f"user {int(user)}")), int(online), int(version))
            for room, user, online, version in gone
        ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
