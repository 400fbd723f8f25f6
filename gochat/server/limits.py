"""RateLimits: the throttles of one server (logins, registrations, room creation, messages), as
the domain services ask them. A refusal is a RateLimited error saying when to try again; the
transports answer it (REST: 429 + Retry-After; WebSocket: a rate_limited error frame)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable

from gochat.server.config import Settings
from gochat.server.errors import RateLimited
from gochat.server.throttle import Clock, Limit, Throttle, retry_after_ms

# Each time failed logins use up an allowance it refills half as fast, six times over: at the
# defaults the slowest is one guess per 12 minutes per username, until it has been left alone.
LOGIN_MAX_BACKOFF = 6
# An address may be a NAT with a classroom behind it: four times a username's allowance.
LOGIN_ADDRESS_FACTOR = 4
# A user's connections together may send twice what one connection may: a runaway device
# leaves the user's other device room to talk.
MESSAGE_USER_FACTOR = 2

LOGIN_REFUSED = "Too many failed logins; wait a little and try again."


def _limit(per_second: float, burst: int, max_backoff: int = 0) -> Limit:
    # A burst of 0 would refuse everything; the least that means anything is one.
    return Limit(per_second, max(1, burst), max_backoff)


class RateLimits:
    def __init__(self, settings: Settings, clock: Clock = time.monotonic) -> None:
        login = _limit(settings.login_per_minute / 60, settings.login_burst, LOGIN_MAX_BACKOFF)
        self._login_by_name = Throttle(login, clock)
        self._login_by_address = Throttle(login.scaled(LOGIN_ADDRESS_FACTOR), clock)
        self._register = Throttle(_limit(settings.register_per_minute / 60, settings.register_burst), clock)
        self._room_create = Throttle(_limit(settings.room_create_per_minute / 60, settings.room_create_burst), clock)
        message = _limit(settings.message_rate, settings.message_burst)
        self._message_by_connection = Throttle(message, clock)
        self._message_by_user = Throttle(message.scaled(MESSAGE_USER_FACTOR), clock)
        self._edit_by_user = Throttle(message.scaled(MESSAGE_USER_FACTOR), clock)
        # Refusals so far by kind (message, edit, login, registration, room_create): metrics.py.
        self.refusals: Counter[str] = Counter()

    def _refuse(self, kind: str, message: str, wait: float) -> RateLimited:
        self.refusals[kind] += 1
        return RateLimited(message, retry_after_ms(wait))

    # -- logins: only failures count -------------------------------------------------

    def begin_login(self, name_key: str, address: str | None) -> None:
        """Take a login attempt for the name and the address, or raise RateLimited. Known and
        unknown names are counted and refused alike, so the answer names no account. The
        attempt is given back by ``login_succeeded``."""
        wait = self._login_by_name.take(name_key)
        if wait:
            raise self._refuse("login", LOGIN_REFUSED, wait)
        if address is not None:
            wait = self._login_by_address.take(address)
            if wait:
                self._login_by_name.refund(name_key)  # not tried: it does not count against the name
                raise self._refuse("login", LOGIN_REFUSED, wait)

    def login_succeeded(self, name_key: str, address: str | None) -> None:
        self._login_by_name.refund(name_key)
        if address is not None:
            self._login_by_address.refund(address)

    # -- creating things -----------------------------------------------------------------

    def register(self, address: str | None) -> None:
        if address is None:
            return
        wait = self._register.take(address)
        if wait:
            raise self._refuse("registration", "Too many accounts made from this address; try again later.", wait)

    def create_room(self, user_id: int) -> None:
        wait = self._room_create.take(user_id)
        if wait:
            raise self._refuse("room_create", "You are creating rooms too fast; wait a little.", wait)

    # -- messages ------------------------------------------------------------------------

    def send(self, user_id: int, connection: Hashable) -> None:
        """A message from ``connection`` of ``user_id``; both buckets must have a token."""
        wait = self._message_by_connection.take(connection)
        if wait:
            raise self._refuse("message", "You are sending too fast; the message will go after a short wait.", wait)
        wait = self._message_by_user.take(user_id)
        if wait:
            self._message_by_connection.refund(connection)
            raise self._refuse("message", "You are sending too fast; the message will go after a short wait.", wait)

    def edit(self, user_id: int) -> None:
        """An edit by ``user_id``: edits share nothing with sending but its pace, per user (each
        is broadcast to the room like a message)."""
        wait = self._edit_by_user.take(user_id)
        if wait:
            raise self._refuse("edit", "You are editing too fast; wait a little.", wait)

    def connection_closed(self, connection: Hashable) -> None:
        self._message_by_connection.forget(connection)
