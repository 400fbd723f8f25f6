"""How the writer forms a batch: it lingers for senders that are on their way back, and only
for them. These drive ``MessageWriter._take_batch`` on the test's own thread, with waits long
enough that only a broken policy, not a slow machine, can change the outcome."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from gochat.server.records import UserRecord
from gochat.server.store.database import Database
from gochat.server.store.writer import _STOP, Linger, MessageWriter, PendingMessage


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[MessageWriter]:
    database = Database(f"sqlite:///{tmp_path}/linger.sqlite3")
    writer = MessageWriter(database, lambda batch: None)  # not started: the test takes batches itself
    try:
        yield writer
    finally:
        database.close()


def _messages(authors: range) -> list[PendingMessage]:
    loop = asyncio.get_running_loop()
    return [
        PendingMessage(UserRecord(id=a, username=f"user{a}"), 1, f"from {a}", None, loop.create_future())
        for a in authors
    ]


def _queue(writer: MessageWriter, messages: Sequence[object]) -> None:
    for message in messages:
        writer._queue.put(message)


def _queue_later(writer: MessageWriter, messages: Sequence[object], delay: float) -> threading.Thread:
    def later() -> None:
        time.sleep(delay)
        _queue(writer, messages)

    thread = threading.Thread(target=later)
    thread.start()
    return thread


async def test_the_batch_waits_for_the_senders_of_the_last_batches(writer: MessageWriter) -> None:
    # 20 authors sent in the last two batches, and the last commit took long: the writer waits
    # for three quarters of them (15) rather than committing the 10 already here.
    writer.linger = Linger(ceiling=30.0)
    writer.linger.committed(_messages(range(1, 11)), seconds=60.0)
    writer.linger.committed(_messages(range(11, 21)), seconds=60.0)
    _queue(writer, _messages(range(11, 21)))
    late = _queue_later(writer, _messages(range(1, 11)), delay=0.05)
    started = time.monotonic()
    batch, stopping = await asyncio.to_thread(writer._take_batch)
    late.join()
    assert not stopping
    assert len(batch) >= 15, [p.author.id for p in batch]
    assert time.monotonic() - started < 20  # it stopped waiting once enough had come


async def test_a_lone_sender_is_committed_at_once(writer: MessageWriter) -> None:
    # One author in the last batch: nobody else is on the way, so there is nothing to wait for.
    writer.linger = Linger(ceiling=30.0)
    writer.linger.committed(_messages(range(1, 2)), seconds=60.0)
    _queue(writer, _messages(range(1, 2)))
    started = time.monotonic()
    batch, _ = await asyncio.to_thread(writer._take_batch)
    assert len(batch) == 1
    assert time.monotonic() - started < 10


async def test_a_quiet_start_is_committed_at_once(writer: MessageWriter) -> None:
    writer.linger = Linger(ceiling=30.0)
    _queue(writer, _messages(range(1, 4)))
    started = time.monotonic()
    batch, _ = await asyncio.to_thread(writer._take_batch)
    assert len(batch) == 3
    assert time.monotonic() - started < 10


async def test_the_wait_is_bounded_by_the_last_commit(writer: MessageWriter) -> None:
    # Half the last commit (0.4 s of 0.8 s), below the ceiling: then it commits what it has.
    writer.linger = Linger(ceiling=30.0)
    writer.linger.committed(_messages(range(1, 21)), seconds=0.8)
    _queue(writer, _messages(range(1, 6)))
    started = time.monotonic()
    batch, _ = await asyncio.to_thread(writer._take_batch)
    waited = time.monotonic() - started
    assert len(batch) == 5
    assert 0.35 <= waited < 10, waited


async def test_the_wait_is_bounded_by_the_ceiling(writer: MessageWriter) -> None:
    writer.linger = Linger(ceiling=0.3)
    writer.linger.committed(_messages(range(1, 21)), seconds=3600.0)
    _queue(writer, _messages(range(1, 6)))
    started = time.monotonic()
    batch, _ = await asyncio.to_thread(writer._take_batch)
    waited = time.monotonic() - started
    assert len(batch) == 5
    assert 0.25 <= waited < 10, waited


async def test_closing_ends_the_wait_with_what_was_taken(writer: MessageWriter) -> None:
    writer.linger = Linger(ceiling=30.0)
    writer.linger.committed(_messages(range(1, 21)), seconds=60.0)
    _queue(writer, _messages(range(1, 6)))
    writer._queue.put(_STOP)
    started = time.monotonic()
    batch, stopping = await asyncio.to_thread(writer._take_batch)
    assert stopping
    assert len(batch) == 5
    assert time.monotonic() - started < 10


async def test_closing_wakes_a_lingering_writer(writer: MessageWriter) -> None:
    writer.linger = Linger(ceiling=30.0)
    writer.linger.committed(_messages(range(1, 21)), seconds=60.0)
    _queue(writer, _messages(range(1, 6)))
    closing = _queue_later(writer, [_STOP], delay=0.05)
    started = time.monotonic()
    batch, stopping = await asyncio.to_thread(writer._take_batch)
    closing.join()
    assert stopping
    assert len(batch) == 5
    assert time.monotonic() - started < 10
