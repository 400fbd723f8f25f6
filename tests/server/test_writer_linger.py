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


async def _take(writer: MessageWriter) -> tuple[list[PendingMessage], bool, float]:
    """A batch as the writer thread would take it, whether the writer is stopping, and the seconds it took."""
    started = time.monotonic()
    batch, stopping = await asyncio.to_thread(writer._take_batch)
    return batch, stopping, time.monotonic() - started


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
    batch, stopping, waited = await _take(writer)
    late.join()
    assert not stopping
    assert len(batch) >= 15, [p.author.id for p in batch]
    assert waited < 20  # it stopped waiting once enough had come


@pytest.mark.parametrize(
    "last_authors",
    [pytest.param(range(1, 2), id="one author in the last batch"), pytest.param(range(0), id="a quiet start")],
)
async def test_nobody_on_the_way_means_no_wait(writer: MessageWriter, last_authors: range) -> None:
    # One author in the last batch (or none yet): nobody else is on the way, nothing to wait for.
    writer.linger = Linger(ceiling=30.0)
    if last_authors:
        writer.linger.committed(_messages(last_authors), seconds=60.0)
    _queue(writer, _messages(range(1, 4)))
    batch, _, waited = await _take(writer)
    assert len(batch) == 3
    assert waited < 10


@pytest.mark.parametrize(
    ("ceiling", "last_commit", "at_least"),
    [
        pytest.param(30.0, 0.8, 0.35, id="half the last commit"),
        pytest.param(0.3, 3600.0, 0.25, id="the ceiling"),
    ],
)
async def test_the_wait_is_bounded(writer: MessageWriter, ceiling: float, last_commit: float, at_least: float) -> None:
    # Nobody else comes: after the bound the writer commits what it has.
    writer.linger = Linger(ceiling=ceiling)
    writer.linger.committed(_messages(range(1, 21)), seconds=last_commit)
    _queue(writer, _messages(range(1, 6)))
    batch, _, waited = await _take(writer)
    assert len(batch) == 5
    assert at_least <= waited < 10, waited


@pytest.mark.parametrize("delay", [pytest.param(None, id="already closing"), pytest.param(0.05, id="while waiting")])
async def test_closing_ends_the_wait_with_what_was_taken(writer: MessageWriter, delay: float | None) -> None:
    writer.linger = Linger(ceiling=30.0)
    writer.linger.committed(_messages(range(1, 21)), seconds=60.0)
    _queue(writer, _messages(range(1, 6)))
    closing = _queue_later(writer, [_STOP], delay) if delay is not None else None
    if closing is None:
        _queue(writer, [_STOP])
    batch, stopping, waited = await _take(writer)
    if closing is not None:
        closing.join()
    assert stopping
    assert len(batch) == 5
    assert waited < 10
