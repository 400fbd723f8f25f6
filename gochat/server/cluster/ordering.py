"""OrderedStream: stream events released in rev order, whatever order they arrive in. No I/O.

Why rev order is id order, and why a snapshot is a prefix: store/stream.py. Commits on
different servers finish in any order and reach each server through Redis in any order, so an
event is held until every rev below it has been released — as Synapse's multi-writer streams
advance a reader only to the position below which every writer has persisted. Here the
positions need no per-writer bookkeeping: revs are gap-free (a rolled-back transaction gives its
revs back with its UPDATE), so "every rev below" is simply the next number.

An event that never comes (its server was killed between commit and publish, or Redis dropped
it while away) leaves a gap. ``gap_age`` says how long the oldest held event has waited; the
owner then reads the database from the position (``caught_up``), which releases everything the
snapshot holds, in order, and drops the held events it covered.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gochat.server.cluster.events import Deleted, Edited, StoredBatch, StreamEvent
from gochat.server.store.stream import StreamChanges, StreamPosition

# Held events at most; past it the stream reads the database at once rather than hold more.
HELD_MAX = 10_000


class OrderedStream:
    def __init__(
        self,
        position: StreamPosition,
        release: Callable[[StreamEvent], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.position = position
        self._release = release
        self._clock = clock
        self._held: dict[int, StreamEvent] = {}  # first rev -> event
        self._gap_since: float | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    def gap_age(self) -> float | None:
        """Seconds the oldest held event has waited for an earlier rev (infinite once HELD_MAX are
        held: read the database now); None: nothing held."""
        if self._gap_since is None:
            return None
        return float("inf") if len(self._held) >= HELD_MAX else self._clock() - self._gap_since

    def offer(self, event: StreamEvent) -> None:
        """An event from this server or another: released now if it is the next, else held."""
        if event.last_rev <= self.position.rev:
            return  # released already (read from the database, or heard twice)
        if event.first_rev != self.position.rev + 1:
            self._held.setdefault(event.first_rev, event)
            if self._gap_since is None:
                self._gap_since = self._clock()
            return
        self._emit(event)
        self._drain()

    def caught_up(self, changes: StreamChanges) -> None:
        """Release what the database says was missed (``changes``, read from this position), then
        whatever held events follow it."""
        # Changes to messages delivered before, in rev order; then the new ones, in id order.
        changed: list[StreamEvent] = [Edited(m.rev, m, frozenset(u.id for u in m.mentions)) for m in changes.edited]
        changed += [
            Deleted(t.message.rev, t.message.room_id, t.message.id, t.deleted_by or t.message.author)
            for t in changes.deleted
        ]
        changed.sort(key=lambda event: event.first_rev)
        # Read from an older position than this one when live events came in meanwhile: what
        # they released (every rev up to the position, every id up to its last) goes no more.
        done = self.position
        for event in changed:
            if event.last_rev > done.rev:
                self._release(event)
        fresh = tuple(m for m in changes.new if not m.deleted and m.id > done.last_id)
        if fresh:
            # Their revs are not in a row (some were edited since): the batch stands for its ids.
            self._release(StoredBatch(min(m.rev for m in fresh), max(m.rev for m in fresh), fresh))
        if changes.position.rev > done.rev:
            self.position = StreamPosition(max(done.last_id, changes.position.last_id), changes.position.rev)
        for first_rev in [rev for rev, event in self._held.items() if event.last_rev <= self.position.rev]:
            del self._held[first_rev]
        if not self._held:
            self._gap_since = None
        if not changes.more:
            # Else messages below the held ones are still unread: the owner asks again first.
            self._drain()

    def _emit(self, event: StreamEvent) -> None:
        self._release(event)
        last_id = self.position.last_id
        if isinstance(event, StoredBatch) and event.messages:
            last_id = max(last_id, event.messages[-1].id)
        self.position = StreamPosition(last_id, event.last_rev)

    def _drain(self) -> None:
        while (event := self._held.pop(self.position.rev + 1, None)) is not None:
            self._emit(event)
        # Still holding some: the wait counts from the first gap (no shorter a wait for them).
        if not self._held:
            self._gap_since = None
