"""Accounts: registration, login, logout and token authentication."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from gochat.protocol import NAME_LOOKS_TAKEN, NAME_TAKEN, username_key, validate_password, validate_username
from gochat.server import auth
from gochat.server.cache import Cache
from gochat.server.errors import Conflict, Unauthorized
from gochat.server.hashing import HashingPool
from gochat.server.limits import RateLimits
from gochat.server.records import UserRecord
from gochat.server.store import queries
from gochat.server.store.database import Database
from gochat.server.store.models import utcnow

# A session's last use is written at most this often, so a busy token is not a write per request.
# Its expiry is then up to this much early: nothing next to a lifetime of days.
MAX_RENEW_INTERVAL = timedelta(seconds=60)


def _refuse(clash: type[queries.NameTaken] | None) -> None:
    if clash is not None:
        raise Conflict(NAME_LOOKS_TAKEN if issubclass(clash, queries.NameLooksTaken) else NAME_TAKEN)


MAX_KEY_CHARS = 64  # twice the longest username


class Accounts:
    def __init__(
        self,
        database: Database,
        cache: Cache,
        token_ttl: timedelta,
        limits: RateLimits,
        hashing: HashingPool,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database
        self._cache = cache
        self._limits = limits
        self._hashing = hashing
        self.token_ttl = token_ttl
        # A tenth of the lifetime for the short ones tests use, so renewal still counts.
        self._renew_interval = min(MAX_RENEW_INTERVAL, token_ttl / 10)
        self._clock = clock

    def expired_before(self, now: datetime) -> datetime:
        """Sessions last used before this have ended."""
        return now - self.token_ttl

    async def register(self, username: object, password: object, address: str | None = None) -> UserRecord:
        """A new account; ``address`` (the client's) is counted against registrations from it."""
        name = validate_username(username)
        secret = validate_password(password)
        key = username_key(name)
        self._limits.register(address)
        if await self._cache.get_user_by_name(key) is not None:
            raise Conflict(NAME_TAKEN)
        # Before the slow hash: a taken or look-alike name costs no hashing.
        _refuse(await self._db.run(queries.name_clash, name))
        # Hashing is deliberately slow: on its own bounded pool, off the event loop.
        password_hash = await self._hashing.run(auth.hash_password, secret)
        try:
            user = await self._db.run(queries.create_user, name, password_hash)
        except queries.NameTaken as taken:
            # Lost a race to a registration of the same name or a look-alike: say which.
            _refuse(await self._db.run(queries.name_clash, name) or type(taken))
            raise
        await self._cache.put_user(user, key)
        return user

    async def login(self, username: object, password: object, address: str | None = None) -> tuple[str, UserRecord]:
        failure = Unauthorized("Wrong username or password.")
        if not isinstance(username, str) or not isinstance(password, str):
            raise failure
        try:
            username.encode("utf-8")
        except UnicodeEncodeError:
            raise failure from None
        # Failed attempts count against the name (known or not: the answer is the same) and the
        # address; a success gives its attempt back.
        # Cut to a bounded length: no real name is longer, and a long guess must not make a long key.
        name_key = username_key(username)[:MAX_KEY_CHARS]
        self._limits.begin_login(name_key, address)
        found = await self._db.run(queries.find_credentials, username)
        # Verify even for an unknown name, so timing does not reveal which names exist.
        stored = found.password_hash if found else None
        ok = await self._hashing.run(auth.verify_password, stored, password)
        if found is None or not ok:
            raise failure
        self._limits.login_succeeded(name_key, address)
        if auth.needs_rehash(found.password_hash):
            # Stored under older parameters: the password is at hand only now, so re-hash it.
            new_hash = await self._hashing.run(auth.hash_password, password)
            await self._db.run(queries.replace_password_hash, found.user.id, found.password_hash, new_hash)
        token = auth.new_token()
        await self._db.run(queries.create_session, auth.token_hash(token), found.user.id, self._clock())
        await self._cache.put_user(found.user, username_key(found.user.username))
        return token, found.user

    async def authenticate(self, token: str | None) -> tuple[UserRecord, str]:
        """The user a bearer token belongs to and the token's hash; Unauthorized otherwise."""
        if not token:
            raise Unauthorized("Log in first: this needs an Authorization: Bearer <token> header.")
        digest = auth.token_hash(token)
        now = self._clock()
        user = await self._db.run(
            queries.session_user,
            digest,
            now=now,
            expired_before=self.expired_before(now),
            renew_before=now - self._renew_interval,
        )
        if user is None:
            raise Unauthorized("The token is not valid; it may have expired or been logged out.")
        return user, digest

    async def logout(self, token_hash: str) -> None:
        await self._db.run(queries.delete_session, token_hash)

    async def logout_everywhere(self, user: UserRecord) -> None:
        """End every session of the user, on every device."""
        await self._db.run(queries.delete_sessions_of_user, user.id)
