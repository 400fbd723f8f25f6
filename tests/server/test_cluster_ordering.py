"""The cluster's ordered stream and its events, without Redis or sockets: events released in
rev order whatever order they come in, once; a gap filled from what the database says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gochat.protocol import Message, User
from gochat.server.cluster import events
from gochat.server.cluster.events import Deleted, Edited, StoredBatch, StreamEvent
from gochat.server.cluster.ordering import HELD_MAX, OrderedStream
from gochat.server.store.stream import StreamChanges, StreamPosition, Tombstone

ALICE, BOB = User(1, "alice"), User(2, "bob")


def message(message_id: int, rev: int, content: str = "hi", **extra: object) -> Message:
    return Message(message_id, 7, ALICE, content, datetime(2026, 12, 1, 8, 0, tzinfo=UTC), rev=rev, **extra)  # type: ignore[arg-type]


def batch(*pairs: tuple[int, int]) -> StoredBatch:
    messages = tuple(message(i, r) for i, r in pairs)
    return StoredBatch(messages[0].rev, messages[-1].rev, messages)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def released() -> list[StreamEvent]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stream(released: list[StreamEvent], clock: Clock) -> OrderedStream:
    return OrderedStream(StreamPosition(last_id=10, rev=20), released.append, clock)


def test_the_next_event_goes_at_once(stream: OrderedStream, released: list[StreamEvent]) -> None:
    stream.offer(batch((11, 21), (12, 22)))
    assert [m.id for m in released[0].messages] == [11, 12]  # type: ignore[union-attr]
    assert stream.position == StreamPosition(12, 22)
    assert stream.gap_age() is None


def test_a_later_event_waits_for_the_ones_before_it(
    stream: OrderedStream, released: list[StreamEvent], clock: Clock
) -> None:
    edit = Edited(24, message(5, 24, "changed"), frozenset())
    stream.offer(edit)
    stream.offer(batch((13, 23)))
    assert released == []
    clock.now += 0.05
    assert stream.gap_age() == pytest.approx(0.05)
    stream.offer(batch((11, 21), (12, 22)))
    assert [type(e).__name__ for e in released] == ["StoredBatch", "StoredBatch", "Edited"]
    assert stream.position == StreamPosition(13, 24)
    assert stream.gap_age() is None


def test_an_event_heard_twice_goes_once(stream: OrderedStream, released: list[StreamEvent]) -> None:
    stream.offer(batch((11, 21)))
    stream.offer(batch((11, 21)))
    stream.offer(batch((13, 23)))
    stream.offer(batch((13, 23)))
    stream.offer(batch((12, 22)))
    assert [e.first_rev for e in released] == [21, 22, 23]


def test_a_gap_is_filled_from_the_database_in_order(stream: OrderedStream, released: list[StreamEvent]) -> None:
    """Rev 21 (message 11) was never published; 24 waits. The database says: 11 is there, 12 was
    stored and deleted since, 5 was edited at 23; position (12, 23)."""
    stream.offer(batch((13, 24)))
    changes = StreamChanges(
        new=[message(11, 21), message(12, 25, "", deleted=True)],
        edited=[message(5, 23, "changed")],
        deleted=[Tombstone(message(3, 22, "", deleted=True), BOB)],
        position=StreamPosition(12, 23),
        more=False,
    )
    stream.caught_up(changes)
    kinds = [(type(e).__name__, e.first_rev) for e in released]
    # Changes to what was delivered, by rev; then the new messages (the deleted one not at all);
    # then the held event that follows.
    assert kinds == [("Deleted", 22), ("Edited", 23), ("StoredBatch", 21), ("StoredBatch", 24)]
    assert released[0] == Deleted(22, 7, 3, BOB)
    assert stream.position == StreamPosition(13, 24)


def test_what_the_database_says_again_is_not_delivered_twice(
    stream: OrderedStream, released: list[StreamEvent]
) -> None:
    """Live events released while the database was being read (from the old position)."""
    stream.offer(batch((11, 21), (12, 22)))
    changes = StreamChanges(
        new=[message(11, 21), message(12, 22), message(13, 23)],
        edited=[],
        deleted=[],
        position=StreamPosition(13, 23),
        more=False,
    )
    stream.caught_up(changes)
    delivered = [m.id for e in released if isinstance(e, StoredBatch) for m in e.messages]
    assert delivered == [11, 12, 13]
    assert stream.position == StreamPosition(13, 23)


def test_too_many_held_events_ask_for_the_database_at_once(stream: OrderedStream) -> None:
    for n in range(HELD_MAX):
        stream.offer(batch((100 + n, 1000 + n)))
    assert stream.gap_age() == float("inf")


@pytest.mark.parametrize(
    "event",
    [
        batch((11, 21), (12, 22)),
        Edited(23, message(5, 23, "新しい @bob", mentions=(BOB,)), frozenset({2})),
        Deleted(24, 7, 5, BOB),
        events.PresenceChanged(7, BOB, True, 3),
        events.PresenceChanged(7, BOB, False, 2, 41),
        events.ToEveryone('{"msgType":8}'),
        events.ToUser(2, '{"msgType":13}'),
        events.TypingStarted(7, 2, '{"msgType":9}'),
        events.SessionsEnded("logged out", token_hash="ab" * 32),
        events.SessionsEnded("logged out everywhere", user_id=2),
    ],
)
def test_events_cross_redis_unchanged(event: events.ClusterEvent) -> None:
    received = events.decode(events.encode(event, "server-a", 1234.5))
    assert (received.event, received.origin, received.sent_at) == (event, "server-a", 1234.5)


@pytest.mark.parametrize("text", ["", "[]", '{"t": "nonsense", "origin": "x", "sentAt": 1}', '{"t": "user"}'])
def test_a_malformed_event_is_refused(text: str) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        events.decode(text)


def test_a_server_knows_its_own_echo_without_decoding_it() -> None:
    text = events.encode(events.ToEveryone("{}"), "server-a", 1.0)
    assert events.from_origin(text, "server-a")
    assert events.from_origin(text.encode(), "server-a")
    assert not events.from_origin(text, "server-b")
    assert not events.from_origin(text, "server")
