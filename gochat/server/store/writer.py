"""MessageWriter: durable message inserts with group commit, on one thread of its own.

Every message waiting when the writer wakes is inserted in one transaction and committed
once, so a burst of N messages costs one commit instead of N. Only after the commit are the
messages handed back to the event loop: ``on_committed`` sees each batch in id order (it
broadcasts them), then each sender's future resolves (it acknowledges). A retried
``clientMsgId`` from the same user resolves to the stored message and is not inserted again.

A message not committed within the database's statement timeout fails with SendTimedOut (the
sender gets ``unavailable`` and may send it again); if the writer has not taken it yet it never
will. One the database took before it hung may still be committed: sent again with its
``clientMsgId``, it is then acknowledged as a duplicate, not stored twice.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from gochat.server.errors import StorageUnavailable
from gochat.server.records import MessageRecord, UserRecord
from gochat.server.store import models, queries, search_index
from gochat.server.store.database import Database, unavailable
from gochat.server.store.mentions import resolve_mentions, stored_mentions

log = logging.getLogger(__name__)

MAX_BATCH = 1000
# Seconds idle after which the writer opens a fresh connection rather than trust its old one.
IDLE_RECONNECT = 300.0
# Seconds between looks for messages past their deadline: a late one is answered at most this late.
DEADLINE_CHECK = 0.25


@dataclass(slots=True)
class PendingMessage:
    author: UserRecord
    room_id: int
    content: str
    client_msg_id: str | None
    future: asyncio.Future[Committed] = field(repr=False)
    # Who may be mentioned: a direct room's two members; None: anyone registered.
    mentionable: Collection[int] | None = None
    deadline: float = 0.0  # the event loop's clock
    # Set on the event loop when its deadline passed (the sender has its error); the writer
    # thread then leaves it out of any batch it has not yet written.
    abandoned: bool = False


@dataclass(slots=True)
class Committed:
    message: MessageRecord
    # False when this was a retry of a message stored earlier: acknowledge, do not broadcast.
    is_new: bool
    _json: str | None = field(default=None, compare=False, repr=False)

    def message_json(self) -> str:
        """The message as wire JSON, encoded once for its broadcast and its ACK alike."""
        if self._json is None:
            self._json = self.message.wire_json()
        return self._json


CommitListener = Callable[[list[Committed]], None]


class WriterClosed(StorageUnavailable):
    pass


class SendTimedOut(StorageUnavailable):
    """The message was not committed in time (the database is slow or hung)."""


_STOP = object()


class Linger:
    """How long the writer waits for more messages before it commits what it has.

    A sender that waits for its ACK before sending again comes back a round trip after the
    ACK. With many such senders, the ones acknowledged by one commit arrive while the next
    commit runs and must wait for the one after: the senders settle into two groups that take
    turns, each commit carrying half of them, and on a disk whose flush takes milliseconds
    that halves what the server can acknowledge. So when the last batch had several authors,
    the writer waits until it holds three quarters as many messages as there were authors in
    the last two batches (the last few would hold the batch back by their own round trips; they
    start the next one), but never longer than half its last commit took, and never over 5 ms:
    a message waits at most that much longer, while a batch can double. A lone message (a quiet
    server) is committed at once.
    """

    def __init__(self, *, quorum: float = 0.75, fraction: float = 0.5, ceiling: float = 0.005) -> None:
        self._quorum = quorum
        self._fraction = fraction
        self._ceiling = ceiling
        self._previous_authors: set[int] = set()
        self._last_commit = 0.0
        self._enough = 0  # messages worth waiting for, from the last two batches

    def committed(self, batch: list[PendingMessage], seconds: float) -> None:
        """Learn from a batch just committed, and how many seconds its commit took."""
        authors = {p.author.id for p in batch}
        self._enough = int(self._quorum * len(authors | self._previous_authors)) if len(authors) > 1 else 0
        self._previous_authors = authors
        self._last_commit = seconds

    def enough(self, batch: list[PendingMessage]) -> bool:
        return len(batch) >= self._enough

    def seconds(self) -> float:
        """The longest the writer should wait for the batch to fill up."""
        return min(self._ceiling, self._fraction * self._last_commit)


class MessageWriter:
    def __init__(self, database: Database, on_committed: CommitListener) -> None:
        self._database = database
        # How long a message may wait for its commit; none without the database's timeouts.
        self._ack_timeout = database.timeouts.statement if database.timeouts else None
        # Messages not yet answered, in the order submitted (so in deadline order), and the timer
        # that looks at the oldest: one timer for all, not one per message.
        self._unanswered: deque[PendingMessage] = deque()
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._on_committed = on_committed
        self._queue: queue.SimpleQueue[PendingMessage | object] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        # The writer thread's own connection, kept between batches: checking one out of the pool
        # per batch costs MariaDB a ping and a reset, two round trips beside the insert and commit.
        self._connection: Connection | None = None
        self._last_used = 0.0
        self.linger = Linger()
        # Told each batch's size and commit seconds, on the writer thread (gochat/server/metrics.py).
        self.observe_batch: Callable[[int, float], None] = lambda messages, seconds: None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="gochat-writer", daemon=True)
        self._thread.start()

    def submit(
        self,
        author: UserRecord,
        room_id: int,
        content: str,
        client_msg_id: str | None,
        mentionable: Collection[int] | None = None,
    ) -> asyncio.Future[Committed]:
        """Queue one message; the future resolves once it is committed (or fails). Its mentions
        are resolved in its batch, among ``mentionable`` users (None: anyone registered).

        Not a coroutine on purpose: messages are queued in exactly the order callers submit.
        """
        if self._closed or self._loop is None:
            raise WriterClosed("The server is shutting down; send the message again shortly.")
        future: asyncio.Future[Committed] = self._loop.create_future()
        pending = PendingMessage(author, room_id, content, client_msg_id, future, mentionable)
        if self._ack_timeout is not None:
            pending.deadline = self._loop.time() + self._ack_timeout
            self._unanswered.append(pending)
            if self._deadline_timer is None:
                self._deadline_timer = self._loop.call_later(DEADLINE_CHECK, self._expire_late)
        self._queue.put(pending)
        return future

    def _expire_late(self) -> None:
        """Fail every message past its deadline (SendTimedOut), and look again later while any wait."""
        assert self._loop is not None
        now = self._loop.time()
        late = 0
        unanswered = self._unanswered
        while unanswered and (unanswered[0].future.done() or unanswered[0].deadline <= now):
            pending = unanswered.popleft()
            if not pending.future.done():
                pending.abandoned = True
                pending.future.set_exception(
                    SendTimedOut("The database did not answer in time; send the message again.")
                )
                late += 1
        if late:
            log.error("%d messages not committed within %g s: the database is slow or hung", late, self._ack_timeout)
        self._deadline_timer = self._loop.call_later(DEADLINE_CHECK, self._expire_late) if unanswered else None

    async def close(self) -> None:
        """Stop taking messages, commit every one already taken, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # -- writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._take_batch()
            if batch:
                started = time.monotonic()
                self._write_batch(batch)
                seconds = time.monotonic() - started
                self.linger.committed(batch, seconds)
                self.observe_batch(len(batch), seconds)
        self._release_connection()

    def _take_batch(self) -> tuple[list[PendingMessage], bool]:
        """Block for the first message, take every one waiting, and linger briefly for more.

        Senders that wait for their ACK before sending again would otherwise split into two
        groups that take turns, each committing half as many messages as it could (see Linger).
        """
        batch: list[PendingMessage] = []
        item = self._queue.get()
        deadline: float | None = None
        while True:
            if item is _STOP:
                return batch, True
            if isinstance(item, PendingMessage) and not item.abandoned:
                batch.append(item)
            if len(batch) >= MAX_BATCH:
                return batch, False
            try:
                item = self._queue.get_nowait()
                continue
            except queue.Empty:
                pass
            if self.linger.enough(batch):
                return batch, False
            if deadline is None:
                deadline = time.monotonic() + self.linger.seconds()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return batch, False
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return batch, False

    def _write_batch(self, batch: list[PendingMessage]) -> None:
        results: list[tuple[PendingMessage, Committed | BaseException]]
        try:
            try:
                results = self._commit(batch, look_up_retries=False)
            except IntegrityError:
                # The unique (user, clientMsgId) key caught a retry of a message stored earlier.
                # Retries are rare, so they are looked up only then, not on every batch.
                results = self._commit(batch, look_up_retries=True)
        except OperationalError as exc:
            # The database is down, hung (a driver timeout) or locked: one message at a time would
            # wait that long again for each, and hold every later message back.
            log.exception("committing a batch of %d messages failed: the database is not answering", len(batch))
            results = [(pending, unavailable(exc)) for pending in batch]
        except Exception:
            log.exception("committing a batch of %d messages failed; retrying them one by one", len(batch))
            results = []
            for pending in batch:
                if pending.abandoned:
                    continue  # its sender has had its error already
                try:
                    results.extend(self._commit([pending], look_up_retries=True))
                except DBAPIError as exc:
                    results.append((pending, unavailable(exc)))
                except Exception as exc:
                    results.append((pending, exc))
        self.batches += 1
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, results)

    def _commit(
        self, batch: list[PendingMessage], *, look_up_retries: bool
    ) -> list[tuple[PendingMessage, Committed | BaseException]]:
        if self._connection is not None and time.monotonic() - self._last_used > IDLE_RECONNECT:
            self._release_connection()  # the server may have dropped it meanwhile (wait_timeout)
        kept = self._connection is not None
        if self._connection is None:
            self._connection = self._database.engine.connect()
        connection = self._connection
        try:
            with connection.begin():
                results = self._insert(connection, batch, look_up_retries)
        except Exception as exc:
            # Rolled back already; a fresh connection next time, in case this one is broken.
            self._release_connection()
            if kept and isinstance(exc, DBAPIError) and exc.connection_invalidated:
                return self._commit(batch, look_up_retries=look_up_retries)
            raise
        self._last_used = time.monotonic()
        return results

    def _release_connection(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.close()
            except Exception:
                log.debug("closing the writer's connection failed", exc_info=True)

    @staticmethod
    def _insert(
        connection: Connection, batch: list[PendingMessage], look_up_retries: bool
    ) -> list[tuple[PendingMessage, Committed | BaseException]]:
        # SQLAlchemy Core, not the ORM: one multi-row INSERT ... RETURNING id per batch. The ORM's
        # unit of work cost ~15 ms per 50 messages here, ten times the database's own work.
        stored: dict[tuple[int, str], MessageRecord] = {}
        if look_up_retries:
            keys = [(p.author.id, p.client_msg_id) for p in batch if p.client_msg_id is not None]
            stored = queries.find_client_messages(connection, keys)
        now = models.utcnow()
        fresh: list[PendingMessage] = []
        # Per pending message: the index of the row it inserts, or the message it repeats.
        plan: list[tuple[PendingMessage, int | MessageRecord]] = []
        first_in_batch: dict[tuple[int, str], int] = {}
        for pending in batch:
            key = (pending.author.id, pending.client_msg_id) if pending.client_msg_id is not None else None
            if key is not None and key in stored:
                plan.append((pending, stored[key]))
            elif key is not None and key in first_in_batch:
                plan.append((pending, first_in_batch[key]))
            else:
                if key is not None:
                    first_in_batch[key] = len(fresh)
                plan.append((pending, len(fresh)))
                fresh.append(pending)
        # One look-up of every name "@" may stand for in the whole batch (none without "@").
        mentions = resolve_mentions(connection, [(p.content, p.mentionable) for p in fresh])
        # The batch's revs, in its own transaction: one UPDATE of the sequence for all of them,
        # taken last, so the sequence's row is locked for as short a time as can be.
        first_rev = queries.take_revs(connection, len(fresh)) - len(fresh) + 1 if fresh else 0
        ids = queries.insert_messages(
            connection,
            [
                (p.author.id, p.room_id, p.content, p.client_msg_id, stored_mentions(mentioned), first_rev + i)
                for i, (p, mentioned) in enumerate(zip(fresh, mentions, strict=True))
            ],
            now,
        )
        # In the same transaction: a message is searchable exactly when it is stored.
        search_index.index_messages(connection, [(i, p.room_id, p.content) for i, p in zip(ids, fresh, strict=True)])
        results: list[tuple[PendingMessage, Committed | BaseException]] = []
        inserted: set[int] = set()
        for pending, target in plan:
            if isinstance(target, MessageRecord):
                results.append((pending, Committed(target, is_new=False)))
                continue
            first = fresh[target]
            record = MessageRecord(
                id=ids[target],
                room_id=first.room_id,
                author=first.author,
                content=first.content,
                created_at=now,
                client_msg_id=first.client_msg_id,
                mentions=mentions[target],
                rev=first_rev + target,
            )
            results.append((pending, Committed(record, is_new=target not in inserted)))
            inserted.add(target)
        return results

    # -- event loop --------------------------------------------------------------------

    def _deliver(self, results: list[tuple[PendingMessage, Committed | BaseException]]) -> None:
        committed = [r for _, r in results if isinstance(r, Committed)]
        try:
            self._on_committed(committed)
        except Exception:
            log.exception("broadcasting committed messages failed")
        for pending, result in results:
            if pending.future.done():
                continue
            if isinstance(result, Committed):
                pending.future.set_result(result)
            else:
                pending.future.set_exception(result)
