"""Typing (9), as the desktop keeps it: who is typing in a room and for how long, the line that
says so, and the throttle on what the user's own composing sends. Pure: no Qt, no I/O; times are
numbers from whatever clock the caller keeps (time.monotonic in the app, a fake one in tests)."""

from __future__ import annotations

from gochat.protocol import TYPING_SEND_SECONDS, TYPING_SHOW_SECONDS, User


class TypingNow:
    """Who is typing in one room: each name shown until ``show_seconds`` after their last
    TYPING, or until their message arrives; in the order they started."""

    def __init__(self, show_seconds: float = TYPING_SHOW_SECONDS) -> None:
        self.show_seconds = show_seconds
        self._until: dict[int, tuple[User, float]] = {}

    def saw(self, user: User, now: float) -> bool:
        """A TYPING from ``user``: shown (again) until ``show_seconds`` from now. True when the
        names shown changed (someone new)."""
        new = user.id not in self._until
        # A name seen again keeps its place in the line (a dict keeps the order keys came in):
        # names that swapped at every frame would be hard to read.
        self._until[user.id] = (user, now + self.show_seconds)
        return new

    def stopped(self, user_id: int) -> bool:
        """``user_id``'s message arrived (or they left): no longer typing. True when they were."""
        return self._until.pop(user_id, None) is not None

    def expire(self, now: float) -> bool:
        """Drop the names whose time is over; True when any went."""
        gone = [user_id for user_id, (_user, until) in self._until.items() if until <= now]
        for user_id in gone:
            del self._until[user_id]
        return bool(gone)

    def next_expiry(self) -> float | None:
        """When the next name is due to go (None: nobody is typing)."""
        return min((until for _user, until in self._until.values()), default=None)

    def names(self) -> list[str]:
        return [user.username for user, _until in self._until.values()]

    def clear(self) -> None:
        self._until.clear()


def typing_line(names: list[str]) -> str:
    """What the line under the messages says: "" (nobody), "bob is typing…", "bob and carol are
    typing…", or "several people are typing…" from three on (a list of names nobody reads)."""
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing…"
    return "several people are typing…"


class TypingThrottle:
    """The user composes in a room: TYPING goes out at most once every ``every`` seconds."""

    def __init__(self, every: float = TYPING_SEND_SECONDS) -> None:
        self.every = every
        self._last: float | None = None

    def may_send(self, now: float) -> bool:
        """True (and counted as sent) when ``every`` seconds have passed since the last one."""
        if self._last is not None and now - self._last < self.every:
            return False
        self._last = now
        return True
