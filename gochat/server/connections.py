"""Who holds the server's connections: caps in total, per client address, and on connections
that have not made a request — no sockets here, the HTTP protocol (``guarded_http.py``) asks.

A connection is *pending* from the moment it is accepted until its request's headers are
complete, and again while it idles between requests (keep-alive). Pending connections cost the
server a descriptor and prove nothing, so they have a budget of their own, well below the total:
when it is full, the oldest pending connection is closed to make room for the new one. A flood
of idle or half-sent sockets therefore only ever displaces itself; a client that sends its
request at once (a health check, a desktop reconnecting) is served, and connections that have
made a request (WebSockets of logged-in users, requests in flight) are never closed for a new
one. The rest of the total is their reserve.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable


class ConnectionTicket:
    """One accepted connection's place in the ledger, until ``release``."""

    __slots__ = ("_close", "_ledger", "address", "pending", "released")

    def __init__(self, ledger: ConnectionLedger, address: str | None, close: Callable[[], None]) -> None:
        self._ledger = ledger
        self._close: Callable[[], None] | None = close
        self.address = address  # None until known (behind a trusted proxy: its first request's client)
        self.pending = True
        self.released = False

    def proven(self) -> None:
        """A request's headers are complete: the connection is no longer pending."""
        if self.pending and not self.released:
            self.pending = False
            self._ledger.pending.pop(self, None)

    def waiting(self) -> None:
        """The connection idles for its next request: pending again (the oldest is closed first)."""
        if not self.pending and not self.released:
            self.pending = True
            self._ledger.pending[self] = None

    def identify(self, address: str) -> bool:
        """The client behind a trusted proxy is known: count the connection as that address's.
        False, and nothing counted, when that address already holds its share."""
        if self.address is not None or self.released:
            return True
        if not self._ledger.has_room_for(address):
            return False
        self.address = address
        self._ledger.per_address[address] += 1
        return True

    def handed_over(self) -> None:
        """The connection is now a WebSocket, which is never pending: let go of the HTTP
        protocol's ``close`` (and with it the HTTP protocol) for the life of the socket."""
        self._close = None

    def evict(self) -> None:
        if self._close is not None:
            self._close()
        self.release()

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self._close = None  # the protocol holds the ticket: no cycle left behind
        ledger = self._ledger
        ledger.total -= 1
        ledger.pending.pop(self, None)
        if self.address is not None:
            ledger.per_address[self.address] -= 1
            if ledger.per_address[self.address] <= 0:
                del ledger.per_address[self.address]


class ConnectionLedger:
    def __init__(self, max_total: int, max_per_address: int, max_pending: int) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address  # 0: no limit
        self.max_pending = min(max_pending, max_total)
        self.total = 0
        self.per_address: Counter[str] = Counter()
        # Insertion-ordered: the first key is the connection that has been pending the longest.
        self.pending: dict[ConnectionTicket, None] = {}

    def has_room_for(self, address: str) -> bool:
        return not self.max_per_address or self.per_address[address] < self.max_per_address

    def admit(self, address: str | None, close: Callable[[], None]) -> ConnectionTicket | None:
        """A ticket for a new connection from ``address`` (None: not known yet), or None when it
        must be refused: its address holds its share, or every connection has made a request."""
        if address is not None and not self.has_room_for(address):
            return None
        if self.total >= self.max_total and not self._evict_oldest_pending():
            return None
        if len(self.pending) >= self.max_pending:
            self._evict_oldest_pending()
        ticket = ConnectionTicket(self, address, close)
        self.total += 1
        self.pending[ticket] = None
        if address is not None:
            self.per_address[address] += 1
        return ticket

    def _evict_oldest_pending(self) -> bool:
        oldest = next(iter(self.pending), None)
        if oldest is None:
            return False
        oldest.evict()
        return True
