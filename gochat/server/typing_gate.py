"""TypingGate: at most one TYPING (9) forwarded per user per room every TYPING_FORWARD_SECONDS.

Pure (no I/O, no asyncio), with an injected clock as in throttle.py. It remembers only the
(user, room) pairs forwarded within the last interval: each call first forgets the older ones,
oldest first, so its memory is bounded by the typing of the last two seconds, whatever the
number of users and rooms.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from gochat.protocol import TYPING_FORWARD_SECONDS
from gochat.server.throttle import Clock


class TypingGate:
    def __init__(self, interval: float = TYPING_FORWARD_SECONDS, clock: Clock = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        # (user id, room id) -> when its last TYPING was forwarded; oldest first.
        self._forwarded: OrderedDict[tuple[int, int], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._forwarded)

    def admit(self, user_id: int, room_id: int) -> bool:
        """True when this user's TYPING in this room may be forwarded now (and is noted as
        forwarded); False when one was forwarded less than the interval ago."""
        now = self._clock()
        forwarded = self._forwarded
        while forwarded:
            key, stamp = next(iter(forwarded.items()))
            if now - stamp < self._interval:
                break
            del forwarded[key]
        key = (user_id, room_id)
        if key in forwarded:
            return False
        forwarded[key] = now
        return True
