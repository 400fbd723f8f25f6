"""MessageWriter: durable message inserts with group commit, on one thread of its own.

Every message waiting when the writer wakes is inserted in one transaction and committed
once, so a burst of N messages costs one commit instead of N. Only after the commit are the
messages handed back to the event loop: ``on_committed`` sees each batch in id order (it
broadcasts them), then each sender's future resolves (it acknowledges). A retried
``clientMsgId`` from the same user resolves to the stored message and is not inserted again.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from gochat.server.errors import Unavailable
from gochat.server.records import MessageRecord, UserRecord
from gochat.server.store import models, queries
from gochat.server.store.database import Database

log = logging.getLogger(__name__)

MAX_BATCH = 1000


@dataclass(slots=True)
class PendingMessage:
    author: UserRecord
    room_id: int
    content: str
    client_msg_id: str | None
    future: asyncio.Future[Committed] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Committed:
    message: MessageRecord
    # False when this was a retry of a message stored earlier: acknowledge, do not broadcast.
    is_new: bool


CommitListener = Callable[[list[Committed]], None]


class WriterClosed(Unavailable):
    pass


_STOP = object()


class MessageWriter:
    def __init__(self, database: Database, on_committed: CommitListener) -> None:
        self._database = database
        self._on_committed = on_committed
        self._queue: queue.SimpleQueue[PendingMessage | object] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        self.committed = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="gochat-writer", daemon=True)
        self._thread.start()

    def submit(
        self, author: UserRecord, room_id: int, content: str, client_msg_id: str | None
    ) -> asyncio.Future[Committed]:
        """Queue one message; the future resolves once it is committed (or fails).

        Not a coroutine on purpose: messages are queued in exactly the order callers submit.
        """
        if self._closed or self._loop is None:
            raise WriterClosed("The server is shutting down; send the message again shortly.")
        future: asyncio.Future[Committed] = self._loop.create_future()
        self._queue.put(PendingMessage(author, room_id, content, client_msg_id, future))
        return future

    async def write(self, author: UserRecord, room_id: int, content: str, client_msg_id: str | None) -> Committed:
        return await self.submit(author, room_id, content, client_msg_id)

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
            batch: list[PendingMessage] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, PendingMessage):
                    batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write_batch(batch)

    def _write_batch(self, batch: list[PendingMessage]) -> None:
        try:
            with self._database.sessions.begin() as session:
                results = self._insert(session, batch)
        except Exception:
            log.exception("committing a batch of %d messages failed; retrying them one by one", len(batch))
            results = []
            for pending in batch:
                try:
                    with self._database.sessions.begin() as session:
                        results.extend(self._insert(session, [pending]))
                except Exception as exc:
                    results.append((pending, exc))
        self.batches += 1
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, results)

    def _insert(
        self, session: Session, batch: list[PendingMessage]
    ) -> list[tuple[PendingMessage, Committed | BaseException]]:
        keys = [(p.author.id, p.client_msg_id) for p in batch if p.client_msg_id is not None]
        stored = queries.find_client_messages(session, keys)
        first_in_batch: dict[tuple[int, str], models.Message] = {}
        now = models.utcnow()
        # Per pending message: the row it inserts, or the row it repeats, or neither (stored earlier).
        plan: list[tuple[PendingMessage, models.Message | None, models.Message | None]] = []
        for pending in batch:
            if pending.client_msg_id is not None:
                key = (pending.author.id, pending.client_msg_id)
                if key in stored or key in first_in_batch:
                    plan.append((pending, None, first_in_batch.get(key)))
                    continue
            row = models.Message(
                user_id=pending.author.id,
                room_id=pending.room_id,
                content=pending.content,
                client_msg_id=pending.client_msg_id,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            plan.append((pending, row, None))
            if pending.client_msg_id is not None:
                first_in_batch[(pending.author.id, pending.client_msg_id)] = row
        session.flush()
        results: list[tuple[PendingMessage, Committed | BaseException]] = []
        for pending, inserted, repeated in plan:
            if inserted is not None:
                results.append((pending, Committed(_record(inserted, pending.author), is_new=True)))
            elif repeated is not None:
                results.append((pending, Committed(_record(repeated, pending.author), is_new=False)))
            else:
                key = (pending.author.id, pending.client_msg_id or "")
                results.append((pending, Committed(stored[key], is_new=False)))
        return results

    # -- event loop --------------------------------------------------------------------

    def _deliver(self, results: list[tuple[PendingMessage, Committed | BaseException]]) -> None:
        committed = [r for _, r in results if isinstance(r, Committed)]
        self.committed += sum(1 for c in committed if c.is_new)
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


def _record(row: models.Message, author: UserRecord) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        room_id=row.room_id,
        author=author,
        content=row.content,
        created_at=row.created_at,
        client_msg_id=row.client_msg_id,
    )
